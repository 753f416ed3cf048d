'use strict'
// nginx as a real TFO peer for the tests (interop.test.js, http2.test.js):
// one configuration writer, every path inside the test's own directory.
const { spawnSync } = require('node:child_process')

/** nginx's version as [major, minor, patch], or null when there is no nginx. */
function nginxVersion() {
  const r = spawnSync('nginx', ['-v'], { encoding: 'utf8' })
  const m = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(`${r.stderr}${r.stdout}`)
  return m ? m.slice(1).map(Number) : null
}

/**
 * A configuration for one foreground nginx process (daemon off, master_process
 * off) whose pid, lock, logs and temp paths all live in `dir`.
 * servers: [{ listen, extra = [], location }]: `listen …` (e.g. 'host:port
 * fastopen=256'), more lines for the server block, and what `location /` does.
 * accessLog: false (off) or true (dir/access.log).
 */
function nginxConf(dir, servers, { accessLog = false } = {}) {
  const configure = spawnSync('nginx', ['-V'], { encoding: 'utf8' }).stderr || ''
  // Every temp path inside dir; only for the modules this build has.
  const temps = ['client_body']
  for (const m of ['proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    if (configure.includes(`--http-${m}-temp-path`) && !configure.includes(`--without-http_${m}_module`)) temps.push(m)
  }
  return [
    'daemon off;',
    'master_process off;',
    'worker_processes 1;',
    // As root nginx would chown its temp dirs to "nobody", which fails in an
    // unprivileged user namespace (only root is mapped); keep them root's.
    ...(process.getuid() === 0 ? ['user root;'] : []),
    `pid ${dir}/nginx.pid;`,
    `lock_file ${dir}/nginx.lock;`,
    `error_log ${dir}/error.log info;`,
    'events { worker_connections 64; }',
    'http {',
    accessLog ? `  access_log ${dir}/access.log;` : '  access_log off;',
    ...temps.map((m) => `  ${m}_temp_path ${dir}/${m}_temp;`),
    ...servers.flatMap(({ listen, extra = [], location }) => [
      '  server {',
      `    listen ${listen};`,
      ...extra.map((l) => `    ${l}`),
      `    location / { ${location} }`,
      '  }',
    ]),
    '}',
    '',
  ].join('\n')
}

module.exports = { nginxConf, nginxVersion }
