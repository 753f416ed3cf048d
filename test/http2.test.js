'use strict'
// tfo.http2.connect against http2.connect, side by side: the same argument
// errors, events, session properties and connection errors; then what rides
// in the SYN (tcpdump on lo), what the server saw (TCP_INFO SYN_DATA on the
// accepted socket), the kernel's counters against nginx (HTTP/2 over TLS and
// h2c with `fastopen=256`), and the replay guard for h2c requests. Runs in a
// private network namespace (net.ipv4.tcp_fastopen=3); each test uses its own
// loopback address, so each first contact really is the first (the kernel
// keeps client cookies per destination address).
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const fs = require('node:fs')
const os = require('node:os')
const net = require('node:net')
const tls = require('node:tls')
const path = require('node:path')
const http2 = require('node:http2')
const util = require('node:util')
const { spawn, spawnSync } = require('node:child_process')
const { once } = require('node:events')
const tfo = require('..')
const { listen } = require('./helpers/util')
const { selfSigned } = require('./helpers/tls')
const { nginxConf } = require('./helpers/nginx')
const { haveTcpdump, capture, synsTo } = require('./helpers/wire')

const { key, cert } = selfSigned()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const ERROR_KEYS = ['name', 'code', 'errno', 'syscall', 'address', 'port', 'message']
const pick = (err) => err && Object.fromEntries(ERROR_KEYS.filter((k) => err[k] !== undefined).map((k) => [k, err[k]]))
// TLS server addresses must be in the test certificate (127.0.0.30-39).
let nextTlsAddr = 30
const tlsAddr = () => `127.0.0.${nextTlsAddr++}`
let nextAddr = 60
const h2cAddr = () => `127.0.0.${nextAddr++}`

/** An HTTP/2 server (TLS or h2c) with TFO; answers `<method> <path>`; records what each stream's connection saw. */
async function h2Server(t, { secure, host }) {
  const server = secure ? http2.createSecureServer({ key, cert }) : http2.createServer()
  tfo.enableFastOpen(server)
  const streams = []
  const accepted = []
  const sessions = new Set()
  server.on('connection', (socket) => accepted.push(socket))
  server.on('session', (s) => {
    sessions.add(s)
    s.on('close', () => sessions.delete(s))
  })
  server.on('stream', (stream, headers) => {
    const info = tfo.fastOpenInfo(stream.session.socket)
    const raw = accepted[accepted.length - 1]
    streams.push({
      method: headers[':method'],
      path: headers[':path'],
      synData: info && info.synData,
      acceptedSynData: raw && raw.fastOpen ? raw.fastOpen.synData : null,
    })
    stream.on('error', () => {})
    stream.respond({ ':status': 200 })
    stream.end(`${headers[':method']} ${headers[':path']}`)
  })
  const { port } = await listen(server, 0, host)
  t.teardown(async () => {
    for (const s of sessions) s.destroy()
    if (server.listening) {
      server.close()
      await once(server, 'close')
    }
  })
  return { server, port, streams, url: `${secure ? 'https' : 'http'}://${host}:${port}` }
}

/**
 * One session through `mod.connect` (http2 or tfo.http2): optionally one
 * request (made at once, before 'connect', or in 'connect'); resolves after
 * the session's 'close' with everything observed, in order.
 */
