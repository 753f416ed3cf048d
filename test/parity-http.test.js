'use strict'
// tfo.http.Agent / tfo.https.Agent / tfo.undici.connector side by side with
// Node's own agents and undici's own connector: the same calls, the same
// results. Every comparison runs Node's and tfo's through one helper against
// the same server, so each check is "tfo's answer equals Node's answer".
// Runs in a private namespace with net.ipv4.tcp_fastopen=3 (TFO really on).
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const http = require('node:http')
const https = require('node:https')
const net = require('node:net')
const tls = require('node:tls')
const path = require('node:path')
const { once } = require('node:events')
const { spawn } = require('node:child_process')
const tfo = require('..')
const { listen, closeServer } = require('./helpers/util')
const { selfSigned } = require('./helpers/tls')

const ROOT = path.join(__dirname, '..')
const { key, cert } = selfSigned()
const HOST = '127.0.0.1'

const counts = (emitter) => {
  const o = {}
  for (const e of emitter.eventNames()) o[String(e)] = emitter.listenerCount(e)
  return o
}

function get(mod, options, body) {
  return new Promise((resolve, reject) => {
    const req = mod.request(options, (res) => {
      const chunks = []
      const socket = res.socket
      const resumed = typeof socket.isSessionReused === 'function' ? socket.isSessionReused() : null
      res.on('data', (d) => chunks.push(d))
      res.on('end', () => resolve({ req, res, body: Buffer.concat(chunks).toString(), socket, resumed }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

function httpServer(handler = (req, res) => res.end(`${req.method} ${req.url}`)) {
  const server = http.createServer(handler)
  tfo.enableFastOpen(server)
  return server
}

function httpsServer(handler = (req, res) => res.end(`${req.method} ${req.url}`)) {
  const server = https.createServer({ key, cert }, handler)
  tfo.enableFastOpen(server)
  return server
}

// CONNECT and upgrade answered by the server; then it echoes, and resets the
// connection when it reads 'reset'.
function tunnelServer(server) {
  const serve = (sock) => {
    sock.on('error', () => {})
    sock.on('end', () => sock.end())
    sock.on('data', (d) => {
      if (d.toString().includes('reset')) sock.resetAndDestroy()
      else sock.write(d)
    })
  }
  server.on('connect', (req, sock) => {
    sock.write('HTTP/1.1 200 Connection established\r\n\r\n')
    serve(sock)
  })
  server.on('upgrade', (req, sock) => {
    sock.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n')
    serve(sock)
  })
  return server
}

/**
 * The listeners tfo's socket classes themselves leave on a socket after an
 * exchange (data written while connecting, a reply read), beyond what the
 * same exchange leaves on net's / tls's: { event: extra count }. Those are
 * tfo.Socket's and tfo.tls's own, not the agents'. There must be none
 * (ownHooksInvisible); they are measured separately all the same, so that a
 * failure says whether the socket class or the agent left a listener.
 */
async function socketOwnExtra(secure, port) {
  const exchange = async (socket) => {
    socket.on('error', () => {})
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await once(socket, 'data')
    const c = counts(socket)
    socket.destroy()
    await once(socket, 'close')
    return c
  }
  const opts = { host: HOST, port, ca: cert, servername: 'localhost' }
  const plain = await exchange(secure ? tls.connect(opts) : net.connect(opts))
  const ours = await exchange(secure ? tfo.tls.connect(opts) : tfo.connect(opts))
  return difference(ours, plain)
}

/** The same, on a socket just created (still connecting, nothing written): what a request's 'socket' event sees. */
async function socketOwnExtraConnecting(secure, port) {
  const opts = { host: HOST, port, ca: cert, servername: 'localhost' }
  const at = async (socket) => {
    const c = counts(socket)
    socket.on('error', () => {})
    socket.destroy()
    await once(socket, 'close')
    return c
  }
  return difference(await at(secure ? tfo.tls.connect(opts) : tfo.connect(opts)), await at(secure ? tls.connect(opts) : net.connect(opts)))
}

function difference(ours, plain) {
  const extra = {}
  for (const e of new Set([...Object.keys(plain), ...Object.keys(ours)])) {
    const d = (ours[e] || 0) - (plain[e] || 0)
    if (d !== 0) extra[e] = d
  }
  return extra
}

/** tfo's counts must be Node's plus exactly what tfo's socket class itself leaves (`extra`), event by event. */
function sameListeners(t, label, ours, nodes, extra) {
  for (const e of new Set([...Object.keys(ours), ...Object.keys(nodes), ...Object.keys(extra)])) {
    t.equal(
      ours[e] || 0,
      (nodes[e] || 0) + (extra[e] || 0),
      `${label}: '${e}' listeners as Node's${extra[e] ? ` (+${extra[e]} of the socket class itself)` : ''}`,
    )
  }
}

function ownHooksInvisible(t, extra, what) {
  t.same(extra, {}, `${what}: no listeners of its own left on a socket handed to the user`)
}

t.test('Agent can be called without new, keeps instanceof and subclassing', async (t) => {
  for (const [name, ours, nodes] of [
    ['http', tfo.http.Agent, http.Agent],
    ['https', tfo.https.Agent, https.Agent],
  ]) {
    const a = ours({ keepAlive: true, maxSockets: 3 })
    const b = nodes({ keepAlive: true, maxSockets: 3 })
    t.ok(a instanceof ours, `${name}: Agent() is an instance of tfo's Agent`)
    t.ok(a instanceof nodes, `${name}: ... and of Node's Agent`)
    t.same({ ...a.options }, { ...b.options }, `${name}: agent.options as Node's`)
    t.same([a.keepAlive, a.maxSockets, a.defaultPort, a.protocol], [b.keepAlive, b.maxSockets, b.defaultPort, b.protocol])
    class Sub extends ours {
      constructor(o) {
        super(o)
        this.sub = true
      }
      getName(o) {
        return 'sub:' + super.getName(o)
      }
    }
    const s = new Sub({ fastOpen: { replay: 'none' } })
    t.ok(s instanceof Sub && s instanceof ours && s instanceof nodes && s.sub, `${name}: subclass`)
    t.equal(s.getName({ host: 'h', port: 1 }), 'sub:' + new nodes().getName({ host: 'h', port: 1 }))
    t.notOk('fastOpen' in s.options, `${name}: fastOpen is tfo's, not in agent.options`)
    t.throws(() => ours({ fastOpen: { replay: 'sometimes' } }), { code: 'ERR_INVALID_ARG_VALUE' })
    a.destroy()
    b.destroy()
  }
})

t.test("getName and agent.options as Node's", async (t) => {
  const samples = [
    {},
    { host: 'a', port: 80 },
    { host: 'a', port: 80, localAddress: '127.0.0.2', family: 4 },
    { socketPath: '/tmp/x' },
    { host: 'a', port: 443, ca: 'c', servername: 'b', rejectUnauthorized: false, minVersion: 'TLSv1.3' },
  ]
  for (const [name, ours, nodes] of [
    ['http', tfo.http.Agent, http.Agent],
    ['https', tfo.https.Agent, https.Agent],
  ]) {
    const opts = { keepAlive: true, keepAliveMsecs: 500, maxSockets: 2, maxFreeSockets: 1, scheduling: 'fifo', timeout: 1234 }
    const a = new ours({ ...opts, fastOpen: { noCookie: false } })
    const b = new nodes(opts)
    for (const s of samples) t.equal(a.getName(s), b.getName(s), `${name}: getName(${JSON.stringify(s)})`)
    t.same({ ...a.options }, { ...b.options }, `${name}: options`)
    t.equal(Object.getPrototypeOf(a.options), Object.getPrototypeOf(b.options))
  }
  // The global agents: Node's settings.
  t.same({ ...tfo.http.globalAgent.options }, { ...http.globalAgent.options }, 'tfo.http.globalAgent.options as http.globalAgent.options')
  t.same({ ...tfo.https.globalAgent.options }, { ...https.globalAgent.options }, 'tfo.https.globalAgent.options as https.globalAgent.options')
})

t.test("http createConnection: every form net.createConnection takes, with Node's results", async (t) => {
  const server = net.createServer((s) => {
    s.on('error', () => {})
    s.end('hi')
  })
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, HOST)
  const forms = [
    ['(port)', () => [port]],
    ['(String(port))', () => [String(port)]],
    ['(port, host)', () => [port, HOST]],
    ['(port, host, cb)', (cb) => [port, HOST, cb]],
    ['(port, cb)', (cb) => [port, cb]],
    ['(options)', () => [{ port, host: HOST }]],
    ['(options, cb)', (cb) => [{ port, host: HOST }, cb]],
  ]
  // What net.Socket.prototype.connect receives (as a wrapper, e.g. an APM agent's, sees it):
  // Node's agents call net.createConnection, which hands socket.connect() net's normalized arguments.
  const original = net.Socket.prototype.connect
  let seen = null
  net.Socket.prototype.connect = function (...args) {
    const a0 = args[0]
    seen ??= {
      count: args.length,
      normalized: Array.isArray(a0) && Object.getOwnPropertySymbols(a0).some((k) => a0[k] === true),
      callback: Array.isArray(a0) ? typeof a0[1] : typeof args[1],
    }
    return original.apply(this, args)
  }
  t.teardown(() => {
    net.Socket.prototype.connect = original
  })
  for (const [label, make] of forms) {
    const results = []
    for (const Agent of [http.Agent, tfo.http.Agent]) {
      const agent = new Agent()
      const calls = []
      seen = null
      const socket = agent.createConnection(...make((...a) => calls.push(a.length)))
      const connectArgs = seen
      const data = []
      let peer = null
      socket.once('connect', () => {
        peer = [socket.remoteAddress, socket.remotePort]
      })
      socket.on('data', (d) => data.push(d))
      await once(socket, 'close')
      results.push({ peer, calls, data: Buffer.concat(data).toString(), net: socket instanceof net.Socket, connectArgs })
      if (Agent === tfo.http.Agent) t.ok(socket instanceof tfo.Socket, `${label}: a tfo.Socket`)
    }
    t.same(results[1], results[0], `createConnection${label} as Node's (socket.connect got ${JSON.stringify(results[0].connectArgs)})`)
  }
  net.Socket.prototype.connect = original
  // Argument errors: the same, thrown the same way.
  for (const args of [[], [-1], [{}], [{ port: 'x' }]]) {
    const outcome = (Agent) => {
      try {
        const s = new Agent().createConnection(...args)
        s.on('error', () => {})
        s.destroy()
        return 'no throw'
      } catch (err) {
        return { code: err.code, name: err.name, message: err.message }
      }
    }
    t.same(outcome(tfo.http.Agent), outcome(http.Agent), `createConnection(${args.map((a) => JSON.stringify(a)).join(', ')}) fails as Node's`)
  }
  // An IPC path is net's.
  const ipcPath = path.join(require('node:os').tmpdir(), `tfo-parity-${process.pid}.sock`)
  const ipc = net.createServer((s) => s.end('ipc'))
  await listen(ipc, ipcPath)
  t.teardown(() => closeServer(ipc))
  for (const args of [[ipcPath], [{ path: ipcPath }]]) {
    const s = new tfo.http.Agent().createConnection(...args)
    const [d] = await once(s, 'data')
    t.equal(d.toString(), 'ipc', `createConnection(${JSON.stringify(args[0])}) over IPC`)
    s.destroy()
    await once(s, 'close')
  }
})

t.test("https createConnection: every form https.Agent takes, with Node's results", async (t) => {
  const server = tls.createServer({ key, cert }, (s) => {
    s.on('error', () => {})
    s.end(`sni=${s.servername}`)
  })
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, HOST)
  const tlsOpts = { ca: cert, servername: 'localhost' }
  const forms = [
    ['(options)', () => [{ port, host: HOST, ...tlsOpts }]],
    ['(port, host, options)', () => [port, HOST, { ...tlsOpts }]],
    ['(port, options)', () => [port, { host: HOST, ...tlsOpts }]],
    ['(options, cb)', (cb) => [{ port, host: HOST, ...tlsOpts }, cb]],
    ['(port, host, options, cb)', (cb) => [port, HOST, { ...tlsOpts }, cb]],
  ]
  for (const [label, make] of forms) {
    const results = []
    for (const Agent of [https.Agent, tfo.https.Agent]) {
      const agent = new Agent()
      const calls = []
      const socket = agent.createConnection(...make((...a) => calls.push(a.length)))
      const data = []
      let peer = null
      socket.once('secureConnect', () => {
        peer = [socket.remoteAddress, socket.remotePort]
      })
      socket.on('data', (d) => data.push(d))
      socket.on('error', (e) => data.push(Buffer.from(`error ${e.code}`)))
      await once(socket, 'close')
      results.push({ peer, calls, data: Buffer.concat(data).toString(), authorized: socket.authorized, tls: socket instanceof tls.TLSSocket })
    }
    t.same(results[1], results[0], `https createConnection${label} as Node's`)
  }
  // A port number alone: Node connects to localhost:port with no options.
  const results = []
  for (const Agent of [https.Agent, tfo.https.Agent]) {
    const socket = new Agent().createConnection(port)
    const r = await new Promise((resolve) => {
      socket.on('error', (e) => resolve({ code: e.code }))
      socket.on('secureConnect', () => resolve({ secure: true }))
    })
    socket.destroy()
    results.push(r)
  }
  t.same(results[1], results[0], "https createConnection(port) as Node's (no ERR_MISSING_ARGS)")
})

t.test('requests: keep-alive reuse, reusedSocket, socket event, sockets/freeSockets, maxSockets queue, destroy()', async (t) => {
  const server = httpServer()
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, HOST)
  const run = async (Agent) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const conns = []
    const onConn = (s) => conns.push(s.remotePort)
    server.on('connection', onConn)
    const seen = { socketEvents: 0, reused: [], shapes: [] }
    const one = (p) =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: HOST, port, path: p, agent }, (res) => {
          res.resume()
          res.on('end', () => resolve({ req, body: p }))
        })
        req.on('socket', (s) => {
          seen.socketEvents++
          seen.socketIsNet = s instanceof net.Socket
        })
        req.on('error', reject)
        req.end()
      })
    const all = Promise.all([one('/a'), one('/b'), one('/c')])
    seen.shapes.push({
      sockets: Object.keys(agent.sockets).map((k) => [k, agent.sockets[k].length]),
      requests: Object.keys(agent.requests).map((k) => [k, agent.requests[k].length]),
    })
    const done = await all
    await new Promise((resolve) => setImmediate(resolve))
    const last = await one('/d') // from the free pool
    seen.reused = [...done, last].map((d) => d.req.reusedSocket)
    await new Promise((resolve) => setImmediate(resolve))
    seen.shapes.push({
      sockets: Object.keys(agent.sockets).length,
      free: Object.keys(agent.freeSockets).map((k) => [k, agent.freeSockets[k].length]),
      total: agent.totalSocketCount,
    })
    const freeSocket = Object.values(agent.freeSockets)[0][0]
    agent.destroy()
    await once(freeSocket, 'close')
    seen.afterDestroy = { free: Object.keys(agent.freeSockets).length, sockets: Object.keys(agent.sockets).length, destroyed: freeSocket.destroyed }
    server.off('connection', onConn)
    seen.connections = conns.length
    return seen
  }
  const nodes = await run(http.Agent)
  const ours = await run(tfo.http.Agent)
  t.same(ours, nodes, "the same sockets, queueing, reuse and pool shape as Node's")
  t.equal(ours.connections, 1, 'maxSockets: 1 opened one connection')
  t.same(ours.reused, [false, false, false, true], 'queued requests are handed the freed socket; a later one reuses it from the pool')
})

