'use strict'
// Staged rollout (issue #13 §1): the `rollout` option of every client entry
// point decides per connection whether it uses TFO; the decision is the
// connection's cohort ('tfo' or 'control'), in socket.fastOpen, tfo.stats()
// and the metrics. Control connections are plain TCP: no TCP_FASTOPEN_CONNECT,
// no TFO option in their SYN (tcpdump), no cookie request (kernel counters).
// Runs in a private network namespace with net.ipv4.tcp_fastopen=3.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const http = require('node:http')
const http2 = require('node:http2')
const https = require('node:https')
const tls = require('node:tls')
const { once } = require('node:events')
const path = require('node:path')
const { execFile } = require('node:child_process')
const tfo = require('..')
const b = require('./helpers/binding')
const { selfSigned } = require('./helpers/tls')
const { listen, closeServer, collect, sinkServer } = require('./helpers/util')
const { haveTcpdump, capture, synsTo } = require('./helpers/wire')

const c = b.constants

/** A deterministic RNG (a 32-bit LCG, Numerical Recipes constants): the same sequence for the test and for tfo. */
function lcg(seed) {
  let x = seed >>> 0
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    return x / 2 ** 32
  }
}

/** n connections with `fastOpen` (concurrency `conc`), each a ping answered by the server; their socket.fastOpen. */
async function connections(port, host, n, fastOpen, conc = 16) {
  const infos = []
  let next = 0
  const one = async () => {
    while (next < n) {
      next++
      const s = tfo.connect({ port, host, fastOpen })
      s.end('ping')
      const r = await collect(s)
      if (r.error) throw r.error
      infos.push(s.fastOpen)
    }
  }
  await Promise.all(Array.from({ length: conc }, one))
  return infos
}

async function echoServer(t, host) {
  const server = tfo.createServer(sinkServer())
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, host)
  return port
}

