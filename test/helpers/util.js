'use strict'
// Small promise helpers shared by the tests. Everything waits for 'close'.
const { once } = require('node:events')
const crypto = require('node:crypto')

async function listen(server, ...args) {
  server.listen(...args)
  await once(server, 'listening')
  return server.address()
}

async function closeServer(server) {
  if (!server.listening) return
  server.close()
  await once(server, 'close')
}

/** Reads a socket to its end; resolves after 'close' with { data, events, error }. */
function collect(socket) {
  const chunks = []
  const events = []
  let error = null
  socket.on('lookup', () => events.push('lookup'))
  socket.on('connect', () => events.push('connect'))
  socket.on('ready', () => events.push('ready'))
  socket.on('data', (d) => chunks.push(d))
  socket.on('end', () => events.push('end'))
  socket.on('error', (e) => {
    events.push('error')
    error = e
  })
  return new Promise((resolve) => {
    socket.on('close', (hadError) => {
      events.push('close')
      resolve({ data: Buffer.concat(chunks), events, error, hadError })
    })
  })
}

/** An echo-ish server handler: replies `reply(data)` once the client ends, then closes. */
function sinkServer(onSocket) {
  return (socket) => {
    const chunks = []
    socket.on('data', (d) => chunks.push(d))
    socket.on('end', () => {
      const data = Buffer.concat(chunks)
      socket.end(onSocket ? onSocket(socket, data) : data)
    })
    socket.on('error', () => {})
  }
}

let nextAddr = 10
/** A loopback address no client has a cookie for yet (the kernel caches cookies per destination address). */
const freshAddr = () => `127.0.0.${nextAddr++}`

/** One request over a fresh tfo connection to a server that answers with JSON. */
async function exchangeJson(port, host, payload = 'GET / HTTP/1.0\r\n\r\n') {
  const tfo = require('../..')
  const socket = tfo.connect({ port, host })
  socket.write(payload)
  socket.end()
  const r = await collect(socket)
  if (r.error) throw r.error
  return { reply: JSON.parse(r.data.toString()), info: socket.fastOpen }
}

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex')

/** Resolves after `ms` milliseconds. */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

module.exports = { listen, closeServer, collect, sinkServer, sha256, freshAddr, exchangeJson, sleep }
