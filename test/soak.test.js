'use strict'
// A smaller run of the soak (bench/soak.js; `npm run soak` makes 100 000
// connections): 40 000 tfo connections (request in the SYN, response, close),
// 64 at a time, and the same churn with plain net as the baseline. It must
// complete without an error, and fds and memory must be flat: fds back to
// the start, the V8 heap after a full GC within the soak's bound after a
// warm-up of 20 000 connections, and RSS growth after the warm-up within
// net's own in the same run (see RSS_SLACK_MB). No timing is asserted. bench/soak.js runs itself in a private network namespace
// (tcp_fastopen=3) when it can.
const t = require('tap')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const CONNECTIONS = 40000
const WARMUP = 20000
// RSS after the warm-up may grow with the Node version's own allocator and
// GC behaviour even with 1 MB semi-spaces (see soak() below): Node 26 keeps
// ramping past 10 000 connections, with net exactly as with tfo. So the RSS
// check is side by side: the same churn with plain net in the same run sets
// the baseline, and tfo may exceed net's growth by at most this much
// (~500 bytes per connection after the warm-up: any leaked per-connection
// object of tfo's, JS or native, is larger). The heap check stays absolute:
// the V8 heap after a full GC is exact for JS objects.
const RSS_SLACK_MB = 10

function soak(module) {
  const r = spawnSync(
    process.execPath,
    [
      path.join(__dirname, '..', 'bench', 'soak.js'),
      '--connections',
      String(CONNECTIONS),
      '--concurrency',
      '64',
      '--warmup',
      String(WARMUP),
      '--module',
      module,
      '--json',
    ],
    {
      encoding: 'utf8',
      timeout: 110_000,
      maxBuffer: 1 << 20,
      // V8's young generation grows towards its largest size under this churn,
      // and on Node 24 and 26 that alone adds 50-70 MB of RSS after the
      // warm-up, with net as with tfo (measured): a bound on RSS would then
      // measure V8's sizing, not a leak. With 1 MB semi-spaces both arms stay
      // within a few MB (Node 24: net +4.8, tfo +0.4), as the benchmark's
      // memory children run.
      env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-semi-space-size=1`.trim() },
    },
  )
  let report = null
  try {
    report = JSON.parse(r.stdout.trim().split('\n').pop())
  } catch {}
  return { r, report }
}

t.test(`soak: ${CONNECTIONS} connections complete, fds and memory stay flat (RSS side by side with net)`, async (t) => {
  const base = soak('net')
  const { r, report } = soak('tfo')
  t.equal(r.error, undefined, 'the soak ran to its end (no spawn error, no timeout)')
  t.equal(r.signal, null, 'not killed by a signal')
  t.ok(report, 'the soak reported', { stdout: r.stdout, stderr: r.stderr })
  t.ok(base.report, 'the net baseline reported', { stdout: base.r.stdout, stderr: base.r.stderr })
  if (!report || !base.report) return
  const [start, warm, end] = report.samples
  const netGrowth = base.report.growthAfterWarmup.rssMB
  t.comment(
    `fds ${start.fds} → ${warm.fds} → ${end.fds}; RSS ${start.rssMB} → ${warm.rssMB} → ${end.rssMB} MB; ` +
      `heap ${start.heapUsedMB} → ${warm.heapUsedMB} → ${end.heapUsedMB} MB; SYN data ${report.synData}/${report.completed}; ` +
      `${report.seconds} s; namespace ${report.environment.namespace}; net baseline: RSS growth ${netGrowth} MB`,
  )
  t.equal(report.completed, CONNECTIONS, 'every connection completed')
  t.equal(report.errors, 0, 'no errors', { firstErrors: report.firstErrors })
  t.equal(report.badReplies, 0, 'every response arrived whole')
  t.equal(end.fds, start.fds, 'fds back to the start')
  const growth = report.growthAfterWarmup.rssMB
  t.ok(
    growth <= netGrowth + RSS_SLACK_MB,
    `RSS after the warm-up grew ${growth} MB, net's ${netGrowth} MB in the same run (tfo may exceed it by < ${RSS_SLACK_MB} MB)`,
  )
  t.ok(report.checks.heapFlat, `heap after the warm-up grew ${report.growthAfterWarmup.heapUsedMB} MB (< ${report.bounds.heapUsedMB})`)
  t.equal(base.report.completed, CONNECTIONS, 'the net baseline completed too')
  const bits = Number(report.environment.tcp_fastopen)
  if ((bits & 3) === 3) {
    t.ok(report.synDataRatio >= 0.99, `requests rode in the SYN: ${report.synData}/${report.completed}`)
    t.equal(report.serverSynData, report.synData, 'the server saw as many SYNs with data')
  } else {
    t.comment(`tcp_fastopen=${report.environment.tcp_fastopen} here: SYN data not expected (${report.environment.note || ''})`)
  }
})
