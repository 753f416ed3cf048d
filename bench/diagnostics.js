#!/usr/bin/env node
'use strict'
// What tfo's diagnostics (lib/core/diagnostics.ts) cost on the hot paths.
//
// 1. Side by side (default): `bench/run.js --quick --only connrate,accept`
//    (tfo vs net, A/B interleaved inside each run) in up to three arms, the
//    arms rotated round by round so that the machine's other load falls on
//    all of them alike:
//      base  TFO_BENCH_LIB=<--base> (a build without diagnostics, e.g. main)
//      diag  this build, no subscriber
//      sub   this build, every Node child subscribed (--diag-subscribers)
//    Per row: the tfo/net ratio of each run, per arm the median over the runs
//    and their spread (min–max: the noise), and each arm against base, with a
//    bootstrap 95% interval over the runs.
// 2. --micro: each hook called alone in a loop, with no subscriber and with
//    one: ns per call, next to an empty function (what a call costs).
// 3. --inproc: base and this build loaded in one process (client and server
//    in it), batches of connections alternated: CPU µs per connection.
// 4. --profile: V8's sampling profiler on processes making connections with
//    every channel subscribed or none: the share of CPU under the hooks.
// 3 and 4 need root (a private network namespace with TFO on).
//
// Usage: node bench/diagnostics.js [--runs N] [--n N] [--base DIR] [--micro]
//          [--inproc [--rounds N] [--batch N]] [--profile [--profile-runs N] [--profile-count N]] [--json-out FILE]
//        (--runs 0 skips 1)
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const ROOT = path.join(__dirname, '..')
const ROWS = ['connrate', 'connrate.clientCpu', 'connrate.serverCpu', 'accept', 'accept.serverCpu']

function parseArgs(argv) {
  const o = {
    runs: 8,
    base: null,
    n: null,
    micro: false,
    jsonOut: null,
    inproc: false,
    rounds: 20,
    batch: 500,
    setupNetns: false,
    profile: false,
    profileRuns: 3,
    profileCount: 10000,
    profileChild: null,
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--runs') o.runs = Math.max(0, Math.min(100, Number(argv[++i]) | 0))
    else if (a === '--base') o.base = path.resolve(argv[++i])
    else if (a === '--n') o.n = Math.max(1, Math.min(1000, Number(argv[++i]) | 0))
    else if (a === '--micro') o.micro = true
    else if (a === '--inproc') o.inproc = true
    else if (a === '--rounds') o.rounds = Math.max(1, Math.min(1000, Number(argv[++i]) | 0))
    else if (a === '--batch') o.batch = Math.max(10, Math.min(100000, Number(argv[++i]) | 0))
    else if (a === '--in-netns') o.setupNetns = true
    else if (a === '--profile') o.profile = true
    else if (a === '--profile-runs') o.profileRuns = Math.max(1, Math.min(100, Number(argv[++i]) | 0))
    else if (a === '--profile-count') o.profileCount = Math.max(100, Math.min(100000, Number(argv[++i]) | 0))
    else if (a === '--profile-child') {
      o.profileChild = argv[++i]
      o.profileCount = Number(argv[++i])
    } else if (a === '--json-out') o.jsonOut = argv[++i]
    else if (a === '-h' || a === '--help') {
      console.log(
        fs
          .readFileSync(__filename, 'utf8')
          .split('\n')
          .slice(2, 25)
          .map((l) => l.slice(3))
          .join('\n'),
      )
      process.exit(0)
    } else throw new Error(`unknown option ${a}`)
  }
  return o
}

// ---- statistics ----

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** Bootstrap 95% interval of median(a) / median(b), resampling the runs of each arm. */
function ratioCI(a, b, iterations = 4000) {
  const rnd = mulberry32(12345)
  const pick = (xs) => xs.map(() => xs[Math.floor(rnd() * xs.length)])
  const rs = []
  for (let i = 0; i < iterations; i++) rs.push(median(pick(a)) / median(pick(b)))
  rs.sort((x, y) => x - y)
  return [rs[Math.floor(iterations * 0.025)], rs[Math.floor(iterations * 0.975)]]
}

const f3 = (x) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(3))

// ---- 1. side by side ----

