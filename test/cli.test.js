'use strict'
// The `tfo doctor`, `tfo enable` and `tfo stats` commands, run as the built CLI
// in child processes. Runs in a private network namespace that starts at
// net.ipv4.tcp_fastopen=1 (like every container); the host is never touched.
const { enterNetns, setTcpFastopen } = require('./helpers/netns')
if (enterNetns(__filename, { tcpFastopen: 1 })) return

const t = require('tap')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { once } = require('node:events')
const tfo = require('..')
const { listen, closeServer, collect, sinkServer } = require('./helpers/util')

const CLI = path.join(__dirname, '..', 'dist', 'cli', 'main.js')
const SYSCTL = '/proc/sys/net/ipv4/tcp_fastopen'

function cli(args) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30000, cwd: '/' })
}

/** The CLI as uid/gid 65534, without the test runner's NODE_OPTIONS hooks (they write where that user cannot). */
function cliAsNobody(args) {
  return spawnSync('env', ['-u', 'NODE_OPTIONS', process.execPath, CLI, ...args], { encoding: 'utf8', timeout: 30000, cwd: '/', uid: 65534, gid: 65534 })
}
// Switching to uid 65534 needs real root (not a user namespace mapping only root).
const NOBODY_SKIP = (() => {
  const r = spawnSync('true', [], { uid: 65534, gid: 65534 })
  return r.error || r.status !== 0 ? 'cannot run a process as uid 65534 here' : false
})()

const current = () => Number(fs.readFileSync(SYSCTL, 'utf8').trim())
const oneLine = (s) => s.trim().split('\n').length === 1

