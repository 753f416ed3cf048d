'use strict'
// Memory per idle connection (run with --expose-gc), one fresh process per
// side and per round:
//   server: tfo.createServer or net.createServer; answers a client's first
//           byte with 'k' and then keeps the connection idle.
//           stdin `measure` -> {"measure": {rss, heapUsed, external, arrayBuffers, connections}}
//   client: baseline, then `count` connections (tfo.connect or net.connect,
//           a 1-byte hello written before 'connect', as a request would be),
//           each kept open once answered; then {"result": {before, after, established, synData, errors}}
// Both exit when stdin closes.
const net = require('node:net')
const { send, onCommands, config, loadTfo, sleep } = require('./child')

const tfo = loadTfo()
const cfg = config() // { role, kind, host, port, count, conc }
const gc = global.gc || (() => {})

async function measure() {
  for (let i = 0; i < 4; i++) {
    gc()
    await sleep(40)
  }
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers }
}

async function server() {
  const sockets = new Set()
  const handler = (s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.once('data', () => s.write('k'))
    s.on('close', () => sockets.delete(s))
  }
  const srv = cfg.kind === 'tfo' ? tfo.createServer(handler) : net.createServer(handler)
  srv.on('warning', () => {})
  await new Promise((resolve) => srv.listen({ port: 0, host: cfg.host, backlog: 4096 }, resolve))
  send({ ready: true, port: srv.address().port, pid: process.pid })
  onCommands(async (line) => {
    if (line === 'measure') send({ measure: { ...(await measure()), connections: sockets.size } })
  })
}

function open(keep) {
  return new Promise((resolve) => {
    const s = cfg.kind === 'tfo' ? tfo.connect(cfg.port, cfg.host) : net.connect(cfg.port, cfg.host)
    s.write('h')
    let done = false
    s.once('data', () => {
      done = true
      if (!keep) s.destroy()
      resolve({ ok: true, socket: keep ? s : null, synData: !!(s.fastOpen && s.fastOpen.synData) })
    })
    s.on('error', (e) => {
      if (!done) {
        done = true
        resolve({ ok: false, error: e.code || e.message })
      }
    })
  })
}

async function client() {
  onCommands(() => {})
  // Warm-up (code paths, JIT, lazily loaded parts of the library), then the baseline.
  for (let i = 0; i < 50; i++) await open(false)
  await sleep(100)
  const before = await measure()
  const kept = []
  let established = 0
  let synData = 0
  const errors = {}
  let next = 0
  const worker = async () => {
    while (next < cfg.count) {
      next++
      const r = await open(true)
      if (r.ok) {
        established++
        if (r.synData) synData++
        kept.push(r.socket)
      } else errors[r.error] = (errors[r.error] || 0) + 1
    }
  }
  await Promise.all(Array.from({ length: cfg.conc }, worker))
  await sleep(200)
  const after = await measure()
  send({ result: { before, after, established, synData, errors } })
  globalThis.keep = kept // idle until the parent closes stdin
}

;(cfg.role === 'server' ? server() : client()).catch((e) => {
  send({ fatal: String(e && e.stack ? e.stack : e) })
  process.exit(1)
})