function metricSample(text, name, labels) {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `))
  return line === undefined ? undefined : Number(line.split(' ').pop())
}

t.test('the rollout option is validated on every entry point, with Node-shaped errors', async (t) => {
  const bad = [
    [{ rollout: 'half' }, 'ERR_INVALID_ARG_TYPE', /options\.fastOpen\.rollout/],
    [{ rollout: 1.5 }, 'ERR_OUT_OF_RANGE', /options\.fastOpen\.rollout/],
    [{ rollout: -0.1 }, 'ERR_OUT_OF_RANGE', /options\.fastOpen\.rollout/],
    [{ rollout: NaN }, 'ERR_OUT_OF_RANGE', /options\.fastOpen\.rollout/],
    [{ rollout: { sample: 2 } }, 'ERR_OUT_OF_RANGE', /options\.fastOpen\.rollout\.sample/],
    [{ rollout: { sample: '0.1' } }, 'ERR_INVALID_ARG_TYPE', /options\.fastOpen\.rollout\.sample/],
    [{ rollout: { include: 'api.example' } }, 'ERR_INVALID_ARG_TYPE', /options\.fastOpen\.rollout\.include/],
    [{ rollout: { sample: 0.5, random: 4 } }, 'ERR_INVALID_ARG_TYPE', /options\.fastOpen\.rollout\.random/],
    [{ rollout: null }, 'ERR_INVALID_ARG_TYPE', /options\.fastOpen\.rollout/],
  ]
  for (const [fastOpen, code, message] of bad) {
    const what = JSON.stringify(fastOpen)
    t.throws(() => tfo.connect({ port: 9, host: '127.0.0.1', fastOpen }), { code, message }, `tfo.connect ${what}`)
    t.throws(() => new tfo.Socket({ fastOpen }), { code, message }, `new tfo.Socket ${what}`)
    t.throws(() => tfo.tls.connect({ port: 9, host: '127.0.0.1', fastOpen }), { code, message }, `tfo.tls.connect ${what}`)
    t.throws(() => new tfo.http.Agent({ fastOpen }), { code, message }, `tfo.http.Agent ${what}`)
    t.throws(() => new tfo.https.Agent({ fastOpen }), { code, message }, `tfo.https.Agent ${what}`)
    t.throws(() => tfo.undici.connector({ fastOpen }), { code, message }, `tfo.undici.connector ${what}`)
  }
  // Accepted forms.
  for (const rollout of [0, 1, 0.25, () => true, { sample: 0.5 }, { include: () => true }, { sample: 0.5, random: Math.random }, {}]) {
    const s = new tfo.Socket({ fastOpen: { rollout } })
    t.ok(s instanceof tfo.Socket, `accepted: ${typeof rollout === 'function' ? 'a predicate' : JSON.stringify(rollout)}`)
    s.destroy()
  }
})

t.test('a 10% sample over 1,000 connections: 7-13% are TFO, with the real RNG and with an injected one', async (t) => {
  const host = '127.0.0.60'
  const port = await echoServer(t, host)
  await connections(port, host, 1, true) // the first contact: the cookie, so that TFO connections carry SYN data

  // Math.random: Binomial(1000, 0.1) has sd 9.5, so 70..130 is ±3.2 sd: outside it about once in 600 runs.
  tfo.resetStats()
  let infos = await connections(port, host, 1000, { rollout: 0.1 })
  let inTfo = infos.filter((i) => i.cohort === 'tfo').length
  t.ok(inTfo >= 70 && inTfo <= 130, `Math.random: ${inTfo} of 1000 in the tfo cohort (7%-13%)`)
  t.equal(infos.filter((i) => i.cohort === 'control').length, 1000 - inTfo, 'the rest are control')
  let s = tfo.stats().client
  t.equal(s.cohorts.tfo.connections, inTfo, 'stats: tfo cohort')
  t.equal(s.cohorts.control.connections, 1000 - inTfo, 'stats: control cohort')
  t.equal(s.cohorts.tfo.requested + s.cohorts.control.requested, 1000, 'stats: 1000 requested')
  t.equal(s.cohorts.tfo.synDataAcked, inTfo, 'every tfo-cohort connection carried its data in the SYN')
  t.equal(s.cohorts.control.notAttempted['rollout: not sampled'], 1000 - inTfo, 'control: not sampled, by that reason')
  t.equal(s.cohorts.control.attempted, 0, 'no control connection attempted TFO')
  const text = tfo.metricsText({ kernel: false })
  t.equal(metricSample(text, 'tfo_client_connections_total', '{cohort="tfo"}'), inTfo, 'metrics: cohort label tfo')
  t.equal(metricSample(text, 'tfo_client_connections_total', '{cohort="control"}'), 1000 - inTfo, 'metrics: cohort label control')
  t.equal(metricSample(text, 'tfo_client_not_attempted_total', '{cohort="control",reason="rollout: not sampled"}'), 1000 - inTfo)
  // `tfo stats --metrics URL` (another process, scraping this one): both cohorts, the same counts.
  const endpoint = http.createServer((req, res) => res.end(tfo.metricsText()))
  t.teardown(() => closeServer(endpoint))
  const { port: mp } = await listen(endpoint, 0, '127.0.0.1')
  const url = `http://127.0.0.1:${mp}/metrics`
  const cli = (args) =>
    new Promise((resolve) => {
      execFile(process.execPath, [path.join(__dirname, '..', 'dist', 'cli', 'main.js'), 'stats', '--metrics', url, ...args], (err, stdout, stderr) =>
        resolve({ code: err ? err.code : 0, stdout, stderr }),
      )
    })
  const j = await cli(['--json'])
  t.equal(j.code, 0, j.stderr)
  const { cohorts } = JSON.parse(j.stdout)
  t.match(
    cohorts,
    { tfo: { connections: inTfo, requested: inTfo }, control: { connections: 1000 - inTfo, requested: 1000 - inTfo } },
    'tfo stats --metrics --json: both cohorts',
  )
  t.ok(cohorts.tfo.share >= 0.07 && cohorts.tfo.share <= 0.13, `tfo stats: the tfo cohort's share ${cohorts.tfo.share} is within 7%-13%`)
  const human = await cli([])
  t.match(
    human.stdout.split('\n').find((l) => l.startsWith('established')),
    new RegExp(`^established\\s+${inTfo}\\s+${1000 - inTfo}`),
    'tfo stats --metrics: a column per cohort',
  )

  // An injected RNG: exactly the connections whose draw is below 0.1, in order.
  tfo.resetStats()
  const draws = lcg(13)
  const expected = Array.from({ length: 1000 }, () => draws() < 0.1)
  const rng = lcg(13)
  infos = []
  for (let i = 0; i < 1000; i++) infos.push(...(await connections(port, host, 1, { rollout: { sample: 0.1, random: rng } }, 1)))
  inTfo = infos.filter((i) => i.cohort === 'tfo').length
  t.same(
    infos.map((i) => i.cohort === 'tfo'),
    expected,
    'injected RNG: connection i is tfo exactly when draw i < 0.1',
  )
  t.ok(inTfo >= 70 && inTfo <= 130, `injected RNG: ${inTfo} of 1000 in the tfo cohort (7%-13%)`)
  s = tfo.stats().client
  t.equal(s.cohorts.tfo.connections, inTfo)
  t.equal(s.cohorts.control.connections, 1000 - inTfo)
  t.match(
    infos.find((i) => i.cohort === 'control'),
    { attempted: false, synData: false, cookie: 'none', reason: 'rollout: not sampled (sample 0.1)' },
  )
  t.match(
    infos.find((i) => i.cohort === 'tfo'),
    { attempted: true, synData: true, cookie: 'sent', reason: null },
  )
})

