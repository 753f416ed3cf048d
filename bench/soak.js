#!/usr/bin/env node
'use strict'
// npm run soak [-- options]: a bounded churn of short TFO connections (tfo
// client → tfo server, in one process), to show that fds and memory stay flat.
//
// Each connection: the client writes a request and end()s before 'connect'
// (so the request rides in the SYN, with the cookie cached after the first
// contact), the server answers and closes, the client reads the answer to
// its end. `--concurrency` connections are in flight at any time until
// `--connections` have completed.
//
// Reported: fds (/proc/self/fd) and RSS / V8 heap (after a full GC) at start
// (server listening, nothing connected), after the warm-up, and at the end
// (everything closed); the share of connections whose SYN carried data (both
// ends' TCP_INFO), errors, duration, connections/s. Verdict "flat" when:
//   - fds at the end == fds at start (every socket closed), and
//   - RSS at the end − RSS after the warm-up < 20 MB, and
//   - heap used at the end − heap used after the warm-up < 5 MB.
// Why these bounds: RSS is coarse. Under this churn V8 grows its young
// generation to the maximum semi-space size over the first ~10 000
// connections (RSS ramps from ~50 to ~80 MB, with net exactly as with tfo;
// with --max-semi-space-size=1 the ramp disappears; on Node 26 the ramp goes
// on to ~20 000 connections, again with net as with tfo: test/soak.test.js
// therefore judges RSS against a net run of the same churn), and malloc rarely gives
// freed memory back to the OS, so RSS after the warm-up may still drift by a
// few MB without any leak. Hence the warm-up of 10 000 connections (at most
// half the run) and an absolute bound: 20 MB over the 90 000 connections
// after the warm-up is ~230 bytes per connection, far less than one socket's
// JS and libuv objects (a few KB), so a per-connection leak of any real object
// shows. The heap used after a full GC is exact for JS objects: 5 MB over
// 90 000 connections is ~60 bytes per connection. A relative bound (10 %) was
// not chosen: the baseline RSS depends on the machine and Node version, the
// size of a leaked object does not. With fewer than ~20 000 connections the
// warm-up cannot reach the plateau and the RSS check is not meaningful (the
// report says so).
//
// As root it runs in a private network namespace (like the tests): it
// re-executes itself under `unshare --net` with, inside that namespace only,
// net.ipv4.tcp_fastopen=3, tcp_tw_reuse=1 and ip_local_port_range 1024 65535
// (100 000 client-side closes leave as many TIME_WAIT sockets; their ports
// must be reusable). Without root it tries an unprivileged user namespace,
// else runs in the current namespace with the current settings (and says so).
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const HELP = `Usage: npm run soak [-- options]    (node bench/soak.js [options])

A bounded churn of TFO connections (tfo client -> tfo server, loopback):
reports fds and RSS at start, after the warm-up and at the end, the share of
connections whose request rode in the SYN, and whether fds and memory stayed flat.

Options:
  --connections N   connections to make (default 100000)
  --concurrency C   connections in flight at once (default 64)
  --warmup N        connections before the "after warm-up" sample (default min(10000, N/2))
  --module M        tfo (default) or net: the same churn with plain net, for comparison
  --json            print one JSON object (the report) instead of text
  --no-netns        run in the current network namespace, as is
  --help

Exit status: 0 when every connection completed and fds and memory were flat; 1 otherwise.
TFO_BENCH_LIB=<dir> soaks another build of tfo (default: this repository).`