function session(mod, url, options = {}, { request = 'now', method = 'GET', connectListener = false } = {}) {
  const events = []
  const streamEvents = []
  const timeline = []
  let error = null
  let infoAtResponse
  let streamError = null
  let body = ''
  let atConnect = null
  let s
  const onConnect = (sess, socket) => {
    atConnect = {
      sameSession: sess === s,
      socketIsTls: socket instanceof tls.TLSSocket,
      socketIsNet: socket instanceof net.Socket,
      encrypted: s.encrypted,
      alpnProtocol: s.alpnProtocol,
      connecting: s.connecting,
      remoteAddress: s.socket.remoteAddress,
      remotePort: s.socket.remotePort,
      remoteFamily: s.socket.remoteFamily,
    }
    if (request === 'onConnect') makeRequest()
  }
  const makeRequest = () => {
    const req = s.request({ ':path': '/p', ':method': method })
    for (const e of ['ready', 'response', 'end', 'close'])
      req.on(e, () => {
        streamEvents.push(e)
        timeline.push(`stream:${e}`)
      })
    req.on('response', () => {
      infoAtResponse = tfo.fastOpenInfo(s.socket)
    })
    req.on('error', (err) => {
      streamEvents.push('error')
      timeline.push('stream:error')
      streamError = err
    })
    req.setEncoding('utf8')
    req.on('data', (d) => {
      body += d
    })
    req.on('close', () => {
      if (!s.closed && !s.destroyed) s.close()
    })
    if (method === 'POST')
      req.end('posted') // a body: a request that must not be replayed
    else req.end()
  }
  s = connectListener ? mod.connect(url, options, onConnect) : mod.connect(url, options)
  if (!connectListener) s.on('connect', onConnect)
  for (const e of ['connect', 'remoteSettings', 'localSettings', 'goaway', 'close'])
    s.on(e, () => {
      events.push(e)
      timeline.push(e)
    })
  s.on('error', (err) => {
    events.push('error')
    timeline.push('error')
    error = err
  })
  if (request === 'now') makeRequest()
  if (request === 'none') s.on('remoteSettings', () => s.close())
  return new Promise((resolve) => {
    s.on('close', () =>
      setImmediate(() => resolve({ session: s, events, streamEvents, timeline, error, streamError, body, atConnect, infoAtResponse, info: s.fastOpen })),
    )
  })
}

const secureOpts = (host) => ({ ca: cert, servername: host === '127.0.0.1' ? 'localhost' : undefined })

t.test('tfo.http2 loads lazily and is node:http2 with connect over TFO', async (t) => {
  const mod = require('../dist/http/http2')
  t.equal(tfo.http2, mod, 'tfo.http2 is the tfo/http2 entry point')
  for (const k of [
    'constants',
    'createServer',
    'createSecureServer',
    'getDefaultSettings',
    'getPackedSettings',
    'getUnpackedSettings',
    'sensitiveHeaders',
    'Http2ServerRequest',
    'Http2ServerResponse',
  ]) {
    t.equal(mod[k], http2[k], `tfo.http2.${k} is http2.${k}`)
  }
  t.not(mod.connect, http2.connect)
  t.type(mod.connect[util.promisify.custom], 'function', 'util.promisify(tfo.http2.connect) resolves on connect, as http2.connect')
})

t.test("argument errors are http2.connect's, and nothing connects", async (t) => {
  const connectBefore = net.connect
  const tlsBefore = tls.connect
  const thrown = (fn) => {
    try {
      fn()
      return null
    } catch (err) {
      return err
    }
  }
  const cases = [
    [123],
    [null],
    ['not a url'],
    ['ftp://127.0.0.1:21'],
    [new URL('ftp://127.0.0.1:21')],
    ['http://127.0.0.1:1', 'options'],
    ['http://127.0.0.1:1', []],
    ['http://127.0.0.1:1', { remoteCustomSettings: 'x' }],
    ['http://127.0.0.1:1', { remoteCustomSettings: new Array(11).fill(0) }],
    ['https://127.0.0.1:1', { settings: 'x' }],
    ['https://127.0.0.1:1', { maxSessionInvalidFrames: -1 }],
    ['https://127.0.0.1:1', { maxSessionRejectedStreams: 'x' }],
  ]
  for (const args of cases) {
    const label = util.inspect(args, { breakLength: Infinity })
    const theirs = thrown(() => http2.connect(...args))
    const ours = thrown(() => tfo.http2.connect(...args))
    t.ok(theirs, `http2.connect(${label}) throws`)
    t.same(pick(ours), pick(theirs), `tfo.http2.connect(${label}) throws the same ${theirs && theirs.code}`)
    t.equal(Object.getPrototypeOf(ours), Object.getPrototypeOf(theirs), 'of the same class')
  }
  const fastOpenCases = [
    [{ fastOpen: 'yes' }, 'ERR_INVALID_ARG_TYPE', /options\.fastOpen/],
    [{ fastOpen: { noCookie: 1 } }, 'ERR_INVALID_ARG_TYPE', /options\.fastOpen\.noCookie/],
    [{ fastOpen: { synData: () => true } }, 'ERR_INVALID_ARG_TYPE', /options\.fastOpen\.synData.*boolean/],
    [{ fastOpen: { replay: 'sometimes' } }, 'ERR_INVALID_ARG_VALUE', /options\.fastOpen\.replay/],
    [{ fastOpen: { replay: 3 } }, 'ERR_INVALID_ARG_TYPE', /options\.fastOpen\.replay/],
  ]
  for (const [options, code, message] of fastOpenCases) {
    for (const url of ['http://127.0.0.1:1', 'https://127.0.0.1:1']) {
      const err = thrown(() => tfo.http2.connect(url, options))
      t.match(err, { code, message }, `${url} ${util.inspect(options)}: ${code}`)
    }
  }
  t.equal(net.connect, connectBefore, "net.connect is net's own again")
  t.equal(tls.connect, tlsBefore, "tls.connect is tls's own again")
})

