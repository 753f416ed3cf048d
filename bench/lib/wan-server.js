'use strict'
// Servers for the emulated-WAN scenarios, run in the server namespace:
//   tcp   raw request/response: reads until "\r\n\r\n", answers and closes
//   http  node:http, one short response, Connection: close
//   https node:https (TLS 1.3 only), same response
//   h2    node:http2 createSecureServer (TLS 1.3 only), one short response per stream
//   h2c   node:http2 createServer (cleartext, prior knowledge), the same
// Each in two flavours on its own port: `tfo` (tfo.createServer or
// tfo.enableFastOpen) and `net` (plain node:net / node:http / node:https).
//
// stdin commands: `stats` -> {"stats": {<name>: {accepted, synData, serverMs: [...]}, library: tfo.stats().server}}
// (and resets both). Exits when stdin closes.
const fs = require('node:fs')
const net = require('node:net')
const http = require('node:http')
const https = require('node:https')
const http2 = require('node:http2')
const { send, onCommands, config, loadTfo } = require('./child')

const tfo = loadTfo()
const cfg = config() // { host, ports: { tcp: {tfo, net}, http: {...}, https: {...} }, tls: { key, cert } | null }
const RESPONSE = 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n'
const BODY = 'ok\n'

const stats = {}
function slot(name) {
  return stats[name] || (stats[name] = { accepted: 0, synData: 0, serverMs: [] })
}
function record(name, socket, t0) {
  const s = slot(name)
  s.serverMs.push(Number(process.hrtime.bigint() - t0) / 1e6)
  const info = tfo.fastOpenInfo(socket)
  if (info && info.synData) s.synData++
}

function tcpHandler(name) {
  return (socket) => {
    slot(name).accepted++
    let buf = ''
    let done = false
    socket.setEncoding('latin1')
    socket.on('data', (d) => {
      if (done) return
      const t0 = process.hrtime.bigint()
      buf += d
      if (!buf.includes('\r\n\r\n')) return
      done = true
      socket.end(RESPONSE)
      record(name, socket, t0)
    })
    socket.on('error', () => {})
  }
}

function httpHandler(name) {
  return (req, res) => {
    const t0 = process.hrtime.bigint()
    slot(name).accepted++
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length, Connection: 'close' })
    res.end(BODY)
    record(name, req.socket, t0)
  }
}

function h2Handler(name) {
  return (stream) => {
    const t0 = process.hrtime.bigint()
    slot(name).accepted++
    stream.on('error', () => {})
    stream.respond({ ':status': 200, 'content-type': 'text/plain' })
    stream.end(BODY)
    record(name, stream.session.socket, t0)
  }
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host: cfg.host, backlog: 1024 }, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

async function main() {
  const servers = {}
  const p = cfg.ports
  if (p.tcp) {
    servers.tcpTfo = tfo.createServer(tcpHandler('tcpTfo'))
    servers.tcpNet = net.createServer(tcpHandler('tcpNet'))
    await listen(servers.tcpTfo, p.tcp.tfo)
    await listen(servers.tcpNet, p.tcp.net)
  }
  if (p.http) {
    servers.httpTfo = http.createServer(httpHandler('httpTfo'))
    tfo.enableFastOpen(servers.httpTfo)
    servers.httpNet = http.createServer(httpHandler('httpNet'))
    await listen(servers.httpTfo, p.http.tfo)
    await listen(servers.httpNet, p.http.net)
  }
  if (p.https && cfg.tls) {
    const tlsOpts = { key: fs.readFileSync(cfg.tls.key), cert: fs.readFileSync(cfg.tls.cert), minVersion: 'TLSv1.3' }
    servers.httpsTfo = https.createServer(tlsOpts, httpHandler('httpsTfo'))
    tfo.enableFastOpen(servers.httpsTfo)
    servers.httpsNet = https.createServer(tlsOpts, httpHandler('httpsNet'))
    await listen(servers.httpsTfo, p.https.tfo)
    await listen(servers.httpsNet, p.https.net)
  }
  if (p.h2 && cfg.tls) {
    const tlsOpts = { key: fs.readFileSync(cfg.tls.key), cert: fs.readFileSync(cfg.tls.cert), minVersion: 'TLSv1.3' }
    servers.h2Tfo = http2.createSecureServer(tlsOpts).on('stream', h2Handler('h2Tfo'))
    tfo.enableFastOpen(servers.h2Tfo)
    servers.h2Net = http2.createSecureServer(tlsOpts).on('stream', h2Handler('h2Net'))
    await listen(servers.h2Tfo, p.h2.tfo)
    await listen(servers.h2Net, p.h2.net)
  }
  if (p.h2c) {
    servers.h2cTfo = http2.createServer().on('stream', h2Handler('h2cTfo'))
    tfo.enableFastOpen(servers.h2cTfo)
    servers.h2cNet = http2.createServer().on('stream', h2Handler('h2cNet'))
    await listen(servers.h2cTfo, p.h2c.tfo)
    await listen(servers.h2cNet, p.h2c.net)
  }
  for (const s of Object.values(servers)) s.on('warning', (w) => send({ warning: w.message }))
  const fastOpen = {}
  for (const [k, s] of Object.entries(servers))
    if (s.fastOpen) fastOpen[k] = { enabled: s.fastOpen.enabled, active: s.fastOpen.active, reason: s.fastOpen.reason }
  send({ ready: true, pid: process.pid, fastOpen })
  onCommands((line) => {
    if (line === 'stats') {
      const out = JSON.parse(JSON.stringify(stats))
      for (const k of Object.keys(stats)) delete stats[k]
      // The library's own server figures (time saved) since the last `stats`.
      const library = typeof tfo.stats === 'function' ? tfo.stats().server : null
      if (typeof tfo.resetStats === 'function') tfo.resetStats()
      send({ stats: { ...out, library } })
    } else {
      send({ error: `unknown command ${line}` })
    }
  })
}

main().catch((e) => {
  send({ fatal: String(e && e.stack ? e.stack : e) })
  process.exit(1)
})