function runOnce(arm, o, tmp, i) {
  const out = path.join(tmp, `${arm.name}-${i}.json`)
  const args = [path.join(__dirname, 'run.js'), '--quick', '--only', 'connrate,accept', '--json-out', out]
  if (o.n) args.push('--n', String(o.n))
  if (arm.subscribers) args.push('--diag-subscribers')
  const env = { ...process.env }
  if (arm.lib) env.TFO_BENCH_LIB = arm.lib
  else delete env.TFO_BENCH_LIB
  const r = spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: 600000 })
  if (r.status !== 0 || !fs.existsSync(out)) throw new Error(`${arm.name} run ${i} failed: ${r.stderr || r.error}`)
  const report = JSON.parse(fs.readFileSync(out, 'utf8'))
  const rows = {}
  for (const row of report.rows) {
    if (!ROWS.includes(row.id) || !row.ratio) continue
    rows[row.id] = { ratio: row.ratio.median, paired: row.ratio.paired, tfo: row.arms.tfo.median ?? null, net: row.arms.net.median ?? null }
  }
  return { rows, load: os.loadavg()[0] }
}

function sideBySide(o) {
  const arms = []
  if (o.base) arms.push({ name: 'base', lib: o.base, subscribers: false })
  arms.push({ name: 'diag', lib: null, subscribers: false }, { name: 'sub', lib: null, subscribers: true })
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-diag-bench-'))
  const results = Object.fromEntries(arms.map((a) => [a.name, []]))
  const loads = []
  for (let i = 0; i < o.runs; i++) {
    // Rotate the order every round: no arm always runs first, or right after another.
    const order = arms.map((_, k) => arms[(k + i) % arms.length])
    for (const arm of order) {
      results[arm.name].push(runOnce(arm, o, tmp, i))
      process.stderr.write(`\rround ${i + 1}/${o.runs} ${arm.name}     `)
    }
    loads.push(os.loadavg()[0])
  }
  process.stderr.write('\n')
  fs.rmSync(tmp, { recursive: true, force: true })

  const lines = []
  lines.push(`Side by side: bench/run.js --quick --only connrate,accept${o.n ? ` --n ${o.n}` : ''}, ${o.runs} runs per arm, arms rotated per round.`)
  lines.push(
    `Arms: ${arms.map((a) => `${a.name} = ${a.lib ? `TFO_BENCH_LIB=${a.lib}` : 'this build'}${a.subscribers ? ' + --diag-subscribers' : ''}`).join('; ')}.`,
  )
  lines.push(`Load average (1 min) after each round: ${loads.map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs.`)
  lines.push('')
  lines.push('Per run: tfo/net ratio of medians (paired ratio in brackets). Per arm: median over runs [min–max].')
  const summary = {}
  for (const id of ROWS) {
    lines.push('')
    lines.push(`${id}`)
    summary[id] = {}
    for (const arm of arms) {
      const xs = results[arm.name].map((r) => r.rows[id]?.ratio).filter((x) => typeof x === 'number')
      const ps = results[arm.name].map((r) => r.rows[id]?.paired).filter((x) => typeof x === 'number')
      summary[id][arm.name] = { ratios: xs, paired: ps, median: median(xs), min: Math.min(...xs), max: Math.max(...xs), pairedMedian: median(ps) }
      const s = summary[id][arm.name]
      lines.push(
        `  ${arm.name.padEnd(4)}  median ${f3(s.median)} [${f3(s.min)}–${f3(s.max)}]  paired median ${f3(s.pairedMedian)}   runs: ${xs.map(f3).join(' ')}`,
      )
    }
    const ref = arms[0].name === 'base' ? 'base' : null
    if (ref) {
      for (const arm of arms.slice(1)) {
        const a = summary[id][arm.name].ratios
        const b = summary[id][ref].ratios
        const r = median(a) / median(b)
        const ci = ratioCI(a, b)
        summary[id][arm.name].vsBase = { ratio: r, ci95: ci }
        lines.push(
          `  ${arm.name}/base of the medians: ${f3(r)} (95% CI ${f3(ci[0])}–${f3(ci[1])}${ci[0] <= 1 && ci[1] >= 1 ? ': no measurable difference' : ''})`,
        )
      }
    }
  }
  return { text: lines.join('\n'), summary, results, loads }
}

// ---- 2. micro: the hooks alone ----

