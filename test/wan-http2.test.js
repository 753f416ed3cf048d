'use strict'
// tfo.http2.connect on a real (emulated) 50 ms path. On loopback the whole
// handshake completes inside the first write, so what h2c's hand-off of a
// deferred connect to the session means is only visible here: 'connect'
// still waits for the connection (a round trip), the request made before it
// rides in the SYN with the preface (the response comes one round trip after
// connect(), not two), 'connect' comes at the SYN-ACK even from a silent
// peer, and a refused connection whose SYN carried the preface still fails
// as http2.connect's does.
const t = require('tap')
const path = require('node:path')

if (require('./helpers/wan').skipWithoutWanRoot(t)) return

const { createWan } = require('../bench/lib/wan')
const { makeCert } = require('../bench/lib/tls')
const ROOT = path.join(__dirname, '..')
const RTT = 50

const SERVER = `
const fs = require('fs')
const http2 = require('http2')
const tfo = require(${JSON.stringify(ROOT)})
const [key, cert, host] = process.argv.slice(1)
const onStream = (stream, headers) => {
  console.log(JSON.stringify({ path: headers[':path'], synData: tfo.fastOpenInfo(stream.session.socket).synData }))
  stream.respond({ ':status': 200 })
  stream.end('ok ' + headers[':path'])
}
const h2c = http2.createServer().on('stream', onStream)
const secure = http2.createSecureServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }).on('stream', onStream)
tfo.enableFastOpen(h2c)
tfo.enableFastOpen(secure)
// Accepts (with TFO) and never sends a byte: not an HTTP/2 server, but a connection.
const silent = tfo.createServer((s) => { s.resume(); s.on('error', () => {}) })
h2c.listen(7000, host, () => secure.listen(7443, host, () => silent.listen(7001, host, () => console.log(JSON.stringify({ listening: true })))))
`

// Sessions in the client namespace, one JSON line each.
const CLIENT = `
const http2 = require('http2')
const tfo = require(${JSON.stringify(ROOT)})
const [host, ca] = process.argv.slice(1)
const opts = { ca: require('fs').readFileSync(ca) }
function run (name, mod, url, { request = 'now' } = {}) {
  return new Promise((done) => {
    const t0 = process.hrtime.bigint()
    const ms = () => Number(process.hrtime.bigint() - t0) / 1e6
    const r = { name, timeline: [] }
    const s = mod.connect(url, opts)
    const req = () => {
      const q = s.request({ ':path': '/' + name })
      let body = ''
      for (const e of ['ready', 'response', 'close']) q.on(e, () => r.timeline.push('stream:' + e))
      q.on('response', () => { r.ttfbMs = ms() })
      q.on('error', (e) => { r.timeline.push('stream:error'); r.streamError = e.code })
      q.on('data', (d) => { body += d })
      q.on('close', () => { r.body = body; if (!s.destroyed) s.close() })
      q.end()
    }
    s.on('connect', () => { r.connectMs = ms(); if (request === 'onConnect') req(); if (request === 'none') s.destroy() })
    for (const e of ['connect', 'remoteSettings', 'close']) s.on(e, () => r.timeline.push(e))
    s.on('error', (e) => { r.timeline.push('error'); r.error = { code: e.code, syscall: e.syscall, message: e.message, address: e.address, port: e.port } })
    s.on('close', () => { r.info = s.fastOpen; done(r) })
    if (request === 'now') req()
  }).then((r) => console.log(JSON.stringify(r)))
}
;(async () => {
  const h2c = 'http://' + host + ':7000'
  const h2 = 'https://' + host + ':7443'
  await run('h2c-first', tfo.http2, h2c)
  await run('h2c-plain', http2, h2c)
  await run('h2c-returning', tfo.http2, h2c)
  await run('h2c-on-connect', tfo.http2, h2c, { request: 'onConnect' })
  await run('h2c-plain-on-connect', http2, h2c, { request: 'onConnect' })
  await run('tls-plain', http2, h2)
  await run('tls-returning', tfo.http2, h2)
  // The kernel keeps cookies per address, not per port: a port nothing listens
  // on gets the preface in a SYN, and answers with a reset a round trip later.
  await run('silent-plain', http2, 'http://' + host + ':7001', { request: 'none' })
  await run('silent', tfo.http2, 'http://' + host + ':7001', { request: 'none' })
  await run('refused-plain', http2, 'http://' + host + ':7009')
  await run('refused', tfo.http2, 'http://' + host + ':7009')
  await run('tls-refused-plain', http2, 'https://' + host + ':7444')
  await run('tls-refused', tfo.http2, 'https://' + host + ':7444')
})()
`