t.test("request timeout and refused connections as Node's", async (t) => {
  const silent = net.createServer((s) => {
    s.on('error', () => {})
    s.resume()
  }) // accepts, reads, never answers
  t.teardown(() => closeServer(silent))
  const { port } = await listen(silent, 0, HOST)
  const closed = net.createServer()
  const { port: dead } = await listen(closed, 0, HOST)
  await closeServer(closed)
  for (const [name, mod, ours, nodes] of [
    ['http', http, tfo.http.Agent, http.Agent],
    ['https', https, tfo.https.Agent, https.Agent],
  ]) {
    const timeout = async (Agent) => {
      const events = []
      const req = mod.request({ host: HOST, port, agent: new Agent(), timeout: 50, ca: cert })
      req.on('timeout', () => {
        events.push('timeout')
        req.destroy()
      })
      req.on('error', (e) => events.push(`error ${e.code}`))
      req.on('close', () => events.push('close'))
      req.end()
      await new Promise((resolve) => req.on('close', resolve))
      return events
    }
    t.same(await timeout(ours), await timeout(nodes), `${name}: request timeout events`)
    const refused = async (Agent) => {
      const err = await get(mod, { host: HOST, port: dead, agent: new Agent(), ca: cert }).catch((e) => e)
      return { message: err.message, code: err.code, errno: err.errno, syscall: err.syscall, address: err.address, port: err.port }
    }
    const r = await refused(ours)
    t.same(r, await refused(nodes), `${name}: refused connection error as Node's`)
    t.match(r, { code: 'ECONNREFUSED', syscall: 'connect', address: HOST, port: dead, message: `connect ECONNREFUSED ${HOST}:${dead}` })
  }
})