async function micro() {
  const dc = require('node:diagnostics_channel')
  const d = require(path.join(ROOT, 'dist', 'core', 'diagnostics.js'))
  const net = require('node:net')
  const N = 2e6
  const socket = new net.Socket()
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  // A real libuv handle, so the client message finds its owner as it does on a connection.
  const attempt = { handle: server._handle, address: '192.0.2.1', port: 443, family: 4 }
  const outcome = {
    role: 'client',
    attempted: true,
    synData: true,
    cookie: 'sent',
    synDataBytes: 64,
    synDataWithheld: false,
    failure: null,
    reason: null,
    rttMs: 0.05,
  }
  const state = { address: '192.0.2.1', port: 443, destination: '192.0.2.1:443', cause: 'x', failures: 1, until: 1, notAcked: 0 }
  const keyState = { source: 'derived', window: 1, backup: 'previous', periodMs: 1000, nextChangeAt: 1, reason: null }
  const schedule = { window: 1, backupWindow: 0, nextChangeAt: 1 }
  let sink = 0
  const empty = (a, b) => {
    sink += b === undefined ? 0 : 1
  }
  const hooks = {
    'empty function (a call)': () => empty(attempt, outcome),
    clientConnected: () => d.clientConnected(attempt, outcome),
    serverAccepted: () => d.serverAccepted(socket, server, 401),
    backoffStarted: () => d.backoffStarted(state, 0),
    backoffEnded: () => d.backoffEnded(state, 'expired'),
    keysRotated: () => d.keysRotated('listener', server, keyState, schedule),
  }
  const channelOf = {
    clientConnected: 'tfo:client:connect',
    serverAccepted: 'tfo:server:accept',
    backoffStarted: 'tfo:backoff:start',
    backoffEnded: 'tfo:backoff:end',
    keysRotated: 'tfo:keys:rotate',
  }
  const time = (fn) => {
    for (let i = 0; i < N / 10; i++) fn() // warm-up (optimised)
    const best = []
    for (let r = 0; r < 5; r++) {
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < N; i++) fn()
      best.push(Number(process.hrtime.bigint() - t0) / N)
    }
    return Math.min(...best)
  }
  const out = {}
  const lines = [`Micro: each hook called ${N} times in a loop (best of 5), ns per call:`]
  for (const [name, fn] of Object.entries(hooks)) {
    const none = time(fn)
    let one = null
    const ch = channelOf[name]
    if (ch) {
      let got = 0
      const sub = () => {
        got++
      }
      dc.subscribe(ch, sub)
      one = time(fn)
      dc.unsubscribe(ch, sub)
      if (!got) throw new Error(`${name}: the subscriber got nothing`)
    }
    out[name] = { noSubscriber: none, oneSubscriber: one }
    lines.push(
      `  ${name.padEnd(24)} no subscriber ${none.toFixed(1).padStart(6)} ns${one === null ? '' : `   one subscriber ${one.toFixed(1).padStart(7)} ns`}`,
    )
  }
  if (sink < 0) console.log(sink)
  server.close()
  return { text: lines.join('\n'), results: out }
}

// ---- shared by 3 and 4: a loopback server and client in this process ----

function setupNetns() {
  // Only ever inside the private namespace made by `unshare --net`.
  spawnSync('ip', ['link', 'set', 'lo', 'up'])
  fs.writeFileSync('/proc/sys/net/ipv4/tcp_fastopen', '3')
}

async function serve(lib) {
  const RESP = Buffer.alloc(64, 'r')
  lib.server = lib.tfo.createServer((s) => {
    s.on('error', () => {})
    s.once('data', () => s.end(RESP))
  })
  await new Promise((resolve) => lib.server.listen(0, '127.0.0.1', resolve))
  lib.port = lib.server.address().port
  lib.synData = 0
  lib.done = 0
}

/** `count` connections to lib.server, 32 at a time: request (in the SYN), response, close. */
function connections(lib, count, request) {
  return new Promise((resolve) => {
    let started = 0
    let open = 0
    const launch = () => {
      if (started >= count) {
        if (open === 0) resolve()
        return
      }
      started++
      open++
      const c = lib.tfo.connect(lib.port, '127.0.0.1')
      c.write(request)
      c.on('data', () => {})
      c.on('error', () => {})
      c.on('close', () => {
        open--
        lib.done++
        if (c.fastOpen && c.fastOpen.synData) lib.synData++
        launch()
      })
    }
    for (let i = 0; i < 32; i++) launch()
  })
}

