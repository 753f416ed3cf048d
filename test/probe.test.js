'use strict'
// `tfo probe` produces each verdict for real, over the emulated WAN: a tfo
// server (works), a plain server (no-tfo-on-server), and a path that drops
// SYNs carrying data (syn-data-dropped).
const t = require('tap')
const path = require('node:path')

if (!process.getuid || process.getuid() !== 0) {
  t.plan(0, 'skip: the emulated WAN needs root (network namespaces and TUN devices); CI runs as root')
  return
}

const { createWan } = require('../bench/lib/wan')
const ROOT = path.join(__dirname, '..')
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js')

const SERVERS = `
const tfo = require(${JSON.stringify(ROOT)})
const net = require('node:net')
const reply = (s) => { s.on('error', () => {}); s.once('data', () => s.end('HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n')) }
tfo.createServer(reply).listen(7001, '::', () => {
  net.createServer(reply).listen(7002, '::', () => console.log('ready'))
})
`

async function withServers(t, wan) {
  const servers = wan.spawn('server', process.execPath, ['-e', SERVERS])
  let out = ''
  await new Promise((resolve, reject) => {
    servers.stdout.on('data', (d) => {
      out += d
      if (out.includes('ready')) resolve()
    })
    servers.on('exit', (code) => reject(new Error(`servers exited ${code}`)))
  })
  t.teardown(() => {
    servers.kill('SIGTERM')
  })
}

async function probe(wan, target, ...args) {
  const r = await wan.exec('client', process.execPath, [CLI, 'probe', target, '--json', ...args], { timeout: 60000 })
  return { code: r.code, json: r.stdout ? JSON.parse(r.stdout) : null, stderr: r.stderr }
}

t.test('verdicts on a clean 20 ms path: works, and no TFO on the server', async (t) => {
  const wan = await createWan({ rttMs: 20, tag: 'probe1' })
  t.teardown(() => wan.close())
  await withServers(t, wan)

  const ok = await probe(wan, `${wan.server.addr}:7001`, '--count', '3')
  t.equal(ok.code, 0, ok.stderr)
  t.equal(ok.json.verdict, 'works')
  t.same(
    ok.json.connections.map((c) => c.cookie),
    ['requested', 'sent', 'sent'],
  )
  t.same(
    ok.json.connections.map((c) => c.synDataAcked),
    [false, true, true],
  )
  t.ok(ok.json.connections[1].synDataBytes > 0)

  const v6 = await probe(wan, `[${wan.server.addr6}]:7001`, '--count', '2')
  t.equal(v6.json.verdict, 'works', 'IPv6 target')

  const plain = await probe(wan, `${wan.server.addr}:7002`, '--count', '3')
  t.equal(plain.code, 1)
  t.equal(plain.json.verdict, 'syn-data-not-acked', 'a cookie for the host (from port 7001) but no TFO on this port')

  // A host that never offered a cookie at all: a fresh client namespace sees only the plain port.
  const wan2 = await createWan({ rttMs: 20, tag: 'probe2' })
  t.teardown(() => wan2.close())
  await withServers(t, wan2)
  const never = await probe(wan2, `${wan2.server.addr}:7002`, '--count', '3')
  t.equal(never.code, 1)
  t.equal(never.json.verdict, 'no-tfo-on-server')
  t.same(
    never.json.connections.map((c) => c.cookie),
    ['requested', 'requested', 'requested'],
  )
})

t.test('verdict on a path that drops SYNs carrying data', async (t) => {
  const wan = await createWan({ rttMs: 20, dropSynData: true, tag: 'probe3' })
  t.teardown(() => wan.close())
  await withServers(t, wan)
  const r = await probe(wan, `${wan.server.addr}:7001`, '--count', '2')
  t.equal(r.code, 1)
  t.equal(r.json.verdict, 'syn-data-dropped')
  t.match(r.json.connections[1], { cookie: 'sent', synDataAcked: false, failure: 'syn-retransmitted' })
  const stats = await wan.stats()
  t.ok(stats.synDataDropped >= 1, 'the delay line really dropped SYN data')
})

t.test('usage errors: one line, exit 2', async (t) => {
  const { spawnSync } = require('node:child_process')
  for (const args of [['probe'], ['probe', 'nohostport'], ['probe', 'h:1', '--count', '1'], ['probe', 'h:1', '--bogus']]) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' })
    t.equal(r.status, 2, args.join(' '))
    t.equal(r.stderr.trim().split('\n').length, 1)
  }
  const help = spawnSync(process.execPath, [CLI, 'probe', '--help'], { encoding: 'utf8' })
  t.equal(help.status, 0)
  t.match(help.stdout, /syn-data-dropped/)
})
