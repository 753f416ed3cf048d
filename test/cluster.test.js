'use strict'
// Scale-out: Node's cluster module in both scheduling modes, SO_REUSEPORT
// listeners across processes, and a listening fd passed in (systemd socket
// activation). Runs in a private network namespace (net.ipv4.tcp_fastopen=3).
// TFO is proven from outside: the accepting process reports the server-side
// TCP_INFO (SYN data received) and the namespace's counters move.
//
// This file plays every part: the tap test, a cluster primary
// (TFO_CLUSTER_ROLE=primary), its workers (cluster.isWorker), and a plain
// server process (TFO_CLUSTER_ROLE=server).
const cluster = require('node:cluster')

const HOUR = 3600 * 1000
const SECRET = 'fleet secret: 32 bytes or more, same everywhere'

function replyJson(extra) {
  return (socket) => {
    const chunks = []
    socket.on('data', (d) => chunks.push(d))
    socket.on('end', () =>
      socket.end(
        JSON.stringify({
          pid: process.pid,
          ...extra(),
          synData: socket.fastOpen ? socket.fastOpen.synData : null,
          got: Buffer.concat(chunks).toString(),
        }),
      ),
    )
    socket.on('error', () => {})
  }
}

if (cluster.isWorker) {
  // A worker: a tfo server, told how to listen by TFO_CLUSTER_CONFIG.
  const cfg = JSON.parse(process.env.TFO_CLUSTER_CONFIG)
  const tfo = require('..')
  const fastOpen = cfg.workerSecret ? { keyRotation: { secret: cfg.workerSecret, periodMs: HOUR } } : {}
  const server = tfo.createServer(
    { fastOpen },
    replyJson(() => ({ worker: cluster.worker.id })),
  )
  // Node's disconnect closes the handles it shares; an exclusive server is the worker's to close.
  cluster.worker.on('disconnect', () => server.close())
  server.listen({ port: 0, host: cfg.host, exclusive: !!cfg.exclusive }, () => {
    process.send({ listening: true, port: server.address().port, fastOpen: server.fastOpen, fd: server._handle.fd ?? null })
  })
  return
}

if (process.env.TFO_CLUSTER_ROLE === 'primary') {
  // A cluster primary with two workers; reports to the test over IPC.
  const cfg = JSON.parse(process.env.TFO_CLUSTER_CONFIG)
  if (cfg.wrapListen) {
    // As an APM agent might: net.Server#listen wrapped before tfo loads. Node's
    // net.server.listen tracing channel still reports every socket the primary opens.
    const net = require('node:net')
    const listen = net.Server.prototype.listen
    net.Server.prototype.listen = function wrappedListen(...args) {
      return listen.apply(this, args)
    }
  }
  cluster.schedulingPolicy = cfg.sched === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR
  const tfo = require('..')
  const state = cfg.primaryTfo ? tfo.enableClusterFastOpen(cfg.primarySecret ? { keyRotation: { secret: cfg.primarySecret, periodMs: HOUR } } : {}) : null
  const workers = {}
  for (let i = 0; i < 2; i++) cluster.fork({ TFO_CLUSTER_CONFIG: JSON.stringify(cfg) })
  cluster.on('message', (worker, m) => {
    if (!m.listening) return
    workers[worker.id] = m
    if (Object.keys(workers).length < 2) return
    process.send({
      policy: cluster.schedulingPolicy === cluster.SCHED_RR ? 'rr' : 'none',
      workers,
      primary: state && { primary: state.primary, hook: state.hook, reason: state.reason, listeners: state.listeners },
    })
  })
  process.on('message', (m) => {
    if (m.cmd === 'exit') cluster.disconnect(() => process.exit(0))
  })
  return
}

if (process.env.TFO_CLUSTER_ROLE === 'server') {
  // A plain process with one tfo server: reusePort, or the fd it was given (LISTEN_FDS).
  const tfo = require('..')
  const cfg = JSON.parse(process.env.TFO_CLUSTER_CONFIG)
  const fastOpen = cfg.secret ? { keyRotation: { secret: cfg.secret, periodMs: HOUR } } : {}
  const server = tfo.createServer(
    { fastOpen },
    replyJson(() => ({})),
  )
  const report = () => {
    const msg = { port: server.address().port, address: server.address().address, fastOpen: server.fastOpen }
    if (process.send) process.send(msg)
    else process.stdout.write(`${JSON.stringify(msg)}\n`)
  }
  server.on('error', (e) => process.send({ error: { code: e.code, message: e.message, syscall: e.syscall } }))
  if (process.env.LISTEN_FDS) server.listen({ fd: 3 }, report)
  else server.listen({ port: cfg.port || 0, host: cfg.host, reusePort: true }, report)
  process.on('message', (m) => {
    if (m.cmd === 'close') server.close(() => process.send({ closed: true }))
  })
  process.on('disconnect', () => process.exit(0))
  return
}