// ---- 4. where the CPU goes: V8's profiler, with and without subscribers ----

/** Child: N connections with every tfo channel subscribed ('all') or none, under --cpu-prof. */
async function profileChild(mode, count) {
  setupNetns()
  const dc = require('node:diagnostics_channel')
  const lib = { tfo: require(ROOT) }
  let got = 0
  if (mode === 'all')
    for (const n of Object.values(lib.tfo.diagnostics.channels))
      dc.subscribe(n, () => {
        got++
      })
  await serve(lib)
  const REQ = Buffer.alloc(64, 'q')
  await connections(lib, 1000, REQ) // warm-up
  const c0 = process.cpuUsage()
  await connections(lib, count, REQ)
  const c = process.cpuUsage(c0)
  await new Promise((resolve) => lib.server.close(resolve))
  process.stdout.write(JSON.stringify({ mode, count, cpuUsPerConn: (c.user + c.system) / count, synData: lib.synData, delivered: got }))
}

/** CPU samples under tfo's diagnostics (lib/core/diagnostics.ts, and the subscribers it calls), of all samples. */
function diagnosticsShare(file) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8'))
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map()
  for (const n of p.nodes) for (const c of n.children || []) parent.set(c, n.id)
  const inside = new Map()
  const isInside = (id) => {
    if (id === undefined) return false
    if (inside.has(id)) return inside.get(id)
    const v = /[\\/]core[\\/]diagnostics\.js$/.test(byId.get(id).callFrame.url) || isInside(parent.get(id))
    inside.set(id, v)
    return v
  }
  let total = 0
  let diag = 0
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] || 0
    total += dt
    if (isInside(id)) diag += dt
  })
  return { totalMs: total / 1000, diagMs: diag / 1000 }
}

function profile(o) {
  if (!(process.getuid && process.getuid() === 0)) throw new Error('--profile needs root (a private network namespace with TFO on)')
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-diag-prof-'))
  const out = {}
  const lines = [
    `Profile: ${o.profileCount} connections per process (client and server in it), V8's sampling profiler (every 100 µs); runs alternate none/all, ${o.profileRuns} each.`,
  ]
  for (let r = 0; r < o.profileRuns; r++) {
    for (const mode of r % 2 ? ['all', 'none'] : ['none', 'all']) {
      const dir = path.join(tmp, `${mode}-${r}`)
      const res = spawnSync(
        'unshare',
        [
          '--net',
          process.execPath,
          '--cpu-prof',
          '--cpu-prof-interval=100',
          `--cpu-prof-dir=${dir}`,
          __filename,
          '--profile-child',
          mode,
          String(o.profileCount),
        ],
        { encoding: 'utf8', timeout: 600000 },
      )
      if (res.status !== 0) throw new Error(`profile child failed: ${res.stderr}`)
      const child = JSON.parse(res.stdout)
      const share = diagnosticsShare(path.join(dir, fs.readdirSync(dir)[0]))
      ;(out[mode] ||= []).push({ ...child, ...share })
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true })
  for (const [mode, runs] of Object.entries(out)) {
    const pct = runs.map((x) => (100 * x.diagMs) / x.totalMs)
    const usPerConn = runs.map((x) => (x.diagMs * 1000) / (x.count + 1000))
    lines.push(
      `  ${mode.padEnd(4)} in diagnostics: ${pct.map((x) => x.toFixed(3)).join(' ')} % of CPU samples (≈ ${usPerConn.map((x) => x.toFixed(2)).join(' ')} µs/conn); whole process ${runs.map((x) => x.cpuUsPerConn.toFixed(0)).join(' ')} µs/conn; messages delivered ${runs.map((x) => x.delivered).join(' ')}`,
    )
  }
  return { text: lines.join('\n'), results: out }
}

// ---- 3. in one process: batches of connections, arms alternated ----

/**
 * Client and server in this process, on loopback (run it in a namespace with
 * net.ipv4.tcp_fastopen=3, e.g. `unshare --net`): batches of `batch`
 * connections (64-byte request in the SYN, 64-byte response, close; 32 at a
 * time), the arms alternated batch by batch (ABC, BCA, CAB, ...), CPU time
 * (user + system, the whole process) per connection. One process, so no
 * arm gets another process's luck; the machine's other load still adds noise.
 */
