'use strict'
// nginx for the reference rows: one process (master_process off, daemon off),
// every path inside a temp dir, listening on the server side of the testbed
// with and without `fastopen=256`, plain HTTP and TLS 1.3. Started and stopped
// by pid through wan.spawn.
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

function nginxInfo() {
  const r = spawnSync('nginx', ['-V'], { encoding: 'utf8' })
  if (r.error) return { available: false, reason: 'nginx not found (apt-get install nginx-light)' }
  const text = `${r.stderr}${r.stdout}`
  const m = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(text)
  return {
    available: true,
    version: m ? m.slice(1).join('.') : null,
    v: m ? m.slice(1).map(Number) : [0, 0, 0],
    ssl: text.includes('--with-http_ssl_module'),
    configure: text,
  }
}

/**
 * A configuration for one foreground nginx process (daemon off,
 * master_process off) whose pid, lock, logs and temp paths all live in `dir`
 * (the benchmark's reference rows and the tests' nginx peers).
 * servers: [{ listen, extra = [], location }]: `listen …`, more lines for the
 * server block, and what `location /` does. Options: configure (`nginx -V`'s
 * output: temp paths only for the modules this build has), errorLevel,
 * workerConnections, accessLog (false: off; true: dir/access.log), http (more
 * lines for the http block), runAsRoot (`user root;` when this process is
 * root: nginx would chown its temp dirs to "nobody", which fails in an
 * unprivileged user namespace, where only root is mapped).
 */
function nginxConf(dir, servers, { configure = '', errorLevel = 'warn', workerConnections = 1024, accessLog = false, http = [], runAsRoot = false } = {}) {
  const temps = ['client_body']
  for (const m of ['proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    if (configure.includes(`--http-${m}-temp-path`) && !configure.includes(`--without-http_${m}_module`)) temps.push(m)
  }
  return [
    'daemon off;',
    'master_process off;',
    'worker_processes 1;',
    ...(runAsRoot && process.getuid() === 0 ? ['user root;'] : []),
    `pid ${dir}/nginx.pid;`,
    `lock_file ${dir}/nginx.lock;`,
    `error_log ${dir}/error.log ${errorLevel};`,
    `events { worker_connections ${workerConnections}; }`,
    'http {',
    accessLog ? `  access_log ${dir}/access.log;` : '  access_log off;',
    ...http.map((l) => `  ${l}`),
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

/** The reference rows' servers: HTTP with and without fastopen=256, and the same over TLS 1.3 when there is a certificate. */
function conf(dir, host, ports, tls, info) {
  const location = 'default_type text/plain; return 200 "ok\\n";'
  const tlsLines = tls ? [`ssl_certificate ${tls.cert};`, `ssl_certificate_key ${tls.key};`, 'ssl_protocols TLSv1.3;'] : []
  const servers = [
    { listen: `${host}:${ports.http.tfo} fastopen=256`, location },
    { listen: `${host}:${ports.http.net}`, location },
    ...(tls
      ? [
          { listen: `${host}:${ports.https.tfo} ssl fastopen=256`, extra: tlsLines, location },
          { listen: `${host}:${ports.https.net} ssl`, extra: tlsLines, location },
        ]
      : []),
  ]
  return nginxConf(dir, servers, { configure: info.configure, http: ['keepalive_timeout 0;'] })
}

/** Starts nginx in the wan's server namespace; resolves to { child, dir, stop() } once it listens. */
async function startNginx(wan, { dir, ports, tls }) {
  const info = nginxInfo()
  if (!info.available) throw Object.assign(new Error(info.reason), { code: 'BENCH_NO_NGINX' })
  if (tls && !info.ssl) tls = null
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, 'nginx.conf')
  fs.writeFileSync(file, conf(dir, wan.server.addr, ports, tls, info))
  const args = ['-c', file, '-p', dir + '/']
  const [a, b, c] = info.v
  if (a > 1 || b > 19 || (b === 19 && c >= 5)) args.push('-e', path.join(dir, 'error.log')) // no log outside dir, even at startup
  const child = wan.spawn('server', 'nginx', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => {
    output += d
  })
  child.stderr.on('data', (d) => {
    output += d
  })
  const want = [ports.http.tfo, ports.http.net, ...(tls ? [ports.https.tfo, ports.https.net] : [])]
  const deadline = Date.now() + 10000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      let log = ''
      try {
        log = fs.readFileSync(path.join(dir, 'error.log'), 'utf8')
      } catch {}
      throw new Error(`nginx exited at start: ${output}${log}`)
    }
    const r = await wan.exec('server', 'ss', ['-Hltn'])
    if (want.every((p) => r.stdout.includes(`${wan.server.addr}:${p} `))) break
    if (Date.now() > deadline) throw new Error(`nginx did not listen within 10 s: ${output}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    child,
    version: info.version,
    tls: !!tls,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        const timer = setTimeout(() => {
          try {
            process.kill(child.pid, 'SIGKILL')
          } catch {}
        }, 2000)
        child.once('exit', () => {
          clearTimeout(timer)
          resolve()
        })
        try {
          process.kill(child.pid, 'SIGTERM')
        } catch {}
      }),
  }
}

module.exports = { startNginx, nginxInfo, nginxConf }
