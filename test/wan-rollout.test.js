'use strict'
// The gain, measured where it happens (issue #13 §2), on an emulated 50 ms
// path (bench/lib/wan.js): the server's estimate of the time SYN data saved
// (one RTT per such connection: at accept the connection is in SYN_RECV with
// no RTT, so the estimate is the kernel's cached RTT for the client, or the
// connection's own once its handshake completed), for a raw TCP server, an
// HTTP server that closes at once (Connection: close) and an HTTPS server;
// and the client's own time to first byte per cohort against the test's own
// stopwatch on the same connections. Bounds are about what is measured (one
// RTT, the stopwatch's value), not about speed.
const t = require('tap')
const path = require('node:path')

if (require('./helpers/wan').skipWithoutWanRoot(t)) return

const { createWan } = require('../bench/lib/wan')
const { selfSigned } = require('./helpers/tls')
const ROOT = path.join(__dirname, '..')
const RTT = 50

const SERVER = `
const tfo = require(${JSON.stringify(ROOT)})
const http = require('node:http')
const https = require('node:https')
const { key, cert } = JSON.parse(process.argv[1])
const answer = (req, res) => { res.writeHead(200, { 'Content-Length': 3, Connection: 'close' }); res.end('ok\\n') }
const tcp = tfo.createServer((s) => { s.on('error', () => {}); s.once('data', () => s.end('reply')) })
const h = http.createServer(answer)
tfo.enableFastOpen(h)
const hs = https.createServer({ key, cert }, answer)
tfo.enableFastOpen(hs)
tcp.listen(7201, '0.0.0.0')
h.listen(7202, '0.0.0.0')
hs.listen(7203, '0.0.0.0', () => console.log(JSON.stringify({ ready: true })))
process.stdin.on('data', () => { console.log(JSON.stringify({ server: tfo.stats().server })); tfo.resetStats() })
`

// Per scenario: n connections, alternating the tfo cohort and the control cohort,
// each timed by a stopwatch here (connect()/request to the first byte).
const CLIENT = `
const tfo = require(${JSON.stringify(ROOT)})
const http = require('node:http')
const https = require('node:https')
const [host, scenario, n] = [process.argv[1], process.argv[2], Number(process.argv[3])]
const now = () => Number(process.hrtime.bigint()) / 1e6
const agents = {
  http: { tfo: new tfo.http.Agent({ keepAlive: false }), control: new tfo.http.Agent({ keepAlive: false, fastOpen: { rollout: 0 } }) },
  https: { tfo: new tfo.https.Agent({ keepAlive: false, ecdhCurve: 'X25519:P-256' }), control: new tfo.https.Agent({ keepAlive: false, ecdhCurve: 'X25519:P-256', fastOpen: { rollout: 0 } }) },
}
function tcpOnce (cohort) {
  return new Promise((resolve) => {
    const t0 = now()
    let ms = null
    const s = tfo.connect({ port: 7201, host, fastOpen: cohort === 'control' ? { rollout: 0 } : true })
    s.write('GET / HTTP/1.0\\r\\n\\r\\n')
    s.on('data', () => { if (ms === null) ms = now() - t0 })
    s.on('error', () => {})
    s.on('close', () => resolve({ ms, info: s.fastOpen }))
  })
}
function httpOnce (mod, port, cohort) {
  return new Promise((resolve, reject) => {
    const t0 = now()
    let socket
    const req = mod.get({ host, port, agent: agents[mod === http ? 'http' : 'https'][cohort], rejectUnauthorized: false }, (res) => {
      const ms = now() - t0
      res.resume()
      res.on('end', () => socket.once('close', () => resolve({ ms, info: socket.fastOpen })))
    })
    req.on('socket', (s) => { socket = s })
    req.on('error', reject)
  })
}
;(async () => {
  const once = scenario === 'tcp' ? tcpOnce : (c) => httpOnce(scenario === 'http' ? http : https, scenario === 'http' ? 7202 : 7203, c)
  await once('tfo') // first contact: the cookie (for this address, from any port)
  tfo.resetStats()
  const out = { tfo: [], control: [] }
  for (let i = 0; i < n; i++) for (const c of ['tfo', 'control']) out[c].push(await once(c))
  console.log(JSON.stringify({ out, stats: tfo.stats().client, buckets: tfo.TTFB_BUCKETS }))
})()
`

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = (s.length - 1) / 2
  return (s[Math.floor(m)] + s[Math.ceil(m)]) / 2
}

async function startServer(t, wan) {
  const server = wan.spawn('server', process.execPath, ['-e', SERVER, JSON.stringify({ key: selfSigned().key.toString(), cert: selfSigned().cert.toString() })])
  const lines = []
  let buf = ''
  server.stdout.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)))
      buf = buf.slice(i + 1)
    }
  })
  let err = ''
  server.stderr.on('data', (d) => {
    err += d
  })
  const next = () =>
    new Promise((resolve, reject) => {
      const have = lines.length
      const iv = setInterval(() => {
        if (lines.length > have) {
          clearInterval(iv)
          resolve(lines[have])
        }
      }, 10)
      server.once('exit', (code) => {
        clearInterval(iv)
        reject(new Error(`server exited (${code}): ${err}`))
      })
    })
  await next()
  t.teardown(async () => {
    server.kill('SIGTERM')
    if (server.exitCode === null && server.signalCode === null) await new Promise((resolve) => server.on('close', resolve))
  })
  return async () => {
    const p = next()
    server.stdin.write('stats\n')
    return (await p).server
  }
}

