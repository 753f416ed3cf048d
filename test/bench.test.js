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

function run(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BENCH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d
    })
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d
    })
    const timer = setTimeout(() => {
      try {
        process.kill(child.pid, 'SIGTERM')
      } catch {}
    }, 200000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

const isNum = (x) => typeof x === 'number' && Number.isFinite(x)

const WAN_ROWS = ['tcp@50', 'http@50', 'https@50', 'h2@50', 'h2c@50', 'curl.http@50', 'curl.https@50']
const LOOPBACK_ROWS = [
  'throughput.upload',
  'throughput.download',
  'connrate',
  'connrate.clientCpu',
  'connrate.serverCpu',
  'accept',
  'accept.serverCpu',
  'memory.client',
  'memory.server',
]
const TARGET_ROWS = ['tcp@50', 'http@50', 'https@50', 'throughput.upload', 'throughput.download', 'connrate', 'memory.client', 'memory.server']

function checkArm(t, row, name, a, n) {
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
    if (row.status === 'skipped') {
      // only for a missing tool (nginx, openssl), never silently
      t.type(row.reason, 'string', `${id}: skipped with a reason`)
      continue
    }
    t.equal(row.rttMs, 50)
    checkArm(t, row, 'tfo', row.arms.tfo, j.config.n)
    checkArm(t, row, 'net', row.arms.net, j.config.n)
    if (row.arms.tfo.status === 'ok') {
      t.ok(isNum(row.ratio.median) && isNum(row.ratio.p90), `${id}: ratio`)
      t.ok(isNum(row.floor), `${id}: floor`)
      t.ok(
        row.arms.tfo.synData && Number.isInteger(row.arms.tfo.synData.yes) && row.arms.tfo.synData.of === row.arms.tfo.n + row.arms.tfo.errors,
        `${id}: SYN-data count recorded`,
      )
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
      t.ok(
        Array.isArray(ci) && ci.length === 2 && ci[0] <= row.ratio.paired + 1e-9 && row.ratio.paired <= ci[1] + 1e-9,
        `${id}: 95% CI around the paired ratio`,
      )
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
      t.ok(
        x.withinNoise === null || (x.withinNoise === true && x.pass === false) || (x.withinNoise === false && x.pass === false),
        `${id}: withinNoise only qualifies a miss`,
      )
      t.type(x.pass, 'boolean', `${id}: pass/miss decided`)
    } else {
      t.equal(x.pass, null, `${id}: no verdict without a measurement`)
    }
  }
})