function parseArgs(argv) {
  const o = { connections: 100000, concurrency: 64, warmup: null, json: false, netns: true, inside: false, module: 'tfo' }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const num = (name) => {
      const v = Number(argv[++i])
      if (!Number.isInteger(v) || v < 1) throw new Error(`${name} needs a positive integer`)
      return v
    }
    if (a === '--connections') o.connections = num(a)
    else if (a === '--concurrency') o.concurrency = num(a)
    else if (a === '--warmup') o.warmup = num(a)
    else if (a === '--json') o.json = true
    else if (a === '--module') {
      o.module = argv[++i]
      if (o.module !== 'tfo' && o.module !== 'net') throw new Error('--module is tfo or net')
    } else if (a === '--no-netns') o.netns = false
    else if (a === '--inside') o.inside = true
    else if (a === '--help' || a === '-h') o.help = true
    else throw new Error(`unknown option ${a}`)
  }
  if (o.warmup === null) o.warmup = Math.min(10000, Math.max(1, Math.floor(o.connections / 2)))
  o.warmup = Math.min(o.warmup, o.connections)
  return o
}

const INSIDE_ENV = 'TFO_SOAK_NETNS'
const SETUP = [
  'set -e',
  'ip link set lo up',
  'echo 3 > /proc/sys/net/ipv4/tcp_fastopen',
  'echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse',
  "echo '1024 65535' > /proc/sys/net/ipv4/ip_local_port_range",
  'exec "$@"',
].join('\n')

/** Re-executes this script: under unshare when possible, always with --expose-gc. */
function launch(opts, argv) {
  const node = [process.execPath, '--expose-gc', __filename, ...argv, '--inside']
  let note = null
  if (opts.netns && process.platform === 'linux') {
    const root = process.getuid && process.getuid() === 0
    const tries = root ? [['--net']] : [['--user', '--map-root-user', '--net']]
    for (const u of tries) {
      const probe = spawnSync('unshare', [...u, 'sh', '-c', SETUP.replace('exec "$@"', 'true')], { stdio: 'ignore' })
      if (probe.status === 0) {
        const r = spawnSync('unshare', [...u, 'sh', '-c', SETUP, 'soak-netns', ...node], {
          stdio: 'inherit',
          env: { ...process.env, [INSIDE_ENV]: u.join(' ') },
        })
        return r.status === null ? 1 : r.status
      }
    }
    note = root
      ? 'unshare --net failed although running as root; running in the current network namespace'
      : 'no private network namespace (needs root or unprivileged user namespaces); running in the current one, with its settings'
  }
  const r = spawnSync(node[0], node.slice(1), { stdio: 'inherit', env: { ...process.env, TFO_SOAK_NOTE: note || '' } })
  return r.status === null ? 1 : r.status
}

const MB = 1024 * 1024
const fdCount = () => fs.readdirSync('/proc/self/fd').length - 1 // minus readdir's own
const readSysctl = (name) => {
  try {
    return fs
      .readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8')
      .trim()
      .replace(/\s+/g, ' ')
  } catch {
    return null
  }
}

function sample(label) {
  for (let i = 0; i < 3; i++) global.gc()
  const m = process.memoryUsage()
  return {
    label,
    fds: fdCount(),
    rssMB: +(m.rss / MB).toFixed(1),
    heapUsedMB: +(m.heapUsed / MB).toFixed(2),
    externalMB: +(m.external / MB).toFixed(2),
    at: Date.now(),
  }
}

