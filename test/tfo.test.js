'use strict'
// Core behaviour of tfo.Socket / tfo.Server on loopback, inside a private
// network namespace with net.ipv4.tcp_fastopen=3 (see helpers/netns.js).
// Every test proves TFO from outside: the server-side TCP_INFO (socket.fastOpen
// on accepted sockets) and the namespace's TcpExt counters.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const net = require('node:net')
const http = require('node:http')
const { once } = require('node:events')
const tfo = require('..')
const { listen, closeServer, collect, sinkServer, sha256 } = require('./helpers/util')

/** One request/response over a fresh tfo connection; the server reports its side. */
async function exchange(port, host, payload, opts = {}) {
  const socket = tfo.connect({ port, host, ...opts })
  socket.write(payload)
  socket.end()
  let remote = null
  socket.once('connect', () => {
    remote = { address: socket.remoteAddress, family: socket.remoteFamily, port: socket.remotePort }
  })
  const result = await collect(socket)
  return { ...result, socket, remote, info: socket.fastOpen }
}

function tfoServer(t, opts) {
  const accepted = []
  const server = tfo.createServer(
    opts,
    sinkServer((s, data) => {
      accepted.push({ synData: s.fastOpen.synData, hash: sha256(data), length: data.length })
      return Buffer.from(`got ${data.length}`)
    }),
  )
  t.teardown(() => closeServer(server))
  return { server, accepted }
}

t.test('a returning client puts its first bytes in the SYN', async (t) => {
  const { server, accepted } = tfoServer(t)
  const { port } = await listen(server, 0, '127.0.0.1')
  t.match(server.fastOpen, { requested: true, enabled: true, active: true, queueLength: 256, reason: null })

  const before = tfo.counters()
  const first = await exchange(port, '127.0.0.1', 'GET / HTTP/1.0\r\n\r\n')
  t.equal(first.data.toString(), 'got 18')
  t.same(first.events, ['connect', 'ready', 'end', 'close'])
  t.match(first.info, { role: 'client', attempted: true, synData: false, cookie: 'requested', synDataBytes: 0, failure: 'cookie-unavailable' })
  t.equal(accepted[0].synData, false, 'first contact: normal handshake')

  const second = await exchange(port, '127.0.0.1', 'GET / HTTP/1.0\r\n\r\n')
  t.equal(second.data.toString(), 'got 18')
  t.match(second.info, { role: 'client', attempted: true, synData: true, cookie: 'sent', synDataBytes: 18, failure: null, reason: null })
  t.equal(accepted[1].synData, true, 'server saw data in the SYN (TCPI_OPT_SYN_DATA)')
  t.equal(second.socket.bytesWritten, 18, 'bytesWritten counts the bytes that left in the SYN')

  const d = tfo.diffCounters(before, tfo.counters())
  t.equal(d.cookieReqd, 1, 'one cookie request (first contact)')
  t.equal(d.passive, 1, 'TCPFastOpenPassive: one TFO connection accepted')
  t.equal(d.active, 1, 'TCPFastOpenActive: one SYN-data acknowledged')
  t.equal(d.activeFail, 0)
  t.equal(d.passiveFail, 0)
})

t.test('large first write (many segments) arrives intact; the SYN carries the first part', async (t) => {
  const { server, accepted } = tfoServer(t)
  const { port } = await listen(server, 0, '127.0.0.1')
  await exchange(port, '127.0.0.1', 'warm up: get a cookie')
  const big = require('node:crypto').randomBytes(256 * 1024)
  const socket = tfo.connect(port, '127.0.0.1')
  socket.write(big.subarray(0, 1000))
  socket.write(big.subarray(1000, 5000)) // coalesced with the first write into one SYN-sized send
  socket.end(big.subarray(5000))
  const r = await collect(socket)
  t.equal(r.data.toString(), `got ${big.length}`)
  const last = accepted[accepted.length - 1]
  t.equal(last.hash, sha256(big), 'server received every byte, in order')
  t.equal(last.synData, true)
  t.ok(socket.fastOpen.synDataBytes > 1000, `SYN took ${socket.fastOpen.synDataBytes} bytes (more than the first write: writes were coalesced)`)
  t.ok(socket.fastOpen.synDataBytes < big.length)
  t.equal(socket.bytesWritten, big.length)
})

