'use strict'
// A throwaway self-signed certificate for localhost / 127.0.0.1 / ::1 and the
// test addresses, made once per process by the benchmark's maker
// (bench/lib/tls.js: the openssl CLI, installed by .ci/run).
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { makeCert } = require('../../bench/lib/tls')

/** The names the tests reach TLS servers by. */
const SUBJECT_ALT_NAME =
  'DNS:localhost,IP:127.0.0.1,IP:::1,IP:127.0.0.30,IP:127.0.0.31,IP:127.0.0.32,IP:127.0.0.33,IP:127.0.0.34,IP:127.0.0.35,IP:127.0.0.36,IP:127.0.0.37,IP:127.0.0.38,IP:127.0.0.39'

let cached = null
function selfSigned() {
  if (cached) return cached
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-tls-'))
  try {
    const made = makeCert(dir, { cn: 'localhost', subjectAltName: SUBJECT_ALT_NAME })
    if (made.error) throw new Error(made.error)
    cached = { key: fs.readFileSync(made.key), cert: fs.readFileSync(made.cert) }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return cached
}

module.exports = { selfSigned }