async function soak(opts) {
  const tfo = require(process.env.TFO_BENCH_LIB ? path.resolve(process.env.TFO_BENCH_LIB) : path.join(__dirname, '..'))
  // The module under test: tfo, or net for a baseline of the same churn.
  const mod = opts.module === 'net' ? require('node:net') : tfo
  const host = '127.0.0.1'
  const request = Buffer.from('GET /soak HTTP/1.0\r\nHost: soak\r\n\r\n')
  const response = Buffer.from('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok')
  const live = new Set()
  const server = mod.createServer({ allowHalfOpen: true }, (s) => {
    live.add(s)
    s.on('close', () => live.delete(s))
    s.on('error', () => {})
    let n = 0
    s.on('data', (d) => {
      n += d.length
    })
    s.on('end', () => {
      if (s.fastOpen && s.fastOpen.synData) counts.serverSynData++
      counts.serverBytes += n
      s.end(response)
    })
  })
  const counts = { done: 0, started: 0, synData: 0, serverSynData: 0, serverBytes: 0, errors: 0, firstErrors: [], badReplies: 0 }
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, resolve)
  })
  const { port } = server.address()
  if (opts.module === 'tfo' && !server.fastOpen.active) process.stderr.write(`soak: server TFO not active: ${server.fastOpen.reason}\n`)

  const start = sample('start')
  const kernelBefore = tfo.counters()
  const t0 = process.hrtime.bigint()
  const samples = [start]
  let warm = null
  const progressEvery = Math.max(1, Math.floor(opts.connections / 10))

  await new Promise((resolve) => {
    let inFlight = 0
    const one = () => {
      counts.started++
      inFlight++
      const s = mod.connect(port, host)
      let got = 0
      s.on('data', (d) => {
        got += d.length
      })
      s.on('error', (e) => {
        counts.errors++
        if (counts.firstErrors.length < 5) counts.firstErrors.push(`${e.code || e.name}: ${e.message}`)
      })
      s.on('close', () => {
        inFlight--
        counts.done++
        if (got !== response.length) counts.badReplies++
        if (s.fastOpen && s.fastOpen.synData) counts.synData++
        if (counts.done === opts.warmup) warm = 'due'
        if (counts.done % progressEvery === 0 && !opts.json) {
          const m = process.memoryUsage()
          process.stderr.write(`soak: ${counts.done}/${opts.connections}  fds ${fdCount()}  rss ${(m.rss / MB).toFixed(1)} MB  synData ${counts.synData}\n`)
        }
        if (counts.started < opts.connections) {
          if (warm === 'due' && inFlight === 0) {
            // Sample after the warm-up with nothing in flight, then refill.
            warm = sample('after warm-up')
            samples.push(warm)
            const refill = Math.min(opts.concurrency, opts.connections - counts.started)
            for (let i = 0; i < refill; i++) one()
            return
          }
          if (warm !== 'due') one()
        } else if (inFlight === 0) {
          resolve()
        }
      })
      s.end(request)
    }
    for (let i = 0; i < Math.min(opts.concurrency, opts.connections); i++) one()
  })
  const t1 = process.hrtime.bigint()
  // Every client socket is closed; accepted ones close a moment later.
  for (let i = 0; i < 200 && live.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  await new Promise((resolve) => setTimeout(resolve, 50))
  if (!warm || warm === 'due') {
    warm = sample('after warm-up')
    samples.splice(1, 0, warm)
  }
  const end = sample('end')
  samples.push(end)
  const kernel = tfo.diffCounters(kernelBefore, tfo.counters())
  await new Promise((resolve) => server.close(resolve))

  const seconds = Number(t1 - t0) / 1e9
  const rssGrowth = +(end.rssMB - warm.rssMB).toFixed(1)
  const heapGrowth = +(end.heapUsedMB - warm.heapUsedMB).toFixed(2)
  const checks = {
    completed: counts.done === opts.connections && counts.errors === 0 && counts.badReplies === 0,
    fdsFlat: end.fds === start.fds,
    rssFlat: rssGrowth < 20,
    heapFlat: heapGrowth < 5,
  }
  return {
    module: opts.module,
    connections: opts.connections,
    concurrency: opts.concurrency,
    warmup: opts.warmup,
    completed: counts.done,
    errors: counts.errors,
    firstErrors: counts.firstErrors,
    badReplies: counts.badReplies,
    synData: counts.synData,
    synDataRatio: +(counts.synData / Math.max(1, counts.done)).toFixed(4),
    serverSynData: counts.serverSynData,
    serverBytes: counts.serverBytes,
    seconds: +seconds.toFixed(2),
    perSecond: Math.round(counts.done / seconds),
    samples,
    growthAfterWarmup: { rssMB: rssGrowth, heapUsedMB: heapGrowth, fds: end.fds - warm.fds },
    bounds: { rssMB: 20, heapUsedMB: 5, fds: 'end == start' },
    checks,
    flat: checks.fdsFlat && checks.rssFlat && checks.heapFlat,
    ok: Object.values(checks).every(Boolean),
    kernel: {
      active: kernel.active,
      activeFail: kernel.activeFail,
      passive: kernel.passive,
      passiveFail: kernel.passiveFail,
      cookieReqd: kernel.cookieReqd,
      listenOverflow: kernel.listenOverflow,
    },
    environment: {
      namespace: process.env[INSIDE_ENV] ? `private (unshare ${process.env[INSIDE_ENV]})` : 'current',
      note:
        [
          process.env.TFO_SOAK_NOTE || null,
          opts.warmup < 10000
            ? `a warm-up of ${opts.warmup} connections may end before V8's young generation has grown to its plateau (~10 000): RSS growth may show that ramp, not a leak`
            : null,
        ]
          .filter(Boolean)
          .join('; ') || null,
      tcp_fastopen: readSysctl('net.ipv4.tcp_fastopen'),
      tcp_tw_reuse: readSysctl('net.ipv4.tcp_tw_reuse'),
      ip_local_port_range: readSysctl('net.ipv4.ip_local_port_range'),
      node: process.version,
      tfo: require(path.join(__dirname, '..', 'package.json')).version,
    },
  }
}

