'use strict'
// The benchmark keeps working: `node bench/run.js --quick` (what CI runs)
// completes, exits 0, prints its table and writes a well-formed JSON with every
// expected scenario and row, numeric medians/p90/N and the targets beside them.
// Never a timing assertion: whether a target is met is the benchmark's
// business, not the test's.
//
// As root (CI) every scenario runs: the emulated WAN (network namespaces and
// a TUN delay line) and loopback in a private namespace. Without root the WAN
// rows must be present as skipped, with the reason, and the loopback rows run.
const t = require('tap')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')

const BENCH = path.join(__dirname, '..', 'bench', 'run.js')
const ROOT = process.platform === 'linux' && typeof process.getuid === 'function' && process.getuid() === 0

t.setTimeout(240000)

function run (args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BENCH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d })
    const timer = setTimeout(() => { try { process.kill(child.pid, 'SIGTERM') } catch {} }, 200000)
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) })
  })
}

const isNum = (x) => typeof x === 'number' && Number.isFinite(x)

const WAN_ROWS = ['tcp@50', 'http@50', 'https@50', 'h2@50', 'h2c@50', 'curl.http@50', 'curl.https@50']
const LOOPBACK_ROWS = ['throughput.upload', 'throughput.download', 'connrate', 'connrate.clientCpu', 'connrate.serverCpu', 'accept', 'accept.serverCpu', 'memory.client', 'memory.server']
const TARGET_ROWS = ['tcp@50', 'http@50', 'https@50', 'throughput.upload', 'throughput.download', 'connrate', 'memory.client', 'memory.server']

function checkArm (t, row, name, a, n) {
  t.ok(a, `${row.id}: arm ${name} present`)
  if (!a) return
  t.type(a.label, 'string', `${row.id}/${name}: label`)
  if (a.status === 'pending') {
    t.type(a.reason, 'string', `${row.id}/${name}: pending with a reason`)
    return
  }
  t.equal(a.status, 'ok', `${row.id}/${name}: measured`)
  t.ok(isNum(a.median), `${row.id}/${name}: numeric median`)
  t.ok(isNum(a.p90), `${row.id}/${name}: numeric p90`)
  t.ok(Number.isInteger(a.n) && a.n >= 1, `${row.id}/${name}: N >= 1`)
  if (n) t.equal(a.n + a.errors, n, `${row.id}/${name}: one sample per iteration (N=${n})`)
}

