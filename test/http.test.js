'use strict'
// Every way Node speaks HTTP rides the SYN: tfo.http.Agent / tfo.https.Agent
// with the replay guard, tfo.tls.connect (ClientHello in the SYN), the undici
// connector (and global fetch), and TFO on express, fastify, https, http2 and
// tls servers. Proven from the server side (TCP_INFO SYN_DATA on the accepted
// connection), in a private namespace with tcp_fastopen=3.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const http = require('node:http')
const https = require('node:https')
const http2 = require('node:http2')
const tls = require('node:tls')
const net = require('node:net')
const crypto = require('node:crypto')
const { once } = require('node:events')
const tfo = require('..')
const { listen, closeServer, collect } = require('./helpers/util')
const { selfSigned } = require('./helpers/tls')

const { key, cert } = selfSigned()
const BIG = crypto.randomBytes(100000).toString('base64')

// Replies with the method, the body length and whether this connection's SYN carried data.
function handler(req, res) {
  let n = 0
  req.on('data', (d) => {
    n += d.length
  })
  req.on('end', () => {
    const info = tfo.fastOpenInfo(req.socket)
    res.setHeader('x-syn-data', String(info && info.synData))
    res.setHeader('content-type', 'text/plain')
    res.end(req.url === '/big' ? BIG : `${req.method} ${n}`)
  })
}

