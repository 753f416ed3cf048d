'use strict'
// Loopback scenarios, run as one coordinator process (also the client side)
// plus server children. As root it runs under `unshare --net` (started so by
// bench/run.js): a private namespace with lo up and net.ipv4.tcp_fastopen=3,
// gone when the last process in it exits. Otherwise it runs in the current
// namespace with whatever TFO the sysctl allows, and says so.
//
// Scenarios (A/B interleaved per trial: tfo, net, tfo, net, ...):
//   throughput  bulk transfer on an established connection, upload and download (MB/s)
//   connrate    new connections per second: connect, 64-byte request, 64-byte response,
//               close; concurrency 64; CPU per connection in client and server
//   accept      accept rate of a tfo server vs a net server (same plain client)
//   memory      RSS per idle connection at `memConns` connections, client and server
// stdout: {"env": {...}}, {"progress": {...}}, {"result": {...}}
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { send, config, loadTfo, exitWithParent, nowMs } = require('./child')
const { jsonChannel, ask, stop } = require('./proc')

const cfg = config()
const HOST = '127.0.0.1'
const children = new Set()

function readSysctl(name) {
  try {
    return fs.readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim()
  } catch {
    return null
  }
}

function setupNetns() {
  // Only ever inside the private namespace made by `unshare --net`.
  const r = spawnSync('ip', ['link', 'set', 'lo', 'up'], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`ip link set lo up failed: ${r.stderr || r.error}`)
  fs.writeFileSync('/proc/sys/net/ipv4/tcp_fastopen', '3')
  fs.writeFileSync('/proc/sys/net/ipv4/ip_local_port_range', '1024 65535')
}