t.test("CONNECT and upgrade: the handed-over socket has Node's listeners, mode and data", async (t) => {
  const server = tunnelServer(httpServer())
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, HOST)
  const secure = tunnelServer(httpsServer())
  t.teardown(() => closeServer(secure))
  const { port: sport } = await listen(secure, 0, HOST)
  const extra = await socketOwnExtra(false, port)
  const tlsExtra = await socketOwnExtra(true, sport)
  const early = await socketOwnExtraConnecting(false, port)
  const tlsEarly = await socketOwnExtraConnecting(true, sport)
  ownHooksInvisible(t, extra, 'tfo.Socket')
  ownHooksInvisible(t, tlsExtra, 'tfo.tls.connect')

  const handOver = async (mod, Agent, kind, p) => {
    const agent = new Agent({ ca: cert, servername: 'localhost' })
    const options =
      kind === 'connect'
        ? { host: HOST, port: p, method: 'CONNECT', path: 'example.test:1', agent }
        : { host: HOST, port: p, headers: { connection: 'upgrade', upgrade: 'echo' }, agent }
    const req = mod.request(options)
    let atSocket = null
    req.on('socket', (s) => {
      atSocket = counts(s)
    })
    req.end()
    const [, socket] = await once(req, kind)
    const state = { listeners: counts(socket), flowing: socket.readableFlowing, atSocket }
    // Paused until the user reads: data sent now is kept, not consumed by anyone.
    socket.write('ping')
    for (let i = 0; i < 200 && socket.readableLength === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    state.buffered = socket.readableLength
    const [d] = await once(socket, 'data')
    state.data = d.toString()
    socket.destroy()
    await once(socket, 'close')
    return state
  }
  for (const [name, mod, ours, nodes, p, ex, exEarly] of [
    ['http', http, tfo.http.Agent, http.Agent, port, extra, early],
    ['https', https, tfo.https.Agent, https.Agent, sport, tlsExtra, tlsEarly],
  ]) {
    for (const kind of ['connect', 'upgrade']) {
      const a = await handOver(mod, ours, kind, p)
      const b = await handOver(mod, nodes, kind, p)
      sameListeners(t, `${name} ${kind}`, a.listeners, b.listeners, ex)
      sameListeners(t, `${name} ${kind} at 'socket'`, a.atSocket, b.atSocket, exEarly)
      t.equal(a.listeners.error || 0, b.listeners.error || 0, `${name} ${kind}: no 'error' listener of tfo's`)
      t.equal(a.listeners.data || 0, 0, `${name} ${kind}: no 'data' listener`)
      t.same([a.flowing, a.buffered, a.data], [b.flowing, b.buffered, b.data], `${name} ${kind}: paused, data kept for the user, as Node's`)
    }
  }
})

