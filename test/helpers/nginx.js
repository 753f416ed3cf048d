'use strict'
// nginx as a real TFO peer for the tests (interop.test.js, http2.test.js),
// configured by the benchmark's writer (bench/lib/nginx.js): one foreground
// process, every path inside the test's own directory.
const bench = require('../../bench/lib/nginx')

/** nginx's version as [major, minor, patch], or null when there is no nginx. */
function nginxVersion() {
  const info = bench.nginxInfo()
  return info.available && info.version ? info.v : null
}

/**
 * servers: [{ listen, extra = [], location }] (see bench/lib/nginx.js);
 * accessLog: false (off) or true (dir/access.log). Logs at 'info', runs as
 * root when root (an unprivileged user namespace maps only root).
 */
function nginxConf(dir, servers, { accessLog = false } = {}) {
  const { configure = '' } = bench.nginxInfo()
  return bench.nginxConf(dir, servers, { configure, errorLevel: 'info', workerConnections: 64, accessLog, runAsRoot: true })
}

module.exports = { nginxConf, nginxVersion }