t.test('bench --quick completes with well-formed output', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-bench-test-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const out = path.join(dir, 'bench.json')
  const r = await run(['--quick', '--json-out', out])
  t.equal(r.signal, null, 'not killed')
  t.equal(r.code, 0, `exit 0\n${r.stderr.slice(-3000)}`)
  t.match(r.stdout, /tfo median \(p90\)/, 'table header on stdout')
  t.match(r.stdout, /targets: \d+ met, \d+ missed/, 'targets summary on stdout')
  t.ok(fs.existsSync(out), 'JSON written where asked')
  t.ok(fs.existsSync(out.replace(/\.json$/, '.md')), 'Markdown table next to it')
  if (!fs.existsSync(out)) return
  const j = JSON.parse(fs.readFileSync(out, 'utf8'))

  t.equal(j.schema, 'tfo-bench/1')
  t.equal(j.complete, true, 'run complete')
  for (const k of ['os', 'kernel', 'arch', 'cpus', 'cpuModel', 'node', 'v8', 'uv']) t.ok(j.machine[k] !== undefined && j.machine[k] !== null, `machine.${k}`)
  t.equal(j.machine.node, process.version)
  t.equal(j.machine.kernel, os.release())
  t.same(j.config.rtts, [50], 'quick: one RTT, 50 ms')
  t.ok(j.config.n >= 1 && j.config.n <= 10, 'quick: small N')

  const rows = new Map(j.rows.map((row) => [row.id, row]))
  for (const id of [...WAN_ROWS, ...LOOPBACK_ROWS]) t.ok(rows.has(id), `row ${id} present`)
  for (const row of j.rows) {
    t.not(row.status, 'error', `${row.id}: no error${row.reason ? ' (' + row.reason + ')' : ''}`)
    t.ok(['ok', 'pending', 'skipped'].includes(row.status), `${row.id}: status ${row.status}`)
    for (const k of ['title', 'unit', 'better']) t.type(row[k], 'string', `${row.id}: ${k}`)
  }

  // The emulated WAN: measured as root, skipped (with the reason) otherwise.
  for (const id of WAN_ROWS) {
    const row = rows.get(id)
    if (!row) continue
    if (!ROOT) {
      t.equal(row.status, 'skipped', `${id}: skipped without root`)
      t.match(row.reason, /root/, `${id}: says root is needed`)
      continue
    }
    if (row.status === 'skipped') { // only for a missing tool (nginx, openssl), never silently
      t.type(row.reason, 'string', `${id}: skipped with a reason`)
      continue
    }
    t.equal(row.rttMs, 50)
    checkArm(t, row, 'tfo', row.arms.tfo, j.config.n)
    checkArm(t, row, 'net', row.arms.net, j.config.n)
    if (row.arms.tfo.status === 'ok') {
      t.ok(isNum(row.ratio.median) && isNum(row.ratio.p90), `${id}: ratio`)
      t.ok(isNum(row.floor), `${id}: floor`)
      t.ok(row.arms.tfo.synData && Number.isInteger(row.arms.tfo.synData.yes) && row.arms.tfo.synData.of === row.arms.tfo.n + row.arms.tfo.errors, `${id}: SYN-data count recorded`)
      t.ok(row.kernel && row.kernel.client && isNum(row.kernel.client.active), `${id}: kernel counters recorded`)
      if (!id.startsWith('curl')) {
        t.ok(Array.isArray(row.arms.tfo.samples) && row.arms.tfo.samples.every((s) => 'synData' in s), `${id}: per-connection synData`)
        t.ok(row.firstContact, `${id}: first contact reported separately`)
        t.ok(isNum(row.ideal.tfoMs), `${id}: ideal`)
      }
    } else {
      t.equal(row.status, 'pending', `${id}: pending tfo arm makes a pending row`)
    }
  }

  // Loopback: always measured (private namespace as root, current one otherwise).
  for (const id of LOOPBACK_ROWS) {
    const row = rows.get(id)
    if (!row) continue
    t.equal(row.status, 'ok', `${id}: measured`)
    const n = id.startsWith('memory') ? j.config.memRounds : id.startsWith('throughput') ? j.config.bulkN : j.config.n
    checkArm(t, row, 'tfo', row.arms.tfo, n)
    checkArm(t, row, 'net', row.arms.net, n)
    t.ok(isNum(row.ratio && row.ratio.median), `${id}: ratio`)
    t.ok(isNum(row.ratio.paired), `${id}: paired ratio (median of per-iteration ratios)`)
    const ci = row.ratio.pairedCI95
    if (n >= 5) {
      t.ok(Array.isArray(ci) && ci.length === 2 && ci[0] <= row.ratio.paired + 1e-9 && row.ratio.paired <= ci[1] + 1e-9, `${id}: 95% CI around the paired ratio`)
    }
  }
  t.ok(j.loopback && j.loopback.env && typeof j.loopback.env.netns === 'string', 'loopback namespace recorded')
  if (ROOT) t.match(j.loopback.env.netns, /private/, 'as root: a private namespace')

  // Targets beside the values.
  const targets = new Map(j.targets.map((x) => [x.row, x]))
  for (const id of TARGET_ROWS) {
    const row = rows.get(id)
    if (!row) continue
    t.ok(row.target && isNum(row.target.value) && ['<=', '>='].includes(row.target.op), `${id}: target beside the value`)
    const x = targets.get(id)
    t.ok(x, `${id}: in targets[]`)
    if (!x) continue
    if (row.status === 'ok') {
      t.ok(isNum(x.measured), `${id}: measured ratio in targets[]`)
      const basis = id.startsWith('throughput') ? 'paired' : 'median'
      t.equal(x.basis, basis, `${id}: judged on the ${basis} ratio`)
      t.equal(x.measured, basis === 'paired' ? row.ratio.paired : row.ratio.median, `${id}: the judged ratio is the one in the row`)
      t.ok(x.withinNoise === null || (x.withinNoise === true && x.pass === false) || (x.withinNoise === false && x.pass === false), `${id}: withinNoise only qualifies a miss`)
      t.type(x.pass, 'boolean', `${id}: pass/miss decided`)
    } else {
      t.equal(x.pass, null, `${id}: no verdict without a measurement`)
    }
  }
})

t.test('verdicts: a miss is "within noise" only when its own 95% interval reaches the target', async (t) => {
  const { makeRow, arm } = require('../bench/lib/report')
  const row = (tfoValues, netValues) => makeRow({
    id: 'throughput.upload', scenario: 'throughput.upload', title: 't', unit: 'MB/s', better: 'higher',
    tfo: arm('tfo', tfoValues), net: arm('net', netValues), targetKey: 'throughput.upload',
  })
  const n = 100
  const net = Array.from({ length: n }, (_, i) => 2000 + (i % 7) * 10)
  // Tight and 3% slower: a plain miss.
  const slow = row(net.map((x) => x * 0.97), net)
  t.equal(slow.pass, false)
  t.equal(slow.withinNoise, false)
  // 1.2% slower in the median, but pair-to-pair noise of ±15%: not shown to be worse.
  const noisy = row(net.map((x, i) => x * (0.988 + ((i * 37) % 31 - 15) / 100)), net)
  t.equal(noisy.pass, false)
  t.equal(noisy.withinNoise, true)
  t.ok(noisy.ratio.pairedCI95[1] >= 0.99 && noisy.ratio.pairedCI95[0] < 0.99)
  // At par: a pass, with no qualifier.
  const par = row(net.slice(), net)
  t.equal(par.pass, true)
  t.equal(par.withinNoise, null)
})

t.test('bench rejects bad options', async (t) => {
  const r = await run(['--rtt', 'fast'])
  t.equal(r.code, 2)
  t.match(r.stderr, /--rtt/)
  const h = await run(['--help'])
  t.equal(h.code, 0)
  t.match(h.stdout, /--quick/)
})
