'use strict'
// A throw-away self-signed certificate (EC P-256) for the HTTPS scenarios,
// made with the openssl CLI into the run's temp dir.
const path = require('node:path')
const { spawnSync } = require('node:child_process')

function makeCert(dir, ip) {
  const key = path.join(dir, 'key.pem')
  const cert = path.join(dir, 'cert.pem')
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=tfo-bench',
      '-addext',
      `subjectAltName=IP:${ip}`,
    ],
    { encoding: 'utf8', timeout: 20000 },
  )
  if (r.error || r.status !== 0) {
    return {
      error: r.error && r.error.code === 'ENOENT' ? 'openssl not found (needed to make a test certificate)' : `openssl failed: ${(r.stderr || '').trim()}`,
    }
  }
  return { key, cert }
}

module.exports = { makeCert }