// Runs a child that opens a CONNECT / upgrade through `which` agent, drops
// the request, writes 'reset' on the handed-over socket (no 'error' handler)
// and lets the server reset it: with Node's agent the process dies of the
// uncaught ECONNRESET; tfo's must do the same.
function crashChild(which, kind, secure) {
  const src = `
    const http = require('node:http'), https = require('node:https'), tfo = require(${JSON.stringify(ROOT)})
    const [which, kind, secure] = process.argv.slice(1)
    const mod = secure === '1' ? https : http
    const cert = Buffer.from(process.env.CERT, 'base64'), key = Buffer.from(process.env.KEY, 'base64')
    const server = secure === '1' ? https.createServer({ key, cert }) : http.createServer()
    // (TLS: the reset is made on the TCP socket under the TLS one.)
    let raw = null
    server.on('connection', (s) => { raw = s })
    const serve = (sock) => { sock.on('error', () => {}); sock.on('data', (d) => { if (String(d).includes('reset')) (secure === '1' ? raw : sock).resetAndDestroy() }) }
    server.on('connect', (req, sock) => { sock.write('HTTP/1.1 200 Connection established\\r\\n\\r\\n'); serve(sock) })
    server.on('upgrade', (req, sock) => { sock.write('HTTP/1.1 101 Switching Protocols\\r\\nConnection: Upgrade\\r\\nUpgrade: x\\r\\n\\r\\n'); serve(sock) })
    server.listen(0, '127.0.0.1', () => {
      const Agent = which === 'tfo' ? (secure === '1' ? tfo.https.Agent : tfo.http.Agent) : mod.Agent
      const agent = new Agent({ ca: cert, servername: 'localhost' })
      const port = server.address().port
      const req = mod.request(kind === 'connect'
        ? { host: '127.0.0.1', port, method: 'CONNECT', path: 'x:1', agent }
        : { host: '127.0.0.1', port, headers: { connection: 'upgrade', upgrade: 'x' }, agent })
      req.on(kind, (res, socket) => { socket.write('reset') })
      req.end()
      setTimeout(() => { console.log('survived'); process.exit(0) }, 5000)
    })`
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', src, which, kind, secure ? '1' : '0'], {
      env: { ...process.env, CERT: cert.toString('base64'), KEY: key.toString('base64') },
    })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.stderr.on('data', (d) => {
      out += d
    })
    child.on('close', (code) => {
      const error = /^(\w*Error): (.*)$/m.exec(out)
      const errCode = /code: '(\w+)'/.exec(out)
      resolve({ code, error: error && `${error[1]}: ${error[2]}`, errCode: errCode && errCode[1], survived: out.includes('survived') })
    })
  })
}