t.test('include: host groups and feature flags; a throwing predicate or RNG puts the connection in control, counted', async (t) => {
  const a = '127.0.0.61'
  const bHost = '127.0.0.62'
  const pa = await echoServer(t, a)
  const pb = await echoServer(t, bHost)
  const seen = []
  const rollout = {
    include: (origin) => {
      seen.push(origin)
      return origin.host === a
    },
  }
  tfo.resetStats()
  const [ia] = await connections(pa, a, 1, { rollout })
  const [ib] = await connections(pb, bHost, 1, { rollout })
  t.same(
    seen,
    [
      { host: a, port: pa },
      { host: bHost, port: pb },
    ],
    'the predicate sees { host, port } as given to connect()',
  )
  t.match(ia, { cohort: 'tfo', attempted: true })
  t.match(ib, { cohort: 'control', attempted: false, reason: 'rollout: origin not included' })

  // The predicate runs first; the sample then applies to the origins it lets through.
  const [both] = await connections(pa, a, 1, { rollout: { include: () => true, sample: 0.5, random: () => 0.7 } })
  t.match(both, { cohort: 'control', reason: 'rollout: not sampled (sample 0.5)' })
  const [none] = await connections(pa, a, 1, {
    rollout: {
      include: () => false,
      random: () => {
        throw new Error('not called')
      },
    },
  })
  t.match(none, { cohort: 'control', reason: 'rollout: origin not included' })
  // Anything but true is "no": a truthy value is not enough.
  const [truthy] = await connections(pa, a, 1, { rollout: () => 1 })
  t.match(truthy, { cohort: 'control', reason: 'rollout: origin not included' })

  const [threw] = await connections(pa, a, 1, {
    rollout: () => {
      throw new Error('flag service down')
    },
  })
  t.match(threw, { cohort: 'control', attempted: false, reason: 'rollout: include() threw' })
  const [rngThrew] = await connections(pa, a, 1, {
    rollout: {
      sample: 0.5,
      random: () => {
        throw new Error('no entropy')
      },
    },
  })
  t.match(rngThrew, { cohort: 'control', reason: 'rollout: random() threw' })
  const s = tfo.stats().client
  t.equal(s.cohorts.control.notAttempted['rollout: include() threw'], 1, 'a throwing predicate is counted')
  t.equal(s.cohorts.control.notAttempted['rollout: random() threw'], 1, 'a throwing RNG is counted')
  t.equal(s.cohorts.control.notAttempted['rollout: origin not included'], 3)
  t.same(s.cohorts.tfo.notAttempted, {}, "the tfo cohort's reasons hold no rollout decision")
})