t.test('writes before and after the handshake arrive as with net', async (t) => {
  // The same sequence through net and through tfo must deliver the same bytes.
  const got = []
  const server = net.createServer(
    sinkServer((s, data) => {
      got.push(data.toString())
      return data
    }),
  )
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, '127.0.0.1')
  await collect(tfo.connect(port, '127.0.0.1').end('cookie'))
  for (const mod of [net, tfo, tfo]) {
    const socket = mod.connect(port, '127.0.0.1')
    socket.write('a')
    process.nextTick(() => socket.write('b'))
    setImmediate(() => socket.write('c'))
    socket.once('connect', () => {
      socket.write('d')
      setTimeout(() => socket.end('e'), 5)
    })
    await collect(socket)
  }
  t.equal(got[2], got[1], 'tfo delivers what net delivers')
  t.equal(got[3], got[1], 'also when the first bytes rode in the SYN')
  t.same([...got[1]].sort().join(''), 'abcde')
})

t.test('write callbacks fire once each, in order, after the connection is established', async (t) => {
  const { server } = tfoServer(t)
  const { port } = await listen(server, 0, '127.0.0.1')
  for (let i = 0; i < 2; i++) {
    const socket = tfo.connect(port, '127.0.0.1')
    const order = []
    socket.write('x', (err) => order.push(['cb1', err ?? null, socket.connecting]))
    socket.write('y', (err) => order.push(['cb2', err ?? null, socket.connecting]))
    socket.end('z', () => order.push(['cb3']))
    socket.on('connect', () => order.push(['connect']))
    await collect(socket)
    t.same(
      order.filter((e) => e[0] !== 'connect'),
      [['cb1', null, false], ['cb2', null, false], ['cb3']],
      `connection ${i}`,
    )
  }
})

t.test('a server without TFO: the client falls back, nothing is lost', async (t) => {
  const server = net.createServer(sinkServer())
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, '127.0.0.50') // an address the client holds no cookie for
  for (let i = 0; i < 3; i++) {
    const r = await exchange(port, '127.0.0.50', `plain ${i}`)
    t.equal(r.data.toString(), `plain ${i}`)
    t.match(r.info, { attempted: true, synData: false, cookie: 'requested', failure: 'cookie-unavailable' }, `connection ${i}: no cookie is ever offered`)
  }
})

t.test("a cookie for the host, but this port's server has no TFO: data resent after the handshake, then backoff", async (t) => {
  // The kernel caches cookies per IP address, not per port.
  tfo.clearBackoff()
  t.teardown(() => tfo.clearBackoff())
  const { server: tfoSrv } = tfoServer(t)
  const { port: tfoPort } = await listen(tfoSrv, 0, '127.0.0.51')
  await exchange(tfoPort, '127.0.0.51', 'get a cookie for 127.0.0.51')
  const server = net.createServer(sinkServer())
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, '127.0.0.51')
  const big = require('node:crypto').randomBytes(50000)
  for (let i = 0; i < 3; i++) {
    const s = tfo.connect(port, '127.0.0.51')
    s.end(big)
    const r = await collect(s)
    t.equal(sha256(r.data), sha256(big), `connection ${i}: every byte arrived once, in order`)
    if (i < 2) t.match(s.fastOpen, { attempted: true, cookie: 'sent', synData: false, failure: 'data-not-acked' })
    else t.match(s.fastOpen, { attempted: false, reason: /^backoff: TFO to 127\.0\.0\.51:\d+ paused/ }, 'twice not acked: TFO paused for this destination')
  }
  t.equal(tfo.backoffEntries().length, 1)
  const again = await exchange(tfoPort, '127.0.0.51', 'other port, same host')
  t.equal(again.info.synData, true, 'the TFO port of the same host is not paused')
})

t.test('fastOpen: false on a tfo server gives a plain server', async (t) => {
  const { server, accepted } = tfoServer(t, { fastOpen: false })
  const { port } = await listen(server, 0, '127.0.0.1')
  t.match(server.fastOpen, { requested: false, enabled: false, active: false })
  await exchange(port, '127.0.0.1', 'one')
  const r = await exchange(port, '127.0.0.1', 'two')
  t.equal(r.info.synData, false)
  t.equal(accepted[1].synData, false)
})