function print(r) {
  const lines = []
  lines.push(`${r.module} soak: ${r.completed}/${r.connections} connections, concurrency ${r.concurrency}, ${r.seconds} s (${r.perSecond}/s)`)
  lines.push(
    `namespace: ${r.environment.namespace}; tcp_fastopen=${r.environment.tcp_fastopen}, tcp_tw_reuse=${r.environment.tcp_tw_reuse}, ip_local_port_range=${r.environment.ip_local_port_range}`,
  )
  if (r.environment.note) lines.push(`note: ${r.environment.note}`)
  lines.push('')
  lines.push('                    fds    RSS MB   heap used MB')
  for (const s of r.samples)
    lines.push(`${s.label.padEnd(16)}${String(s.fds).padStart(7)}${s.rssMB.toFixed(1).padStart(10)}${s.heapUsedMB.toFixed(2).padStart(15)}`)
  lines.push('')
  lines.push(
    `growth after warm-up (${r.warmup} connections): RSS ${r.growthAfterWarmup.rssMB} MB (bound < ${r.bounds.rssMB}), heap ${r.growthAfterWarmup.heapUsedMB} MB (bound < ${r.bounds.heapUsedMB}), fds ${r.growthAfterWarmup.fds}`,
  )
  lines.push(
    `SYN data: ${r.synData}/${r.completed} (${(r.synDataRatio * 100).toFixed(2)} %) client side, ${r.serverSynData} server side; kernel: TCPFastOpenActive ${r.kernel.active}, Passive ${r.kernel.passive}, CookieReqd ${r.kernel.cookieReqd}, ActiveFail ${r.kernel.activeFail}, ListenOverflow ${r.kernel.listenOverflow}`,
  )
  lines.push(`errors: ${r.errors}${r.firstErrors.length ? ` (${r.firstErrors.join('; ')})` : ''}, bad replies: ${r.badReplies}`)
  lines.push(
    `verdict: ${r.ok ? 'OK' : 'FAIL'} — ${Object.entries(r.checks)
      .map(([k, v]) => `${k} ${v ? 'yes' : 'NO'}`)
      .join(', ')}`,
  )
  process.stdout.write(`${lines.join('\n')}\n`)
}

async function main() {
  let opts
  try {
    opts = parseArgs(process.argv.slice(2))
  } catch (e) {
    process.stderr.write(`soak: ${e.message}\n${HELP}\n`)
    process.exit(2)
  }
  if (opts.help) {
    process.stdout.write(`${HELP}\n`)
    return
  }
  if (!opts.inside) {
    process.exitCode = launch(opts, process.argv.slice(2))
    return
  }
  const report = await soak(opts)
  if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`)
  else print(report)
  process.exitCode = report.ok ? 0 : 1
}

main().catch((e) => {
  process.stderr.write(`soak: ${e.stack || e}\n`)
  process.exitCode = 1
})
