'use strict'
// Every way TFO can be unavailable still gives working connections, and says
// why: server bit off, client bit off, no addon.
// Runs in a private namespace whose net.ipv4.tcp_fastopen this file changes.
const { enterNetns, setTcpFastopen } = require('./helpers/netns')
if (enterNetns(__filename, { tcpFastopen: 1 })) return

const t = require('tap')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { once } = require('node:events')
const tfo = require('..')
const { listen, closeServer, collect, sinkServer } = require('./helpers/util')

async function roundTrip(port, host, payload) {
  const s = tfo.connect(port, host)
  s.end(payload)
  const r = await collect(s)
  return { data: r.data.toString(), info: s.fastOpen, error: r.error }
}

t.test('server bit off (namespace default 1): listens, warns with the fix, serves plain TCP', async (t) => {
  setTcpFastopen(1)
  const server = tfo.createServer(sinkServer())
  t.teardown(() => closeServer(server))
  const warnings = []
  server.on('warning', (w) => warnings.push(w))
  await listen(server, 0, '127.0.0.1')
  t.match(server.fastOpen, { requested: true, enabled: true, active: false, reason: /net\.ipv4\.tcp_fastopen is 1 .*server bit \(0x2\) is off/ })
  t.equal(warnings.length, 1, 'one warning per listen')
  t.match(warnings[0], {
    name: 'TFOWarning',
    code: 'TFO_SERVER_INACTIVE',
    fix: 'sysctl -w net.ipv4.tcp_fastopen=3',
    message: /sysctl -w net\.ipv4\.tcp_fastopen=3/,
  })
  const { port } = server.address()
  for (let i = 0; i < 2; i++) {
    const r = await roundTrip(port, '127.0.0.1', `req ${i}`)
    t.equal(r.data, `req ${i}`)
    t.match(r.info, { attempted: true, synData: false, cookie: 'requested' })
  }
  t.match(tfo.support(), { client: true, server: false, serverReason: /lacks the server bit \(0x2\)/ })
})

t.test('without a warning listener the server warning goes to process warnings', async (t) => {
  setTcpFastopen(1)
  const server = tfo.createServer(sinkServer())
  t.teardown(() => closeServer(server))
  const [w] = await Promise.all([once(process, 'warning'), listen(server, 0, '127.0.0.1')])
  t.match(w[0], { name: 'TFOWarning', code: 'TFO_SERVER_INACTIVE' })
})

t.test('client bit off: the client connects plainly and says why', async (t) => {
  setTcpFastopen(2) // server only
  t.teardown(() => setTcpFastopen(3))
  const server = tfo.createServer(sinkServer())
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, '127.0.0.2')
  t.match(server.fastOpen, { active: true })
  const r = await roundTrip(port, '127.0.0.2', 'hello')
  t.equal(r.data, 'hello')
  t.match(r.info, { attempted: false, synData: false, cookie: 'none', reason: /lacks the client bit \(0x1\)/ })
  t.match(tfo.support(), { client: false, server: true, clientReason: /lacks the client bit/ })
  t.ok(tfo.stats().client.notAttempted['net.ipv4.tcp_fastopen lacks the client bit'] >= 1)
})

function runChild(env, code) {
  const r = spawnSync(process.execPath, ['-e', code], {
    cwd: path.join(__dirname, '..'),
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30000,
  })
  return { status: r.status, out: r.stdout, err: r.stderr }
}

const CHILD = `
const tfo = require('.')
const { sinkServer } = require('./test/helpers/util')
const server = tfo.createServer(sinkServer())
server.on('warning', () => {})
server.listen(0, process.argv[1] || '127.0.0.3', async () => {
  const out = { supported: tfo.supported, unsupportedReason: tfo.unsupportedReason, server: server.fastOpen, conns: [] }
  for (let i = 0; i < 2; i++) {
    await new Promise((resolve) => {
      const s = tfo.connect(server.address().port, '127.0.0.3')
      let data = ''
      s.on('data', (d) => { data += d })
      s.on('close', () => { out.conns.push({ data, info: s.fastOpen }); resolve() })
      s.end('ping ' + i)
    })
  }
  server.close()
  console.log(JSON.stringify(out))
})`

t.test('no native addon (TFO_DISABLE_NATIVE=1): loads, says why, plain TCP works', async (t) => {
  setTcpFastopen(3)
  const r = runChild({ TFO_DISABLE_NATIVE: '1' }, CHILD)
  t.equal(r.status, 0, r.err)
  const out = JSON.parse(r.out)
  t.equal(out.supported, false)
  t.match(out.unsupportedReason, /disabled by TFO_DISABLE_NATIVE=1/)
  t.match(out.server, { requested: true, enabled: false, active: false, reason: /disabled by TFO_DISABLE_NATIVE/ })
  t.same(
    out.conns.map((c) => c.data),
    ['ping 0', 'ping 1'],
  )
  t.match(out.conns[1].info, { attempted: false, synData: false, reason: /TFO_DISABLE_NATIVE/ })
})

t.test('tfo demo: works here, fails with the fix named when the server bit is off', async (t) => {
  const cli = path.join(__dirname, '..', 'dist', 'cli', 'main.js')
  setTcpFastopen(3)
  const ok = spawnSync(process.execPath, [cli, 'demo', '--no-netns', '--json', '--count', '3'], { encoding: 'utf8', timeout: 30000 })
  t.equal(ok.status, 0, ok.stderr)
  const j = JSON.parse(ok.stdout)
  t.equal(j.ok, true)
  t.equal(j.connections.length, 4)
  t.same(
    j.connections.map((c) => c.synDataAcked),
    [false, true, true, true],
  )
  t.same(
    j.connections.map((c) => c.serverSawSynData),
    [false, true, true, true],
  )
  t.equal(j.counters.delta.passive, 3)
  t.match(j.verdict, /3 of 3 returning requests rode in the SYN/)

  const human = spawnSync(process.execPath, [cli, 'demo', '--no-netns', '--count', '2'], { encoding: 'utf8', timeout: 30000 })
  t.equal(human.status, 0)
  t.match(human.stdout, /TCPFastOpenPassive\s+\d+\s+\d+\s+\+3/, 'the cookie from the run before: all three ride')
  t.notMatch(human.stdout, /\x1b\[/, 'no colour when not a TTY')
  t.match(
    human.stdout,
    /library counts \(tfo\.stats\(\)\): client 3 connections, 3 with TFO, 0 cookie requests, 3 with SYN data acknowledged; server 3 of 3 accepted connections opened with SYN data/,
  )

  setTcpFastopen(1)
  const off = spawnSync(process.execPath, [cli, 'demo', '--no-netns'], { encoding: 'utf8', timeout: 30000 })
  t.equal(off.status, 1)
  t.match(off.stdout, /did not happen for 4 of 4 returning requests: .*server bit \(0x2\).*sysctl -w net\.ipv4\.tcp_fastopen=3/)

  const bad = spawnSync(process.execPath, [cli, 'demo', '--count', 'x'], { encoding: 'utf8' })
  t.equal(bad.status, 2)
  t.equal(bad.stderr.trim().split('\n').length, 1, 'one-line reason')
  const help = spawnSync(process.execPath, [cli, 'demo', '--help'], { encoding: 'utf8' })
  t.equal(help.status, 0)
  t.match(help.stdout, /Usage: tfo demo/)
})