for (const secure of [false, true]) {
  const kind = secure ? 'TLS (ALPN h2)' : 'h2c'
  t.test(`${kind}: events, properties and the response as http2.connect, first contact and returning`, async (t) => {
    const host = secure ? tlsAddr() : h2cAddr()
    const srv = await h2Server(t, { secure, host })
    const opts = secure ? secureOpts(host) : {}
    const plain = await session(http2, srv.url, opts)
    const runs = []
    for (let i = 0; i < 3; i++) runs.push(await session(tfo.http2, srv.url, opts, { connectListener: i === 2 }))
    const plainAfter = await session(http2, srv.url, opts, { connectListener: true })
    t.equal(plain.error, null, 'http2.connect: no error')
    t.equal(plain.body, 'GET /p')
    for (const [i, r] of runs.entries()) {
      const label = i === 0 ? 'first contact' : `returning ${i}`
      t.equal(r.error, null, `${label}: no error`)
      t.equal(r.body, 'GET /p', `${label}: the response`)
      t.same(r.events, plain.events, `${label}: session events as http2.connect's (${plain.events.join(', ')})`)
      t.same(r.streamEvents, plain.streamEvents, `${label}: stream events as http2.connect's (${plain.streamEvents.join(', ')})`)
      t.same(r.atConnect, plain.atConnect, `${label}: at 'connect': listener arguments, encrypted, alpnProtocol, connecting, remote address`)
      t.equal(r.session.encrypted, secure)
      t.equal(r.session.alpnProtocol, secure ? 'h2' : 'h2c')
      t.match(r.infoAtResponse, { synData: r.info.synData }, 'tfo.fastOpenInfo(session.socket) says the same')
      // The one difference (README, HTTP/2): with h2c and a cookie, the request made before 'connect'
      // was written with the preface, in the SYN; 'connect' waited for the connection.
      const expected = !secure && i > 0 ? ['stream:ready', ...plain.timeline.filter((e) => e !== 'stream:ready')] : plain.timeline
      t.same(
        r.timeline,
        expected,
        `${label}: everything in http2.connect's order${expected !== plain.timeline ? ", but the stream's 'ready' (its HEADERS went in the SYN) before 'connect'" : ''}`,
      )
    }
    t.same(plainAfter.events, plain.events, 'http2.connect with a connect listener: the same events')
    t.match(plain.atConnect, {
      sameSession: true,
      socketIsTls: secure,
      socketIsNet: true,
      encrypted: secure,
      connecting: false,
      remoteAddress: host,
      remoteFamily: 'IPv4',
    })

    t.match(
      runs[0].info,
      { role: 'client', attempted: true, synData: false, cookie: 'requested', failure: 'cookie-unavailable', reason: null },
      'first contact: a cookie was requested',
    )
    for (const r of runs.slice(1)) {
      t.match(
        r.info,
        { role: 'client', attempted: true, synData: true, cookie: 'sent', failure: null, synDataWithheld: false },
        'returning: the SYN carried data the server acknowledged',
      )
      t.ok(r.info.synDataBytes > 0, `returning: synDataBytes ${r.info.synDataBytes}`)
    }
    t.equal(srv.streams.length, 5, 'the server answered five streams')
    t.same(
      srv.streams.map((s) => s.synData),
      [false, false, true, true, false],
      'server (TCP_INFO via stream.session.socket): SYN data on the returning tfo sessions only',
    )
    t.same(
      srv.streams.map((s) => s.acceptedSynData),
      [false, false, true, true, false],
      "server (the accepted socket's fastOpen): the same",
    )
  })

  t.test(`${kind}: connection errors as http2.connect's`, async (t) => {
    const host = secure ? tlsAddr() : h2cAddr()
    // A port nothing listens on, at an address the kernel has no cookie for.
    const port = await new Promise((resolve) => {
      const s = net.createServer().listen(0, host, () => {
        const p = s.address().port
        s.close(() => resolve(p))
      })
    })
    const url = `${secure ? 'https' : 'http'}://${host}:${port}`
    const opts = secure ? secureOpts(host) : {}
    const plain = await session(http2, url, opts)
    const ours = await session(tfo.http2, url, opts)
    t.match(plain.error, { code: 'ECONNREFUSED', syscall: 'connect', address: host, port })
    t.same(pick(ours.error), pick(plain.error), `refused: ${plain.error && plain.error.message}`)
    t.same(ours.events, plain.events, `session events: ${plain.events.join(', ')}`)
    t.same(ours.streamEvents, plain.streamEvents, `stream events: ${plain.streamEvents.join(', ')}`)
    t.same(pick(ours.streamError), pick(plain.streamError), `the pending stream's error: ${plain.streamError && plain.streamError.code}`)
    t.equal(ours.info, null, 'session.fastOpen: null (never established)')

    // DNS: a lookup that fails (no resolver involved).
    const lookup = (hostname, options, cb) =>
      process.nextTick(cb, Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname }))
    const dnsUrl = `${secure ? 'https' : 'http'}://nowhere.invalid:${port}`
    const p2 = await session(http2, dnsUrl, { ...opts, lookup })
    const o2 = await session(tfo.http2, dnsUrl, { ...opts, lookup })
    t.match(p2.error, { code: 'ENOTFOUND' })
    t.same(pick(o2.error), pick(p2.error), 'DNS failure: the same error')
    t.same(o2.events, p2.events, 'and the same events')
  })

  t.test(`${kind}: a server gone after handing out a cookie`, async (t) => {
    const host = secure ? tlsAddr() : h2cAddr()
    const srv = await h2Server(t, { secure, host })
    const opts = secure ? secureOpts(host) : {}
    const first = await session(tfo.http2, srv.url, opts)
    t.match(first.info, { cookie: 'requested' }, 'first contact: the kernel now holds a cookie for the address')
    srv.server.close()
    await once(srv.server, 'close')
    const plain = await session(http2, srv.url, opts)
    t.match(plain.error, { code: 'ECONNREFUSED', syscall: 'connect', address: host, port: srv.port })
    const ours = await session(tfo.http2, srv.url, opts)
    t.same(pick(ours.error), pick(plain.error), `the session's error is http2.connect's: ${plain.error.message}`)
    const strict = await session(tfo.http2, srv.url, { ...opts, fastOpen: { synData: false } })
    t.same(pick(strict.error), pick(plain.error), 'fastOpen: { synData: false }: the same error')
    t.same(strict.events, plain.events, `fastOpen: { synData: false }: the same events (${plain.events.join(', ')})`)
    t.same(strict.streamEvents, plain.streamEvents, 'and the same stream events')
    t.same(pick(strict.streamError), pick(plain.streamError), 'and the same stream error')
    t.same(ours.events, plain.events, `the same session events: no 'connect' (${plain.events.join(', ')})`)
    if (secure) {
      // tfo.tls holds 'connect' until the TLS handshake: nothing differs.
      t.same(ours.streamEvents, plain.streamEvents, 'TLS: the same stream events')
      t.same(pick(ours.streamError), pick(plain.streamError), 'TLS: the same stream error')
    } else {
      // The documented difference (README, HTTP/2): the request had been
      // written with the preface (it was to ride in the SYN) when the
      // server's refusal came back, so it fails as a started stream, with the
      // connect error, rather than as a pending one.
      t.same(plain.streamEvents, ['error', 'close'])
      t.same(ours.streamEvents, ['ready', 'error', 'close'], 'h2c with a cookie: the request had started')
      t.same(pick(ours.streamError), pick(plain.error), 'and fails with the connect error itself')
    }
  })
}