t.test('the counts stay coherent: totals are the sum of the cohorts, and per cohort connections = attempted + not attempted', async (t) => {
  const host = '127.0.0.63'
  const port = await echoServer(t, host)
  tfo.resetStats()
  await connections(port, host, 30, { rollout: { sample: 0.5, random: lcg(7) } })
  await connections(port, host, 5, false)
  await connections(port, host, 5, true)
  const s = tfo.stats().client
  const { tfo: a, control: z } = s.cohorts
  for (const k of ['requested', 'connections', 'attempted', 'cookieSent', 'cookieRequested', 'synDataAcked'])
    t.equal(s[k], a[k] + z[k], `${k}: total = tfo + control`)
  const sum = (m) => Object.values(m).reduce((x, y) => x + y, 0)
  t.equal(a.connections, a.attempted + sum(a.notAttempted), 'tfo cohort: connections = attempted + not attempted')
  t.equal(z.connections, z.attempted + sum(z.notAttempted), 'control cohort: connections = attempted + not attempted')
  t.equal(z.notAttempted['disabled by the fastOpen: false option'], 5, 'fastOpen: false is the control cohort, with its own reason')
  t.equal(s.notAttempted['disabled by the fastOpen: false option'], 5, '... in the totals too')
  t.same(
    s.failures,
    { 'cookie-unavailable': a.failures['cookie-unavailable'], 'data-not-acked': 0, 'syn-retransmitted': 0 },
    'control connections are never failures',
  )
  t.equal(sum(z.failures), 0)
})

t.test('errors before the first byte are counted per cohort (the error rate of an A/B)', async (t) => {
  const host = '127.0.0.64'
  const server = tfo.createServer(sinkServer())
  const { port } = await listen(server, 0, host)
  await closeServer(server) // now nothing listens there: ECONNREFUSED
  tfo.resetStats()
  const rng = lcg(3)
  for (let i = 0; i < 10; i++) {
    const s = tfo.connect({ port, host, fastOpen: { rollout: { sample: 0.5, random: rng } } })
    s.write('x')
    const r = await collect(s)
    t.match(r.error, { code: 'ECONNREFUSED', syscall: 'connect' })
  }
  const st = tfo.stats().client
  t.equal(st.cohorts.tfo.requested + st.cohorts.control.requested, 10)
  t.equal(st.cohorts.tfo.errors.ECONNREFUSED, st.cohorts.tfo.requested, 'tfo cohort: each refused connection counted')
  t.equal(st.cohorts.control.errors.ECONNREFUSED, st.cohorts.control.requested, 'control cohort: each refused connection counted')
  t.equal(st.errors.ECONNREFUSED, 10)
  t.equal(st.connections, 0, 'none established')
  const text = tfo.metricsText({ kernel: false })
  t.equal(metricSample(text, 'tfo_client_errors_total', '{cohort="tfo",code="ECONNREFUSED"}'), st.cohorts.tfo.requested)
  t.equal(metricSample(text, 'tfo_client_connections_requested_total', '{cohort="control"}'), st.cohorts.control.requested)
  // An error after the first byte is not one of them.
  const live = tfo.createServer((sock) => {
    sock.write('hello')
    sock.on('error', () => {})
  })
  t.teardown(() => closeServer(live))
  const { port: p2 } = await listen(live, 0, host)
  tfo.resetStats()
  const s = tfo.connect({ port: p2, host })
  s.on('error', () => {})
  await new Promise((resolve) => s.once('data', resolve))
  s.destroy(Object.assign(new Error('application gave up'), { code: 'EAPP' }))
  await new Promise((resolve) => s.once('close', resolve))
  t.same(tfo.stats().client.errors, {}, 'destroyed with an error after the first byte: not counted')
  const s2 = tfo.connect({ port: p2, host })
  s2.on('error', () => {})
  s2.destroy(Object.assign(new Error('cancelled'), { code: 'EAPP_CANCELLED' }))
  await new Promise((resolve) => s2.once('close', resolve))
  t.same(tfo.stats().client.errors, { EAPP_CANCELLED: 1 }, 'destroyed with an error before the first byte: counted by its code')
})

