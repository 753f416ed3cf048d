'use strict'
// A throw-away self-signed certificate (EC P-256), made with the openssl CLI
// into a temp dir: for the benchmark's HTTPS scenarios (one IP) and, through
// test/helpers/tls.js, for the tests (localhost and the test addresses).
const path = require('node:path')
const { spawnSync } = require('node:child_process')

/**
 * Writes key.pem and cert.pem into `dir`; returns their paths, or { error }.
 * `ip`: the address the certificate is for; or { cn, subjectAltName } in full.
 */
function makeCert(dir, ip) {
  const { cn, subjectAltName } = typeof ip === 'string' ? { cn: 'tfo-bench', subjectAltName: `IP:${ip}` } : ip
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
      `/CN=${cn}`,
      '-addext',
      `subjectAltName=${subjectAltName}`,
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