t.test('doctor in a fresh namespace (tcp_fastopen=1): client yes, server no, with the fix', async (t) => {
  setTcpFastopen(1)
  const both = cli(['doctor'])
  t.equal(both.status, 1, 'both roles asked: the server cannot, so non-zero')
  t.match(both.stdout, /client: will use TFO/)
  t.match(both.stdout, /server: will NOT use TFO because net\.ipv4\.tcp_fastopen=1 lacks the server bit \(0x2\)/)
  t.match(both.stdout, /fix: sysctl -w net\.ipv4\.tcp_fastopen=3\n/)
  t.match(both.stdout, /0x2\s+server\s+off/, 'each flag in words')
  t.match(both.stdout, /not the initial network namespace.*docker run --sysctl net\.ipv4\.tcp_fastopen=3/)
  t.match(both.stdout, /blackhole.*= 0: .*detection is off.*per-destination backoff/)
  t.notMatch(both.stdout, /\x1b\[/, 'no colour when not a TTY')

  const server = cli(['doctor', '--role', 'server'])
  t.equal(server.status, 1)
  t.match(server.stdout, /server: will NOT use TFO/)
  t.notMatch(server.stdout, /client: will/)

  const client = cli(['doctor', '--role', 'client'])
  t.equal(client.status, 0, client.stdout)
  t.match(client.stdout, /client: will use TFO/)
  t.notMatch(client.stdout, /server: will/)

  const json = cli(['doctor', '--json'])
  t.equal(json.status, 1)
  const j = JSON.parse(json.stdout)
  t.match(j, {
    role: 'both',
    ok: false,
    kernel: { fastOpenConnect: true },
    native: { supported: true, unsupportedReason: null },
    sysctl: { value: 1, unknownBits: 0 },
    socketOptions: {
      TCP_FASTOPEN_CONNECT: { ok: true },
      TCP_FASTOPEN: { ok: true, detail: /inactive/ },
      TCP_FASTOPEN_NO_COOKIE: { ok: true },
      TCP_FASTOPEN_KEY: { ok: true },
    },
    settings: { somaxconn: Number, syncookies: Number, blackholeTimeoutSec: Number, key: /^(present|none-yet)$/ },
    privileges: { root: true, sysctlWritable: true },
    namespace: { initial: false, detail: /not the initial network namespace/ },
    verdicts: [
      { role: 'client', ok: true, verdict: 'will use TFO', reasons: [], fixes: [] },
      { role: 'server', ok: false, reasons: [/lacks the server bit \(0x2\)/], fixes: ['sysctl -w net.ipv4.tcp_fastopen=3'] },
    ],
  })
  t.same(
    j.sysctl.flags.map((f) => [f.name, f.bit, f.on]),
    [
      ['client', '0x1', true],
      ['server', '0x2', false],
      ['clientNoCookie', '0x4', false],
      ['serverNoCookie', '0x200', false],
      ['serverWithoutSockopt', '0x400', false],
    ],
  )
  const ids = j.checks.map((c) => c.id)
  for (const id of [
    'kernel',
    'native',
    'tcp_fastopen',
    'TCP_FASTOPEN_CONNECT',
    'TCP_FASTOPEN',
    'TCP_FASTOPEN_NO_COOKIE',
    'TCP_FASTOPEN_KEY',
    'somaxconn',
    'syncookies',
    'blackhole',
    'privileges',
    'namespace',
  ])
    t.ok(ids.includes(id), `check ${id}`)
  for (const c of j.checks) t.match(c, { id: String, status: /^(ok|info|warn|fail)$/, detail: String })
  t.same(
    JSON.parse(cli(['doctor', '--json', '--role', 'client']).stdout).verdicts.map((v) => v.role),
    ['client'],
  )
})

t.test('doctor passes for both roles after `tfo enable server`', async (t) => {
  setTcpFastopen(1)
  const en = cli(['enable', 'server'])
  t.equal(en.status, 0, en.stderr)
  t.equal(current(), 3)
  const r = cli(['doctor'])
  t.equal(r.status, 0, r.stdout)
  t.match(r.stdout, /client: will use TFO\n\s+server: will use TFO/)
  const j = JSON.parse(cli(['doctor', '--json']).stdout)
  t.match(j, { ok: true, sysctl: { value: 3 }, socketOptions: { TCP_FASTOPEN: { ok: true, detail: /\(active\)/ } } })
  t.same(
    j.verdicts.map((v) => v.ok),
    [true, true],
  )
})

t.test('doctor with tcp_fastopen=0: the client fails too', async (t) => {
  setTcpFastopen(0)
  t.teardown(() => setTcpFastopen(1))
  const r = cli(['doctor', '--role', 'client'])
  t.equal(r.status, 1)
  t.match(r.stdout, /client: will NOT use TFO because net\.ipv4\.tcp_fastopen=0 lacks the client bit \(0x1\)/)
  t.match(r.stdout, /fix: sysctl -w net\.ipv4\.tcp_fastopen=1\n/)
  const j = JSON.parse(cli(['doctor', '--json']).stdout)
  t.match(j, { ok: false, socketOptions: { TCP_FASTOPEN_CONNECT: { ok: false } } })
  t.match(j.verdicts, [
    { role: 'client', ok: false, fixes: ['sysctl -w net.ipv4.tcp_fastopen=3'] },
    { role: 'server', ok: false, fixes: ['sysctl -w net.ipv4.tcp_fastopen=3'] },
  ])
})

t.test('doctor: tcp_syncookies=2 stops server TFO; a small somaxconn is a warning', async (t) => {
  const write = (name, v) => fs.writeFileSync(`/proc/sys/${name}`, `${v}\n`) // this private namespace only
  const syncookies = fs.readFileSync('/proc/sys/net/ipv4/tcp_syncookies', 'utf8').trim()
  const somaxconn = fs.readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim()
  t.teardown(() => {
    write('net/ipv4/tcp_syncookies', syncookies)
    write('net/core/somaxconn', somaxconn)
  })
  setTcpFastopen(3)
  write('net/ipv4/tcp_syncookies', 2)
  write('net/core/somaxconn', 128)
  const r = cli(['doctor', '--role', 'server'])
  t.equal(r.status, 1)
  t.match(r.stdout, /server: will NOT use TFO because net\.ipv4\.tcp_syncookies=2/)
  t.match(r.stdout, /fix: sysctl -w net\.ipv4\.tcp_syncookies=1/)
  t.equal(cli(['doctor', '--role', 'client']).status, 0, 'clients are not affected')
  const j = JSON.parse(cli(['doctor', '--json']).stdout)
  t.match(
    j.checks.find((c) => c.id === 'syncookies'),
    { status: 'fail', fix: 'sysctl -w net.ipv4.tcp_syncookies=1' },
  )
  t.match(
    j.checks.find((c) => c.id === 'somaxconn'),
    { status: 'warn', detail: /somaxconn = 128.*TFO queue/ },
  )
  t.match(j, { settings: { syncookies: 2, somaxconn: 128 } })
})

t.test('doctor as an unprivileged user: says so, and the fix needs sudo', { skip: NOBODY_SKIP }, async (t) => {
  setTcpFastopen(1)
  const r = cliAsNobody(['doctor', '--json'])
  t.equal(r.status, 1, r.stderr)
  t.equal(r.stderr, '')
  const j = JSON.parse(r.stdout)
  t.match(j, {
    privileges: { root: false, sysctlWritable: false, sysctlWriteError: 'EACCES' },
    settings: { key: 'unreadable' },
    verdicts: [
      { role: 'client', ok: true },
      { role: 'server', ok: false, fixes: ['sudo sysctl -w net.ipv4.tcp_fastopen=3'] },
    ],
  })
})

t.test('enable sets bits and keeps the others', async (t) => {
  setTcpFastopen(1)
  const both = cli(['enable', 'both'])
  t.equal(both.status, 0, both.stderr)
  t.equal(current(), 3)
  t.match(both.stdout, /net\.ipv4\.tcp_fastopen: 1 \(client\) → 3 \(client, server\)/)

  setTcpFastopen(2)
  const client = cli(['enable', 'client'])
  t.equal(client.status, 0, client.stderr)
  t.equal(current(), 3, 'the server bit is kept')
  t.match(client.stdout, /2 \(server\) → 3 \(client, server\)/)

  setTcpFastopen(0x400 | 0x200)
  const server = JSON.parse(cli(['enable', 'server', '--json']).stdout)
  t.equal(current(), 0x603, 'serverNoCookie and serverWithoutSockopt kept')
  t.match(server, { role: 'server', changed: true, before: { value: 0x600 }, after: { value: 0x603, client: true, server: true }, persisted: null })

  setTcpFastopen(3)
  const again = cli(['enable', 'both'])
  t.equal(again.status, 0)
  t.match(again.stdout, /already 3 \(client, server\), nothing to change/)
})

t.test('enable --persist --file writes a sysctl.d drop-in', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-cli-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, '60-tfo.conf')
  setTcpFastopen(1)
  const r = cli(['enable', 'both', '--persist', '--file', file])
  t.equal(r.status, 0, r.stderr)
  t.equal(current(), 3)
  const text = fs.readFileSync(file, 'utf8')
  t.match(text, /^net\.ipv4\.tcp_fastopen = 3$/m)
  t.equal(text.split('\n').filter((l) => l && !l.startsWith('#')).length, 1, 'one setting, comments aside')
  t.match(r.stdout, new RegExp(`persisted: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: net\\.ipv4\\.tcp_fastopen = 3`))
  t.same(fs.readdirSync(dir), ['60-tfo.conf'], 'no temporary file left')

  setTcpFastopen(0x401)
  const j = JSON.parse(cli(['enable', 'client', '--persist', '--file', file, '--json']).stdout)
  t.match(j, { changed: false, persisted: { file, line: 'net.ipv4.tcp_fastopen = 1025' } })
  t.match(fs.readFileSync(file, 'utf8'), /^net\.ipv4\.tcp_fastopen = 1025$/m, 'the whole value, other bits included')

  const unwritable = cli(['enable', 'both', '--persist', '--file', path.join(dir, 'missing', 'x.conf')])
  t.equal(unwritable.status, 1)
  t.ok(oneLine(unwritable.stderr))
  t.match(unwritable.stderr, /cannot write .*missing\/x\.conf: ENOENT/)
})