t.test("a reset on a handed-over socket with no error handler crashes the process, as with Node's agents", async (t) => {
  for (const secure of [false, true]) {
    for (const kind of ['connect', 'upgrade']) {
      const nodes = await crashChild('node', kind, secure)
      const ours = await crashChild('tfo', kind, secure)
      t.same(ours, nodes, `${secure ? 'https' : 'http'} ${kind}: same exit and error as Node's`)
      t.match(nodes, { code: 1, survived: false, errCode: 'ECONNRESET' }, "Node's own agent: uncaught ECONNRESET (the reference)")
    }
  }
})

t.test("https: sessions resume from the agent's cache (Node's own), servername, ClientHello in the SYN", async (t) => {
  const server = httpsServer((req, res) => {
    const info = tfo.fastOpenInfo(req.socket)
    res.end(JSON.stringify({ sni: req.socket.servername || null, syn: Boolean(info && info.synData) }))
  })
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, '127.0.0.30')
  const run = async (Agent) => {
    const agent = new Agent({ ca: cert, maxCachedSessions: 4 })
    const keys = []
    const a = await get(https, { host: '127.0.0.30', port, agent, servername: 'localhost' })
    keys.push(...agent._sessionCache.list)
    const b = await get(https, { host: '127.0.0.30', port, agent, servername: 'localhost' })
    const c = await get(https, { host: '127.0.0.30', port, agent, headers: { host: 'localhost' } })
    const ip = await get(https, { host: '127.0.0.30', port, agent: new Agent({ ca: cert }), rejectUnauthorized: false })
    return {
      first: [a.resumed, JSON.parse(a.body).sni],
      second: [b.resumed, JSON.parse(b.body).sni],
      hostHeader: JSON.parse(c.body).sni,
      ipHost: JSON.parse(ip.body).sni,
      keys,
      cached: agent._sessionCache.list.length,
      syn: JSON.parse(b.body).syn,
    }
  }
  const nodes = await run(https.Agent)
  const ours = await run(tfo.https.Agent)
  t.same({ ...ours, syn: null }, { ...nodes, syn: null }, "session reuse, cache keys and servername as Node's")
  t.same(ours.second, [true, 'localhost'], 'second request resumed the session')
  t.equal(ours.syn, true, 'tfo: the ClientHello of the resumed connection rode in the SYN')
  t.equal(nodes.syn, false)

  // A POST over HTTPS: the ClientHello rides too (the replay guard is about request bytes; TLS sends them after the handshake).
  const agent = new tfo.https.Agent({ ca: cert, servername: 'localhost' })
  await get(https, { host: '127.0.0.30', port, agent })
  const post = await get(https, { host: '127.0.0.30', port, agent, method: 'POST' }, 'x')
  t.equal(JSON.parse(post.body).syn, true, 'HTTPS POST: ClientHello in the SYN')
})

