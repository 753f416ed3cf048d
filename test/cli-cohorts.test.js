'use strict'
// `tfo stats --metrics URL`: another process reads a running service's
// Prometheus endpoint and shows its rollout cohorts side by side. The service
// here is this test process (tfo.metricsText(), or prom-client with
// registerPromClient), with real TFO traffic in a private network namespace.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const http = require('node:http')
const path = require('node:path')
const { spawn } = require('node:child_process')
const tfo = require('..')
const { listen, closeServer, collect, sinkServer } = require('./helpers/util')

const CLI = path.join(__dirname, '..', 'dist', 'cli', 'main.js')

/** The CLI in a child process (asynchronously: the service it scrapes is this process). */
function cli(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

function lcg(seed) {
  let x = seed >>> 0
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32
}

async function endpoint(t, body) {
  const server = http.createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.statusCode = 404
      return res.end('not here')
    }
    res.setHeader('content-type', 'text/plain; version=0.0.4')
    res.end(await body())
  })
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, '127.0.0.1')
  return `http://127.0.0.1:${port}/metrics`
}

async function traffic(t, host, n, rollout) {
  const server = tfo.createServer(sinkServer())
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, host)
  for (let i = 0; i < n; i++) {
    const s = tfo.connect({ port, host, fastOpen: { rollout } })
    s.end('ping')
    await collect(s)
  }
  return port
}

t.test('once: the cohorts side by side, as a table and as JSON, with the figures tfo.stats() has', async (t) => {
  tfo.resetStats()
  await traffic(t, '127.0.0.80', 40, { sample: 0.25, random: lcg(5) })
  // Two refused connections, one per cohort.
  for (const rollout of [1, 0]) {
    const s = tfo.connect({ port: 9, host: '127.0.0.80', fastOpen: { rollout } })
    s.write('x')
    await collect(s)
  }
  const url = await endpoint(t, () => tfo.metricsText())
  const st = tfo.stats()
  const { tfo: a, control: z } = st.client.cohorts

  const json = await cli(['stats', '--metrics', url, '--json'])
  t.equal(json.status, 0, json.stderr)
  const j = JSON.parse(json.stdout)
  t.equal(j.url, url)
  t.match(j.cohorts.tfo, {
    requested: a.requested,
    connections: a.connections,
    errors: 1,
    errorsByCode: { ECONNREFUSED: 1 },
    attempted: a.attempted,
    synDataAcked: a.synDataAcked,
  })
  t.match(j.cohorts.control, {
    requested: z.requested,
    connections: z.connections,
    errors: 1,
    attempted: 0,
    synDataAcked: 0,
    notAttempted: { 'rollout: not sampled': z.connections },
  })
  t.equal(j.cohorts.tfo.share + j.cohorts.control.share, 1, 'the shares of the connections requested add up')
  t.equal(j.cohorts.tfo.share, a.requested / (a.requested + z.requested))
  t.equal(j.cohorts.tfo.hitRate, a.synDataAcked / a.connections, 'hit rate: SYN data acknowledged per connection')
  t.equal(j.cohorts.control.errorRate, 1 / z.requested, 'error rate: errors per connection requested')
  t.equal(j.cohorts.tfo.ttfbMs.count, a.ttfbMs.all.count)
  t.equal(j.cohorts.control.ttfbMs.count, z.ttfbMs.all.count)
  t.ok(j.cohorts.tfo.ttfbMs.mean > 0 && j.cohorts.control.ttfbMs.p50 > 0, 'times to first byte, from the histogram')
  t.match(j.server, { accepted: st.server.accepted, synData: st.server.synData, timeSavedConnections: st.server.timeSaved.connections })

  const human = await cli(['stats', '--metrics', url])
  t.equal(human.status, 0, human.stderr)
  const row = (label) => human.stdout.split('\n').find((l) => l.startsWith(label))
  t.match(human.stdout, /^\s+tfo\s+control\s+tfo − control$/m, 'a column per cohort')
  t.match(row('connections requested'), new RegExp(`^connections requested\\s+${a.requested}\\s+${z.requested}`))
  t.match(row('established'), new RegExp(`^established\\s+${a.connections}\\s+${z.connections}`))
  t.match(row('errors before the first byte'), /1 \(\d+\.\d+%\)\s+1 \(\d+\.\d+%\)/)
  t.match(row('SYN data acknowledged (hit rate)'), new RegExp(`${a.synDataAcked} \\(\\d+\\.\\d%\\)`))
  t.ok(row('time to first byte p50 (ms)'), 'TTFB p50 row')
  t.match(human.stdout, /control because: rollout: not sampled: \d+/)
  t.match(human.stdout, /errors, tfo: ECONNREFUSED: 1; control: ECONNREFUSED: 1/)
  t.match(human.stdout, /server: \d+ accepted, \d+ with SYN data .*time saved/)
  t.notMatch(human.stdout, /\x1b\[/, 'no colour when not a TTY')
})

t.test('--watch: what changed in each interval, per cohort (NDJSON with --json)', async (t) => {
  tfo.resetStats()
  let scraped
  const firstScrape = new Promise((resolve) => {
    scraped = resolve
  })
  const url = await endpoint(t, () => {
    scraped()
    return tfo.metricsText()
  })
  const host = '127.0.0.81'
  const server = tfo.createServer(sinkServer())
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, host)
  const watching = cli(['stats', '--metrics', url, '--watch', '0.5', '--count', '2', '--json'])
  // Traffic during the first interval only (after the scrape it starts from): 6 control, then nothing.
  await firstScrape
  for (let i = 0; i < 6; i++) {
    const s = tfo.connect({ port, host, fastOpen: { rollout: 0 } })
    s.end('x')
    await collect(s)
  }
  const r = await watching
  t.equal(r.status, 0, r.stderr)
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  t.equal(lines.length, 2, 'one JSON line per interval')
  t.ok(lines.every((l) => l.intervalMs > 0))
  t.equal(lines[0].cohorts.control.requested, 6, 'the six control connections, in the interval they were made')
  t.equal(lines[1].cohorts.control.requested, 0, 'none in the next')
  t.equal(lines[0].cohorts.tfo.requested + lines[1].cohorts.tfo.requested, 0)

  const words = await cli(['stats', '--metrics', url, '--watch', '0.2', '--count', '1'])
  t.equal(words.status, 0, words.stderr)
  t.match(words.stdout, /TCP Fast Open cohorts of .*: what changed every 0\.2 s/)
  t.match(words.stdout, /\(the last 0\.\d s\)/)
})

