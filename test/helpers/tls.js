'use strict'
// A throwaway self-signed certificate for localhost / 127.0.0.1 / ::1, made
// with the openssl CLI (installed by .ci/run) into a temp dir.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

let cached = null
function selfSigned() {
  if (cached) return cached
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-tls-'))
  const key = path.join(dir, 'key.pem')
  const cert = path.join(dir, 'cert.pem')
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1,IP:127.0.0.30,IP:127.0.0.31,IP:127.0.0.32,IP:127.0.0.33,IP:127.0.0.34,IP:127.0.0.35,IP:127.0.0.36,IP:127.0.0.37,IP:127.0.0.38,IP:127.0.0.39',
    ],
    { stdio: 'ignore' },
  )
  cached = { key: fs.readFileSync(key), cert: fs.readFileSync(cert) }
  fs.rmSync(dir, { recursive: true, force: true })
  return cached
}

module.exports = { selfSigned }