t.test('enable without permission: exit 1, one line naming the file and CAP_NET_ADMIN', { skip: NOBODY_SKIP }, async (t) => {
  setTcpFastopen(1)
  const r = cliAsNobody(['enable', 'server'])
  t.equal(r.status, 1)
  t.equal(r.stdout, '')
  t.ok(oneLine(r.stderr), r.stderr)
  t.match(r.stderr, /^tfo enable: .*\/proc\/sys\/net\/ipv4\/tcp_fastopen.*CAP_NET_ADMIN/)
  t.equal(current(), 1, 'unchanged')
})

t.test('enable: bad arguments exit 2 with one line', async (t) => {
  for (const args of [['enable'], ['enable', 'everything'], ['enable', 'client', 'server'], ['enable', 'both', '--file', '/tmp/x.conf']]) {
    const r = cli(args)
    t.equal(r.status, 2, args.join(' '))
    t.ok(oneLine(r.stderr), r.stderr)
  }
})

async function roundTrip(port, payload) {
  const s = tfo.connect(port, '127.0.0.1')
  s.end(payload)
  const r = await collect(s)
  return { data: r.data.toString(), info: s.fastOpen }
}

const COUNTERS = ['active', 'activeFail', 'passive', 'passiveFail', 'listenOverflow', 'cookieReqd', 'blackhole', 'passiveAltKey']