t.test('fastOpen: false on a client connects plainly and says why', async (t) => {
  const { server } = tfoServer(t)
  const { port } = await listen(server, 0, '127.0.0.1')
  await exchange(port, '127.0.0.1', 'cookie')
  const r = await exchange(port, '127.0.0.1', 'plain', { fastOpen: false })
  t.match(r.info, { attempted: false, synData: false, cookie: 'none', reason: /fastOpen: false/ })
  t.equal(r.data.toString(), 'got 5')
})

t.test("connection refused has net's error shape, on a later tick", async (t) => {
  const probe = net.createServer()
  const { port } = await listen(probe, 0, '127.0.0.1')
  await closeServer(probe) // a port nobody listens on

  const netErr = await collect(net.connect(port, '127.0.0.1'))
  const socket = tfo.connect(port, '127.0.0.1')
  let sync = true
  let errorWasSync = null
  socket.on('error', () => {
    errorWasSync = sync
  })
  sync = false
  const r = await collect(socket)
  t.equal(errorWasSync, false, "'error' is emitted asynchronously")
  t.same(r.events, ['error', 'close'])
  t.equal(r.hadError, true)
  t.match(r.error, {
    code: 'ECONNREFUSED',
    errno: -111,
    syscall: 'connect',
    address: '127.0.0.1',
    port,
    message: `connect ECONNREFUSED 127.0.0.1:${port}`,
  })
  for (const k of ['code', 'errno', 'syscall', 'address', 'port', 'message']) t.equal(r.error[k], netErr.error[k], `${k} as net`)
  t.equal(r.error.constructor, netErr.error.constructor)
})

t.test('IPv6', async (t) => {
  const { server, accepted } = tfoServer(t)
  const { port, family } = await listen(server, 0, '::1')
  t.equal(family, 'IPv6')
  await exchange(port, '::1', 'v6 cookie')
  const r = await exchange(port, '::1', 'v6 data')
  t.match(r.info, { synData: true, cookie: 'sent', synDataBytes: 7 })
  t.equal(accepted[1].synData, true)
  t.same(r.remote, { address: '::1', family: 'IPv6', port }, 'remote address once connected (from getpeername, as net)')
})

t.test('hostnames: DNS lookup, autoSelectFamily (TFO on each attempt), custom lookup', async (t) => {
  const { server, accepted } = tfoServer(t)
  const { port } = await listen(server, 0, '127.0.0.1') // localhost's ::1 attempt is refused first
  const attempts = []
  for (let i = 0; i < 2; i++) {
    const socket = tfo.connect({ port, host: 'localhost', autoSelectFamily: true })
    socket.on('connectionAttempt', (ip) => attempts.push(ip))
    socket.end(`hello ${i}`)
    let remote = null
    socket.once('connect', () => {
      remote = socket.remoteAddress
    })
    const r = await collect(socket)
    t.equal(r.data.toString(), 'got 7')
    t.equal(remote, '127.0.0.1')
    if (i === 1) t.match(socket.fastOpen, { synData: true, cookie: 'sent' }, 'returning connection over a hostname rides the SYN')
  }
  t.ok(attempts.includes('127.0.0.1'))
  t.equal(accepted[1].synData, true)

  const lookups = []
  const lookup = (host, opts, cb) => {
    lookups.push(host)
    setImmediate(() => {
      if (opts.all) cb(null, [{ address: '127.0.0.1', family: 4 }])
      else cb(null, '127.0.0.1', 4)
    })
  }
  const socket = tfo.connect({ port, host: 'tfo.invalid', lookup })
  const events = []
  socket.on('lookup', (err, address, family, host) => events.push([err, address, family, host]))
  socket.end('via lookup')
  const r = await collect(socket)
  t.equal(r.data.toString(), 'got 10')
  t.same(lookups, ['tfo.invalid'])
  t.same(events[0], [null, '127.0.0.1', 4, 'tfo.invalid'])
  t.equal(socket.fastOpen.synData, true)

  const netBad = await collect(net.connect({ port, host: 'no-such-host.invalid' }))
  const bad = await collect(tfo.connect({ port, host: 'no-such-host.invalid' }))
  t.match(bad.error, { code: netBad.error.code, syscall: 'getaddrinfo', hostname: 'no-such-host.invalid', message: netBad.error.message })
  t.same(bad.events, netBad.events, 'same events as net for a failed lookup')
})