t.test('prom-client with a prefix of its own: --prefix', async (t) => {
  tfo.resetStats()
  await traffic(t, '127.0.0.82', 4, 1)
  const client = require('prom-client')
  const registry = new client.Registry()
  tfo.registerPromClient(client, { registry, prefix: 'app_tfo_', kernel: false })
  const url = await endpoint(t, () => registry.metrics())
  const r = await cli(['stats', '--metrics', url, '--prefix', 'app_tfo_', '--json'])
  t.equal(r.status, 0, r.stderr)
  t.match(JSON.parse(r.stdout).cohorts.tfo, { requested: 4, connections: 4, ttfbMs: { count: 4 } })
  const wrong = await cli(['stats', '--metrics', url])
  t.equal(wrong.status, 0)
  t.match(wrong.stdout, /no tfo client metrics at this endpoint/, 'the default prefix finds nothing, and says so')
})

t.test('--metrics: bad arguments exit 2, an unreachable or failing endpoint exits 1, each with one line', async (t) => {
  for (const args of [
    ['--metrics', 'not a url'],
    ['--metrics', 'ftp://127.0.0.1/metrics'],
    ['--prefix', 'app_'],
    ['--metrics', 'http://127.0.0.1:1/', '--prefix', 'bad prefix'],
  ]) {
    const r = await cli(['stats', ...args])
    t.equal(r.status, 2, args.join(' '))
    t.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    t.match(r.stderr, /^tfo stats: /)
  }
  const url = await endpoint(t, () => tfo.metricsText())
  const notFound = await cli(['stats', '--metrics', url.replace('/metrics', '/nope')])
  t.equal(notFound.status, 1)
  t.match(notFound.stderr, /^tfo stats: http:\/\/127\.0\.0\.1:\d+\/nope: HTTP 404/)
  const closed = http.createServer()
  const { port } = await listen(closed, 0, '127.0.0.1')
  await closeServer(closed)
  const refused = await cli(['stats', '--metrics', `http://127.0.0.1:${port}/metrics`])
  t.equal(refused.status, 1)
  t.match(refused.stderr, /^tfo stats: http:\/\/127\.0\.0\.1:\d+\/metrics: ECONNREFUSED\n$/)
})