t.test('verdicts: a miss is "within noise" only when its own 95% interval reaches the target', async (t) => {
  const { makeRow, arm } = require('../bench/lib/report')
  const row = (tfoValues, netValues) =>
    makeRow({
      id: 'throughput.upload',
      scenario: 'throughput.upload',
      title: 't',
      unit: 'MB/s',
      better: 'higher',
      tfo: arm('tfo', tfoValues),
      net: arm('net', netValues),
      targetKey: 'throughput.upload',
    })
  const n = 100
  const net = Array.from({ length: n }, (_, i) => 2000 + (i % 7) * 10)
  // Tight and 3% slower: a plain miss.
  const slow = row(
    net.map((x) => x * 0.97),
    net,
  )
  t.equal(slow.pass, false)
  t.equal(slow.withinNoise, false)
  // 1.2% slower in the median, but pair-to-pair noise of ±15%: not shown to be worse.
  const noisy = row(
    net.map((x, i) => x * (0.988 + (((i * 37) % 31) - 15) / 100)),
    net,
  )
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

// ---------------------------------------------------------------- lossy paths (bench/lib/loss.js)

t.test('loss rows: SYN-data notes and flags, the first-SYN target', async (t) => {
  const { makeRow, arm, notes, verdict, formatTable } = require('../bench/lib/report')
  const { synDataOf, lineDiff } = require('../bench/lib/loss')
  const sample = (o) => ({ ms: 100, error: null, synData: false, attempted: true, cookie: 'sent', failure: null, reason: null, ...o })
  const tfoSamples = [
    ...Array.from({ length: 7 }, () => sample({ synData: true })),
    sample({ ms: 1210, failure: 'syn-retransmitted' }), // its SYN (with the data) was lost: the path, not tfo
    sample({ attempted: false, cookie: 'none', reason: 'backoff: TFO to 198.18.0.2:7101 paused for 59 s after two retransmitted SYNs in a row' }),
    sample({ failure: 'data-not-acked' }),
  ]
  const sd = synDataOf(tfoSamples)
  t.same(sd, { yes: 7, of: 10, lost: 1, paused: 1, source: 'client TCP_INFO (socket.fastOpen)' }, 'acked, lost, paused counted from the samples')
  const row = (samples, netMs = 200, extra = {}) =>
    makeRow({
      id: 'loss1.tcp@100',
      scenario: 'loss.tcp',
      title: 'TCP req/resp TTFB, 1% loss',
      rttMs: 100,
      unit: 'ms',
      better: 'lower',
      tfo: arm(
        'tfo',
        samples.map((x) => x.ms),
        { samples, synData: synDataOf(samples) },
      ),
      net: arm(
        'net',
        samples.map(() => netMs),
      ),
      extra,
    })
  const mixed = row(tfoSamples)
  t.match(notes(mixed), /^SYN data 7\/10 \(1 SYN lost, 1 paused by backoff\)/, 'notes: hit rate with the lost and the paused')
  t.same(
    mixed.flags,
    ['only 7/10 tfo connections carried data in the SYN (1 lost their SYN, 1 not attempted: backoff)'],
    'what loss does not explain is flagged',
  )
  t.equal(verdict(mixed), '⚠')
  // Every connection that did not ride the SYN lost its SYN to the path: no flag.
  const lossOnly = row([...tfoSamples.slice(0, 8), sample({ ms: 1190, failure: 'syn-retransmitted' })])
  t.same(lossOnly.flags, [], 'SYNs lost on the path are not tfo falling short')
  t.match(notes(lossOnly), /^SYN data 7\/9 \(2 SYN lost\)/)
  t.equal(verdict(lossOnly), '')

  // The dedicated row: first SYN of every connection dropped; its target is tfo/net <= 1.01.
  const firstSyn = (tfoMs, netMs) =>
    makeRow({
      id: 'firstsyn.tcp@100',
      scenario: 'loss.firstsyn',
      title: 'TCP TTFB, 1st SYN of each conn dropped',
      rttMs: 100,
      unit: 'ms',
      better: 'lower',
      tfo: arm('tfo', tfoMs, {
        samples: tfoMs.map((ms) => sample({ ms, failure: 'syn-retransmitted' })),
        synData: synDataOf(tfoMs.map((ms) => sample({ ms, failure: 'syn-retransmitted' }))),
      }),
      net: arm('net', netMs),
      targetKey: 'firstsyn.tcp',
    })
  const base = Array.from({ length: 20 }, (_, i) => 1213 + (i % 5))
  const same = firstSyn(
    base,
    base.map((x) => x + 1),
  )
  t.equal(same.pass, true, 'as fast as net: pass')
  t.same(same.flags, [], 'every tfo connection lost its SYN (with data): expected, not flagged')
  t.match(notes(same), /SYN data 0\/20 \(20 SYN lost\)/)
  const worse = firstSyn(
    base.map((x) => x + 100),
    base,
  ) // one extra RTT for tfo: what the row is there to catch
  t.equal(worse.pass, false, 'an extra round trip after a lost SYN with data: MISS')
  t.equal(verdict(worse), 'MISS')

  // Delay-line counters are diffed field by field, nested ones too.
  t.same(
    lineDiff(
      { lossSyn: 1, clientToServer: { rx: 10, lossSynData: 0 }, rttMs: 100 },
      { lossSyn: 4, clientToServer: { rx: 25, lossSynData: 2 }, rttMs: 100, dropSynData: false },
    ),
    { lossSyn: 3, clientToServer: { rx: 15, lossSynData: 2 }, rttMs: 0 },
  )

  // The table names what the loss rows are when a run has them.
  const report = {
    startedAt: new Date(0).toISOString(),
    durationS: 60,
    machine: {
      os: 'Linux',
      kernel: 'k',
      arch: 'x64',
      cpus: 2,
      cpuModel: 'cpu',
      node: process.version,
      memoryMB: 1024,
      loadavgStart: [0.1, 0, 0],
      loadavgEnd: [0.2, 0, 0],
    },
    config: { n: 80, loss: 0, lossRows: { rtt: 100, rates: [0.01, 0.03], n: 200, firstSynN: 40, dropDataN: 40, lanes: 4, seed: 1 } },
    wan: [{}],
    loopback: null,
    targets: [],
    rows: [mixed, same],
  }
  t.match(
    formatTable(report),
    /Lossy paths \(loss rows\): RTT 100 ms; random loss drops every packet in either direction independently with probability P \(seed 1\); N = 200 per arm/,
  )
})

t.test('bench --quick --only loss: the loss rows (skipped with the reason without root)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-bench-test-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const out = path.join(dir, 'loss.json')
  const r = await run(['--quick', '--only', 'loss', '--json-out', out])
  t.equal(r.code, 0, `exit 0\n${r.stderr.slice(-3000)}`)
  const j = JSON.parse(fs.readFileSync(out, 'utf8'))
  const ids = ['loss1.tcp@100', 'loss1.https@100', 'loss3.tcp@100', 'loss3.https@100', 'firstsyn.tcp@100', 'dropdata.tcp@100']
  t.same(
    j.rows.map((x) => x.id),
    ids,
    'the loss rows, and nothing else',
  )
  t.match(j.config.lossRows, { rtt: 100, rates: [0.01, 0.03], seed: 1 })
  const rows = new Map(j.rows.map((x) => [x.id, x]))
  if (!ROOT) {
    for (const x of j.rows) {
      t.equal(x.status, 'skipped', `${x.id}: skipped without root`)
      t.match(x.reason, /root/, `${x.id}: says root is needed`)
    }
    return
  }
  for (const x of j.rows) {
    t.equal(x.status, 'ok', `${x.id}: measured${x.reason ? ` (${x.reason})` : ''}`)
    if (x.status !== 'ok') continue
    checkArm(
      t,
      x,
      'tfo',
      x.arms.tfo,
      x.id.startsWith('firstsyn') ? j.config.lossRows.firstSynN : x.id.startsWith('dropdata') ? j.config.lossRows.dropDataN : j.config.lossRows.n,
    )
    checkArm(t, x, 'net', x.arms.net)
    const d = x.extra.delayLine
    t.ok(
      d && isNum(d.clientToServer.rx) && isNum(d.lossSyn) && isNum(d.lossSynData) && isNum(d.lossSynack),
      `${x.id}: delay-line counters of the measured connections`,
    )
    const sd = x.arms.tfo.synData
    t.equal(
      sd.yes + sd.lost + sd.paused + x.arms.tfo.samples.filter((s) => !s.synData && s.failure !== 'syn-retransmitted' && s.attempted !== false).length,
      sd.of,
      `${x.id}: every tfo connection accounted for`,
    )
  }
  const fs1 = rows.get('firstsyn.tcp@100')
  const n = j.config.lossRows.firstSynN
  // Counted by the delay line: exactly one first SYN per measured connection, with data for tfo, plain for net.
  t.equal(fs1.extra.delayLine.firstSynDataDropped, n, 'firstsyn: one SYN with data dropped per tfo connection')
  t.equal(fs1.extra.delayLine.firstSynDropped, n, 'firstsyn: one plain SYN dropped per net connection')
  t.equal(fs1.extra.delayLine.clientToServer.synSeen, 4 * n, 'firstsyn: each connection sent its SYN twice (the retransmission passed)')
  t.equal(fs1.extra.delayLine.lossDropped, 0, 'firstsyn: no random loss')
  t.equal(fs1.arms.tfo.synData.lost, n, 'firstsyn: the kernel reports every tfo SYN retransmitted')
  t.ok(fs1.target && fs1.target.text === '≤ 1.01' && typeof fs1.pass === 'boolean', 'firstsyn: judged against its target')
  const dd = rows.get('dropdata.tcp@100')
  t.equal(
    dd.extra.delayLine.synDataDropped,
    dd.arms.tfo.synData.lost,
    'dropdata: each SYN with data the line dropped is a tfo connection that paid the retransmission',
  )
  t.equal(dd.arms.tfo.synData.yes, 0, 'dropdata: no SYN data gets through')
  for (const p of [1, 3]) {
    const x = rows.get(`loss${p}.tcp@100`)
    t.equal(x.extra.loss.rate, p / 100, `loss${p}: the rate`)
    t.equal(
      x.extra.delayLine.lossSyn + x.extra.delayLine.lossSynData <= x.extra.delayLine.lossDropped,
      true,
      `loss${p}: lost SYNs are part of the lost packets`,
    )
  }
})

// The delay line itself (bench/delayline.c): drops exactly what it should, by its own counters.
const ROOT_SKIP = ROOT ? false : 'the emulated WAN needs root (network namespaces, TUN); CI runs as root'

t.test('delay line: drop-first-syn drops the first SYN of each connection once; loss counted by kind', { skip: ROOT_SKIP }, async (t) => {
  const { createWan } = require('../bench/lib/wan')
  const LIB = path.join(__dirname, '..')
  const wan = await createWan({ rttMs: 10, tag: 'bench.test' })
  t.teardown(() => wan.close())
  const server = wan.spawn(
    'server',
    process.execPath,
    [
      '-e',
      `
    const tfo = require(${JSON.stringify(LIB)}); const net = require('node:net'); const dgram = require('node:dgram')
    const h = (s) => { s.on('error', () => {}); s.on('data', () => s.end('pong')) }
    const u = dgram.createSocket('udp4'); const got = []
    u.on('message', (m) => { if (String(m) === 'report') u.send(JSON.stringify(got.splice(0)), 7003, '198.18.0.1'); else got.push(Number(m)) })
    u.bind(7003, '198.18.0.2')
    tfo.createServer(h).listen(7001, '198.18.0.2', () => net.createServer(h).listen(7002, '198.18.0.2', () => console.log('ready')))`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  await new Promise((resolve) => server.stdout.once('data', resolve))
  // Client: `conns` connections one after another, each arm; prints their outcomes.
  const CLIENT = `
    const tfo = require(${JSON.stringify(LIB)}); const net = require('node:net')
    const [arm, count, waitMs] = process.argv.slice(1)
    tfo.configureBackoff({ enabled: false })
    const one = () => new Promise((resolve) => {
      const s = (arm === 'tfo' ? tfo : net).connect(arm === 'tfo' ? 7001 : 7002, '198.18.0.2')
      s.write('ping'); let data = ''
      s.on('data', (d) => { data += d }); s.on('error', (e) => { data = e.code })
      const timer = +waitMs ? setTimeout(() => s.destroy(), +waitMs) : null
      s.on('close', () => { clearTimeout(timer); resolve({ data, fastOpen: s.fastOpen || null }) })
    })
    ;(async () => { const out = []; for (let i = 0; i < +count; i++) out.push(await one()); console.log(JSON.stringify(out)) })()`
  const client = async (arm, count, waitMs = 0) => {
    const r = await wan.exec('client', process.execPath, ['-e', CLIENT, arm, String(count), String(waitMs)], { timeout: 60000 })
    t.equal(r.code, 0, `${arm} client ran ${r.stderr}`)
    return JSON.parse(r.stdout)
  }
  const delta = async (fn) => {
    const a = await wan.stats()
    const x = await fn()
    const b = await wan.stats()
    return { x, d: require('../bench/lib/loss').lineDiff(a, b) }
  }

  await client('tfo', 2) // first contact: the cookie (needs the first SYN to pass)
  await wan.setDropFirstSyn(true)
  const tfoRun = await delta(() => client('tfo', 3))
  t.ok(
    tfoRun.x.every((c) => c.data === 'pong'),
    'tfo: every connection served',
  )
  t.ok(
    tfoRun.x.every((c) => c.fastOpen && c.fastOpen.cookie === 'sent' && c.fastOpen.failure === 'syn-retransmitted'),
    'tfo: each sent SYN data, the kernel saw its SYN retransmitted',
  )
  t.match(
    tfoRun.d,
    {
      firstSynDataDropped: 3,
      firstSynDropped: 0,
      lossDropped: 0,
      synDataDropped: 0,
      clientToServer: { synSeen: 6, firstSynDataDropped: 3 },
      serverToClient: { synSeen: 0, firstSynDropped: 0 },
    },
    'tfo: exactly the 3 first SYNs (with data) dropped; their retransmissions passed',
  )
  const netRun = await delta(() => client('net', 3))
  t.ok(
    netRun.x.every((c) => c.data === 'pong'),
    'net: every connection served',
  )
  t.match(
    netRun.d,
    { firstSynDataDropped: 0, firstSynDropped: 3, lossDropped: 0, clientToServer: { synSeen: 6, synDataSeen: 0 } },
    'net: exactly the 3 first plain SYNs dropped; their retransmissions passed',
  )
  t.equal(netRun.d.dropped, 3, 'nothing else dropped')
  await wan.setDropFirstSyn(false)
  const off = await delta(() => client('tfo', 2))
  t.match(
    off.d,
    { firstSynDataDropped: 0, firstSynDropped: 0, clientToServer: { synSeen: 2, synDataSeen: 2 } },
    'off: nothing dropped, the SYNs carry data again',
  )

  // Random loss at 1: every packet is lost, counted by kind (a SYN with data, plain SYNs).
  await wan.setLoss(1)
  const lost = await delta(() => client('tfo', 1, 1500)) // SYN with data at 0, a plain retransmission at 1 s
  await wan.setLoss(0)
  t.match(lost.d, { lossSynData: 1, lossSynack: 0, clientToServer: { lossSynData: 1, synDataSeen: 1 } }, 'loss: the SYN with data counted as such')
  t.ok(lost.d.lossSyn >= 1 && lost.d.lossSyn === lost.d.clientToServer.synSeen - 1, 'loss: its plain retransmissions counted as plain SYNs')
})

t.test('delay line: seeded loss repeats, one stream per direction', { skip: ROOT_SKIP }, async (t) => {
  // 200 datagrams client → server at loss 0.3: which ones arrive depends only on
  // the seed, not on what the other direction carries (the server echoes each
  // datagram in the second run: that direction draws from its own stream).
  const { createWan } = require('../bench/lib/wan')
  const SERVER = `
    const u = require('node:dgram').createSocket('udp4'); const echo = process.argv[1] === 'echo'
    u.on('message', (m, from) => { console.log(String(m)); if (echo) u.send(m, from.port, from.address) })
    u.bind(7003, '198.18.0.2', () => console.log('ready'))`
  const CLIENT = `
    const u = require('node:dgram').createSocket('udp4'); u.on('message', () => {})
    u.bind(0, '198.18.0.1', async () => {
      for (let i = 0; i < 200; i++) { await new Promise((r) => u.send(String(i), 7003, '198.18.0.2', r)); await new Promise((r) => setImmediate(r)) }
      setTimeout(() => u.close(), 100)
    })`
  const pattern = async (seed, echo) => {
    const wan = await createWan({ rttMs: 2, seed, tag: 'bench.test.seed' })
    try {
      const srv = wan.spawn('server', process.execPath, ['-e', SERVER, echo ? 'echo' : 'quiet'], { stdio: ['ignore', 'pipe', 'inherit'] })
      let out = ''
      srv.stdout.setEncoding('utf8').on('data', (d) => {
        out += d
      })
      while (!out.includes('ready')) await new Promise((resolve) => setTimeout(resolve, 20))
      // Wait for the interfaces' own packets (IPv6 MLD reports after link-up) to stop: none may take a draw.
      for (let quiet = 0, last = -1; quiet < 2;) {
        const rx = (await wan.stats()).clientToServer.rx
        quiet = rx === last ? quiet + 1 : 0
        last = rx
        await new Promise((resolve) => setTimeout(resolve, 700))
      }
      const a = await wan.stats()
      await wan.setLoss(0.3)
      const r = await wan.exec('client', process.execPath, ['-e', CLIENT], { timeout: 20000 })
      await new Promise((resolve) => setTimeout(resolve, 100))
      await wan.setLoss(0)
      const b = await wan.stats()
      t.equal(r.code, 0, `client ran ${r.stderr}`)
      const got = out
        .split('\n')
        .filter((l) => /^\d+$/.test(l))
        .map(Number)
      return {
        got,
        rx: b.clientToServer.rx - a.clientToServer.rx,
        lost: b.clientToServer.lossDropped - a.clientToServer.lossDropped,
        back: b.serverToClient.rx - a.serverToClient.rx,
      }
    } finally {
      await wan.close()
    }
  }
  const one = await pattern(7, false)
  const two = await pattern(7, true)
  const other = await pattern(8, false)
  t.equal(one.rx, 200, 'run 1: exactly the 200 datagrams entered the line')
  t.equal(two.rx, 200, 'run 2: exactly the 200 datagrams entered the line')
  t.equal(one.lost + one.got.length, 200, 'run 1: each datagram lost (counted) or delivered')
  t.ok(one.lost > 30 && one.lost < 90, `run 1: about 30% lost (${one.lost})`)
  t.ok(two.back > 0, `run 2: the server echoed (${two.back} packets the other way)`)
  t.same(two.got, one.got, 'same seed: the same datagrams dropped, whatever the other direction carried')
  t.not(JSON.stringify(other.got), JSON.stringify(one.got), 'another seed: another pattern')
})