function spawnChild(script, arg, nodeArgs = []) {
  const child = spawn(process.execPath, [...(cfg.nodeArgs || []), ...nodeArgs, path.join(__dirname, script), JSON.stringify(arg)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  children.add(child)
  child.on('exit', () => children.delete(child))
  child.stdin.on('error', () => {})
  return child
}

function progress(stage, i, of) {
  send({ progress: { stage, i, of } })
}

// Trial order within iteration i: tfo first on even iterations, net first on odd
// ones (ABBA), so neither arm always runs right after the other's garbage and
// TIME_WAIT sockets. Set cfg.order = 'abab' for strict tfo, net, tfo, net.
function order(i) {
  return cfg.order === 'abab' || i % 2 === 0 ? ['tfo', 'net'] : ['net', 'tfo']
}

// ---- throughput -------------------------------------------------------------

const CHUNK = Buffer.alloc(64 * 1024, 'u')

function bulkOnce(tfo, kind, port, dir, bytes) {
  return new Promise((resolve) => {
    const mod = kind === 'tfo' ? tfo : net
    const s = mod.connect(port, HOST)
    s.write('H') // the hello rides in the SYN with tfo: an established *tfo* connection
    let t0 = 0
    let got = 0
    let error = null
    let ms = null
    s.on('error', (e) => {
      error = e.code || e.message
    })
    s.on('close', () =>
      resolve({ mbps: ms ? bytes / 1e6 / (ms / 1000) : null, ms, error, synData: kind === 'tfo' ? !!(s.fastOpen && s.fastOpen.synData) : null }),
    )
    s.once('connect', () => {
      const header = Buffer.alloc(9)
      header[0] = dir === 'upload' ? 0x55 : 0x44
      header.writeBigUInt64BE(BigInt(bytes), 1)
      t0 = nowMs()
      s.write(header)
      if (dir === 'upload') {
        let sent = 0
        const pump = () => {
          while (sent < bytes) {
            const n = Math.min(CHUNK.length, bytes - sent)
            sent += n
            if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return s.once('drain', pump)
          }
        }
        pump()
        s.on('data', () => {
          if (ms === null) {
            ms = nowMs() - t0
            s.end()
          }
        })
      } else {
        s.on('data', (d) => {
          got += d.length
          if (got >= bytes && ms === null) ms = nowMs() - t0
        })
      }
    })
  })
}

async function throughput(tfo, ports) {
  const out = {}
  for (const dir of ['upload', 'download']) {
    const cell = { tfo: [], net: [] }
    for (let i = 0; i < 2; i++) for (const kind of ['tfo', 'net']) await bulkOnce(tfo, kind, ports[`bulk.${kind}`], dir, cfg.bulkBytes) // warm-up
    const n = cfg.bulkN || cfg.n
    for (let i = 0; i < n; i++) {
      for (const kind of order(i)) cell[kind].push(await bulkOnce(tfo, kind, ports[`bulk.${kind}`], dir, cfg.bulkBytes))
      progress(`throughput ${dir}`, i + 1, n)
    }
    out[dir] = cell
  }
  return out
}

// ---- connection rate ----------------------------------------------------------

const REQ = Buffer.alloc(64, 'q')

/** Closed loop: `conc` connections in flight until `count` are done or `maxMs` passed. */
function connLoop(mod, port, { count, conc, maxMs, request, isTfo }) {
  return new Promise((resolve) => {
    let started = 0
    let done = 0
    let errors = 0
    let synData = 0
    let inFlight = 0
    const t0 = nowMs()
    const cpu0 = process.cpuUsage()
    const finish = () => {
      const ms = nowMs() - t0
      const cpu = process.cpuUsage(cpu0)
      resolve({ done, errors, synData, ms, rate: done / (ms / 1000), clientCpuUs: (cpu.user + cpu.system) / Math.max(done, 1) })
    }
    const launch = () => {
      if (started >= count || nowMs() - t0 > maxMs) {
        if (inFlight === 0) finish()
        return
      }
      started++
      inFlight++
      const s = mod.connect(port, HOST)
      if (request) s.write(request)
      s.on('data', () => {})
      s.on('error', () => {
        errors++
      })
      s.on('close', (hadError) => {
        inFlight--
        if (!hadError) done++
        if (isTfo && s.fastOpen && s.fastOpen.synData) synData++
        launch()
      })
    }
    for (let i = 0; i < conc; i++) launch()
  })
}

async function rateTrials(tfo, server, channel, ports, role) {
  const cell = { tfo: [], net: [] }
  const opts = { count: cfg.connCount, conc: cfg.connConc, maxMs: cfg.connMaxMs }
  const run = async (kind) => {
    // connrate: tfo client -> tfo server vs net client -> net server.
    // accept:   the same plain net client against a tfo server vs a net server.
    const mod = role === 'connrate' && kind === 'tfo' ? tfo : net
    const port = ports[`${role === 'connrate' ? 'rr' : 'accept'}.${kind}`]
    const m0 = await ask(server, channel, 'mark', 'mark')
    const r = await connLoop(mod, port, { ...opts, request: role === 'connrate' ? REQ : null, isTfo: mod === tfo })
    const m1 = await ask(server, channel, 'mark', 'mark')
    const key = `${role === 'connrate' ? 'rr' : 'accept'}.${kind}`
    const acc = m1.accepted[key] - m0.accepted[key]
    const cpu = m1.cpu.user - m0.cpu.user + (m1.cpu.system - m0.cpu.system)
    return { ...r, serverAccepted: acc, serverSynData: m1.synData[key] - m0.synData[key], serverCpuUs: cpu / Math.max(acc, 1) }
  }
  for (let i = 0; i < 2; i++) for (const kind of ['tfo', 'net']) await run(kind) // warm-up
  for (let i = 0; i < cfg.n; i++) {
    for (const kind of order(i)) cell[kind].push(await run(kind))
    progress(role, i + 1, cfg.n)
  }
  return cell
}

// ---- memory -------------------------------------------------------------------

// The same flags for both arms, so that the RSS delta is what the idle
// connections retain and not how V8 happened to size its heap:
// --max-semi-space-size=1: the young generation otherwise grows with the
//   allocation rate (up to 2 x 16 MB semi-spaces plus the copy space), several
//   KB per connection of sizing noise at 10k connections;
// --compact-on-every-full-gc: the forced GCs before each reading compact the
//   old space, so its committed-but-empty pages (2-3 MB that came and went
//   with GC timing: ±10% per connection from one round to the next, for the
//   same code) are released. With both, rounds agree within ~2%.
const MEM_FLAGS = ['--expose-gc', '--max-semi-space-size=1', '--compact-on-every-full-gc']

async function memoryRound(kind) {
  const srv = spawnChild('mem-child.js', { role: 'server', kind, host: HOST }, MEM_FLAGS)
  const sch = jsonChannel(srv, { name: `memory server (${kind})` })
  let cli = null
  try {
    const ready = await sch.next((m) => m.ready || m.fatal, 20000)
    if (ready.fatal) throw new Error(ready.fatal)
    const sBefore = await ask(srv, sch, 'measure', 'measure', 30000)
    cli = spawnChild('mem-child.js', { role: 'client', kind, host: HOST, port: ready.port, count: cfg.memConns, conc: 256 }, MEM_FLAGS)
    const cch = jsonChannel(cli, { name: `memory client (${kind})` })
    const r = await cch.next((m) => m.result || m.fatal, 180000)
    if (r.fatal) throw new Error(r.fatal)
    const sAfter = await ask(srv, sch, 'measure', 'measure', 30000)
    const c = r.result
    const per = (a, b, n) => (b - a) / Math.max(n, 1)
    return {
      established: c.established,
      serverConnections: sAfter.connections,
      synData: c.synData,
      errors: c.errors,
      clientRssPerConn: per(c.before.rss, c.after.rss, c.established),
      clientHeapPerConn: per(c.before.heapUsed, c.after.heapUsed, c.established),
      serverRssPerConn: per(sBefore.rss, sAfter.rss, sAfter.connections),
      serverHeapPerConn: per(sBefore.heapUsed, sAfter.heapUsed, sAfter.connections),
      client: c,
      server: { before: sBefore, after: sAfter },
    }
  } finally {
    await Promise.all([stop(srv), cli && stop(cli)])
  }
}

async function memory() {
  const cell = { tfo: [], net: [] }
  for (let i = 0; i < cfg.memRounds; i++) {
    for (const kind of order(i)) cell[kind].push(await memoryRound(kind))
    progress('memory', i + 1, cfg.memRounds)
  }
  return cell
}

// ---- main -----------------------------------------------------------------------

async function main() {
  exitWithParent()
  process.on('exit', () => {
    for (const c of children) {
      try {
        process.kill(c.pid, 'SIGKILL')
      } catch {}
    }
  })
  if (cfg.privateNetns) setupNetns()
  const tfo = loadTfo()
  const env = {
    netns: cfg.privateNetns ? 'private (unshare --net)' : 'current',
    tcpFastopen: readSysctl('net.ipv4.tcp_fastopen'),
    portRange: readSysctl('net.ipv4.ip_local_port_range'),
    support: tfo.support(),
  }
  send({ env })
  const result = { env }
  const want = new Set(cfg.scenarios)
  if (want.has('throughput') || want.has('connrate') || want.has('accept')) {
    const server = spawnChild('lo-server.js', { host: HOST })
    const channel = jsonChannel(server, { name: 'loopback server' })
    try {
      const ready = await channel.next((m) => m.ready || m.fatal, 20000)
      if (ready.fatal) throw new Error(ready.fatal)
      result.serverFastOpen = ready.fastOpen
      if (want.has('throughput')) result.throughput = await throughput(tfo, ready.ports)
      if (want.has('connrate')) result.connrate = await rateTrials(tfo, server, channel, ready.ports, 'connrate')
      if (want.has('accept')) result.accept = await rateTrials(tfo, server, channel, ready.ports, 'accept')
    } finally {
      await stop(server)
    }
  }
  if (want.has('memory')) result.memory = await memory()
  send({ result })
  process.exit(0)
}

main().catch((e) => {
  send({ fatal: String(e && e.stack ? e.stack : e) })
  process.exit(1)
})