t.test('over a 50 ms path: the server counts one RTT saved per SYN-data connection; the client times its cohorts', async (t) => {
  const wan = await createWan({ rttMs: RTT, tag: 'rollout' })
  t.teardown(() => wan.close())
  const serverStats = await startServer(t, wan)
  const N = 8
  for (const scenario of ['tcp', 'http', 'https']) {
    await serverStats() // reset
    const r = await wan.exec('client', process.execPath, ['-e', CLIENT, wan.server.addr, scenario, String(N)], { timeout: 120000 })
    t.equal(r.code, 0, r.stderr)
    const { out, stats, buckets } = JSON.parse(r.stdout.trim().split('\n').pop())
    const srv = await serverStats()

    t.ok(
      out.tfo.every((x) => x.info.cohort === 'tfo' && x.info.synData),
      `${scenario}: every tfo-cohort connection carried SYN data`,
    )
    t.ok(
      out.control.every((x) => x.info.cohort === 'control' && !x.info.attempted),
      `${scenario}: control connections are plain TCP`,
    )

    // The server: one estimate per SYN-data connection (first contact included), each one RTT.
    const ts = srv.timeSaved
    t.ok(srv.synData >= N, `${scenario}: the server saw ${srv.synData} SYN-data connections (${N}, and the first contact when a cookie was already cached)`)
    t.equal(ts.connections + ts.unestimated, srv.synData, `${scenario}: every SYN-data connection is estimated or said not to be`)
    t.equal(ts.unestimated, 0, `${scenario}: none without an estimate (the kernel caches this client's RTT)`)
    const perConn = (ts.seconds / ts.connections) * 1000
    t.ok(perConn >= RTT * 0.9 && perConn <= RTT * 1.2, `${scenario}: ${perConn.toFixed(2)} ms saved per connection, one RTT (${RTT} ms)`)
    t.equal(ts.bySource.tcpMetrics, ts.connections, `${scenario}: from the kernel's cached RTT (the connection is in SYN_RECV at accept)`)

    // The client's own figures against this test's stopwatch on the same connections.
    for (const cohort of ['tfo', 'control']) {
      const watch = median(out[cohort].map((x) => x.ms))
      const lib = stats.cohorts[cohort].ttfbMs.all
      t.equal(lib.count, N, `${scenario}, ${cohort}: one time to first byte per connection`)
      t.ok(
        lib.p50 <= watch + 0.5 && lib.p50 >= watch - 5,
        `${scenario}, ${cohort}: library p50 ${lib.p50} ms, stopwatch median ${watch.toFixed(2)} ms (the library's span lies inside the stopwatch's)`,
      )
    }
    const bucket = (ms) => buckets.findIndex((le) => ms / 1000 <= le)
    t.not(
      bucket(stats.cohorts.tfo.ttfbMs.all.p50),
      bucket(stats.cohorts.control.ttfbMs.all.p50),
      `${scenario}: tfo and control medians in different default buckets`,
    )
    t.comment(
      `${scenario}: tfo p50 ${stats.cohorts.tfo.ttfbMs.all.p50} ms, control p50 ${stats.cohorts.control.ttfbMs.all.p50} ms, saved per connection (server) ${perConn.toFixed(2)} ms`,
    )
  }
})

t.test('no RTT known: a connection closed before its handshake completes, with no cached RTT, is counted as unestimated', async (t) => {
  const wan = await createWan({ rttMs: RTT, tag: 'rollout2' })
  t.teardown(() => wan.close())
  const serverStats = await startServer(t, wan)
  const run = () => wan.exec('client', process.execPath, ['-e', CLIENT, wan.server.addr, 'http', '1'], { timeout: 60000 })
  t.equal((await run()).code, 0) // the cookie, and a cached RTT on the server
  await serverStats()
  const flush = await wan.exec('server', 'ip', ['tcp_metrics', 'flush'])
  t.equal(flush.code, 0, `ip tcp_metrics flush in the server's namespace: ${flush.stderr}`)
  // The script's first connection (tfo, with SYN data) finds no cached RTT: the
  // server closes it ~1 ms after accept, before the client's ACK.
  t.equal((await run()).code, 0)
  const s1 = await serverStats()
  t.equal(s1.synData, 2, 'two SYN-data connections (the first contact and the tfo one)')
  t.ok(s1.timeSaved.unestimated >= 1, `the first after the flush: no RTT known (unestimated ${s1.timeSaved.unestimated})`)
  t.equal(s1.timeSaved.connections + s1.timeSaved.unestimated, 2)
  // Closed connections leave their RTT in the kernel's cache: later ones are estimated.
  await new Promise((resolve) => setTimeout(resolve, 4 * RTT))
  t.equal((await run()).code, 0)
  const s2 = await serverStats()
  t.same(
    { connections: s2.timeSaved.connections, unestimated: s2.timeSaved.unestimated },
    { connections: 2, unestimated: 0 },
    'once cached, every one is estimated',
  )
})
