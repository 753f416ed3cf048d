'use strict'
// examples/: each program runs as a user would run it (`node examples/x.js`,
// on the current Node, requiring the package by its name) and does what its
// top comment says, checked from outside: exit code 0, nothing on stderr, its
// output, and the kernel's TcpExt counters of the namespace it ran in.
//
// The file runs in a private network namespace (helpers/netns.js), and each
// example in a fresh one nested inside it (lo up, net.ipv4.tcp_fastopen as
// given): so no cookie is cached from an earlier example (each first request
// really is first contact), and the namespace's counters start at zero and are
// exactly the example's own. The counters are read by the namespace's shell
// after the example has exited.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const { execFile } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const EXAMPLES = ['express', 'fastify', 'fetch-rollout', 'http2', 'cluster']
t.comment(`examples run with ${process.execPath} (${process.version})`)

/** TcpExt counters of a /proc/net/netstat text, by the kernel's names. */
function tcpExt(text) {
  const [names, values] = text
    .split('\n')
    .filter((l) => l.startsWith('TcpExt:'))
    .map((l) => l.split(/\s+/).slice(1))
  return Object.fromEntries(names.map((name, i) => [name, Number(values[i])]))
}

/** Runs examples/<name>.js in a fresh network namespace: { code, signal, stdout, stderr, counters }. */
function runExample(name, { tcpFastopen = 3 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-example-'))
  const netstat = path.join(dir, 'netstat')
  const script = [
    'set -e',
    'ip link set lo up',
    `echo ${tcpFastopen} > /proc/sys/net/ipv4/tcp_fastopen`,
    'set +e',
    '"$@"',
    'rc=$?',
    `cat /proc/net/netstat > '${netstat}'`,
    'exit $rc',
  ].join('\n')
  const file = path.join(ROOT, 'examples', `${name}.js`)
  return new Promise((resolve) => {
    execFile('unshare', ['--net', 'sh', '-c', script, 'example', process.execPath, file], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      const text = fs.existsSync(netstat) ? fs.readFileSync(netstat, 'utf8') : ''
      fs.rmSync(dir, { recursive: true, force: true })
      resolve({ code: err ? err.code : 0, signal: err ? err.signal : null, stdout, stderr, counters: text ? tcpExt(text) : null })
    })
  })
}

function ranCleanly(t, r) {
  t.equal(r.code, 0, 'exit code 0')
  t.equal(r.signal, null, 'exited on its own (not killed by the 60 s bound)')
  t.equal(r.stderr, '', 'nothing on stderr')
  t.ok(r.counters, "the namespace's counters were read after it exited")
}

t.test('every example has a top comment saying what it demonstrates and what it prints, and requires tfo by name', async (t) => {
  for (const name of EXAMPLES) {
    const src = fs.readFileSync(path.join(ROOT, 'examples', `${name}.js`), 'utf8')
    t.match(src, /What it demonstrates:/, `${name}: what it demonstrates`)
    t.match(src, /What it prints[^\n]*exits with code 0/, `${name}: what it prints`)
    t.match(src, /require\('tfo'\)/, `${name}: require('tfo')`)
    t.notMatch(src, /require\('\.\.?\//, `${name}: no relative require of the library`)
  }
})

for (const name of ['express', 'fastify']) {
  t.test(`examples/${name}.js: first request asks for a cookie, the returning one rides in the SYN`, async (t) => {
    const r = await runExample(name)
    ranCleanly(t, r)
    const lines = r.stdout.trim().split('\n')
    t.equal(lines.length, 2, 'one line per request')
    t.match(lines[0], /^request 1 \(first contact\): cookie=requested synData=false; the server saw SYN data: false$/)
    t.match(lines[1], /^request 2 \(returning\): +cookie=sent synData=true; the server saw SYN data: true$/)
    t.match(
      r.counters,
      { TCPFastOpenCookieReqd: 1, TCPFastOpenActive: 1, TCPFastOpenPassive: 1, TCPFastOpenPassiveFail: 0 },
      "the kernel: one cookie asked for, one SYN's data accepted",
    )
  })
}

t.test('the checks can fail: examples/express.js where the server bit is off (tcp_fastopen=1)', async (t) => {
  const r = await runExample('express', { tcpFastopen: 1 })
  t.equal(r.code, 0, 'it still serves and exits 0')
  t.match(r.stderr, /TFO_SERVER_INACTIVE|TFOWarning/, 'the server warns that TFO is inactive')
  t.notMatch(r.stdout, /synData=true/, 'no request rode in the SYN')
  t.match(r.counters, { TCPFastOpenPassive: 0, TCPFastOpenActive: 0 })
})

/** Prometheus text: families with HELP and TYPE, then their samples; returns the samples, failing on anything else. */
function parsePrometheus(t, lines) {
  const types = new Map()
  const samples = []
  for (const line of lines) {
    let m
    if (/^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$/.test(line)) continue
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      types.set(m[1], m[2])
      continue
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\} (\S+)$/.exec(line)
    if (!m || !types.has(m[1]) || Number.isNaN(Number(m[3]))) {
      t.fail(`not a sample of a declared family: ${line}`)
      continue
    }
    const labels = Object.fromEntries([...m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]))
    samples.push({ name: m[1], labels, value: Number(m[3]) })
  }
  return samples
}