t.test('control connections are plain TCP: no TCP_FASTOPEN_CONNECT, no TFO option in the SYN, no cookie request', async (t) => {
  if (!haveTcpdump(t)) return
  const host = '127.0.0.65'
  const seen = []
  const server = tfo.createServer(
    sinkServer((s, data) => {
      seen.push(s.fastOpen.synData)
      return data
    }),
  )
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, host)
  await connections(port, host, 1, true) // a cookie is cached for this host: TFO connections would now carry data
  const before = tfo.counters()
  const opts = []
  const infos = []
  const packets = await capture(t, port, async () => {
    for (const fastOpen of [{ rollout: 0 }, { rollout: () => false }, { rollout: 1 }]) {
      const s = tfo.connect({ port, host, fastOpen })
      s.write('hello')
      s.once('connect', () => opts.push(b.getsockoptInt(s._handle.fd, c.IPPROTO_TCP, c.TCP_FASTOPEN_CONNECT)))
      s.end()
      await collect(s)
      infos.push(s.fastOpen)
    }
  })
  const after = tfo.counters()
  t.same(
    infos.map((i) => i.cohort),
    ['control', 'control', 'tfo'],
  )
  t.same(opts, [0, 0, 1], 'TCP_FASTOPEN_CONNECT: off on both control sockets, on the tfo one')
  const syns = synsTo(packets, port)
  t.equal(syns.length, 3, 'three SYNs')
  for (const syn of syns.slice(0, 2)) {
    t.equal(syn.tfo, null, 'control SYN: no TFO option (kind 34): no cookie, no cookie request')
    t.equal(syn.payload.length, 0, 'control SYN: no data')
    t.notMatch(syn.text, /tfo/, 'tcpdump shows no tfo option')
  }
  t.ok(syns[2].tfo && syns[2].payload.toString() === 'hello', 'the tfo-cohort SYN carries the cookie and the data')
  t.same(seen.slice(-3), [false, false, true], 'the server saw SYN data only on the tfo connection')
  t.equal(after.cookieReqd - before.cookieReqd, 0, 'TCPFastOpenCookieReqd: no SYN asked for a cookie')
  t.equal(after.active - before.active, 1, 'TCPFastOpenActive: only the tfo connection')
})