t.test('stats: the 8 counters, as a table and as JSON', async (t) => {
  const j = cli(['stats', '--json'])
  t.equal(j.status, 0, j.stderr)
  const snap = JSON.parse(j.stdout)
  t.same(Object.keys(snap).sort(), [...COUNTERS, 'at'].sort())
  for (const k of COUNTERS) t.type(snap[k], 'number', k)

  const human = cli(['stats'])
  t.equal(human.status, 0)
  for (const k of Object.values(tfo.COUNTER_NAMES)) t.match(human.stdout, new RegExp(`\\b${k}\\s+\\d+`), k)
  t.notMatch(human.stdout, /\x1b\[/)
})

t.test('stats --watch --count: NDJSON deltas that show TFO traffic made meanwhile', async (t) => {
  setTcpFastopen(3)
  const server = tfo.createServer(sinkServer())
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, '127.0.0.1')
  t.match(await roundTrip(port, 'first'), { data: 'first', info: { cookie: 'requested' } }, 'gets a cookie')

  const child = spawn(process.execPath, [CLI, 'stats', '--watch', '0.2', '--count', '2', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => {
    out += d
  })
  child.stderr.on('data', (d) => {
    err += d
  })
  let running = true
  const exited = once(child, 'exit').then(([code]) => {
    running = false
    return code
  })
  let made = 0
  while (running) {
    const r = await roundTrip(port, `req ${made}`)
    if (r.info && r.info.synData) made++
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  t.equal(await exited, 0, err)
  t.ok(made > 0, `made ${made} TFO connections meanwhile`)
  const lines = out.trim().split('\n')
  t.equal(lines.length, 2, 'one line per interval')
  const deltas = lines.map((l) => JSON.parse(l))
  for (const d of deltas) {
    t.same(Object.keys(d).sort(), [...COUNTERS, 'at', 'intervalMs'].sort())
    t.ok(d.intervalMs >= 150 && d.intervalMs < 1000, `interval ${d.intervalMs} ms`)
  }
  t.ok(
    deltas.some((d) => d.active > 0),
    'TCPFastOpenActive grew in an interval',
  )
  t.ok(
    deltas.some((d) => d.passive > 0),
    'TCPFastOpenPassive grew in an interval',
  )
  t.ok(deltas.reduce((n, d) => n + d.active, 0) <= made + 1, 'deltas, not totals')
})

t.test('stats --watch in words, and Ctrl-C ends it with status 0', async (t) => {
  const r = cli(['stats', '--watch', '0.1', '--count', '2'])
  t.equal(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  t.equal(lines.length, 4, 'title, header, two rows')
  t.match(lines[1], /time\s+active\s+activeFail\s+passive/)
  t.match(lines[2], /^\s*\d\d:\d\d:\d\d(\s+(\d+|\+\d+|n\/a)){8}$/)

  const child = spawn(process.execPath, [CLI, 'stats', '--watch', '0.1'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  await new Promise((resolve) =>
    child.stdout.on('data', (d) => {
      out += d
      if (out.split('\n').length > 3) resolve()
    }),
  )
  child.kill('SIGINT')
  const [code, signal] = await once(child, 'exit')
  t.same([code, signal], [0, null], 'exit 0 on SIGINT')
})

t.test('stats: bad arguments exit 2 with one line', async (t) => {
  for (const args of [
    ['stats', '--count', '2'],
    ['stats', '--watch', '0'],
    ['stats', '--watch', 'x'],
    ['stats', '--watch', '1', '--count', '1.5'],
    ['stats', 'extra'],
  ]) {
    const r = cli(args)
    t.equal(r.status, 2, args.join(' '))
    t.ok(oneLine(r.stderr), r.stderr)
  }
})

t.test('every command: --help exits 0, an unknown option exits 2 with one line', async (t) => {
  for (const cmd of ['doctor', 'enable', 'stats']) {
    const help = cli([cmd, '--help'])
    t.equal(help.status, 0, `${cmd} --help`)
    t.match(help.stdout, new RegExp(`^Usage: tfo ${cmd}`))
    const short = cli([cmd, '-h'])
    t.equal(short.status, 0, `${cmd} -h`)
    const bad = cli([cmd, '--bogus'])
    t.equal(bad.status, 2, `${cmd} --bogus`)
    t.equal(bad.stdout, '')
    t.ok(oneLine(bad.stderr), bad.stderr)
    t.match(bad.stderr, new RegExp(`^tfo ${cmd}: Unknown option '--bogus'`))
  }
  const role = cli(['doctor', '--role', 'router'])
  t.equal(role.status, 2)
  t.ok(oneLine(role.stderr))
})

// ---- tfo demo: a private namespace for root and for normal users, or the reason why not ----

/**
 * The CLI path a uid-65534 process can read: this tree when it can, else a
 * world-readable copy of what the CLI needs (dist/, the addon, node-gyp-build).
 */
const nobodyCli = (() => {
  if (NOBODY_SKIP) return null
  const root = path.join(__dirname, '..')
  const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(root)})`], { uid: 65534, gid: 65534, env: { PATH: process.env.PATH } })
  if (probe.status === 0) return CLI
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-nobody-'))
  fs.chmodSync(dir, 0o755)
  for (const p of ['package.json', 'dist', 'build/Release/tfo.node', 'node_modules/node-gyp-build']) {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true })
    fs.cpSync(path.join(root, p), path.join(dir, p), { recursive: true })
  }
  spawnSync('chmod', ['-R', 'a+rX', dir])
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, 'dist', 'cli', 'main.js')
})()

/** Runs the CLI as uid/gid 65534, optionally under a prefix command and with extra environment. */
function asNobody(args, { prefix = [], env = {} } = {}) {
  return spawnSync('env', ['-u', 'NODE_OPTIONS', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...prefix, process.execPath, nobodyCli, ...args], {
    encoding: 'utf8',
    timeout: 60000,
    cwd: '/',
    uid: 65534,
    gid: 65534,
  })
}

function demoJson(r) {
  let j = null
  try {
    j = JSON.parse(r.stdout)
  } catch {}
  return j
}

t.test('demo as root: re-runs in a private network namespace, whatever this one says', async (t) => {
  setTcpFastopen(1)
  const r = cli(['demo', '--json', '--count', '2'])
  t.equal(r.status, 0, r.stderr)
  const j = demoJson(r)
  t.match(j, { ok: true, namespace: { private: true, kind: 'net', reason: null }, where: /private network namespace with net\.ipv4\.tcp_fastopen=3/ })
  t.same(
    j.connections.map((c) => c.synDataAcked),
    [false, true, true],
    'the returning requests rode in the SYN',
  )
  t.equal(current(), 1, 'this namespace was not touched')
  const human = cli(['demo', '--count', '1'])
  t.equal(human.status, 0)
  t.match(human.stdout, /in a private network namespace with net\.ipv4\.tcp_fastopen=3 \(host settings untouched\)/)
})

t.test('demo as a normal user: its own user and network namespace, same result as root', { skip: NOBODY_SKIP }, async (t) => {
  setTcpFastopen(1)
  const r = asNobody(['demo', '--json', '--count', '3'])
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stderr, '')
  const j = demoJson(r)
  t.match(j, { ok: true, namespace: { private: true, kind: 'user+net', reason: null }, where: /private user and network namespace/ })
  t.same(
    j.connections.map((c) => c.synDataAcked),
    [false, true, true, true],
  )
  t.same(
    j.connections.map((c) => c.serverSawSynData),
    [false, true, true, true],
  )
  t.equal(j.counters.delta.passive, 3, 'the kernel of that namespace counted them')
  t.equal(current(), 1, 'this namespace was not touched')
  const human = asNobody(['demo', '--count', '1'])
  t.equal(human.status, 0, human.stderr)
  t.match(human.stdout, /in a private user and network namespace with net\.ipv4\.tcp_fastopen=3/)
  t.match(human.stdout, /TCP Fast Open works: 1 of 1 returning requests rode in the SYN/)
})

t.test('demo as a normal user without unshare on PATH: says so, and runs here', { skip: NOBODY_SKIP }, async (t) => {
  setTcpFastopen(1)
  const r = asNobody(['demo', '--json', '--count', '1'], { env: { PATH: '/nonexistent' } })
  t.equal(r.status, 1, 'TFO does not happen here (no server bit)')
  t.equal(r.stderr, '')
  const j = demoJson(r)
  t.match(j, {
    ok: false,
    namespace: { private: false, kind: null, reason: 'not root, and there is no `unshare` command (util-linux) on PATH' },
    where: /^the current network namespace \(not root, and there is no `unshare` command/,
    verdict: /did not happen.*server bit \(0x2\)/,
  })
  const human = asNobody(['demo', '--count', '1'], { env: { PATH: '/nonexistent' } })
  t.match(human.stdout, /in the current network namespace \(not root, and there is no `unshare` command \(util-linux\) on PATH\)/)
})

t.test('demo in a user namespace without a uid map (nested namespaces impossible): says so, runs here', { skip: NOBODY_SKIP }, async (t) => {
  setTcpFastopen(1)
  const r = asNobody(['demo', '--json', '--count', '1'], { prefix: ['unshare', '--user'] })
  t.equal(r.status, 1, r.stderr)
  t.match(demoJson(r), {
    ok: false,
    namespace: { private: false, reason: /^not root, and this process's user ID \(65534\) is not mapped in its user namespace/ },
  })
})

/**
 * Runs `inner` (a shell command) as root of a new user namespace mapping uids
 * and gids 0-65535 to the same on the host, with its own pid, mount and
 * network namespaces (so its user.* sysctls are its own). Needs real root.
 */
async function inPrivateUserns(inner) {
  const { spawn } = require('node:child_process')
  // unshare execs sh before the maps exist; a second exec, once mapped, gets root's capabilities there.
  const script = `while [ -z "$(cat /proc/self/uid_map)" ]; do sleep 0.01; done; exec sh -c ${JSON.stringify(inner)}`
  const child = spawn('unshare', ['--user', '--pid', '--net', '--mount', '--fork', '--mount-proc', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  const mine = fs.readlinkSync('/proc/self/ns/user')
  for (let i = 0; i < 500; i++) {
    let ns = mine
    try {
      ns = fs.readlinkSync(`/proc/${child.pid}/ns/user`)
    } catch {}
    if (ns !== mine) break
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  fs.writeFileSync(`/proc/${child.pid}/uid_map`, '0 0 65536\n')
  fs.writeFileSync(`/proc/${child.pid}/gid_map`, '0 0 65536\n')
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => {
    stdout += d
  })
  child.stderr.on('data', (d) => {
    stderr += d
  })
  const [status] = await once(child, 'close')
  return { status, stdout, stderr }
}

t.test('demo where user namespaces are disabled (user.max_user_namespaces=0, in a private user namespace): says so', { skip: NOBODY_SKIP }, async (t) => {
  const hostLimit = fs.readFileSync('/proc/sys/user/max_user_namespaces', 'utf8')
  const run = (args) =>
    `echo 0 > /proc/sys/user/max_user_namespaces && ip link set lo up && ` +
    `exec setpriv --reuid=65534 --regid=65534 --clear-groups env -u NODE_OPTIONS ${process.execPath} ${nobodyCli} ${args}`
  const r = await inPrivateUserns(run('demo --json --count 1'))
  t.equal(r.status, 1, r.stderr)
  t.match(
    demoJson(r),
    {
      ok: false,
      namespace: { private: false, reason: 'not root, and user namespaces are disabled (user.max_user_namespaces = 0)' },
      verdict: /server bit \(0x2\)/,
    },
    'a new network namespace starts at 1: no server bit, and the reason for no private namespace',
  )
  const doctor = await inPrivateUserns(run('doctor --json'))
  t.match(JSON.parse(doctor.stdout), { privateNamespace: { available: false, reason: /user\.max_user_namespaces = 0/ } })
  t.match(
    JSON.parse(doctor.stdout).checks.find((c) => c.id === 'private_namespace'),
    {
      status: 'info',
      detail:
        /^no private network namespace for trying TFO: not root, and user namespaces are disabled \(user\.max_user_namespaces = 0\); `tfo demo` runs in this namespace$/,
    },
  )
  t.equal(fs.readFileSync('/proc/sys/user/max_user_namespaces', 'utf8'), hostLimit, "the host's limit is unchanged")
})

t.test('doctor says whether a private namespace is there for trying TFO', async (t) => {
  setTcpFastopen(1)
  const root = JSON.parse(cli(['doctor', '--json']).stdout)
  t.match(root.privateNamespace, { available: true, kind: 'net', reason: null })
  t.match(
    root.checks.find((c) => c.id === 'private_namespace'),
    { status: 'info', detail: /^as root, `tfo demo` runs in a private network namespace \(unshare --net\)/ },
  )
  t.match(cli(['doctor']).stdout, /private_namespace\s+as root, `tfo demo` runs in a private network namespace/)
  if (NOBODY_SKIP) return t.skip(NOBODY_SKIP)
  const nobody = JSON.parse(asNobody(['doctor', '--json']).stdout)
  t.match(nobody.privateNamespace, { available: true, kind: 'user+net', reason: null })
  t.match(
    nobody.checks.find((c) => c.id === 'private_namespace'),
    { detail: /^a private user and network namespace is available to this non-root user for trying TFO \(unshare --user --map-root-user --net\)/ },
  )
  const noUnshare = JSON.parse(asNobody(['doctor', '--json'], { env: { PATH: '/nonexistent' } }).stdout)
  t.match(noUnshare.privateNamespace, { available: false, reason: /no `unshare` command/ })
})

t.test('enable --persist: a file sysctl --system would not read, or one tfo did not write, is refused before any change', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-cli-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  setTcpFastopen(1)
  const noConf = cli(['enable', 'both', '--persist', '--file', path.join(dir, 'tfo')])
  t.equal(noConf.status, 2)
  t.ok(oneLine(noConf.stderr), noConf.stderr)
  t.match(noConf.stderr, /--file must end in \.conf: sysctl --system and systemd-sysctl read only \*\.conf files/)
  t.equal(current(), 1, 'the sysctl was not changed')
  t.same(fs.readdirSync(dir), [], 'no file written')

  const foreign = path.join(dir, 'sysctl.conf')
  fs.writeFileSync(foreign, 'vm.swappiness = 10\n')
  const r = cli(['enable', 'both', '--persist', '--file', foreign])
  t.equal(r.status, 1)
  t.ok(oneLine(r.stderr), r.stderr)
  t.match(r.stderr, /sysctl\.conf exists and was not written by tfo enable: not replacing it/)
  t.equal(fs.readFileSync(foreign, 'utf8'), 'vm.swappiness = 10\n', 'untouched')
  t.equal(current(), 1, 'the sysctl was not changed')

  const ours = path.join(dir, '60-tfo.conf')
  t.equal(cli(['enable', 'client', '--persist', '--file', ours]).status, 0)
  t.match(fs.readFileSync(ours, 'utf8'), /^# TCP Fast Open \(written by `tfo enable client --persist`\): 0x1 client, 0x2 server\.\n/)
  t.equal(cli(['enable', 'both', '--persist', '--file', ours]).status, 0, 'a file tfo wrote is replaced')
  t.match(fs.readFileSync(ours, 'utf8'), /^net\.ipv4\.tcp_fastopen = 3$/m)
})

t.test('doctor warns about modifier bits without their role bit (they do nothing)', async (t) => {
  setTcpFastopen(0x401)
  t.teardown(() => setTcpFastopen(1))
  const j = JSON.parse(cli(['doctor', '--json']).stdout)
  t.match(
    j.checks.find((c) => c.id === 'inert_bits'),
    { status: 'warn', detail: /serverWithoutSockopt without server: those bits do nothing/ },
  )
  setTcpFastopen(3)
  t.notOk(
    JSON.parse(cli(['doctor', '--json']).stdout).checks.some((c) => c.id === 'inert_bits'),
    'none with 3',
  )
})

t.test('enable keeps bits it does not know, and says so', async (t) => {
  setTcpFastopen(0x10001) // written raw: tfo.sysctl.setFastOpen would refuse it
  t.teardown(() => setTcpFastopen(1))
  const r = cli(['enable', 'server'])
  t.equal(r.status, 0, r.stderr)
  t.equal(current(), 0x10003)
  t.match(r.stdout, /note: net\.ipv4\.tcp_fastopen also has bits tfo does not know \(0x10000\): kept/)
})

t.test('integer options take decimal digits only, within their range', async (t) => {
  for (const args of [
    ['demo', '--count', '0x10'],
    ['demo', '--count', '1e1'],
    ['demo', '--count', ' 4'],
    ['demo', '--count', '0'],
    ['demo', '--count', '1001'],
    ['probe', '127.0.0.1:9', '--count', '0x3'],
    ['probe', '127.0.0.1:9', '--timeout', '2147483648'],
    ['probe', '127.0.0.1:9', '--timeout', '1.5'],
    ['stats', '--watch', '1', '--count', '0x2'],
    ['stats', '--watch', '1e-9'],
    ['stats', '--watch', '0.001'],
  ]) {
    const r = cli(args)
    t.equal(r.status, 2, args.join(' '))
    t.ok(oneLine(r.stderr), r.stderr)
    t.equal(r.stdout, '')
  }
  t.match(cli(['demo', '--count', '0x10']).stderr, /^tfo demo: --count must be an integer from 1 to 1000, not '0x10'/)
})
