'use strict'
// TFO keys: per-listener keys (TCP_FASTOPEN_KEY), keys derived from a shared
// secret and rotated by window, the namespace key through the sysctl helper,
// and cookies that cross servers and processes. Runs in a private network
// namespace (net.ipv4.tcp_fastopen=3). Acceptance is proven from outside:
// the server's TCP_INFO (SYN data received) and the namespace's counters
// (TCPFastOpenPassive, PassiveFail, PassiveAltKey = cookie matched the backup key).
//
// The client's cookie cache is per destination address for the whole
// namespace, so each test talks to its own 127.0.0.x address (a fresh client
// with no cookie) and several servers share an address when a cookie must
// travel from one to another.

// ---- child process: one tfo server, driven over IPC (see spawnServer below) ----
if (process.env.TFO_KEYS_CHILD === '1') {
  const tfo = require('..')
  let server = null
  let now = 0
  let rotation = null
  const clockOf = (m) => (m.time === undefined || m.time === null ? Date.now : () => now)
  const reply = (msg) => process.send(msg)
  process.on('message', (m) => {
    if (m.cmd === 'listen') {
      if (m.time !== undefined) now = m.time
      rotation = m.secret ? { secret: m.secret, periodMs: m.periodMs, clock: clockOf(m) } : null
      const fastOpen = rotation ? { keyRotation: rotation } : m.key ? { key: Buffer.from(m.key, 'hex') } : {}
      server = tfo.createServer({ fastOpen }, (socket) => {
        const chunks = []
        socket.on('data', (d) => chunks.push(d))
        socket.on('end', () => socket.end(JSON.stringify({ pid: process.pid, synData: socket.fastOpen.synData, got: Buffer.concat(chunks).toString() })))
        socket.on('error', () => {})
      })
      server.on('error', (e) => reply({ error: { code: e.code, message: e.message } }))
      server.listen({ port: m.port || 0, host: m.host, reusePort: m.reusePort }, () => {
        reply({ port: server.address().port, fastOpen: server.fastOpen })
      })
    } else if (m.cmd === 'time') {
      now = m.time
      tfo.setFastOpenKey(server, rotation) // re-applies the keys for the new time
      reply({ fastOpen: server.fastOpen })
    } else if (m.cmd === 'close') {
      server.close(() => reply({ closed: true }))
    }
  })
  process.on('disconnect', () => process.exit(0))
  return
}

const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const crypto = require('node:crypto')
const net = require('node:net')
const http = require('node:http')
const util = require('node:util')
const { fork, spawnSync } = require('node:child_process')
const { once } = require('node:events')
const tfo = require('..')
const { listen, closeServer, collect, freshAddr, exchangeJson } = require('./helpers/util')

const HOUR = 3600 * 1000
const SECRET = 'fleet secret: 32 bytes or more, same everywhere'

const exchange = exchangeJson

function jsonServer(t, fastOpen) {
  const server = tfo.createServer({ fastOpen }, (socket) => {
    const chunks = []
    socket.on('data', (d) => chunks.push(d))
    socket.on('end', () => socket.end(JSON.stringify({ pid: process.pid, synData: socket.fastOpen.synData, got: Buffer.concat(chunks).toString() })))
    socket.on('error', () => {})
  })
  t.teardown(() => closeServer(server))
  return server
}

/** Runs `fn` and returns the namespace's TFO counter changes. */
async function counted(fn) {
  const before = tfo.counters()
  const result = await fn()
  return { result, d: tfo.diffCounters(before, tfo.counters()) }
}

