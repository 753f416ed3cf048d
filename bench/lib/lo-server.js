'use strict'
// Loopback servers (one process, both flavours): for each of tfo
// (tfo.createServer) and net (net.createServer):
//   rr      reads a 64-byte request, answers 64 bytes and closes (connection rate)
//   bulk    'H' hello, then 'U'<u64 length> (upload: count, answer 'k') or
//           'D'<u64 length> (download: send that many bytes, then close)
//   accept  closes every connection as soon as it is accepted (accept rate)
// stdin: `mark` -> {"mark": {cpu, accepted, synData, t}}. Exits when stdin closes.
const net = require('node:net')
const { send, onCommands, config, loadTfo } = require('./child')

const tfo = loadTfo()
const cfg = config() // { host, reqSize, respSize }
const REQ = cfg.reqSize || 64
const RESP = Buffer.alloc(cfg.respSize || 64, 'r')
const CHUNK = Buffer.alloc(256 * 1024, 'd')

const accepted = {}
const synData = {}

function counted(name, handler) {
  accepted[name] = 0
  synData[name] = 0
  return (socket) => {
    accepted[name]++
    if (socket.fastOpen && socket.fastOpen.synData) synData[name]++
    socket.on('error', () => {})
    handler(socket)
  }
}

function rr(socket) {
  let got = 0
  socket.on('data', (d) => {
    got += d.length
    if (got >= REQ && got - d.length < REQ) socket.end(RESP)
  })
}

function bulk(socket) {
  let header = Buffer.alloc(0)
  let mode = null
  let want = 0
  let got = 0
  socket.on('data', (d) => {
    if (mode === 'U') {
      got += d.length
      if (got >= want) {
        mode = 'done'
        socket.end('k')
      }
      return
    }
    if (mode) return
    header = Buffer.concat([header, d])
    if (header[0] === 0x48) header = header.subarray(1) // 'H' hello (rode in the SYN with tfo)
    if (header.length < 9) return
    mode = String.fromCharCode(header[0])
    want = Number(header.readBigUInt64BE(1))
    const rest = header.subarray(9)
    if (mode === 'U') {
      got = rest.length
      if (got >= want) {
        mode = 'done'
        socket.end('k')
      }
    } else if (mode === 'D') {
      let sent = 0
      const pump = () => {
        while (sent < want) {
          const n = Math.min(CHUNK.length, want - sent)
          sent += n
          if (!socket.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return socket.once('drain', pump)
        }
        socket.end()
      }
      pump()
    }
  })
}

function acceptOnly(socket) {
  socket.end()
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port: 0, host: cfg.host, backlog: 4096 }, () => resolve(server.address().port))
  })
}

async function main() {
  const ports = {}
  const fastOpen = {}
  for (const kind of ['tfo', 'net']) {
    const make = (h) => (kind === 'tfo' ? tfo.createServer(h) : net.createServer(h))
    for (const [role, h] of Object.entries({ rr, bulk, accept: acceptOnly })) {
      const s = make(counted(`${role}.${kind}`, h))
      s.on('warning', () => {})
      ports[`${role}.${kind}`] = await listen(s)
      if (s.fastOpen) fastOpen[`${role}.${kind}`] = { enabled: s.fastOpen.enabled, active: s.fastOpen.active, reason: s.fastOpen.reason }
    }
  }
  send({ ready: true, pid: process.pid, ports, fastOpen })
  onCommands((line) => {
    if (line === 'mark')
      send({ mark: { cpu: process.cpuUsage(), accepted: { ...accepted }, synData: { ...synData }, t: Number(process.hrtime.bigint()) / 1e6 } })
    else send({ error: `unknown command ${line}` })
  })
}

main().catch((e) => {
  send({ fatal: String(e && e.stack ? e.stack : e) })
  process.exit(1)
})