t.test('h2c and TLS over a 50 ms path', async (t) => {
  const wan = await createWan({ rttMs: RTT, tag: 'h2' })
  t.teardown(() => wan.close())
  const dir = require('node:fs').mkdtempSync(path.join(require('node:os').tmpdir(), 'tfo-wan-h2-'))
  t.teardown(() => require('node:fs').rmSync(dir, { recursive: true, force: true }))
  const cert = makeCert(dir, wan.server.addr)
  t.notOk(cert.error, 'a test certificate')
  const server = wan.spawn('server', process.execPath, ['-e', SERVER, cert.key, cert.cert, wan.server.addr])
  const lines = []
  let buf = ''
  let serverErr = ''
  server.stderr.on('data', (d) => {
    serverErr += d
  })
  server.stdout.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)))
      buf = buf.slice(i + 1)
    }
  })
  await new Promise((resolve, reject) => {
    const iv = setInterval(() => {
      if (lines.length) {
        clearInterval(iv)
        resolve()
      }
    }, 20)
    server.on('exit', (code) => {
      clearInterval(iv)
      reject(new Error(`server exited (${code}): ${serverErr}`))
    })
  })
  const client = await wan.exec('client', process.execPath, ['-e', CLIENT, wan.server.addr, cert.cert], { timeout: 60000 })
  t.equal(client.code, 0, client.stderr)
  const res = Object.fromEntries(
    client.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .map((r) => [r.name, r]),
  )
  server.kill('SIGTERM')
  await new Promise((resolve) => server.on('close', resolve))
  const seen = Object.fromEntries(lines.slice(1).map((l) => [l.path.slice(1), l.synData]))

  const plain = res['h2c-plain']
  t.same(plain.timeline, ['connect', 'stream:ready', 'remoteSettings', 'stream:response', 'stream:close', 'close'], 'http2.connect (h2c)')
  t.same(res['h2c-first'].timeline, plain.timeline, "first contact: http2.connect's events")
  t.match(res['h2c-first'].info, { cookie: 'requested', synData: false })

  const ret = res['h2c-returning']
  t.equal(ret.body, 'ok /h2c-returning')
  t.same(
    ret.timeline,
    ['stream:ready', 'connect', 'remoteSettings', 'stream:response', 'stream:close', 'close'],
    "returning: the request's HEADERS went with the preface, so its 'ready' comes first; then http2.connect's order",
  )
  t.ok(ret.connectMs >= RTT * 0.8, `returning: 'connect' only once established (${ret.connectMs.toFixed(1)} ms)`)
  t.match(ret.info, { cookie: 'sent', synData: true, failure: null })
  t.equal(seen['h2c-returning'], true, 'the server: the SYN carried data')
  t.ok(ret.ttfbMs < RTT * 1.8, `returning: the response one round trip after connect() (${ret.ttfbMs.toFixed(1)} ms), not two`)
  t.comment(`h2c time to first byte: http2.connect ${plain.ttfbMs.toFixed(1)} ms, tfo returning ${ret.ttfbMs.toFixed(1)} ms (RTT ${RTT} ms)`)

  const onConnect = res['h2c-on-connect']
  t.same(
    onConnect.timeline,
    res['h2c-plain-on-connect'].timeline,
    `a request made in 'connect': http2.connect's events (${res['h2c-plain-on-connect'].timeline.join(', ')})`,
  )
  t.ok(onConnect.connectMs >= RTT * 0.8, `'connect' once established (${onConnect.connectMs.toFixed(1)} ms)`)
  t.equal(onConnect.body, 'ok /h2c-on-connect')
  t.match(onConnect.info, { synData: true }, 'the SYN carried the preface')

  const tlsPlain = res['tls-plain']
  const tlsRet = res['tls-returning']
  t.same(tlsRet.timeline, tlsPlain.timeline, `TLS returning: http2.connect's events (${tlsPlain.timeline.join(', ')})`)
  t.ok(tlsRet.connectMs >= RTT * 0.8, `TLS: 'connect' after the handshake (${tlsRet.connectMs.toFixed(1)} ms)`)
  t.match(tlsRet.info, { cookie: 'sent', synData: true })
  t.equal(seen['tls-returning'], true, 'the server: the ClientHello rode in the SYN')
  t.comment(`TLS time to first byte: http2.connect ${tlsPlain.ttfbMs.toFixed(1)} ms, tfo returning ${tlsRet.ttfbMs.toFixed(1)} ms`)

  // A peer that accepts and stays silent: 'connect' is the kernel's word, not the server's first frame.
  t.same(res.silent.timeline, res['silent-plain'].timeline, `a silent peer: http2.connect's events (${res['silent-plain'].timeline.join(', ')})`)
  t.ok(res.silent.connectMs >= RTT * 0.8, `a silent peer: 'connect' at the SYN-ACK (${res.silent.connectMs.toFixed(1)} ms)`)

  const refusedPlain = res['refused-plain']
  const refused = res.refused
  t.match(refusedPlain.error, { code: 'ECONNREFUSED', syscall: 'connect', address: wan.server.addr, port: 7009 })
  t.same(refused.error, refusedPlain.error, "refused after the SYN carried the preface: http2.connect's error")
  t.same(
    refused.timeline.filter((e) => !e.startsWith('stream:')),
    ['error', 'close'],
    "and no 'connect'",
  )
  t.same(
    refused.timeline.filter((e) => e.startsWith('stream:')),
    ['stream:ready', 'stream:error', 'stream:close'],
    'the request had been written (documented), and fails',
  )
  t.equal(refused.streamError, 'ECONNREFUSED')
  t.equal(refused.info, null)

  // The same over TLS: the ClientHello rode in the SYN (tfo.tls).
  const tlsRefusedPlain = res['tls-refused-plain']
  const tlsRefused = res['tls-refused']
  t.match(tlsRefusedPlain.error, { code: 'ECONNREFUSED', syscall: 'connect', port: 7444 })
  t.same(tlsRefused.error, tlsRefusedPlain.error, "TLS refused after the SYN carried the ClientHello: http2.connect's error")
  t.same(tlsRefused.timeline, tlsRefusedPlain.timeline, `TLS refused: http2.connect's events (${tlsRefusedPlain.timeline.join(', ')})`)
})