t.test('every client entry point records the cohort: tfo.Socket, tfo.tls.connect, the agents, the undici connector', async (t) => {
  const host = '127.0.0.66'
  const { key, cert } = selfSigned()
  const hs = http.createServer((req, res) => res.end('ok'))
  tfo.enableFastOpen(hs)
  const ss = https.createServer({ key, cert }, (req, res) => res.end('ok'))
  tfo.enableFastOpen(ss)
  const ts = tls.createServer({ key, cert }, (s) => s.end('hi'))
  tfo.enableFastOpen(ts)
  t.teardown(() => Promise.all([closeServer(hs), closeServer(ss), closeServer(ts)]))
  const { port: hp } = await listen(hs, 0, host)
  const { port: sp } = await listen(ss, 0, host)
  const { port: tp } = await listen(ts, 0, host)

  // tfo.Socket with the option on the constructor, then connect().
  const sock = new tfo.Socket({ fastOpen: { rollout: 0 } })
  sock.connect(hp, host)
  sock.end('GET / HTTP/1.0\r\n\r\n')
  await collect(sock)
  t.match(sock.fastOpen, { cohort: 'control', attempted: false, reason: 'rollout: not sampled (sample 0)' }, 'tfo.Socket')

  // tfo.tls.connect: positional and options forms.
  const seenTls = []
  for (const [fastOpen, cohort] of [
    [{ rollout: 0 }, 'control'],
    [
      {
        rollout: (o) => {
          seenTls.push(o)
          return true
        },
      },
      'tfo',
    ],
  ]) {
    const s = tfo.tls.connect(tp, host, { rejectUnauthorized: false, fastOpen })
    await collect(s)
    t.match(s.fastOpen, { cohort }, `tfo.tls.connect: ${cohort}`)
  }
  t.same(seenTls, [{ host, port: tp }], "tls.connect's predicate sees the positional host and port")

  const get = (mod, port, agent) =>
    new Promise((resolve, reject) => {
      mod
        .get({ host, port, agent, rejectUnauthorized: false, headers: { Connection: 'close' } }, (res) => {
          res.resume()
          res.on('end', () => resolve(res.socket.fastOpen))
        })
        .on('error', reject)
    })
  for (const [Agent, mod, port] of [
    [tfo.http.Agent, http, hp],
    [tfo.https.Agent, https, sp],
  ]) {
    const agents = {
      control: new Agent({ keepAlive: false, fastOpen: { rollout: 0 } }),
      tfo: new Agent({ keepAlive: false, fastOpen: { rollout: { include: (o) => o.host === host && o.port === port } } }),
      excluded: new Agent({ keepAlive: false, fastOpen: { rollout: { include: (o) => o.port !== port } } }),
    }
    t.match(await get(mod, port, agents.control), { cohort: 'control', attempted: false }, `${mod === http ? 'http' : 'https'}.Agent: rollout 0`)
    t.match(await get(mod, port, agents.tfo), { cohort: 'tfo', attempted: true }, `${mod === http ? 'http' : 'https'}.Agent: included origin`)
    t.match(
      await get(mod, port, agents.excluded),
      { cohort: 'control', reason: 'rollout: origin not included' },
      `${mod === http ? 'http' : 'https'}.Agent: excluded origin`,
    )
  }

  // undici's connector (plain HTTP and HTTPS), driven as undici drives it.
  for (const [protocol, port] of [
    ['http:', hp],
    ['https:', sp],
  ]) {
    for (const [rollout, cohort] of [
      [0, 'control'],
      [1, 'tfo'],
    ]) {
      const connect = tfo.undici.connector({ rejectUnauthorized: false, fastOpen: { rollout } })
      const socket = await new Promise((resolve, reject) => {
        // servername: Node 26 refuses an IP address as the TLS server name.
        connect({ hostname: host, host: `${host}:${port}`, protocol, port, servername: 'localhost' }, (err, s) => (err ? reject(err) : resolve(s)))
      })
      socket.end(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
      await collect(socket)
      t.match(socket.fastOpen, { cohort }, `undici connector ${protocol} rollout ${rollout}: ${cohort}`)
    }
  }
})

t.test('tfo.http2.connect takes the rollout option (TLS and h2c): validated, cohort recorded, control SYNs plain', async (t) => {
  for (const [fastOpen, code] of [
    [{ rollout: 'half' }, 'ERR_INVALID_ARG_TYPE'],
    [{ rollout: 2 }, 'ERR_OUT_OF_RANGE'],
    [{ rollout: { include: 1 } }, 'ERR_INVALID_ARG_TYPE'],
  ]) {
    t.throws(
      () => tfo.http2.connect('http://127.0.0.1:9', { fastOpen }),
      { code, message: /options\.fastOpen\.rollout/ },
      `tfo.http2.connect ${JSON.stringify(fastOpen)}`,
    )
  }
  if (!haveTcpdump(t)) return
  const { key, cert } = selfSigned()
  for (const secure of [false, true]) {
    await t.test(secure ? 'https: (TLS, ALPN h2)' : 'http: (h2c)', async (t) => {
      const host = secure ? '127.0.0.67' : '127.0.0.68'
      const server = secure ? http2.createSecureServer({ key, cert }) : http2.createServer()
      tfo.enableFastOpen(server)
      const seen = []
      server.on('connection', (s) => seen.push(s))
      server.on('stream', (stream) => {
        stream.respond({ ':status': 200 })
        stream.end('ok')
      })
      const sessions = new Set()
      server.on('session', (s) => {
        sessions.add(s)
        s.on('close', () => sessions.delete(s))
      })
      t.teardown(() => {
        for (const s of sessions) s.destroy()
        return closeServer(server)
      })
      const { port } = await listen(server, 0, host)
      const url = `${secure ? 'https' : 'http'}://${host}:${port}`
      /** One session with one GET (made at once); resolves with its fastOpen after 'close'. */
      const one = (fastOpen) =>
        new Promise((resolve, reject) => {
          const s = tfo.http2.connect(url, { rejectUnauthorized: false, fastOpen })
          s.on('error', reject)
          const req = s.request({ ':path': '/' })
          req.on('error', () => {})
          req.resume()
          req.on('end', () => s.close())
          s.on('close', () => resolve(s.fastOpen))
        })
      await one(true) // first contact: the cookie, so that a tfo-cohort SYN carries data
      tfo.resetStats()
      const origins = []
      const infos = []
      const packets = await capture(t, port, async () => {
        for (const fastOpen of [
          { rollout: 0 },
          {
            rollout: (o) => {
              origins.push(o)
              return false
            },
          },
          { rollout: 1 },
        ])
          infos.push(await one(fastOpen))
      })
      t.same(origins, [{ host, port }], 'the predicate sees the origin of the authority')
      t.same(
        infos.map((i) => i.cohort),
        ['control', 'control', 'tfo'],
        'session.fastOpen.cohort',
      )
      t.match(infos[0], { attempted: false, synData: false, cookie: 'none', reason: 'rollout: not sampled (sample 0)' })
      t.match(infos[1], { attempted: false, reason: 'rollout: origin not included' })
      t.match(infos[2], { attempted: true, synData: true, cookie: 'sent', reason: null })
      const syns = synsTo(packets, port)
      t.equal(syns.length, 3, 'three SYNs')
      for (const syn of syns.slice(0, 2)) {
        t.equal(syn.tfo, null, 'control SYN: no TFO option (kind 34)')
        t.equal(syn.payload.length, 0, 'control SYN: no data')
      }
      t.ok(
        syns[2].tfo && syns[2].payload.length > 0,
        `the tfo-cohort SYN carries the cookie and data (${syns[2].payload.length} bytes: ${secure ? 'the ClientHello' : 'the preface, SETTINGS and the request'})`,
      )
      t.same(
        seen.slice(-3).map((s) => s.fastOpen && s.fastOpen.synData),
        [false, false, true],
        'the server saw SYN data only on the tfo-cohort connection',
      )
      const c = tfo.stats().client.cohorts
      t.match(c.control, { requested: 2, connections: 2, attempted: 0 }, 'stats: control cohort')
      t.match(c.tfo, { requested: 1, connections: 1, attempted: 1, synDataAcked: 1 }, 'stats: tfo cohort')
      t.same(c.control.errors, {}, 'no errors counted for sessions that closed normally')
      t.same(c.tfo.errors, {})
    })
  }
  // A refused session is an error of its cohort.
  const probe = http2.createServer()
  const { port: gone } = await listen(probe, 0, '127.0.0.69')
  await closeServer(probe)
  tfo.resetStats()
  for (const [rollout, secure] of [
    [0, false],
    [1, false],
    [0, true],
    [1, true],
  ]) {
    const s = tfo.http2.connect(`${secure ? 'https' : 'http'}://127.0.0.69:${gone}`, { rejectUnauthorized: false, fastOpen: { rollout } })
    const closed = new Promise((resolve) => s.once('close', resolve))
    const [err] = await once(s, 'error')
    t.match(err, { code: 'ECONNREFUSED', syscall: 'connect' }, `refused (${secure ? 'TLS' : 'h2c'}, rollout ${rollout})`)
    await closed
  }
  const c = tfo.stats().client.cohorts
  t.same([c.tfo.errors, c.control.errors], [{ ECONNREFUSED: 2 }, { ECONNREFUSED: 2 }], 'refused sessions: counted per cohort')
})