/** The HTTP/2 frames after the 24-byte client preface: { type, stream }. */
function h2Frames(data) {
  const frames = []
  for (let i = 24; i + 9 <= data.length;) {
    frames.push({ type: data[i + 3], stream: data.readUInt32BE(i + 5) & 0x7fffffff })
    i += 9 + data.readUIntBE(i, 3)
  }
  return frames
}

t.test("h2c with a cookie: what the caller does early gives http2.connect's events", async (t) => {
  const host = h2cAddr()
  const srv = await h2Server(t, { secure: false, host })
  await session(tfo.http2, srv.url) // first contact: the cookie
  const actions = {
    'close() at once': (s) => s.close(),
    'destroy() at once': (s) => s.destroy(),
    "destroy() in 'connect'": (s) => s.on('connect', () => s.destroy()),
    "close() in 'connect'": (s) => s.on('connect', () => s.close()),
    'settings() before connect': (s, log) => s.settings({ enablePush: false }, () => log.push('settings acknowledged')),
    'ping() before connect': (s, log) => s.ping(Buffer.alloc(8), (err) => log.push(`ping ${err ? err.code : 'ok'}`)),
    "ping() in 'connect'": (s, log) => s.on('connect', () => s.ping(Buffer.alloc(8), (err) => log.push(`ping ${err ? err.code : 'ok'}`))),
  }
  const once_ = (mod, act) =>
    new Promise((resolve) => {
      const log = []
      const stream = []
      const s = mod.connect(srv.url)
      for (const e of ['connect', 'remoteSettings', 'localSettings', 'goaway', 'close']) s.on(e, () => log.push(e))
      s.on('error', (e) => log.push(`error ${e.code}`))
      const req = s.request({ ':path': '/' })
      for (const e of ['ready', 'response', 'close']) req.on(e, () => stream.push(e))
      req.on('error', (e) => stream.push(`error ${e.code}`))
      req.resume()
      req.end()
      req.on('close', () => {
        if (!s.closed && !s.destroyed) s.close()
      })
      act(s, log)
      s.on('close', () => setImmediate(() => resolve({ log, stream, info: s.fastOpen })))
    })
  for (const [name, act] of Object.entries(actions)) {
    const plain = await once_(http2, act)
    const ours = await once_(tfo.http2, act)
    t.same(ours.log, plain.log, `${name}: session events and callbacks (${plain.log.join(', ')})`)
    if (name === "close() in 'connect'") {
      // Not an event-order matter: http2.connect sends the request with close()'s GOAWAY, and
      // Node's server refuses it (NGHTTP2_REFUSED_STREAM); here the request went in the SYN,
      // before the GOAWAY, and is answered.
      t.same(
        plain.stream.filter((e) => e !== 'ready'),
        ['error ERR_HTTP2_STREAM_ERROR', 'close'],
      )
      t.same(
        ours.stream.filter((e) => e !== 'ready'),
        ['response', 'close'],
        `${name}: the request, already sent, is answered`,
      )
      continue
    }
    t.same(
      ours.stream.filter((e) => e !== 'ready'),
      plain.stream.filter((e) => e !== 'ready'),
      `${name}: stream events (${plain.stream.join(', ')}), but for when 'ready' comes`,
    )
  }
})

