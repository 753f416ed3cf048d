'use strict'
// Runs one client (and its server) with a Node private part broken by
// ./stub-private.js, and prints what happened as JSON: the reply, the
// connection's fastOpen, and what tfo.support() says about the part.
const { once } = require('node:events')
const tls = require('node:tls')
const https = require('node:https')
const http2 = require('node:http2')
const tfo = require('../..')
const { selfSigned } = require('./tls')

const kind = process.env.TFO_STUB_CLIENT
const part = process.env.TFO_STUB
const { key, cert } = selfSigned()

async function listening(server) {
  tfo.enableFastOpen(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return server.address().port
}

function read(socket) {
  return new Promise((resolve, reject) => {
    let data = ''
    socket.setEncoding('utf8')
    socket.on('data', (d) => {
      data += d
    })
    socket.on('error', reject)
    socket.on('close', () => resolve(data))
  })
}

const echo = (s) => {
  s.on('error', () => {})
  let got = ''
  s.on('data', (d) => {
    got += d
  })
  s.on('end', () => s.end(`got ${got}`))
}

async function run() {
  const out = {}
  if (kind === 'net' || kind === 'server') {
    const server = tfo.createServer(echo)
    const port = await listening(server)
    out.server = { enabled: server.fastOpen.enabled, reason: server.fastOpen.reason }
    // Twice: the second connection has a cookie (the first asked for one).
    for (let i = 0; i < 2; i++) {
      const socket = tfo.connect(port, '127.0.0.1')
      socket.cork()
      socket.write('hel')
      socket.write('lo')
      socket.uncork()
      socket.end()
      out.reply = await read(socket)
      out.fastOpen = socket.fastOpen
    }
    server.close()
  } else if (kind === 'tls') {
    const server = tls.createServer({ key, cert }, echo)
    const port = await listening(server)
    for (let i = 0; i < 2; i++) {
      const socket = tfo.tls.connect({ port, host: '127.0.0.1', ca: cert, servername: 'localhost' })
      socket.end('hello')
      out.reply = await read(socket)
      out.fastOpen = socket.fastOpen
    }
    server.close()
  } else if (kind === 'https') {
    const server = https.createServer({ key, cert }, (req, res) => res.end(`got ${req.url}`))
    const port = await listening(server)
    const agent = new tfo.https.Agent({ ca: cert, servername: 'localhost', keepAlive: false })
    for (let i = 0; i < 2; i++) {
      out.reply = await new Promise((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port, path: '/hello', agent }, (res) => {
            let body = ''
            res.setEncoding('utf8')
            res.on('data', (d) => {
              body += d
            })
            res.on('end', () => {
              out.fastOpen = res.socket.fastOpen
              resolve(body)
            })
          })
          .on('error', reject)
      })
    }
    agent.destroy()
    server.close()
  } else if (kind === 'h2c') {
    const server = http2.createServer((req, res) => res.end(`got ${req.url}`))
    const port = await listening(server)
    const session = tfo.http2.connect(`http://127.0.0.1:${port}`)
    const req = session.request({ ':path': '/hello' })
    req.setEncoding('utf8')
    let body = ''
    req.on('data', (d) => {
      body += d
    })
    await once(req, 'end')
    out.reply = body
    out.fastOpen = session.fastOpen
    session.close()
    server.close()
  }
  const support = tfo.support()
  out.part = support.internals.find((p) => p.name === part)
  out.clientReason = support.clientReason
  out.serverReason = support.serverReason
  process.stdout.write(JSON.stringify(out))
}

run().catch((err) => {
  console.error(err)
  process.exit(1)
})