async function inProcess(o) {
  if (o.setupNetns) setupNetns()
  const libs = []
  if (o.base) libs.push({ name: 'base', tfo: require(o.base) })
  libs.push({ name: 'diag', tfo: require(ROOT) })
  const REQ = Buffer.alloc(64, 'q')
  for (const lib of libs) {
    await serve(lib)
    lib.cpu = []
    lib.rate = []
    lib.synData = 0
    lib.done = 0
  }
  const batch = (lib, count) => connections(lib, count, REQ)
  const count = o.batch
  for (const lib of libs) await batch(lib, count) // warm-up
  for (let r = 0; r < o.rounds; r++) {
    for (let k = 0; k < libs.length; k++) {
      const lib = libs[(k + r) % libs.length]
      const c0 = process.cpuUsage()
      const t0 = process.hrtime.bigint()
      await batch(lib, count)
      const wall = Number(process.hrtime.bigint() - t0) / 1e9
      const c1 = process.cpuUsage(c0)
      lib.cpu.push((c1.user + c1.system) / count)
      lib.rate.push(count / wall)
    }
  }
  for (const lib of libs) await new Promise((resolve) => lib.server.close(resolve))
  const ref = libs[0]
  const lines = [
    `In one process: ${o.rounds} rounds x ${libs.length} arms x ${count} connections (client and server here), arms rotated per round; load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}.`,
  ]
  const out = {}
  for (const lib of libs) {
    const cpu = median(lib.cpu)
    const rate = median(lib.rate)
    out[lib.name] = { cpuUsPerConn: lib.cpu, connPerS: lib.rate, synData: lib.synData, done: lib.done }
    let vs = ''
    if (lib !== ref) {
      const ci = ratioCI(lib.cpu, ref.cpu)
      // Paired per round: the arms of one round ran back to back.
      const paired = median(lib.cpu.map((x, i) => x / ref.cpu[i]))
      vs = `  CPU vs ${ref.name}: ${f3(cpu / median(ref.cpu))} (95% CI ${f3(ci[0])}–${f3(ci[1])}; paired per round ${f3(paired)}); rate vs ${ref.name}: ${f3(rate / median(ref.rate))}`
      out[lib.name].vs = { ref: ref.name, cpu: cpu / median(ref.cpu), cpuCI95: ci, cpuPaired: paired, rate: rate / median(ref.rate) }
    }
    lines.push(
      `  ${lib.name.padEnd(4)} CPU ${cpu.toFixed(1)} µs/conn [${Math.min(...lib.cpu).toFixed(1)}–${Math.max(...lib.cpu).toFixed(1)}], ${rate.toFixed(0)} conn/s, SYN data ${lib.synData}/${lib.done}${vs}`,
    )
  }
  return { text: lines.join('\n'), results: out }
}

async function main() {
  const o = parseArgs(process.argv.slice(2))
  if (o.profileChild) return profileChild(o.profileChild, o.profileCount)
  if (o.inproc && !o.setupNetns && process.getuid && process.getuid() === 0) {
    // As root: the same command again inside a private network namespace with TFO on.
    const r = spawnSync('unshare', ['--net', process.execPath, __filename, ...process.argv.slice(2), '--in-netns'], { stdio: 'inherit' })
    process.exit(r.status ?? 1)
  }
  const report = { startedAt: new Date().toISOString(), node: process.version, cpus: os.cpus().length, options: o }
  const parts = []
  if (o.micro) {
    const m = await micro()
    report.micro = m.results
    parts.push(m.text)
  }
  if (o.profile) {
    const p = profile(o)
    report.profile = p.results
    parts.push(p.text)
  }
  if (o.inproc) {
    const p = await inProcess(o)
    report.inProcess = p.results
    parts.push(p.text)
  } else if (o.runs > 0) {
    const s = sideBySide(o)
    report.sideBySide = { summary: s.summary, loads: s.loads }
    parts.push(s.text)
  }
  console.log(parts.join('\n\n'))
  if (o.jsonOut) fs.writeFileSync(o.jsonOut, JSON.stringify(report, null, 2))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