t.test('remoteAddress is undefined while connecting (as net), right once connected; localAddress/localPort are honoured', async (t) => {
  const { server } = tfoServer(t)
  const { port } = await listen(server, 0, '127.0.0.1')
  const socket = tfo.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' })
  const plain = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' })
  t.equal(socket.connecting, true)
  for (const k of ['remoteAddress', 'remotePort', 'remoteFamily']) t.equal(socket[k], plain[k], `${k} while connecting: as net (${plain[k]})`)
  plain.destroy()
  socket.end('x')
  await once(socket, 'connect')
  t.equal(socket.remoteAddress, '127.0.0.1')
  t.equal(socket.remotePort, port)
  t.equal(socket.remoteFamily, 'IPv4')
  t.equal(socket.localAddress, '127.0.0.2')
  t.equal(socket.fastOpen.attempted, true, `a bound socket gets TFO too (reason: ${socket.fastOpen.reason})`)
  await collect(socket)
})

t.test('options net honours: timeout, noDelay, keepAlive, signal, allowHalfOpen', async (t) => {
  const { server } = tfoServer(t)
  const { port } = await listen(server, 0, '127.0.0.1')
  const s = tfo.connect({ port, host: '127.0.0.1', timeout: 1234, noDelay: true, keepAlive: true })
  t.equal(s.timeout, 1234)
  await once(s, 'connect')
  const binding = require('./helpers/binding')
  const c = binding.constants
  t.equal(binding.getsockoptInt(s._handle.fd, c.IPPROTO_TCP, c.TCP_NODELAY), 1, 'TCP_NODELAY set')
  t.equal(binding.getsockoptInt(s._handle.fd, c.SOL_SOCKET, c.SO_KEEPALIVE), 1, 'SO_KEEPALIVE set')
  s.end()
  await collect(s)

  const ac = new AbortController()
  const aborted = tfo.connect({ port, host: '127.0.0.1', signal: ac.signal })
  ac.abort()
  const r = await collect(aborted)
  t.match(r.error, { name: 'AbortError', code: 'ABORT_ERR' })
})

t.test('destroy() while connecting: as net, pending writes fail with ERR_SOCKET_CLOSED_BEFORE_CONNECTION, close once', async (t) => {
  const { server } = tfoServer(t)
  const { port } = await listen(server, 0, '127.0.0.1')
  const results = []
  for (const mod of [net, tfo]) {
    const s = mod.connect(port, '127.0.0.1')
    const cbErrors = []
    s.write('lost', (err) => cbErrors.push(err && err.code))
    let closes = 0
    let errors = 0
    s.on('close', () => closes++)
    s.on('error', () => errors++)
    s.destroy()
    await once(s, 'close')
    await new Promise((resolve) => setTimeout(resolve, 20))
    results.push({ closes, errors, cbErrors, destroyed: s.destroyed })
  }
  t.same(results[1], results[0], 'tfo behaves as net')
  t.same(results[1], { closes: 1, errors: 0, cbErrors: ['ERR_SOCKET_CLOSED_BEFORE_CONNECTION'], destroyed: true })
})

t.test('Socket and Server work without new; the module stands in for net', async (t) => {
  const s = tfo.Socket()
  t.ok(s instanceof tfo.Socket)
  t.ok(s instanceof net.Socket)
  s.destroy()
  const srv = tfo.Server()
  t.ok(srv instanceof tfo.Server)
  t.ok(srv instanceof net.Server)
  t.equal(tfo.Stream, tfo.Socket)
  t.equal(tfo.createConnection, tfo.connect)
  for (const name of ['isIP', 'isIPv4', 'isIPv6', 'BlockList', 'SocketAddress', 'getDefaultAutoSelectFamily', 'setDefaultAutoSelectFamily']) {
    t.equal(tfo[name], net[name], `${name} re-exported`)
  }
  t.equal(tfo.isIP('::1'), 6)
  class Sub extends tfo.Socket {}
  t.ok(new Sub() instanceof tfo.Socket)
})

t.test('IPC paths are plain net', async (t) => {
  const path = `/tmp/tfo-test-${process.pid}.sock`
  const server = net.createServer(sinkServer())
  t.teardown(() => closeServer(server))
  await listen(server, path)
  const s = tfo.connect(path)
  s.end('ipc')
  const r = await collect(s)
  t.equal(r.data.toString(), 'ipc')
})