const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const net = require('node:net')
const { fork, spawn } = require('node:child_process')
const { once } = require('node:events')
const readline = require('node:readline')
const tfo = require('..')
const { listen, closeServer, collect, freshAddr, exchangeJson } = require('./helpers/util')

const exchange = exchangeJson

async function exchanges(n, port, host) {
  const out = []
  for (let i = 0; i < n; i++) out.push(await exchange(port, host, `request ${i}`))
  return out
}

async function counted(fn) {
  const before = tfo.counters()
  const result = await fn()
  return { result, d: tfo.diffCounters(before, tfo.counters()) }
}

/** Starts a cluster primary (this file) with two workers; resolves with what it reports. */
async function startCluster(t, cfg) {
  const primary = fork(__filename, [], {
    env: { ...process.env, TFO_CLUSTER_ROLE: 'primary', TFO_CLUSTER_CONFIG: JSON.stringify(cfg) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  t.teardown(async () => {
    if (primary.exitCode !== null) return
    primary.send({ cmd: 'exit' })
    await once(primary, 'exit')
  })
  const [info] = await once(primary, 'message')
  return info
}

/** A tfo server in its own process (this file, role server). */
async function spawnServer(t, cfg, options = {}) {
  const child = fork(__filename, [], {
    env: { ...process.env, TFO_CLUSTER_ROLE: 'server', TFO_CLUSTER_CONFIG: JSON.stringify(cfg) },
    // A passed fd goes to fd 3, where systemd puts the first one (LISTEN_FDS).
    stdio: options.fd3 !== undefined ? ['ignore', 'inherit', 'inherit', options.fd3, 'ipc'] : ['ignore', 'inherit', 'inherit', 'ipc'],
    ...options.spawn,
  })
  t.teardown(() => {
    if (child.connected) child.disconnect()
  })
  const [m] = await once(child, 'message')
  if (m.error) throw Object.assign(new Error(m.error.message), m.error)
  return { child, ...m }
}

// ---- cluster, round-robin ----

t.test('round-robin: the primary enables TFO with tfo.enableClusterFastOpen(); workers say they cannot see it', async (t) => {
  const host = freshAddr()
  const info = await startCluster(t, { host, sched: 'rr', primaryTfo: true, primarySecret: SECRET })
  t.equal(info.policy, 'rr')
  t.match(info.primary, { primary: true, hook: 'diagnostics_channel', reason: null })
  t.equal(info.primary.listeners.length, 1, 'one listening socket, in the primary')
  const [listener] = info.primary.listeners
  t.match(listener, {
    address: host,
    fastOpen: { requested: true, enabled: true, active: true, reason: null, key: { source: 'derived', periodMs: HOUR, reason: null } },
  })
  const ports = Object.values(info.workers).map((w) => w.port)
  t.same(ports, [listener.port, listener.port], "both workers serve the primary's port")
  for (const w of Object.values(info.workers)) {
    t.equal(w.fd, null, 'a round-robin worker has no listening fd')
    t.match(w.fastOpen, { requested: true, enabled: false, active: false, reason: /round-robin worker.*primary.*enableClusterFastOpen/s })
  }

  // The primary's key is derived from the secret: a cookie from any server of
  // the fleet (here one in this process) is good for the cluster at once.
  const fleet = tfo.createServer({ fastOpen: { keyRotation: { secret: SECRET, periodMs: HOUR } } }, (s) => {
    s.resume()
    s.end('{}')
  })
  t.teardown(() => closeServer(fleet))
  const { port: fleetPort } = await listen(fleet, 0, host)
  const c = tfo.connect(fleetPort, host)
  c.end('cookie please')
  await collect(c)

  const { result, d } = await counted(() => exchanges(6, listener.port, host))
  t.ok(
    result.every((r) => r.reply.synData === true),
    'every request rode in the SYN, accepted in a worker',
  )
  t.ok(result.every((r) => r.info.synData === true && r.info.cookie === 'sent'))
  t.same(new Set(result.map((r) => r.reply.worker)).size, 2, 'both workers took connections')
  t.equal(d.passive, 6, 'TCPFastOpenPassive')
  t.equal(d.passiveFail, 0)
})

t.test("round-robin without the primary's call: no TFO, and no worker claims it", async (t) => {
  const host = freshAddr()
  const info = await startCluster(t, { host, sched: 'rr', primaryTfo: false })
  const port = Object.values(info.workers)[0].port
  for (const w of Object.values(info.workers)) t.match(w.fastOpen, { requested: true, enabled: false, active: false })
  const { result, d } = await counted(() => exchanges(4, port, host))
  t.ok(result.every((r) => r.reply.synData === false))
  t.ok(
    result.every((r) => r.info.cookie === 'requested'),
    "the primary's socket never offers a cookie",
  )
  t.equal(d.passive, 0)
})

t.test('round-robin with net.Server#listen wrapped before tfo loads (an APM agent): the tracing channel still sees the sockets', async (t) => {
  const host = freshAddr()
  const info = await startCluster(t, { host, sched: 'rr', primaryTfo: true, wrapListen: true })
  t.match(info.primary, { hook: 'diagnostics_channel', reason: null })
  t.match(info.primary.listeners, [{ fastOpen: { enabled: true, active: true, key: { source: 'namespace' } } }])
  const port = info.primary.listeners[0].port
  await exchange(port, host) // cookie
  const { result, d } = await counted(() => exchanges(4, port, host))
  t.ok(result.every((r) => r.reply.synData === true))
  t.equal(d.passive, 4)
})

// ---- cluster, shared handles and exclusive ----

t.test('SCHED_NONE: each worker holds the shared socket and enables TFO itself', async (t) => {
  const host = freshAddr()
  const info = await startCluster(t, { host, sched: 'none' })
  t.equal(info.policy, 'none')
  const ws = Object.values(info.workers)
  for (const w of ws) {
    t.ok(w.fd >= 0, 'a real fd in the worker')
    t.match(w.fastOpen, { enabled: true, active: true, reason: null })
  }
  t.equal(ws[0].port, ws[1].port)
  await exchange(ws[0].port, host)
  const { result, d } = await counted(() => exchanges(6, ws[0].port, host))
  t.ok(
    result.every((r) => r.reply.synData === true),
    `accepted with SYN data by worker(s) ${[...new Set(result.map((r) => r.reply.worker))]}`,
  )
  t.equal(d.passive, 6)
})

t.test('exclusive: true: each worker its own socket; the same secret makes their cookies interchangeable', async (t) => {
  const host = freshAddr()
  const info = await startCluster(t, { host, sched: 'rr', exclusive: true, workerSecret: SECRET })
  const [w1, w2] = Object.values(info.workers)
  t.not(w1.port, w2.port, 'two sockets')
  for (const w of [w1, w2]) t.match(w.fastOpen, { enabled: true, active: true, key: { source: 'derived' } })
  const first = await exchange(w1.port, host)
  t.equal(first.reply.synData, false)
  const { result, d } = await counted(() => exchange(w2.port, host))
  t.not(result.reply.worker, first.reply.worker)
  t.equal(result.reply.synData, true, "worker 2 accepted worker 1's cookie")
  t.equal(d.passive, 1)
})

// ---- SO_REUSEPORT across processes ----

t.test('reusePort: two processes on one port, each with TFO and the same key', async (t) => {
  const host = freshAddr()
  const a = await spawnServer(t, { host, secret: SECRET })
  t.match(a.fastOpen, { enabled: true, active: true, key: { source: 'derived' } })
  const first = await exchange(a.port, host) // the cookie comes from a (alone on the port)
  t.equal(first.reply.pid, a.child.pid)

  const b = await spawnServer(t, { host, port: a.port, secret: SECRET })
  t.equal(b.port, a.port, 'b bound the same port')
  const plain = net.createServer()
  plain.listen(a.port, host)
  const [err] = await once(plain, 'error')
  t.equal(err.code, 'EADDRINUSE', 'a socket without SO_REUSEPORT cannot join')

  const { result, d } = await counted(() => exchanges(12, a.port, host))
  t.ok(
    result.every((r) => r.reply.synData === true),
    'every connection took SYN data, whichever process got it',
  )
  t.equal(d.passive, 12)
  t.equal(d.passiveFail, 0)
  t.comment(`pids seen: ${[...new Set(result.map((r) => r.reply.pid))]}`)

  a.child.send({ cmd: 'close' })
  await once(a.child, 'message')
  const r = await exchange(a.port, host)
  t.equal(r.reply.pid, b.child.pid, 'a closed: b gets the connection')
  t.equal(r.reply.synData, true, 'and accepts the cookie a issued')
})

t.test('reusePort in one process: address forms and errors', async (t) => {
  const host = freshAddr()
  const s1 = tfo.createServer((s) => {
    s.resume()
    s.end('{}')
  })
  const s2 = tfo.createServer((s) => {
    s.resume()
    s.end('{}')
  })
  t.teardown(() => closeServer(s1))
  t.teardown(() => closeServer(s2))
  s1.listen({ port: 0, host, reusePort: true })
  await once(s1, 'listening')
  const { port } = s1.address()
  await new Promise((resolve) => s2.listen({ port, host, reusePort: true }, resolve))
  t.same(s2.address(), { address: host, family: 'IPv4', port })
  t.match(s2.fastOpen, { enabled: true, active: true })

  const any = tfo.createServer()
  t.teardown(() => closeServer(any))
  await new Promise((resolve) => any.listen({ port: 0, reusePort: true }, resolve))
  t.equal(any.address().address, '::', 'no host: the unspecified IPv6 address, as net does')

  const named = tfo.createServer()
  t.teardown(() => closeServer(named))
  await new Promise((resolve) => named.listen({ port: 0, host: 'localhost', reusePort: true }, resolve))
  t.ok(['127.0.0.1', '::1'].includes(named.address().address), 'a host name is looked up')

  const blocker = net.createServer()
  t.teardown(() => closeServer(blocker))
  const { port: taken } = await listen(blocker, 0, host)
  const late = tfo.createServer()
  late.listen({ port: taken, host, reusePort: true })
  const [err] = await once(late, 'error')
  t.match(err, { code: 'EADDRINUSE', syscall: 'listen', address: host, port: taken })
  t.equal(late.listening, false)
})

// ---- a listening fd passed in ----

t.test('a listening fd passed in (as systemd socket activation does): listen({ fd: 3 }) gets TFO', async (t) => {
  const host = freshAddr()
  const holder = net.createServer()
  const { port } = await listen(holder, 0, host)
  const { child, fastOpen } = await spawnServer(
    t,
    {},
    { fd3: holder._handle.fd, spawn: { env: { ...process.env, TFO_CLUSTER_ROLE: 'server', TFO_CLUSTER_CONFIG: '{}', LISTEN_FDS: '1' } } },
  )
  await closeServer(holder) // only the child accepts from now on
  t.match(fastOpen, { enabled: true, active: true, reason: null })
  const first = await exchange(port, host)
  t.equal(first.reply.pid, child.pid)
  const second = await exchange(port, host)
  t.equal(second.reply.synData, true)
})

t.test('systemd-socket-activate: the real tool passes the socket; TFO applies', async (t) => {
  const which = require('node:child_process').spawnSync('sh', ['-c', 'command -v systemd-socket-activate'])
  if (which.status !== 0) return t.skip('systemd-socket-activate is not installed')
  const host = freshAddr()
  const port = 8080
  // The tool gives the service a clean environment plus what -E names.
  const child = spawn(
    'systemd-socket-activate',
    ['-l', `${host}:${port}`, '-E', 'TFO_CLUSTER_ROLE=server', '-E', 'TFO_CLUSTER_CONFIG={}', '-E', 'TFO_TEST_NETNS=1', process.execPath, __filename],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  t.teardown(() => child.kill())
  const err = readline.createInterface({ input: child.stderr })
  const listening = new Promise((resolve) =>
    err.on('line', (l) => {
      if (/Listening on/.test(l)) resolve()
    }),
  )
  await listening
  // The tool starts the service at the first connection; that one predates TFO.
  const out = readline.createInterface({ input: child.stdout })
  const report = once(out, 'line')
  const c = net.connect(port, host)
  c.on('error', () => {})
  c.end()
  const state = JSON.parse((await report)[0])
  t.match(state, { port, address: host, fastOpen: { enabled: true, active: true } })
  await exchange(port, host) // cookie
  const r = await exchange(port, host)
  t.equal(r.reply.synData, true)
})