t.test("https: a request with its own checkServerIdentity is handled as Node's (no pooling, no session reuse)", async (t) => {
  const server = httpsServer()
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, '127.0.0.31')
  const run = async (Agent) => {
    const agent = new Agent({ ca: cert, servername: 'localhost', keepAlive: true })
    const checked = []
    const checkServerIdentity = (host, c) => {
      checked.push(host)
      return tls.checkServerIdentity(host, c)
    }
    const r1 = await get(https, { host: '127.0.0.31', port, agent })
    const r2 = await get(https, { host: '127.0.0.31', port, agent, checkServerIdentity })
    await new Promise((resolve) => setImmediate(resolve))
    const r3 = await get(https, { host: '127.0.0.31', port, agent, checkServerIdentity })
    await new Promise((resolve) => setImmediate(resolve))
    const out = {
      reused: [r1.req.reusedSocket, r2.req.reusedSocket, r3.req.reusedSocket],
      resumed: [r2.resumed, r3.resumed],
      checked: checked.length,
      free: Object.values(agent.freeSockets).reduce((n, l) => n + l.length, 0),
    }
    agent.destroy()
    return out
  }
  const nodes = await run(https.Agent)
  const ours = await run(tfo.https.Agent)
  t.same(ours, nodes, `Node ${process.version}: same pooling and resumption for per-request checkServerIdentity`)
})

t.test("proxyEnv: an agent given a proxy uses it exactly when Node's does", async (t) => {
  const seen = []
  const proxy = http.createServer((req, res) => {
    seen.push(req.url)
    res.end(`proxied ${req.url}`)
  })
  t.teardown(() => closeServer(proxy))
  const { port: pport } = await listen(proxy, 0, HOST)
  const target = httpServer()
  t.teardown(() => closeServer(target))
  const { port } = await listen(target, 0, '127.0.0.32')
  const proxyEnv = { HTTP_PROXY: `http://${HOST}:${pport}` }
  const nodes = await get(http, { host: '127.0.0.32', port, path: '/x', agent: new http.Agent({ proxyEnv }) })
  const viaProxy = seen.length === 1
  const ours = await get(http, { host: '127.0.0.32', port, path: '/x', agent: new tfo.http.Agent({ proxyEnv }) })
  t.equal(ours.body, nodes.body, `Node ${process.version} ${viaProxy ? 'proxies' : 'ignores proxyEnv'}; tfo's agent does the same`)
  t.equal(seen.length, viaProxy ? 2 : 0)
  t.equal(hasProxySupport(), viaProxy, 'kProxyConfig (lib/base/internals.ts) is found exactly when Node proxies')
})

function hasProxySupport() {
  return Object.getOwnPropertySymbols(new http.Agent({ proxyEnv: { HTTP_PROXY: 'http://127.0.0.1:1' } })).some((s) => s.description === 'kProxyConfig')
}