t.test("bad arguments throw net's own errors", async (t) => {
  const cases = [
    [{ port: 'abc' }],
    [{ port: 65536 }],
    [{ port: -1 }],
    [{ port: {} }],
    [{ port: 80, localAddress: 'nope' }],
    [{ port: 80, host: 'localhost', lookup: 42 }],
    [{ port: 80, autoSelectFamily: 'yes' }],
  ]
  for (const args of cases) {
    let netErr
    try {
      net.connect(...args).destroy()
    } catch (e) {
      netErr = e
    }
    t.ok(netErr, `net rejects ${JSON.stringify(args)}`)
    t.throws(() => tfo.connect(...args), { code: netErr.code, message: netErr.message, name: netErr.name })
  }
  t.throws(() => tfo.connect({ port: 80, fastOpen: 'yes' }), {
    code: 'ERR_INVALID_ARG_TYPE',
    name: 'TypeError',
    message: /The "options.fastOpen" property must be one of type boolean or object/,
  })
  t.throws(() => tfo.connect({ port: 80, fastOpen: { noCookie: 1 } }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => tfo.createServer({ fastOpen: { queueLength: 0 } }), { code: 'ERR_OUT_OF_RANGE', name: 'RangeError' })
  t.throws(() => tfo.createServer({ fastOpen: { queueLength: 1.5 } }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => tfo.createServer({ fastOpen: { queueLength: '5' } }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => tfo.createServer('x'), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => tfo.enableFastOpen({}), { code: 'ERR_INVALID_ARG_TYPE', message: /The "server" argument must be an instance of net.Server/ })
  const srv = net.createServer()
  t.throws(() => tfo.enableFastOpen(srv, { noCookie: 'no' }), { code: 'ERR_INVALID_ARG_TYPE' })
  const e = (() => {
    try {
      tfo.connect({ port: 'abc' })
    } catch (err) {
      return err
    }
  })()
  t.match(String(e), /^RangeError \[ERR_SOCKET_BAD_PORT\]: /)
})

t.test('enableFastOpen on an http server (before and after listen)', async (t) => {
  for (const [when, host] of [
    ['before', '127.0.0.70'],
    ['after', '127.0.0.71'],
  ]) {
    const server = http.createServer((req, res) => res.end(`synData=${req.socket.fastOpen.synData}`))
    t.teardown(() => closeServer(server))
    if (when === 'before') tfo.enableFastOpen(server)
    const { port } = await listen(server, 0, host)
    if (when === 'after') tfo.enableFastOpen(server, { queueLength: 64 })
    t.match(server.fastOpen, { enabled: true, active: true, queueLength: when === 'after' ? 64 : 256 })
    const get = () =>
      new Promise((resolve, reject) => {
        http
          .get({ port, host, createConnection: tfo.createConnection }, (res) => {
            let body = ''
            res.on('data', (d) => {
              body += d
            })
            res.on('end', () => resolve({ body, socket: res.socket }))
          })
          .on('error', reject)
      })
    t.equal((await get()).body, 'synData=false', `${when}: first request, normal handshake`)
    const second = await get()
    t.equal(second.body, 'synData=true', `${when}: returning request rode in the SYN`)
    t.equal(second.socket.fastOpen.synData, true)
    t.equal(tfo.fastOpenInfo(second.socket).synData, true)
  }
})

t.test('library stats count attempts, SYN data and server hits', async (t) => {
  tfo.resetStats()
  const { server } = tfoServer(t)
  const { port } = await listen(server, 0, '127.0.0.60')
  await exchange(port, '127.0.0.60', 'a')
  await exchange(port, '127.0.0.60', 'b')
  await exchange(port, '127.0.0.60', 'c', { fastOpen: false })
  const s = tfo.stats()
  t.match(s.client, { connections: 3, attempted: 2, cookieRequested: 1, cookieSent: 1, synDataAcked: 1 })
  t.equal(s.client.failures['cookie-unavailable'], 1)
  t.equal(s.client.notAttempted['disabled by the fastOpen: false option'], 1)
  t.match(s.server, { accepted: 3, synData: 1 })
})

t.test('socket.fastOpen on both ends: a read-only, non-enumerable snapshot that never changes once established', async (t) => {
  const host = '127.0.0.61'
  const accepted = []
  const server = tfo.createServer(
    sinkServer((s, data) => {
      accepted.push(s)
      return data
    }),
  )
  t.teardown(() => closeServer(server))
  const plainAccepted = []
  const plain = net.createServer(
    sinkServer((s, data) => {
      plainAccepted.push(s)
      return data
    }),
  )
  t.teardown(() => closeServer(plain))
  const { port } = await listen(server, 0, host)
  const { port: plainPort } = await listen(plain, 0, host)
  await exchange(port, host, 'cookie please')
  // 32 KiB: SYN data counts above 16 bits survive the socket's compact form.
  const big = Buffer.alloc(32 * 1024, 'x')
  const socket = tfo.connect({ port, host })
  t.equal(socket.fastOpen, null, 'null until established')
  socket.end(big)
  let atConnect = null
  socket.once('connect', () => {
    atConnect = socket.fastOpen
  })
  const r = await collect(socket)
  t.equal(r.data.length, big.length)

  const a = socket.fastOpen
  const b = socket.fastOpen
  t.not(a, b, 'a new object per read')
  t.same(a, b)
  t.same(atConnect, a, 'the same values at connect and after close')
  t.match(a, { role: 'client', attempted: true, synData: true, cookie: 'sent', synDataWithheld: false, failure: null, reason: null })
  t.ok(a.synDataBytes > 16 * 1024 && a.synDataBytes <= big.length, `SYN took ${a.synDataBytes} bytes`)
  t.equal(socket.bytesWritten, big.length, 'bytesWritten: the SYN part plus the rest')
  t.type(a.rttMs, 'number')
  t.notOk(Object.keys(socket).includes('fastOpen'), 'not an enumerable own property')
  t.throws(
    () => {
      socket.fastOpen = null
    },
    TypeError,
    "read-only (strict mode assignment throws, as for net's getters)",
  )

  const s = accepted[accepted.length - 1]
  const sa = s.fastOpen
  t.not(sa, s.fastOpen)
  t.same(sa, s.fastOpen)
  t.same(sa, { role: 'server', attempted: true, synData: true, rttMs: sa.rttMs })
  t.ok(sa.rttMs >= 0)
  t.throws(() => {
    s.fastOpen = null
  }, TypeError)
  t.same(tfo.fastOpenInfo(s), sa, 'tfo.fastOpenInfo() agrees')

  // A drop-in: an accepted socket has the same enumerable own keys as net's.
  const p = net.connect(plainPort, host)
  p.end('x')
  await collect(p)
  t.same(Object.keys(s).sort(), Object.keys(plainAccepted[0]).sort(), 'no extra enumerable keys on accepted sockets')
})

t.test('support() says both roles work here', async (t) => {
  t.equal(tfo.supported, true)
  t.equal(tfo.unsupportedReason, null)
  t.match(tfo.support(), { native: true, client: true, server: true, clientReason: null, serverReason: null, sysctl: { value: 3, client: true, server: true } })
})

t.test('every listen() form net has; TFO applied to each listening socket', async (t) => {
  const forms = [
    [{ port: 0, host: '127.0.0.1', backlog: 5 }],
    [0, '::', 10],
    [{ port: 0, host: '::', ipv6Only: true }],
    [{ port: 0, host: 'localhost', exclusive: true }],
    [0],
  ]
  for (const args of forms) {
    const server = tfo.createServer(sinkServer())
    await listen(server, ...args)
    t.match(server.fastOpen, { enabled: true, active: true }, `listen(${JSON.stringify(args)})`)
    const binding = require('./helpers/binding')
    const c = binding.constants
    t.equal(binding.getsockoptInt(server._handle.fd, c.IPPROTO_TCP, c.TCP_FASTOPEN), 256, 'queue length set on the listening fd')
    const { port, address } = server.address()
    const host = address === '::' ? '::1' : address === '0.0.0.0' ? '127.0.0.1' : address
    const r = await exchange(port, host, 'form')
    t.equal(r.data.toString(), 'form')
    await closeServer(server)
  }
  const ac = new AbortController()
  const server = tfo.createServer()
  await listen(server, { port: 0, host: '127.0.0.1', signal: ac.signal })
  ac.abort()
  await once(server, 'close')
  t.equal(server.listening, false, 'signal closes the server, as in net')

  // Listening again after close() applies TFO to the new socket, and the queue length is configurable.
  const again = tfo.createServer({ fastOpen: { queueLength: 1000 } }, sinkServer())
  await listen(again, 0, '127.0.0.1')
  await closeServer(again)
  await listen(again, 0, '127.0.0.1')
  t.match(again.fastOpen, { enabled: true, active: true, queueLength: 1000 })
  await closeServer(again)
})