t.test('examples/fetch-rollout.js: both cohorts, control connections counted, Prometheus text with the cohort label', async (t) => {
  const r = await runExample('fetch-rollout')
  ranCleanly(t, r)
  const lines = r.stdout.trim().split('\n')
  const cohort = (label) => {
    const line = lines.find((l) => l.startsWith(`cohort ${label}:`))
    if (!line) return null
    const fields = Object.fromEntries([...line.matchAll(/(\w+)=(\{.*?\}|\S+)/g)].map((m) => [m[1], m[2]]))
    return { ...fields, connections: Number(fields.connections), attempted: Number(fields.attempted), synDataAcked: Number(fields.synDataAcked) }
  }
  const tfoCohort = cohort('tfo')
  const control = cohort('control')
  t.ok(tfoCohort && control, 'a line per cohort')
  t.equal(tfoCohort.connections + control.connections, 40, '20 fetches and 20 agent requests, one connection each')
  t.ok(tfoCohort.connections > 0, `the tfo cohort has connections (${tfoCohort.connections})`)
  t.ok(control.connections > 0, `the control cohort has connections (${control.connections})`)
  t.equal(tfoCohort.attempted, tfoCohort.connections, 'every tfo-cohort connection attempted TFO')
  t.equal(Number(tfoCohort.cookieRequested), 1, 'one cookie asked for')
  t.equal(tfoCohort.synDataAcked, tfoCohort.connections - 1, 'every returning tfo-cohort connection carried its request in the SYN')
  t.equal(control.attempted, 0, 'no control connection attempted TFO')
  t.equal(control.synDataAcked, 0)
  t.same(JSON.parse(control.notAttempted), { 'rollout: not sampled': control.connections }, 'control connections counted, with the reason')
  t.match(
    r.counters,
    {
      TCPFastOpenCookieReqd: 1,
      TCPFastOpenActive: tfoCohort.synDataAcked,
      TCPFastOpenPassive: tfoCohort.synDataAcked,
      TCPFastOpenPassiveFail: 0,
    },
    "the kernel's counts agree: only the tfo cohort's SYNs carried data",
  )

  const samples = parsePrometheus(
    t,
    lines.filter((l) => !l.startsWith('cohort ')),
  )
  t.ok(samples.length >= 10, `Prometheus samples printed (${samples.length})`)
  t.ok(
    samples.every((s) => s.labels.cohort === 'tfo' || s.labels.cohort === 'control'),
    'every sample has the cohort label',
  )
  const value = (name, labels) => samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
  t.equal(value('tfo_client_connections_total', { cohort: 'tfo' }), tfoCohort.connections)
  t.equal(value('tfo_client_connections_total', { cohort: 'control' }), control.connections)
  t.equal(value('tfo_client_syn_data_acked_total', { cohort: 'tfo' }), tfoCohort.synDataAcked)
  t.equal(value('tfo_client_attempts_total', { cohort: 'control' }), 0)
  t.equal(value('tfo_client_not_attempted_total', { cohort: 'control', reason: 'rollout: not sampled' }), control.connections)
})

t.test("examples/http2.js: the second session's ClientHello rides in the SYN", async (t) => {
  const r = await runExample('http2')
  ranCleanly(t, r)
  const lines = r.stdout.trim().split('\n')
  t.equal(lines.length, 2, 'one line per session')
  t.match(lines[0], /^session 1 \(first contact\): cookie=requested synData=false synDataBytes=0; server saw SYN data: false; :status 200$/)
  const m = /^session 2 \(returning\): +cookie=sent synData=true synDataBytes=(\d+); server saw SYN data: true; :status 200$/.exec(lines[1])
  t.ok(m, `session 2 rode in the SYN: ${lines[1]}`)
  // A TLS 1.3 ClientHello is at least a few hundred bytes (Node 20 ~360, 22+ ~1,580).
  t.ok(m && Number(m[1]) > 200, 'the SYN carried the ClientHello')
  t.match(r.counters, { TCPFastOpenCookieReqd: 1, TCPFastOpenActive: 1, TCPFastOpenPassive: 1, TCPFastOpenPassiveFail: 0 })
})

t.test('examples/cluster.js: a cookie from one worker is accepted by another with the same secret, refused by one without', async (t) => {
  const r = await runExample('cluster')
  ranCleanly(t, r)
  const lines = r.stdout.trim().split('\n')
  t.equal(lines.length, 3, 'one line per worker')
  const re = (w, cookie, synData) => new RegExp(`^worker ${w} \\(pid (\\d+), key derived\\): cookie=${cookie} synData=${synData}$`)
  const a = re('a', 'requested', false).exec(lines[0])
  const b = re('b', 'sent', true).exec(lines[1])
  const c = re('c', 'sent', false).exec(lines[2])
  t.ok(a, `worker a issued the cookie: ${lines[0]}`)
  t.ok(b, `worker b accepted it: ${lines[1]}`)
  t.ok(c, `worker c refused it: ${lines[2]}`)
  t.equal(new Set([a?.[1], b?.[1], c?.[1]]).size, 3, 'three processes answered')
  t.match(
    r.counters,
    {
      TCPFastOpenCookieReqd: 1,
      TCPFastOpenPassive: 1, // b
      TCPFastOpenPassiveFail: 1, // c: the cookie did not match its key
    },
    'the kernel: one SYN with data accepted, one cookie refused',
  )
})