t.test('Node privates tfo.https.Agent relies on (lib/base/internals.ts) still mean what they meant', async (t) => {
  // https.Agent's session cache methods, keyed by the _agentKey createSocket computes.
  for (const m of ['_getSession', '_cacheSession', '_evictSession']) t.type(https.Agent.prototype[m], 'function', `https.Agent.prototype.${m}`)
  const server = httpsServer()
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, '127.0.0.33')
  const keys = []
  class Spy extends https.Agent {
    createConnection(options, cb) {
      keys.push(options._agentKey)
      return super.createConnection(options, cb)
    }
  }
  const agent = new Spy({ ca: cert, servername: 'localhost' })
  await get(https, { host: '127.0.0.33', port, agent })
  t.equal(keys[0], agent.getName({ host: '127.0.0.33', port, ca: cert, servername: 'localhost' }), 'options._agentKey is agent.getName(options)')
  t.ok(Buffer.isBuffer(agent._getSession(keys[0])), 'Node cached the session under _agentKey')
  agent._evictSession(keys[0])
  t.equal(agent._getSession(keys[0]), undefined, '_evictSession forgets it')
  // The per-request checkServerIdentity mark, where Node has it.
  const marks = []
  class Spy2 extends https.Agent {
    createConnection(options, cb) {
      marks.push(...Object.getOwnPropertySymbols(options).map((s) => s.description))
      return super.createConnection(options, cb)
    }
  }
  await get(https, { host: '127.0.0.33', port, agent: new Spy2({ ca: cert, servername: 'localhost' }), checkServerIdentity: () => undefined })
  const perRequest =
    typeof https.Agent.prototype.keepSocketAlive === 'function' && https.Agent.prototype.keepSocketAlive !== http.Agent.prototype.keepSocketAlive
  t.equal(
    marks.includes('per-request checkServerIdentity'),
    perRequest,
    `Node ${process.version}: the per-request checkServerIdentity mark ${perRequest ? 'is' : 'is not'} there, with that description`,
  )
})

t.test("undici connector: listeners as undici's own connector, and what tfo relies on in undici", async (t) => {
  const undici = require('undici')
  const server = httpServer()
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, HOST)
  const extra = await socketOwnExtra(false, port)

  const capture = (connect) => {
    const sockets = []
    const wrapped = (params, cb) => {
      const s = connect(params, (err, sock) => {
        cb(err, sock)
        if (sock) sockets.push({ socket: sock, connectingAfterCallback: sock.connecting, writtenInCallback: sock.writableLength })
      })
      return s
    }
    return { wrapped, sockets }
  }
  const run = async (connect) => {
    const { wrapped, sockets } = capture(connect)
    const agent = new undici.Agent({ connect: wrapped })
    const res = await undici.request(`http://${HOST}:${port}/u`, { dispatcher: agent })
    const body = await res.body.text()
    const { socket } = sockets[0]
    const c = counts(socket)
    await agent.close()
    return { body, counts: c, info: sockets[0] }
  }
  const nodes = await run(undici.buildConnector({}))
  const ours = await run(tfo.undici.connector())
  t.equal(ours.body, nodes.body)
  sameListeners(t, 'undici', ours.counts, nodes.counts, extra)
  // What tfo relies on: undici writes the request from inside the connector's
  // callback. tfo calls back while the socket is still connecting, so the
  // request is written then (held for the SYN).
  t.equal(ours.info.connectingAfterCallback, true, 'tfo calls back while connecting')
  t.ok(ours.info.writtenInCallback > 0, 'undici wrote the request from inside the callback (what the SYN carries)')
  // ... and the callback must not come synchronously from inside connect():
  // undici drops the resume made then, and writes nothing.
  const syncConnect = (params, cb) => {
    const s = net.connect({ host: params.hostname, port: Number(params.port) })
    s.on('error', () => {})
    syncConnect.socket = s
    cb(null, s)
    syncConnect.written = s.writableLength
    return s
  }
  const asyncConnect = (params, cb) => {
    const s = net.connect({ host: params.hostname, port: Number(params.port) })
    s.on('error', () => {})
    process.nextTick(() => {
      cb(null, s)
      asyncConnect.written = s.writableLength
    })
    return s
  }
  for (const [label, connect, wrote] of [
    ['synchronous', syncConnect, false],
    ['next-tick', asyncConnect, true],
  ]) {
    const agent = new undici.Agent({ connect })
    const p = undici.request(`http://${HOST}:${port}/s`, { dispatcher: agent }).then(
      (r) => r.body.text(),
      (e) => e,
    )
    await new Promise((resolve) => setImmediate(resolve))
    if (label === 'synchronous') t.equal(connect.socket.bytesWritten, 0, 'nothing written by the next turn of the loop either')
    t.equal(
      connect.written > 0,
      wrote,
      `undici ${label === 'synchronous' ? 'writes nothing after a synchronous callback' : 'writes the request inside a next-tick callback'}`,
    )
    await agent.destroy()
    await p
  }
})