/** A tfo server in another process (this file, TFO_KEYS_CHILD=1), driven over IPC. */
async function spawnServer(t, opts) {
  const child = fork(__filename, [], { env: { ...process.env, TFO_KEYS_CHILD: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  t.teardown(() => {
    if (child.connected) child.disconnect()
  })
  const ask = async (msg) => {
    const answer = once(child, 'message')
    child.send(msg)
    const [m] = await answer
    if (m.error) throw Object.assign(new Error(m.error.message), { code: m.error.code })
    return m
  }
  const first = await ask({ cmd: 'listen', ...opts })
  return { child, port: first.port, fastOpen: first.fastOpen, ask }
}

// ---- derivation and schedule ----

t.test('deriveFastOpenKey is HKDF-SHA256 over the window number, 16 bytes', async (t) => {
  const k = tfo.deriveFastOpenKey(SECRET, 123456)
  t.ok(Buffer.isBuffer(k))
  t.equal(k.length, 16)
  // The documented construction, so a fleet member in another language can match it.
  const info = Buffer.concat([Buffer.from('window'), Buffer.alloc(8)])
  info.writeBigInt64BE(123456n, 6)
  const expected = Buffer.from(crypto.hkdfSync('sha256', Buffer.from(SECRET), Buffer.from('tfo TCP_FASTOPEN_KEY'), info, 16))
  t.same(k, expected)
  t.same(tfo.deriveFastOpenKey(Buffer.from(SECRET), 123456), k, 'string = its UTF-8 bytes')
  t.same(tfo.deriveFastOpenKey(crypto.createSecretKey(Buffer.from(SECRET)), 123456), k, 'KeyObject')
  t.notSame(tfo.deriveFastOpenKey(SECRET, 123457), k, 'another window, another key')
  t.notSame(tfo.deriveFastOpenKey(`${SECRET}!`, 123456), k, 'another secret, another key')
  t.equal(tfo.deriveFastOpenKey(SECRET, -1).length, 16, 'negative windows are fine (signed 64-bit)')
})

t.test('secrets and keys are validated without showing them', async (t) => {
  const short = 'tiny secret'
  t.throws(() => tfo.deriveFastOpenKey(short, 1), { code: 'ERR_INVALID_ARG_VALUE' })
  try {
    tfo.deriveFastOpenKey(short, 1)
  } catch (e) {
    t.notMatch(e.message, short, 'the secret is not in the message')
  }
  t.throws(() => tfo.deriveFastOpenKey(42, 1), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => tfo.deriveFastOpenKey(SECRET, 1.5), { code: 'ERR_OUT_OF_RANGE' })
  const key = Buffer.from('00112233445566778899aabbccddeeff00', 'hex') // 17 bytes
  for (const fastOpen of [{ key }, { key: 'not a key' }, { key: Buffer.alloc(16), keyRotation: { secret: SECRET } }]) {
    let err
    try {
      tfo.createServer({ fastOpen })
    } catch (e) {
      err = e
    }
    t.equal(err?.code, 'ERR_INVALID_ARG_VALUE')
    t.notMatch(err.message, /00112233|ddeeff/, 'key bytes are not in the message')
  }
  t.throws(() => tfo.createServer({ fastOpen: { keyRotation: { secret: SECRET, periodMs: 10 } } }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => tfo.createServer({ fastOpen: { keyRotation: { secret: SECRET, clock: 5 } } }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => tfo.setFastOpenKey(net.createServer(), Buffer.alloc(16)), { code: 'ERR_INVALID_ARG_VALUE' }, 'a server without TFO')
})

t.test('the schedule: K(w) primary; backup K(w-1) in the first half of the window, K(w+1) in the second', async (t) => {
  const rotation = { secret: SECRET, periodMs: HOUR }
  const w = 480000
  const start = w * HOUR
  const K = (n) => tfo.deriveFastOpenKey(SECRET, n)
  const a = tfo.fastOpenKeysAt(rotation, start)
  t.match(a, { window: w, backupWindow: w - 1, nextChangeAt: start + HOUR / 2 })
  t.same(a.primary, K(w))
  t.same(a.backup, K(w - 1))
  const b = tfo.fastOpenKeysAt(rotation, start + HOUR / 2 - 1)
  t.match(b, { window: w, backupWindow: w - 1 })
  const c = tfo.fastOpenKeysAt(rotation, start + HOUR / 2)
  t.match(c, { window: w, backupWindow: w + 1, nextChangeAt: start + HOUR })
  t.same(c.backup, K(w + 1))
  const d = tfo.fastOpenKeysAt(rotation, start + HOUR)
  t.match(d, { window: w + 1, backupWindow: w })
  t.equal(tfo.DEFAULT_KEY_PERIOD_MS, 24 * HOUR)
  t.equal(tfo.fastOpenKeysAt({ secret: SECRET, clock: () => start }).window, Math.floor(start / (24 * HOUR)), 'default period, given clock')
})

// ---- one process ----

t.test("listeners with the same own key accept each other's cookies; another key falls back cleanly", async (t) => {
  const host = freshAddr()
  const key = crypto.randomBytes(16)
  const a = jsonServer(t, { key })
  const b = jsonServer(t, { key: Buffer.from(key) })
  const c = jsonServer(t, { key: crypto.randomBytes(16) })
  const pa = (await listen(a, 0, host)).port
  const pb = (await listen(b, 0, host)).port
  const pc = (await listen(c, 0, host)).port
  t.match(a.fastOpen, { enabled: true, active: true, key: { source: 'own', backup: null, window: null, reason: null } })

  const first = await exchange(pa, host)
  t.match(first.info, { cookie: 'requested', synData: false })
  const { result: viaB, d: dB } = await counted(() => exchange(pb, host, 'to b'))
  t.equal(viaB.reply.synData, true, 'b accepted the SYN data under a cookie a issued')
  t.equal(viaB.reply.got, 'to b')
  t.match(viaB.info, { cookie: 'sent', synData: true })
  t.equal(dB.passive, 1)
  t.equal(dB.passiveFail, 0)

  const { result: viaC, d: dC } = await counted(() => exchange(pc, host, 'to c'))
  t.equal(viaC.reply.synData, false, 'c rejected the cookie')
  t.equal(viaC.reply.got, 'to c', 'the data still arrived, after the handshake')
  t.match(viaC.info, { cookie: 'sent', synData: false, failure: 'data-not-acked' })
  t.equal(dC.passiveFail, 1, 'TCPFastOpenPassiveFail: bad cookie')
  t.equal(dC.passive, 0)
})

t.test('setFastOpenKey replaces the key of a running listener; a backup keeps old cookies valid', async (t) => {
  const host = freshAddr()
  const k1 = crypto.randomBytes(16)
  const k2 = crypto.randomBytes(16)
  const k3 = crypto.randomBytes(16)
  const server = jsonServer(t, { key: k1 })
  const { port } = await listen(server, 0, host)
  await exchange(port, host) // cookie under k1
  t.equal((await exchange(port, host)).reply.synData, true)

  const state = server.setFastOpenKey(k2) // k1 gone
  t.equal(state, server.fastOpen)
  t.match(state.key, { source: 'own', backup: null })
  const { result: r1, d: d1 } = await counted(() => exchange(port, host))
  t.equal(r1.reply.synData, false, 'k1 cookie refused after the key changed')
  t.equal(d1.passiveFail, 1)
  t.equal((await exchange(port, host)).reply.synData, true, 'the refusal came with a k2 cookie')

  tfo.setFastOpenKey(server, k3, k2) // rotate: k3 issues, k2 still validates
  t.match(server.fastOpen.key, { source: 'own', backup: 'own' })
  const { result: r2, d: d2 } = await counted(() => exchange(port, host))
  t.equal(r2.reply.synData, true, 'k2 cookie accepted through the backup key')
  t.equal(d2.passiveAltKey, 1, 'TCPFastOpenPassiveAltKey: matched the backup')

  tfo.setFastOpenKey(server, Buffer.concat([k1, k3])) // 32 bytes: primary k1, backup k3
  const { result: r3, d: d3 } = await counted(() => exchange(port, host))
  t.equal(r3.reply.synData, true, 'k3 cookie (issued when k3 was primary) accepted through the backup')
  t.equal(d3.passiveAltKey, 1)
})

t.test('the key survives close and listen again (new fd), and is set before listen() too', async (t) => {
  const host = freshAddr()
  const key = crypto.randomBytes(16)
  const server = jsonServer(t, {})
  server.setFastOpenKey(key) // before listening: applied at listen
  t.match(server.fastOpen.key, { source: 'own' })
  let { port } = await listen(server, 0, host)
  await exchange(port, host)
  await closeServer(server)
  port = (await listen(server, port, host)).port
  const r = await exchange(port, host)
  t.equal(r.reply.synData, true, 'the cookie from the first socket is valid on the second: same key')
})

t.test('enableFastOpen takes the key options for any net.Server', async (t) => {
  const host = freshAddr()
  const key = crypto.randomBytes(16)
  const server = http.createServer((req, res) => res.end(String(req.socket.fastOpen.synData)))
  t.teardown(() => closeServer(server))
  const state = tfo.enableFastOpen(server, { key })
  const { port } = await listen(server, 0, host)
  t.match(state, { enabled: true, key: { source: 'own' } })
  const other = jsonServer(t, { key })
  const po = (await listen(other, 0, host)).port
  await exchange(po, host) // cookie from the tfo server
  const socket = tfo.connect(port, host)
  socket.write(`GET / HTTP/1.0\r\nHost: ${host}\r\n\r\n`)
  const r = await collect(socket)
  t.match(r.data.toString(), /\r\n\r\ntrue$/, "the http server accepted SYN data under the other server's cookie")
})

t.test("byte order: the sysctl's text form and TCP_FASTOPEN_KEY bytes name the same key", async (t) => {
  // The namespace key is written as text (little-endian 32-bit words); a
  // listener's own key is raw bytes. Cookies from a listener on the namespace
  // key are accepted by a listener given the same bytes, and refused when the
  // words are byte-swapped: the conversion really matters and is right.
  const host = freshAddr()
  const key = crypto.randomBytes(16)
  const swapped = Buffer.from(key).swap32()
  tfo.sysctl.setKey(key)
  t.same(tfo.sysctl.key().primary, key)
  const ns = jsonServer(t, {})
  const own = jsonServer(t, { key })
  const text = jsonServer(t, { key: tfo.sysctl.formatKey(key) })
  const bad = jsonServer(t, { key: swapped })
  const pn = (await listen(ns, 0, host)).port
  const po = (await listen(own, 0, host)).port
  const pt = (await listen(text, 0, host)).port
  const pb = (await listen(bad, 0, host)).port
  t.match(ns.fastOpen.key, { source: 'namespace' })
  await exchange(pn, host) // cookie under the namespace key
  t.equal((await exchange(po, host)).reply.synData, true, 'same bytes via TCP_FASTOPEN_KEY: accepted')
  t.equal((await exchange(pt, host)).reply.synData, true, 'same key given as text: accepted')
  t.equal((await exchange(pb, host)).reply.synData, false, 'byte-swapped words: refused')
})

t.test('nothing shows key material: state, inspect, JSON', async (t) => {
  const key = crypto.randomBytes(16)
  const a = jsonServer(t, { key })
  const b = jsonServer(t, { keyRotation: { secret: SECRET, periodMs: HOUR } })
  await listen(a, 0, '127.0.0.1')
  await listen(b, 0, '127.0.0.1')
  const derived = tfo.fastOpenKeysAt({ secret: SECRET, periodMs: HOUR })
  for (const s of [a, b]) {
    const shown = util.inspect(s, { depth: 10, showHidden: true }) + JSON.stringify(s.fastOpen) + util.inspect(s.fastOpen)
    for (const k of [key, derived.primary, derived.backup]) {
      t.notOk(shown.includes(k.toString('hex')), 'no key hex')
      t.notOk(shown.includes(tfo.sysctl.formatKey(k)), 'no key text')
    }
    t.notOk(shown.includes(SECRET), 'no secret')
  }
  t.match(b.fastOpen.key, { source: 'derived', periodMs: HOUR, window: derived.window, backup: /previous|next/, reason: null })
})

// ---- across processes ----

t.test("two processes with the same secret accept each other's cookies; another secret falls back cleanly", async (t) => {
  const host = freshAddr()
  const a = await spawnServer(t, { host, secret: SECRET, periodMs: HOUR })
  const b = await spawnServer(t, { host, secret: SECRET, periodMs: HOUR })
  const c = await spawnServer(t, { host, secret: 'another fleet, another secret!!', periodMs: HOUR })
  t.match(a.fastOpen, { enabled: true, active: true, key: { source: 'derived', periodMs: HOUR, reason: null } })
  t.equal(b.fastOpen.key.window, a.fastOpen.key.window)

  const first = await exchange(a.port, host, 'first contact')
  t.not(first.reply.pid, process.pid)
  t.equal(first.reply.synData, false)
  const { result: r, d } = await counted(() => exchange(b.port, host, 'hello b'))
  t.not(r.reply.pid, first.reply.pid, 'another process')
  t.equal(r.reply.synData, true, "b took the SYN data under a's cookie")
  t.equal(r.reply.got, 'hello b')
  t.equal(d.passive, 1)
  t.equal(d.passiveFail, 0)

  const { result: rc, d: dc } = await counted(() => exchange(c.port, host, 'hello c'))
  t.equal(rc.reply.synData, false, 'c (another secret) refused the cookie')
  t.equal(rc.reply.got, 'hello c', 'and got the data after the handshake')
  t.equal(dc.passiveFail, 1)
  t.match(rc.info, { failure: 'data-not-acked' })
})

t.test('clock skew within half a period: cookies cross a window boundary both ways (PassiveAltKey)', async (t) => {
  const P = HOUR
  const w = 480000
  const host = freshAddr()
  // a: second half of window w (primary K(w), backup K(w+1))
  // b: first half of window w+1 (primary K(w+1), backup K(w)): ahead of a by 20 minutes
  const a = await spawnServer(t, { host, secret: SECRET, periodMs: P, time: w * P + 0.8 * P })
  const b = await spawnServer(t, { host, secret: SECRET, periodMs: P, time: (w + 1) * P + 0.1 * P })
  t.match(a.fastOpen.key, { window: w, backup: 'next' })
  t.match(b.fastOpen.key, { window: w + 1, backup: 'previous' })

  await exchange(a.port, host) // cookie K(w) from a
  const { result: r1, d: d1 } = await counted(() => exchange(b.port, host))
  t.equal(r1.reply.synData, true, 'the server ahead accepts the cookie of the window before')
  t.equal(d1.passiveAltKey, 1, 'through its backup key')
  // A cookie matched by the backup key is answered with a fresh one under
  // the primary: the client now holds b's K(w+1).
  const { result: r2, d: d2 } = await counted(() => exchange(a.port, host))
  t.equal(r2.reply.synData, true, 'the server behind accepts the cookie of the window after')
  t.equal(d2.passiveAltKey, 1)
})

t.test("a cookie from two windows back is refused; rotation keeps the previous window's cookies", async (t) => {
  const P = HOUR
  const w = 480000
  const host = freshAddr()
  const s = await spawnServer(t, { host, secret: SECRET, periodMs: P, time: w * P + 0.3 * P })
  await exchange(s.port, host) // cookie K(w)
  let st = await s.ask({ cmd: 'time', time: (w + 1) * P + 0.2 * P }) // next window, first half
  t.match(st.fastOpen.key, { window: w + 1, backup: 'previous' })
  const { result: r1, d: d1 } = await counted(() => exchange(s.port, host))
  t.equal(r1.reply.synData, true, "previous window's cookie accepted after the rotation")
  t.equal(d1.passiveAltKey, 1)
  const { result: r2, d: d2 } = await counted(() => exchange(s.port, host))
  t.equal(r2.reply.synData, true)
  t.equal(d2.passiveAltKey, 0, 'the backup match came with a fresh K(w+1) cookie')
  st = await s.ask({ cmd: 'time', time: (w + 3) * P + 0.2 * P })
  t.match(st.fastOpen.key, { window: w + 3, backup: 'previous' })
  const { result: r3, d: d3 } = await counted(() => exchange(s.port, host))
  t.equal(r3.reply.synData, false, 'K(w+1) is two windows back: refused, clean fallback')
  t.equal(r3.reply.got, 'GET / HTTP/1.0\r\n\r\n')
  t.equal(d3.passiveFail, 1)
  t.equal((await exchange(s.port, host)).reply.synData, true, 'with the fresh K(w+3) cookie it works again')
})

t.test('the rotation timer: real clock, short period, a cookie crosses a window boundary', async (t) => {
  const periodMs = 2000
  const host = freshAddr()
  const server = jsonServer(t, { keyRotation: { secret: SECRET, periodMs } })
  const { port } = await listen(server, 0, host)
  // Start right after a window begins, so the cookie is from window w and the
  // check runs in the first half of w+1.
  const w0 = server.fastOpen.key.window
  const waitFor = async (cond, what) => {
    const deadline = Date.now() + 5 * periodMs
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  await waitFor(() => server.fastOpen.key.window > w0, 'a new window')
  const w = server.fastOpen.key.window
  t.equal(server.fastOpen.key.backup, 'previous')
  await exchange(port, host) // cookie K(w)
  await waitFor(() => server.fastOpen.key.backup === 'next', 'the second half')
  t.equal(server.fastOpen.key.window, w)
  await waitFor(() => server.fastOpen.key.window === w + 1, 'the next window')
  t.equal(server.fastOpen.key.backup, 'previous')
  const { result, d } = await counted(() => exchange(port, host))
  t.equal(result.reply.synData, true, 'accepted after the boundary (backup K(w))')
  t.equal(d.passiveAltKey, 1)
  t.equal(server.fastOpen.key.nextChangeAt, (w + 1) * periodMs + periodMs / 2)
})

t.test('the rotation timer never keeps the process alive', async (t) => {
  const code = `
    const tfo = require(${JSON.stringify(require.resolve('..'))})
    const s = tfo.createServer({ fastOpen: { keyRotation: { secret: ${JSON.stringify(SECRET)}, periodMs: 1000 } } })
    s.listen(0, '127.0.0.1', () => { s.unref(); console.log(s.fastOpen.key.source) })
  `
  const started = Date.now()
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 20000 })
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stdout.trim(), 'derived')
  t.ok(Date.now() - started < 10000, 'exited at once, with the rotation armed')
})

// ---- the namespace key ----

t.test('rotateNamespaceFastOpenKey: the namespace key on the same schedule, interoperating with listener keys', async (t) => {
  const P = HOUR
  const w = 480000
  let now = w * P + 0.6 * P
  const rotation = { secret: SECRET, periodMs: P, clock: () => now }
  const rot = tfo.rotateNamespaceFastOpenKey(rotation)
  t.teardown(() => rot.stop())
  t.match(rot.state, { source: 'derived', window: w, backup: 'next', nextChangeAt: (w + 1) * P, reason: null })
  const expected = tfo.fastOpenKeysAt(rotation)
  t.same(tfo.sysctl.key(), { primary: expected.primary, backup: expected.backup }, 'the sysctl holds K(w), K(w+1)')

  const host = freshAddr()
  const ns = jsonServer(t, {}) // the namespace key
  const derived = jsonServer(t, { keyRotation: rotation })
  const pn = (await listen(ns, 0, host)).port
  const pd = (await listen(derived, 0, host)).port
  await exchange(pn, host)
  t.equal((await exchange(pd, host)).reply.synData, true, "a listener deriving its own keys accepts the namespace key's cookie")
  now = (w + 1) * P + 1
  rot.stop()
  t.equal(tfo.sysctl.key().primary.equals(expected.primary), true, 'stopped: the key stays as last written')
})