t.test("h2c: a peer that accepts and never sends gets 'connect' as from http2.connect", async (t) => {
  const host = h2cAddr()
  const silent = tfo.createServer((s) => {
    s.resume()
    s.on('error', () => {})
  })
  const { port } = await listen(silent, 0, host)
  t.teardown(async () => {
    silent.close()
    await once(silent, 'close')
  })
  const url = `http://${host}:${port}`
  const run = (mod) =>
    new Promise((resolve) => {
      const log = []
      const s = mod.connect(url)
      s.on('connect', () => {
        log.push('connect')
        s.destroy()
      })
      s.on('error', (e) => log.push(`error ${e.code}`))
      s.on('close', () => {
        log.push('close')
        resolve({ log, info: s.fastOpen })
      })
    })
  const first = await run(tfo.http2)
  t.match(first.info, { cookie: 'requested' })
  const plain = await run(http2)
  const ours = await run(tfo.http2)
  t.same(ours.log, plain.log, `events: ${plain.log.join(', ')}`)
  t.match(ours.info, { cookie: 'sent', synData: true }, 'the preface rode in the SYN')
})

t.test("tfo.fastOpenInfo(stream.session.socket) on a server is the accepted socket's record; null once the session let go", async (t) => {
  for (const secure of [false, true]) {
    const server = secure ? http2.createSecureServer({ key, cert }) : http2.createServer()
    tfo.enableFastOpen(server)
    const seen = []
    const sessions = []
    server.on('session', (s) => sessions.push(s))
    server.on('connection', (socket) => seen.push({ accepted: socket.fastOpen }))
    const proxies = []
    server.on('stream', (stream) => {
      proxies.push(stream.session.socket)
      seen[seen.length - 1].info = tfo.fastOpenInfo(stream.session.socket)
      stream.respond({ ':status': 200 })
      stream.end('ok')
    })
    const host = secure ? tlsAddr() : h2cAddr()
    const { port } = await listen(server, 0, host)
    const url = `${secure ? 'https' : 'http'}://${host}:${port}`
    for (let i = 0; i < 2; i++) {
      // The first session asks for a cookie, the second sends its first flight in the SYN.
      const client = tfo.http2.connect(url, { ca: cert, servername: 'localhost' })
      const req = client.request({ ':path': '/' })
      req.resume()
      await once(req, 'end')
      client.close()
      await once(client, 'close')
    }
    const kind = secure ? 'TLS' : 'h2c'
    t.equal(seen.length, 2)
    for (const s of seen) t.same(s.info, s.accepted, `${kind}: the record made when the socket was accepted`)
    t.match(seen[0].info, { role: 'server', attempted: true, synData: false }, `${kind}: first contact`)
    t.match(seen[1].info, { role: 'server', attempted: true, synData: true }, `${kind}: with a cookie, the SYN carried data`)
    // Once the server's session is closed it lets go of its socket: Node's proxy (kept from
    // before) then throws on every read, and `session.socket` is undefined. Null, no throw.
    const last = sessions[sessions.length - 1]
    if (!last.destroyed) {
      last.destroy()
      await once(last, 'close')
    }
    const proxy = proxies[proxies.length - 1]
    t.throws(() => proxy.remoteAddress, { code: 'ERR_HTTP2_SOCKET_UNBOUND' }, `${kind}: Node's proxy throws now`)
    t.equal(tfo.fastOpenInfo(proxy), null, `${kind}: the proxy of a closed session`)
    // A destroyed session has no socket at all (undefined): that is not a socket, so argument misuse, as for any non-socket.
    t.equal(last.socket, undefined, `${kind}: a destroyed session's socket is undefined`)
    t.throws(() => tfo.fastOpenInfo(last.socket), { code: 'ERR_INVALID_ARG_TYPE' }, `${kind}: fastOpenInfo(undefined) is argument misuse`)
    server.close()
    await once(server, 'close')
  }
})