t.test("undici connector options as undici's own: socketPath, predicate sees the request line", async (t) => {
  const undici = require('undici')
  const ipcPath = path.join(require('node:os').tmpdir(), `tfo-parity-undici-${process.pid}.sock`)
  const ipc = httpServer((req, res) => res.end(`ipc ${req.method} ${req.url}`))
  await listen(ipc, ipcPath)
  t.teardown(() => closeServer(ipc))
  const bodies = []
  for (const connect of [undici.buildConnector({ socketPath: ipcPath }), tfo.undici.connector({ socketPath: ipcPath })]) {
    const agent = new undici.Agent({ connect })
    const res = await undici.request('http://127.0.0.1:1/over-ipc', { dispatcher: agent })
    bodies.push(await res.body.text())
    await agent.close()
  }
  t.same(bodies, ['ipc GET /over-ipc', 'ipc GET /over-ipc'], "socketPath: the request went over the Unix socket, as with undici's connector")

  const server = httpServer()
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, '127.0.0.34')
  const seen = []
  const agent = new undici.Agent({
    connect: tfo.undici.connector({
      fastOpen: {
        replay: (r) => {
          seen.push(r)
          return true
        },
      },
    }),
  })
  t.teardown(() => agent.close())
  for (let i = 0; i < 2; i++) {
    // the first one fetches the cookie: nothing to decide then
    const res = await undici.request(`http://127.0.0.34:${port}/path?x=1`, { method: 'PATCH', body: 'b', dispatcher: agent, reset: true })
    t.equal(await res.body.text(), 'PATCH /path?x=1')
  }
  t.match(
    seen,
    [{ method: 'PATCH', path: '/path?x=1', host: '127.0.0.34', port, retry: false }],
    'the predicate is told the method and path of the request line',
  )
})

t.test('public surface: runtime exports and generated types of tfo/http, tfo/https, tfo/undici', async (t) => {
  const fs = require('node:fs')
  const os = require('node:os')
  const { spawnSync } = require('node:child_process')
  t.same(Object.keys(tfo.http).sort(), ['Agent', 'IDEMPOTENT_METHODS', 'globalAgent'])
  t.same(Object.keys(tfo.https).sort(), ['Agent', 'globalAgent'])
  t.same(Object.keys(tfo.undici).sort(), ['connector'])
  const dts = ['http', 'https', 'undici', 'replay'].map((m) => fs.readFileSync(path.join(ROOT, 'dist', 'http', `${m}.d.ts`), 'utf8')).join('\n')
  for (const internal of [
    'Failures',
    'ownCopy',
    'createSocketWithGuard',
    'kOrigin',
    'AgentInternalOptions',
    'CreateSocket',
    'Policy',
    'normalizePolicy',
    'httpFastOpen',
    'parseRequestLine',
    'AgentFastOpen',
  ]) {
    t.notMatch(dts, new RegExp(`\\b${internal}\\b`), `${internal} is not in the public types`)
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-types-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const dist = path.join(ROOT, 'dist')
  fs.writeFileSync(
    path.join(dir, 'consumer.ts'),
    `
import * as tfoHttp from ${JSON.stringify(path.join(dist, 'http', 'http'))};
import * as tfoHttps from ${JSON.stringify(path.join(dist, 'http', 'https'))};
import type { Agent as HttpAgent, AgentOptions, AgentFastOpenOptions, ReplayPolicy, ReplayInfo } from ${JSON.stringify(path.join(dist, 'http', 'http'))};
import * as http from 'node:http';
import * as https from 'node:https';
import type { Duplex } from 'node:stream';
const a: HttpAgent = new tfoHttp.Agent({ keepAlive: true, fastOpen: { replay: 'idempotent' } });
const b: HttpAgent = tfoHttp.Agent({ fastOpen: false });
const c: http.Agent = a;
class Sub extends tfoHttp.Agent { extra = 1 }
const s: HttpAgent = new Sub();
const d1: Duplex = a.createConnection(80, 'h');
const d2: Duplex = a.createConnection({ host: 'h', port: 80 });
const d3: Duplex = a.createConnection('/tmp/s');
const h: https.Agent = tfoHttps.Agent({ ca: 'x', fastOpen: { noCookie: true } });
const d4: Duplex = new tfoHttps.Agent().createConnection(443, 'h', { servername: 'x' });
const policy: ReplayPolicy = (r: ReplayInfo) => r.method === 'GET' && !r.retry;
const o: AgentOptions = { fastOpen: { replay: policy } as AgentFastOpenOptions };
const idem: ReadonlySet<string> = tfoHttp.IDEMPOTENT_METHODS;
const g: HttpAgent = tfoHttp.globalAgent;
// @ts-expect-error not exported
tfoHttp.Failures;
void [a, b, c, s, d1, d2, d3, h, d4, o, idem, g];
`,
  )
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        module: 'commonjs',
        target: 'ES2022',
        moduleResolution: 'node',
        types: ['node'],
        typeRoots: [path.join(ROOT, 'node_modules', '@types')],
        skipLibCheck: false,
      },
      files: ['consumer.ts'],
    }),
  )
  const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc', { paths: [ROOT] }), '-p', dir, '--pretty', 'false'], {
    encoding: 'utf8',
    timeout: 120_000,
  })
  t.equal(r.status, 0, 'a TypeScript consumer compiles: callable Agent, subclass, every createConnection form', { output: r.stdout + r.stderr })
})
