'use strict'
// A smaller run of the soak (bench/soak.js; `npm run soak` makes 100 000
// connections): 20 000 tfo connections (request in the SYN, response, close),
// 64 at a time. It must complete without an error, and fds and memory must be
// flat: fds back to the start, RSS and V8 heap after a full GC within the
// soak's bounds after a warm-up of 10 000 connections (the shortest warm-up
// after which RSS no longer ramps up; see bench/soak.js). No timing is
// asserted. bench/soak.js runs itself in a private network namespace
// (tcp_fastopen=3) when it can.
const t = require('tap')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const CONNECTIONS = 20000
const WARMUP = 10000

t.test(`soak: ${CONNECTIONS} connections complete, fds and memory stay flat`, async (t) => {
  const r = spawnSync(process.execPath, [
    path.join(__dirname, '..', 'bench', 'soak.js'),
    '--connections', String(CONNECTIONS),
    '--concurrency', '64',
    '--warmup', String(WARMUP),
    '--json',
  ], { encoding: 'utf8', timeout: 110_000, maxBuffer: 1 << 20 })
  t.equal(r.error, undefined, 'the soak ran to its end (no spawn error, no timeout)')
  t.equal(r.signal, null, 'not killed by a signal')
  let report = null
  try { report = JSON.parse(r.stdout.trim().split('\n').pop()) } catch {}
  t.ok(report, 'the soak reported', { stdout: r.stdout, stderr: r.stderr })
  if (!report) return
  const [start, warm, end] = report.samples
  t.comment(`fds ${start.fds} → ${warm.fds} → ${end.fds}; RSS ${start.rssMB} → ${warm.rssMB} → ${end.rssMB} MB; ` +
    `heap ${start.heapUsedMB} → ${warm.heapUsedMB} → ${end.heapUsedMB} MB; SYN data ${report.synData}/${report.completed}; ` +
    `${report.seconds} s; namespace ${report.environment.namespace}`)
  t.equal(report.completed, CONNECTIONS, 'every connection completed')
  t.equal(report.errors, 0, 'no errors', { firstErrors: report.firstErrors })
  t.equal(report.badReplies, 0, 'every response arrived whole')
  t.equal(end.fds, start.fds, 'fds back to the start')
  t.ok(report.checks.rssFlat, `RSS after the warm-up grew ${report.growthAfterWarmup.rssMB} MB (< ${report.bounds.rssMB})`)
  t.ok(report.checks.heapFlat, `heap after the warm-up grew ${report.growthAfterWarmup.heapUsedMB} MB (< ${report.bounds.heapUsedMB})`)
  t.equal(r.status, 0, 'the soak says OK')
  const bits = Number(report.environment.tcp_fastopen)
  if ((bits & 3) === 3) {
    t.ok(report.synDataRatio >= 0.99, `requests rode in the SYN: ${report.synData}/${report.completed}`)
    t.equal(report.serverSynData, report.synData, 'the server saw as many SYNs with data')
  } else {
    t.comment(`tcp_fastopen=${report.environment.tcp_fastopen} here: SYN data not expected (${report.environment.note || ''})`)
  }
})