t.test('what rides in the SYN: tcpdump on lo', async (t) => {
  if (!haveTcpdump(t)) return
  for (const secure of [false, true]) {
    const host = secure ? tlsAddr() : h2cAddr()
    const srv = await h2Server(t, { secure, host })
    const opts = secure ? secureOpts(host) : {}
    const runs = []
    const packets = await capture(t, srv.port, async () => {
      for (let i = 0; i < 2; i++) runs.push(await session(tfo.http2, srv.url, opts))
      if (!secure) runs.push(await session(tfo.http2, srv.url, opts, { request: 'onConnect' }))
    })
    const syns = synsTo(packets, srv.port)
    t.equal(syns.length, secure ? 2 : 3, `${secure ? 'TLS' : 'h2c'}: one client SYN per session`)
    t.equal(syns[0].payload.length, 0, 'first contact: an empty SYN')
    t.ok(syns[0].tfo && syns[0].tfo.data.length === 0, 'asking for a cookie (TFO option without a cookie)')
    t.ok(syns[1].tfo && syns[1].tfo.data.length >= 4, 'returning: the SYN carries the cookie')
    const data = syns[1].payload
    if (!secure) {
      t.equal(data.subarray(0, 24).toString('latin1'), 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'and starts with the connection preface')
      const frames = h2Frames(data)
      t.equal(frames[0] && frames[0].type, 4, 'then the client SETTINGS')
      t.ok(
        frames.some((f) => f.type === 1 && f.stream === 1),
        "and the request made before 'connect': HEADERS on stream 1",
        { frames },
      )
      const late = syns[2].payload
      t.equal(late.subarray(0, 24).toString('latin1'), 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', "a request made in 'connect': the SYN still carries the preface")
      t.notOk(
        h2Frames(late).some((f) => f.type === 1),
        "but not the request ('connect' waits for the connection)",
        { frames: h2Frames(late) },
      )
    } else {
      t.equal(data[0], 0x16, 'a TLS handshake record')
      t.equal(data[5], 0x01, 'holding the ClientHello')
      t.ok(data.includes(Buffer.from('\x02h2', 'latin1')), 'which offers ALPN h2')
    }
    t.same(
      srv.streams.map((s) => s.synData),
      secure ? [false, true] : [false, true, true],
      'the server saw SYN data on the returning sessions',
    )
    t.equal(runs[1].body, 'GET /p')
  }
})

t.test('h2c replay guard: only requests that may be replayed ride in the SYN', async (t) => {
  const host = h2cAddr()
  const srv = await h2Server(t, { secure: false, host })
  await session(tfo.http2, srv.url) // first contact: the cookie
  const post = await session(tfo.http2, srv.url, {}, { method: 'POST' })
  t.equal(post.body, 'POST /p', 'POST: answered')
  t.match(post.info, { attempted: true, cookie: 'sent', synData: false, synDataWithheld: true }, 'POST: the SYN carried the cookie alone')
  const all = await session(tfo.http2, srv.url, { fastOpen: { replay: 'all' } }, { method: 'POST' })
  t.match(all.info, { synData: true }, "replay: 'all': the POST rides too")
  const seen = []
  const pred = await session(tfo.http2, srv.url, {
    fastOpen: {
      replay: (r) => {
        seen.push(r)
        return r.path === '/p'
      },
    },
  })
  t.same(
    seen,
    [{ method: 'GET', host, port: srv.port, path: '/p', retry: false }],
    "the predicate is told what the agents' is: method, host, port, path, retry",
  )
  t.match(pred.info, { synData: true })
  const none = await session(tfo.http2, srv.url, { fastOpen: { replay: 'none' } })
  t.match(none.info, { synData: false, synDataWithheld: true, cookie: 'sent' }, "replay: 'none': no request rides")
  const bare = await session(tfo.http2, srv.url, {}, { request: 'none' })
  t.match(bare.info, { synData: true }, 'no request at all: the preface and SETTINGS ride')
  const off = await session(tfo.http2, srv.url, { fastOpen: false })
  t.match(off.info, { attempted: false, synData: false, cookie: 'none', reason: /fastOpen: false/ }, 'fastOpen: false: plain TCP')
  t.same(
    srv.streams.map((s) => [s.method, s.synData]),
    [
      ['GET', false],
      ['POST', false],
      ['POST', true],
      ['GET', true],
      ['GET', false],
      ['GET', false],
    ],
    'what the server saw, stream by stream',
  )
})

t.test("h2c retry rule: after a failed connection to the origin, the next session's requests do not ride", async (t) => {
  const host = h2cAddr()
  const srv = await h2Server(t, { secure: false, host })
  const port = srv.port
  await session(tfo.http2, srv.url) // first contact: the cookie
  srv.server.close()
  await once(srv.server, 'close')
  const failed = await session(tfo.http2, srv.url)
  t.match(failed.error, { code: 'ECONNREFUSED' }, 'a failed connection to the origin')
  // The server is back, on the same port.
  const again = http2.createServer()
  tfo.enableFastOpen(again)
  again.on('stream', (stream) => {
    stream.respond({ ':status': 200 })
    stream.end('again')
  })
  const sessions = new Set()
  again.on('session', (s) => {
    sessions.add(s)
    s.on('close', () => sessions.delete(s))
  })
  await listen(again, port, host)
  t.teardown(async () => {
    for (const s of sessions) s.destroy()
    if (again.listening) {
      again.close()
      await once(again, 'close')
    }
  })
  const url = `http://${host}:${port}`
  const retry = await session(tfo.http2, url)
  t.equal(retry.body, 'again')
  t.match(retry.info, { cookie: 'sent', synData: false, synDataWithheld: true }, 'the next session is a retry: its GET follows the handshake')
  const after = await session(tfo.http2, url)
  t.match(after.info, { cookie: 'sent', synData: true, synDataWithheld: false }, 'the retry was answered: the next GET rides again')
  t.throws(() => tfo.http2.connect(url, { fastOpen: { retryWindowMs: -1 } }), { code: 'ERR_OUT_OF_RANGE' })
})

t.test('util.promisify(tfo.http2.connect) resolves with the session on connect, rejects with its error', async (t) => {
  const host = h2cAddr()
  const srv = await h2Server(t, { secure: false, host })
  const connect = util.promisify(tfo.http2.connect)
  const s = await connect(srv.url)
  t.equal(s.connecting, false)
  s.close()
  await once(s, 'close')
  srv.server.close()
  await once(srv.server, 'close')
  await t.rejects(connect(srv.url), { code: 'ECONNREFUSED', syscall: 'connect' })
})

// ---- nginx: HTTP/2 over TLS and h2c, each on a listener with fastopen=256 ----

t.test('against nginx: listen ... ssl http2 fastopen=256, and h2c (listen ... http2 fastopen=256)', async (t) => {
  const r = spawnSync('nginx', ['-v'], { encoding: 'utf8' })
  if (r.error || r.status !== 0) return t.fail('nginx is required for this test and is missing here; install nginx-light (CI does)')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-nginx-h2-'))
  fs.writeFileSync(path.join(dir, 'key.pem'), key)
  fs.writeFileSync(path.join(dir, 'cert.pem'), cert)
  const tlsHost = tlsAddr()
  const h2cHost = h2cAddr()
  const free = (host) =>
    new Promise((resolve) => {
      const s = net.createServer().listen(0, host, () => {
        const p = s.address().port
        s.close(() => resolve(p))
      })
    })
  const tlsPort = await free(tlsHost)
  const h2cPort = await free(h2cHost)
  const conf = path.join(dir, 'nginx.conf')
  fs.writeFileSync(
    conf,
    nginxConf(dir, [
      {
        listen: `${tlsHost}:${tlsPort} ssl http2 fastopen=256`,
        extra: [`ssl_certificate ${dir}/cert.pem;`, `ssl_certificate_key ${dir}/key.pem;`, 'ssl_protocols TLSv1.3;'],
        location: 'default_type text/plain; return 200 "h2 over tls";',
      },
      { listen: `${h2cHost}:${h2cPort} http2 fastopen=256`, location: 'default_type text/plain; return 200 "h2c";' },
    ]),
  )
  const nginx = spawn('nginx', ['-c', conf, '-p', `${dir}/`, '-e', path.join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  nginx.stdout.on('data', (d) => {
    output += d
  })
  nginx.stderr.on('data', (d) => {
    output += d
  })
  const exited = once(nginx, 'close')
  t.teardown(async () => {
    if (nginx.exitCode === null && nginx.signalCode === null) nginx.kill('SIGTERM')
    await exited
    if (!t.passing())
      t.comment(
        `nginx output:\n${output}\nerror.log:\n${fs.existsSync(path.join(dir, 'error.log')) ? fs.readFileSync(path.join(dir, 'error.log'), 'utf8') : ''}`,
      )
    fs.rmSync(dir, { recursive: true, force: true })
  })
  // Until nginx listens on both (plain connects: no cookie is asked for).
  for (const deadline = Date.now() + 10000; Date.now() < deadline && nginx.exitCode === null;) {
    const up = await Promise.all(
      [
        [tlsHost, tlsPort],
        [h2cHost, h2cPort],
      ].map(
        ([h, p]) =>
          new Promise((resolve) => {
            const s = net
              .connect(p, h, () => {
                s.destroy()
                resolve(true)
              })
              .on('error', () => resolve(false))
          }),
      ),
    )
    if (up.every(Boolean)) break
    await sleep(20)
  }
  t.equal(nginx.exitCode, null, 'nginx is running')

  for (const [label, url, body, opts] of [
    ['TLS', `https://${tlsHost}:${tlsPort}`, 'h2 over tls', secureOpts(tlsHost)],
    ['h2c', `http://${h2cHost}:${h2cPort}`, 'h2c', {}],
  ]) {
    const results = []
    for (let i = 0; i < 3; i++) {
      const c0 = tfo.counters()
      const run = await session(tfo.http2, url, opts)
      results.push({ run, diff: tfo.diffCounters(c0, tfo.counters()) })
    }
    for (const [i, { run, diff }] of results.entries()) {
      t.equal(run.error, null, `${label} ${i}: no error`)
      t.equal(run.body, body, `${label} ${i}: nginx's answer over HTTP/2`)
      t.equal(run.session.alpnProtocol, label === 'TLS' ? 'h2' : 'h2c')
      if (i === 0) {
        t.match(run.info, { cookie: 'requested', synData: false }, `${label}: first contact asks for a cookie`)
        t.match(diff, { cookieReqd: 1, passive: 0, active: 0 }, `${label}: TCPFastOpenCookieReqd +1`)
      } else {
        t.match(run.info, { cookie: 'sent', synData: true, failure: null }, `${label} ${i}: nginx acknowledged the SYN data`)
        t.match(
          diff,
          { passive: 1, active: 1, passiveFail: 0, activeFail: 0 },
          `${label} ${i}: TCPFastOpenPassive +1 (nginx accepted the SYN data), TCPFastOpenActive +1`,
        )
      }
    }
  }
  nginx.kill('SIGQUIT')
  const [code, signal] = await exited
  t.ok(code === 0 || signal === 'SIGQUIT', `nginx stopped (code ${code}, signal ${signal})`)
})