function request(mod, options, body) {
  return new Promise((resolve, reject) => {
    const req = mod.request(options, (res) => {
      const chunks = []
      res.on('data', (d) => chunks.push(d))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString(), socket: res.socket }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

t.test('tfo.http.Agent: GET rides the SYN, POST waits for the handshake, responses identical to Node', async (t) => {
  const server = http.createServer(handler)
  t.teardown(() => closeServer(server))
  tfo.enableFastOpen(server)
  const { port } = await listen(server, 0, '127.0.0.30')
  const agent = new tfo.http.Agent()
  const go = (method, path = '/', body) => request(http, { host: '127.0.0.30', port, method, path, agent }, body)

  const first = await go('GET')
  t.equal(first.headers['x-syn-data'], 'false', 'first contact: normal handshake')
  const get = await go('GET')
  t.equal(get.headers['x-syn-data'], 'true', 'returning GET: the request was in the SYN')
  t.match(get.socket.fastOpen, { synData: true, cookie: 'sent', synDataWithheld: false })
  const post = await go('POST', '/', 'payload')
  t.equal(post.body, 'POST 7')
  t.equal(post.headers['x-syn-data'], 'false', 'POST: not in the SYN by default (replay guard)')
  t.match(post.socket.fastOpen, { attempted: true, cookie: 'sent', synDataWithheld: true, synData: false })
  for (const method of ['HEAD', 'OPTIONS', 'PUT', 'DELETE']) {
    const r = await go(method, '/', method === 'PUT' ? 'x' : undefined)
    t.equal(r.headers['x-syn-data'], 'true', `${method} is idempotent: in the SYN`)
  }
  const patch = await go('PATCH', '/', 'p')
  t.equal(patch.headers['x-syn-data'], 'false', 'PATCH waits')

  // byte-identical responses through Node's own agent and through tfo's
  const plainAgent = new http.Agent()
  const a = await request(http, { host: '127.0.0.30', port, path: '/big', agent: plainAgent })
  const b = await go('GET', '/big')
  t.equal(b.body, a.body)
  t.equal(b.status, a.status)
  delete a.headers.date
  delete b.headers.date
  delete a.headers['x-syn-data']
  delete b.headers['x-syn-data']
  t.same(b.headers, a.headers)

  const all = new tfo.http.Agent({ fastOpen: { replay: 'all' } })
  const p2 = await request(http, { host: '127.0.0.30', port, method: 'POST', agent: all }, 'x')
  t.equal(p2.headers['x-syn-data'], 'true', "replay: 'all' lets POST ride")
  const seen = []
  const pred = new tfo.http.Agent({
    fastOpen: {
      replay: (r) => {
        seen.push(r)
        return r.path === '/ok'
      },
    },
  })
  t.equal((await request(http, { host: '127.0.0.30', port, method: 'POST', path: '/ok', agent: pred }, 'x')).headers['x-syn-data'], 'true')
  t.equal((await request(http, { host: '127.0.0.30', port, method: 'GET', path: '/no', agent: pred })).headers['x-syn-data'], 'false')
  t.match(seen[0], { method: 'POST', host: '127.0.0.30', port, path: '/ok', retry: false })
  const off = new tfo.http.Agent({ fastOpen: false })
  const r = await request(http, { host: '127.0.0.30', port, agent: off })
  t.match(r.socket.fastOpen, { attempted: false })
  t.throws(() => new tfo.http.Agent({ fastOpen: { replay: 'sometimes' } }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => new tfo.http.Agent({ fastOpen: { replay: 1 } }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => new tfo.http.Agent({ fastOpen: { retryWindowMs: -1 } }), { code: 'ERR_OUT_OF_RANGE' })
})

t.test('keep-alive pooling is unchanged: one TFO connection, many requests', async (t) => {
  const server = http.createServer(handler)
  t.teardown(() => closeServer(server))
  tfo.enableFastOpen(server)
  const { port } = await listen(server, 0, '127.0.0.31')
  const agent = new tfo.http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  let sockets = 0
  server.on('connection', () => sockets++)
  for (let i = 0; i < 5; i++) await request(http, { host: '127.0.0.31', port, agent })
  t.equal(sockets, 1)
})

t.test('agents never change an options object the caller owns', async (t) => {
  const server = tfo.createServer((s) => s.end())
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, '127.0.0.41')
  for (const Agent of [tfo.http.Agent, tfo.https.Agent]) {
    const agent = new Agent()
    const opts = { host: '127.0.0.41', port, rejectUnauthorized: false }
    const before = { ...opts }
    const socket = agent.createConnection(opts)
    socket.on('error', () => {}) // the TLS handshake with a plain server fails; not the point here
    t.same(opts, before, `${Agent === tfo.http.Agent ? 'http' : 'https'}: createConnection left the caller's object as it was`)
    t.same(Object.getOwnPropertySymbols(opts), [])
    socket.destroy()
    await once(socket, 'close')
  }
  // Node's own per-request copies (null prototype) are what the agent adds its keys to.
  const agent = new tfo.http.Agent()
  const server2 = http.createServer(handler)
  tfo.enableFastOpen(server2)
  t.teardown(() => closeServer(server2))
  const { port: p2 } = await listen(server2, 0, '127.0.0.41')
  const reqOpts = { host: '127.0.0.41', port: p2, agent }
  const frozen = JSON.stringify(reqOpts, (k, v) => (k === 'agent' ? undefined : v))
  await request(http, reqOpts)
  t.equal(
    JSON.stringify(reqOpts, (k, v) => (k === 'agent' ? undefined : v)),
    frozen,
    'http.request options untouched',
  )
  t.same(Object.getOwnPropertySymbols(reqOpts), [])
})

t.test('a retry (first connection after a failure to the origin) waits for the handshake', async (t) => {
  let server = http.createServer(handler)
  tfo.enableFastOpen(server)
  const { port } = await listen(server, 0, '127.0.0.32')
  const agent = new tfo.http.Agent()
  await request(http, { host: '127.0.0.32', port, agent }) // cookie
  t.equal((await request(http, { host: '127.0.0.32', port, agent })).headers['x-syn-data'], 'true')
  await closeServer(server)
  await t.rejects(request(http, { host: '127.0.0.32', port, agent }), { code: 'ECONNREFUSED', syscall: 'connect' })
  server = http.createServer(handler)
  tfo.enableFastOpen(server)
  t.teardown(() => closeServer(server))
  await listen(server, port, '127.0.0.32')
  const retry = await request(http, { host: '127.0.0.32', port, agent })
  t.equal(retry.headers['x-syn-data'], 'false', 'the retry did not put the request in the SYN')
  t.match(retry.socket.fastOpen, { synDataWithheld: true })
  const after = await request(http, { host: '127.0.0.32', port, agent })
  t.equal(after.headers['x-syn-data'], 'true', 'once a response came back, requests ride again')
})

t.test('retry state: ended by an answer on a connection still open (keep-alive), kept by a failure, per agent', async (t) => {
  let server = http.createServer(handler)
  tfo.enableFastOpen(server)
  const { port } = await listen(server, 0, '127.0.0.40')
  const agent = new tfo.http.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const other = new tfo.http.Agent()
  const go = (a = agent) => request(http, { host: '127.0.0.40', port, agent: a })
  await go() // cookie
  agent.destroy() // no pooled connection: the next request opens one
  t.equal((await go()).headers['x-syn-data'], 'true')
  agent.destroy()
  await closeServer(server)
  await t.rejects(go(), { code: 'ECONNREFUSED', syscall: 'connect' })
  server = http.createServer(handler)
  tfo.enableFastOpen(server)
  t.teardown(() => closeServer(server))
  await listen(server, port, '127.0.0.40')
  t.equal((await go(other)).headers['x-syn-data'], 'true', 'another agent has its own memory: not a retry there')
  const retry = await go()
  t.equal(retry.headers['x-syn-data'], 'false', 'the retry waits for the handshake')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(Object.values(agent.freeSockets).flat().length, 1, 'the retry connection stays open in the pool')
  // Two at once: one takes the pooled connection, the other opens a new one,
  // which rides again: the answer on the open retry connection ended the retry state.
  const [a, b] = await Promise.all([go(), go()])
  t.same([a.headers['x-syn-data'], b.headers['x-syn-data']].sort(), ['false', 'true'], 'a new connection rides again after the answer')
})

t.test('replay decided from the request line: custom methods, CONNECT, a throwing predicate', async (t) => {
  const server = http.createServer(handler)
  server.on('connect', (req, sock) => {
    const info = tfo.fastOpenInfo(sock)
    sock.end(`HTTP/1.1 200 OK\r\nx-syn-data: ${info && info.synData}\r\n\r\n`)
  })
  t.teardown(() => closeServer(server))
  tfo.enableFastOpen(server)
  const { port } = await listen(server, 0, '127.0.0.42')
  const agent = new tfo.http.Agent()
  await request(http, { host: '127.0.0.42', port, agent }) // cookie
  t.equal(
    (await request(http, { host: '127.0.0.42', port, agent, method: 'get' })).headers['x-syn-data'],
    'true',
    'a lower-case method is sent (and judged) as Node writes it: GET',
  )
  t.equal((await request(http, { host: '127.0.0.42', port, agent, method: 'PROPFIND' })).headers['x-syn-data'], 'false', 'an unknown method waits')
  const connect = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.42', port, agent, method: 'CONNECT', path: 'example.test:443' })
    req.on('connect', (res, sock) => {
      sock.destroy()
      resolve(res.headers['x-syn-data'])
    })
    req.on('error', reject)
    req.end()
  })
  t.equal(connect, 'false', 'CONNECT waits for the handshake')
  const seen = []
  const throwing = new tfo.http.Agent({
    fastOpen: {
      replay: (r) => {
        seen.push(r)
        throw new Error('no')
      },
    },
  })
  t.equal(
    (await request(http, { host: '127.0.0.42', port, agent: throwing, path: '/p?q=1' })).headers['x-syn-data'],
    'false',
    'a throwing predicate keeps the request out of the SYN',
  )
  t.match(seen, [{ method: 'GET', path: '/p?q=1', host: '127.0.0.42', port, retry: false }])
  const none = new tfo.http.Agent({ fastOpen: { replay: 'none', noCookie: false } })
  const r = await request(http, { host: '127.0.0.42', port, agent: none })
  t.equal(r.headers['x-syn-data'], 'false')
  t.match(r.socket.fastOpen, { attempted: true, cookie: 'sent', synDataWithheld: true }, "replay: 'none' still sends the cookie")
})

t.test('tfo.tls.connect and tfo.https.Agent: the ClientHello rides the SYN, sessions resume', async (t) => {
  const server = https.createServer({ key, cert }, handler)
  t.teardown(() => closeServer(server))
  tfo.enableFastOpen(server)
  const { port } = await listen(server, 0, '127.0.0.33')

  const s1 = tfo.tls.connect({ host: '127.0.0.33', port, ca: cert, servername: 'localhost' })
  await once(s1, 'secureConnect')
  t.match(s1.fastOpen, { attempted: true, cookie: 'requested', synData: false })
  s1.end()
  await once(s1, 'close')
  const s2 = tfo.tls.connect(port, '127.0.0.33', { ca: cert, servername: 'localhost' })
  const events = []
  s2.on('connect', () => events.push('connect'))
  await once(s2, 'secureConnect')
  events.push('secureConnect')
  t.match(s2.fastOpen, { attempted: true, cookie: 'sent', synData: true }, 'ClientHello acknowledged in the SYN')
  t.same(events, ['connect', 'secureConnect'])
  t.equal(s2.authorized, true)
  s2.end()
  await once(s2, 'close')

  const agent = new tfo.https.Agent({ ca: cert, servername: 'localhost', maxCachedSessions: 10 })
  const a = await request(https, { host: '127.0.0.33', port, agent })
  t.equal(a.body, 'GET 0')
  const b = await request(https, { host: '127.0.0.33', port, agent })
  t.equal(b.headers['x-syn-data'], 'true', 'server: the ClientHello came in the SYN')
  t.equal(b.socket.isSessionReused(), true, 'TLS session resumption keeps working')
  t.match(b.socket.fastOpen, { synData: true })
  const c = await request(https, { host: '127.0.0.33', port, agent, method: 'POST' }, 'abc')
  t.equal(c.body, 'POST 3', 'HTTPS POST works (ClientHello in the SYN, request after the TLS handshake)')

  // errors keep tls.connect's shape
  const closed = net.createServer()
  const { port: dead } = await listen(closed, 0, '127.0.0.33')
  await closeServer(closed)
  const plain = await collect(tls.connect({ host: '127.0.0.33', port: dead, ca: cert }))
  const ours = await collect(tfo.tls.connect({ host: '127.0.0.33', port: dead, ca: cert }))
  t.match(ours.error, { code: 'ECONNREFUSED', syscall: 'connect', address: '127.0.0.33', port: dead, message: plain.error.message })
  t.same(ours.events, plain.events)
})

t.test('undici connector: GET in the SYN, POST after the handshake, global fetch, https', async (t) => {
  const undici = require('undici')
  const server = http.createServer(handler)
  t.teardown(() => closeServer(server))
  tfo.enableFastOpen(server)
  const { port } = await listen(server, 0, '127.0.0.34')
  const agent = new undici.Agent({ connect: tfo.undici.connector() })
  t.teardown(() => agent.close())
  const go = async (method, body) => {
    const res = await undici.request(`http://127.0.0.34:${port}/`, { method, body, dispatcher: agent, reset: true })
    return { syn: res.headers['x-syn-data'], body: await res.body.text() }
  }
  t.same(await go('GET'), { syn: 'false', body: 'GET 0' })
  t.same(await go('GET'), { syn: 'true', body: 'GET 0' }, 'undici request rode in the SYN')
  t.same(await go('POST', 'hello'), { syn: 'false', body: 'POST 5' }, 'POST withheld')
  t.same(await go('DELETE'), { syn: 'true', body: 'DELETE 0' })

  const previous = undici.getGlobalDispatcher()
  undici.setGlobalDispatcher(new undici.Agent({ connect: tfo.undici.connector() }))
  t.teardown(() => undici.setGlobalDispatcher(previous))
  const r = await fetch(`http://127.0.0.34:${port}/fetch`, { headers: { connection: 'close' } })
  t.equal(r.headers.get('x-syn-data'), 'true', "Node's built-in fetch through the global dispatcher")
  t.equal(await r.text(), 'GET 0')

  // a refused connection fails the request with the connect error, as with undici's own connector
  const closed = net.createServer()
  const { port: dead } = await listen(closed, 0, '127.0.0.34')
  await closeServer(closed)
  const own = new undici.Agent()
  t.teardown(() => own.close())
  const e1 = await undici.request(`http://127.0.0.34:${dead}/`, { dispatcher: own }).catch((e) => e)
  const e2 = await undici.request(`http://127.0.0.34:${dead}/`, { dispatcher: agent }).catch((e) => e)
  t.match(e2, { code: e1.code, syscall: 'connect', address: '127.0.0.34', port: dead })

  const tlsServer = https.createServer({ key, cert }, handler)
  t.teardown(() => closeServer(tlsServer))
  tfo.enableFastOpen(tlsServer)
  const { port: sport } = await listen(tlsServer, 0, '127.0.0.35')
  const secure = new undici.Agent({ connect: tfo.undici.connector({ ca: cert, servername: 'localhost' }) })
  t.teardown(() => secure.close())
  const h1 = await undici.request(`https://127.0.0.35:${sport}/`, { dispatcher: secure, reset: true })
  await h1.body.text()
  const h2 = await undici.request(`https://127.0.0.35:${sport}/`, { dispatcher: secure, reset: true })
  t.equal(h2.headers['x-syn-data'], 'true', 'undici https: the ClientHello rode in the SYN')
  t.equal(await h2.body.text(), 'GET 0')
})

t.test('servers: express, fastify, https, http2 and tls each get TFO with one line', async (t) => {
  const express = require('express')
  const app = express()
  app.get('/', (req, res) => res.send(`express synData=${tfo.fastOpenInfo(req.socket).synData}`))
  const cases = []
  {
    const server = app.listen(0, '127.0.0.36')
    tfo.enableFastOpen(server) // the one line
    await once(server, 'listening')
    cases.push({ name: 'express (app.listen)', server, host: '127.0.0.36', mod: http, agent: new tfo.http.Agent(), expect: /express synData=true/ })
  }
  {
    // fastify with a serverFactory: TFO from the start
    const fastify = require('fastify')({
      serverFactory: (handler) => {
        const server = http.createServer(handler)
        tfo.enableFastOpen(server) // the one line
        return server
      },
    })
    fastify.get('/', async (req) => `fastify-factory synData=${tfo.fastOpenInfo(req.raw.socket).synData}`)
    await fastify.listen({ port: 0, host: '127.0.0.36' })
    t.teardown(() => fastify.close())
    cases.push({
      name: 'fastify (serverFactory)',
      server: fastify.server,
      host: '127.0.0.36',
      mod: http,
      agent: new tfo.http.Agent(),
      expect: /fastify-factory synData=true/,
      noClose: true,
    })
  }
  {
    const fastify = require('fastify')()
    fastify.get('/', async (req) => `fastify synData=${tfo.fastOpenInfo(req.raw.socket).synData}`)
    tfo.enableFastOpen(fastify.server) // the one line
    await fastify.listen({ port: 0, host: '127.0.0.37' })
    t.teardown(() => fastify.close())
    cases.push({
      name: 'fastify (fastify.server)',
      server: fastify.server,
      host: '127.0.0.37',
      mod: http,
      agent: new tfo.http.Agent(),
      expect: /fastify synData=true/,
      noClose: true,
    })
  }
  {
    const server = https.createServer({ key, cert }, (req, res) => res.end(`https synData=${tfo.fastOpenInfo(req.socket).synData}`))
    tfo.enableFastOpen(server)
    await listen(server, 0, '127.0.0.38')
    cases.push({
      name: 'https.createServer',
      server,
      host: '127.0.0.38',
      mod: https,
      agent: new tfo.https.Agent({ ca: cert, servername: 'localhost' }),
      expect: /https synData=true/,
    })
  }
  for (const c of cases) {
    if (!c.noClose) t.teardown(() => closeServer(c.server))
    const { port } = c.server.address()
    await request(c.mod, { host: c.host, port, agent: c.agent }) // cookie
    const r = await request(c.mod, { host: c.host, port, agent: c.agent })
    t.match(r.body, c.expect, `${c.name}: returning request/ClientHello in the SYN`)
  }

  // http2 (TLS, ALPN h2): the ClientHello rides the SYN
  const h2server = http2.createSecureServer({ key, cert }, (req, res) => res.end(`h2 synData=${tfo.fastOpenInfo(req.socket).synData}`))
  tfo.enableFastOpen(h2server)
  t.teardown(() => closeServer(h2server))
  const { port: h2port } = await listen(h2server, 0, '127.0.0.39')
  const h2get = () =>
    new Promise((resolve, reject) => {
      const session = http2.connect(`https://127.0.0.39:${h2port}`, {
        createConnection: () => tfo.tls.connect({ host: '127.0.0.39', port: h2port, ca: cert, servername: 'localhost', ALPNProtocols: ['h2'] }),
      })
      session.on('error', reject)
      const req = session.request({ ':path': '/' })
      let body = ''
      req.on('data', (d) => {
        body += d
      })
      req.on('end', () => {
        session.close()
        resolve(body)
      })
      req.end()
    })
  await h2get()
  t.equal(await h2get(), 'h2 synData=true', 'http2.createSecureServer: returning ClientHello in the SYN')

  // tls.createServer
  const tlsServer = tls.createServer({ key, cert }, (s) => s.end(`tls synData=${tfo.fastOpenInfo(s).synData}`))
  tfo.enableFastOpen(tlsServer)
  t.teardown(() => closeServer(tlsServer))
  const { port: tport } = await listen(tlsServer, 0, '127.0.0.39')
  const tlsGet = async () => {
    const s = tfo.tls.connect({ host: '127.0.0.39', port: tport, ca: cert, servername: 'localhost' })
    const r = await collect(s)
    return r.data.toString()
  }
  await tlsGet()
  t.equal(await tlsGet(), 'tls synData=true', 'tls.createServer: returning ClientHello in the SYN')
})
