'use strict'
// The emulated-WAN testbed (bench/lib/wan.js + bench/delayline.c): checked
// from outside, with real traffic between the two namespaces.
const t = require('tap')
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const WAN = path.join(__dirname, '..', 'bench', 'lib', 'wan.js')

if (process.platform !== 'linux') {
  t.plan(0, 'skip: the WAN testbed needs Linux (network namespaces, TUN devices)')
  return
}
if (process.getuid() !== 0) {
  t.plan(0, 'skip: the WAN testbed needs root (ip netns add, TUN devices); CI runs as root')
  return
}

const { createWan, cleanupStaleNamespaces } = require(WAN)
const RTT = 40
const near = (v, target) => Math.abs(v - target) <= target * 0.2 + 2 // correctness band, not a benchmark
const median = (a) => {
  const s = [...a].sort((x, y) => x - y)
  return s[Math.floor(s.length / 2)]
}
const hasPython = spawnSync('python3', ['-c', 'import socket'], { stdio: 'ignore' }).status === 0

function nsList() {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => l.split(' ')[0])
    .filter(Boolean)
}
function gone(pid) {
  // exited, or a zombie waiting for init to reap it
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0] === 'Z'
  } catch {
    return true
  }
}
async function allGone(pids, ms = 3000) {
  const end = Date.now() + ms
  while (pids.some((p) => !gone(p)) && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 50))
  return pids.filter((p) => !gone(p))
}

function firstLine(child) {
  return new Promise((resolve, reject) => {
    let buf = ''
    let err = ''
    child.stderr &&
      child.stderr.on('data', (d) => {
        err += d
      })
    child.stdout.on('data', (d) => {
      buf += d
      const i = buf.indexOf('\n')
      if (i >= 0) resolve(buf.slice(0, i))
    })
    child.on('exit', (c) => reject(new Error(`exited ${c} before printing: ${err}`)))
  })
}

// TCP echo server (node) and a client that times connect() and one request/response.
const ECHO_SERVER = `require('net').createServer((s) => s.pipe(s)).listen(0, '::', function () { console.log(this.address().port) })`
const TCP_CLIENT = `
const net = require('net'); const [host, port, n] = process.argv.slice(1)
const out = []
;(function one () {
  if (out.length === +n) return console.log(JSON.stringify(out))
  const t0 = process.hrtime.bigint(); let t1
  const s = net.connect({ host, port: +port, noDelay: true }, () => { t1 = process.hrtime.bigint(); s.write('x') })
  s.once('data', () => { const t2 = process.hrtime.bigint(); out.push({ connect: Number(t1 - t0) / 1e6, echo: Number(t2 - t1) / 1e6 }); s.destroy(); one() })
})()`

// TFO server (TCP_FASTOPEN on the listener) and client (sendto MSG_FASTOPEN, or plain connect).
const PY_SERVER = `
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(('::', 0)); s.setsockopt(socket.IPPROTO_TCP, 23, 16); s.listen(64)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept(); d = c.recv(1024); c.sendall(b'pong:' + d); c.close()
`
const PY_CLIENT = `
import json, socket, sys, time
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
t0 = time.monotonic(); hs = None
if mode == 'tfo':
    s.sendto(b'hello', 0x20000000, (host, port))  # MSG_FASTOPEN: connect + send
else:
    s.connect((host, port)); hs = (time.monotonic() - t0) * 1e3; s.sendall(b'hello')
d = s.recv(1024); ms = (time.monotonic() - t0) * 1e3
i = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
print(json.dumps({'ms': ms, 'handshakeMs': hs, 'reply': d.decode(), 'synData': bool(i[5] & 32), 'fail': (i[7] >> 1) & 3}))
`

t.test('delay line: RTT, runtime control, TFO-hostile middlebox', async (t) => {
  const wan = await createWan({ rttMs: RTT, tag: 'wan.test' })
  t.teardown(() => wan.close())
  t.match(wan.client, { ns: new RegExp(`^tfo-c-${process.pid}-\\d+$`), addr: '198.18.0.1', addr6: '2001:2::1' })
  t.match(wan.server, { ns: new RegExp(`^tfo-s-${process.pid}-\\d+$`), addr: '198.18.0.2', addr6: '2001:2::2' })
  t.ok(nsList().includes(wan.client.ns) && nsList().includes(wan.server.ns), 'namespaces exist')

  for (const side of ['client', 'server']) {
    const r = await wan.exec(side, 'cat', ['/proc/sys/net/ipv4/tcp_fastopen'])
    t.equal(r.stdout.trim(), '3', `tcp_fastopen=3 inside the ${side} namespace`)
  }

  const spawned = [] // pids, to check that close() ends them
  const srv = wan.spawn('server', process.execPath, ['-e', ECHO_SERVER], { stdio: ['ignore', 'pipe', 'pipe'] })
  spawned.push(srv.pid)
  const port = await firstLine(srv)

  for (const [fam, host] of [
    ['IPv4', wan.server.addr],
    ['IPv6', wan.server.addr6],
  ]) {
    const r = await wan.exec('client', process.execPath, ['-e', TCP_CLIENT, host, port, '5'])
    t.equal(r.code, 0, `${fam} client ran ${r.stderr}`)
    const res = JSON.parse(r.stdout)
    const c = median(res.map((x) => x.connect))
    const e = median(res.map((x) => x.echo))
    t.ok(near(c, RTT), `${fam} TCP handshake ${c.toFixed(2)} ms ≈ ${RTT} ms`)
    t.ok(near(e, RTT), `${fam} request/response ${e.toFixed(2)} ms ≈ ${RTT} ms`)
  }

  if (spawnSync('ping', ['-V'], { stdio: 'ignore' }).status === 0) {
    const r = await wan.exec('client', 'ping', ['-q', '-n', '-c', '10', '-i', '0.02', wan.server.addr])
    const avg = Number((/= [\d.]+\/([\d.]+)\//.exec(r.stdout) || [])[1])
    t.ok(near(avg, RTT), `ping avg ${avg} ms ≈ ${RTT} ms`)
  }

  await wan.setRtt(10)
  const r10 = JSON.parse((await wan.exec('client', process.execPath, ['-e', TCP_CLIENT, wan.server.addr, port, '3'])).stdout)
  t.ok(near(median(r10.map((x) => x.echo)), 10), 'setRtt(10) takes effect at run time')
  await wan.setRtt(RTT)

  const before = await wan.stats()
  await wan.setLoss(1)
  await wan.exec('client', process.execPath, [
    '-e',
    `const s = require('dgram').createSocket('udp4'); let n = 0; (function f () { if (n++ === 5) return s.close(); s.send('x', 9, '${wan.server.addr}', f) })()`,
  ])
  await wan.setLoss(0)
  const after = await wan.stats()
  // >= : a late TCP ACK or an MLD report from the kernel may be dropped too
  t.ok(after.clientToServer.lossDropped - before.clientToServer.lossDropped >= 5, 'loss=1 drops every packet and counts them')
  t.ok(after.forwarded > 0 && after.queueDropped === 0, 'counters: forwarded > 0, no queue drops')

  await t.test(
    'dropSynData: TFO connections stall on SYN retransmit, plain ones do not; toggling off heals',
    { skip: !hasPython && 'python3 not found' },
    async (t) => {
      const pySrv = wan.spawn('server', 'python3', ['-c', PY_SERVER], { stdio: ['ignore', 'pipe', 'pipe'] })
      spawned.push(pySrv.pid)
      const pport = await firstLine(pySrv)
      const conn = async (host, mode) => {
        const r = await wan.exec('client', 'python3', ['-c', PY_CLIENT, host, pport, mode])
        if (r.code !== 0) throw new Error(`python client failed: ${r.stderr}`)
        return JSON.parse(r.stdout)
      }
      for (const [fam, host] of [
        ['IPv4', wan.server.addr],
        ['IPv6', wan.server.addr6],
      ]) {
        const first = await conn(host, 'tfo') // no cookie yet: SYN carries a cookie request only
        t.equal(first.reply, 'pong:hello')
        const warm = await conn(host, 'tfo')
        t.ok(warm.synData, `${fam}: with a cookie the data rides in the SYN`)
        t.ok(warm.ms < RTT * 1.75, `${fam}: TFO request/response in 1 RTT, not 2 (${warm.ms.toFixed(1)} ms)`)
      }

      const ack = await wan.setDropSynData(true)
      t.equal(ack.dropSynData, true)
      const s0 = await wan.stats()
      for (const [fam, host] of [
        ['IPv4', wan.server.addr],
        ['IPv6', wan.server.addr6],
      ]) {
        const bad = await conn(host, 'tfo')
        t.equal(bad.reply, 'pong:hello', `${fam}: the request still gets through`)
        t.ok(bad.ms > 1000, `${fam}: SYN+data dropped, connection waits for the SYN retransmit (${bad.ms.toFixed(0)} ms)`)
        t.notOk(bad.synData, `${fam}: no SYN data acked`)
        t.equal(bad.fail, 3, `${fam}: tcpi_fastopen_client_fail = 3 (SYN retransmitted)`)
        const plain = await conn(host, 'plain')
        t.ok(near(plain.handshakeMs, RTT), `${fam}: plain handshake unaffected (${plain.handshakeMs.toFixed(1)} ms)`)
        t.ok(plain.ms >= RTT * 1.8 && plain.ms < 1000, `${fam}: plain request/response 2 RTT, no SYN retransmission (${plain.ms.toFixed(1)} ms)`)
      }
      const s1 = await wan.stats()
      t.equal(s1.synDataDropped - s0.synDataDropped, 2, 'one SYN with data dropped per family (the retransmitted SYN is plain)')

      await wan.setDropSynData(false)
      const healed = await conn(wan.server.addr, 'tfo')
      t.ok(healed.synData && healed.ms < RTT * 1.75, `healed: TFO back to 1 RTT (${healed.ms.toFixed(1)} ms)`)
    },
  )

  await t.test('close() leaves no namespaces or processes behind', async (t) => {
    const pids = [wan.delaylinePid, ...spawned]
    t.ok(
      pids.every((p) => !gone(p)),
      'delay line and servers run before close()',
    )
    const names = [wan.client.ns, wan.server.ns]
    const final = await wan.close()
    t.ok(final && final.final, 'close() resolves to the final counters')
    t.same(await allGone(pids), [], 'delay line and spawned processes are gone')
    t.same(
      nsList().filter((n) => names.includes(n)),
      [],
      'namespaces deleted',
    )
    await t.rejects(
      wan.stats().then(() => wan.setDropSynData(true)),
      { code: 'TFO_WAN_CLOSED' },
    )
  })
})

// A child process that creates a wan, spawns a sleeper in it, prints what it made, then behaves per `mode`.
const CHILD = `
const { createWan } = require(${JSON.stringify(WAN)})
createWan({ rttMs: 5 }).then((wan) => {
  const s = wan.spawn('server', 'sleep', ['60'], { stdio: 'ignore' }); s.unref()
  console.log(JSON.stringify({ ns: [wan.client.ns, wan.server.ns], pids: [wan.delaylinePid, s.pid] }))
  if (process.argv[1] === 'wait') setInterval(() => {}, 1000)
})`

for (const mode of ['exit', 'SIGTERM', 'SIGINT', 'SIGKILL']) {
  t.test(`cleanup when the owning process ends (${mode})`, async (t) => {
    const child = spawn(process.execPath, ['-e', CHILD, mode === 'exit' ? 'exit' : 'wait'], { stdio: ['ignore', 'pipe', 'inherit'] })
    const made = JSON.parse(await firstLine(child))
    const ended = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })))
    if (mode !== 'exit') child.kill(mode)
    const how = await ended
    if (mode === 'exit') t.equal(how.code, 0, 'a forgotten close() does not keep the process alive')
    else t.equal(how.sig, mode, `the process still dies of ${mode}`)
    if (mode === 'SIGKILL') {
      t.ok(
        made.ns.every((n) => nsList().includes(n)),
        'SIGKILL leaves namespaces behind...',
      )
      t.same(cleanupStaleNamespaces().sort(), [...made.ns].sort(), '...which the next run reaps (owner pid is dead)')
    }
    t.same(
      nsList().filter((n) => made.ns.includes(n)),
      [],
      'namespaces deleted',
    )
    t.same(await allGone(made.pids), [], 'delay line and spawned processes are gone')
  })
}

t.test('without root: rejects with TFO_WAN_NEEDS_ROOT', async (t) => {
  const r = spawnSync(
    process.execPath,
    ['-e', `require(${JSON.stringify(WAN)}).createWan().catch((e) => { console.log(JSON.stringify({ code: e.code, message: e.message })) })`],
    { uid: 65534, gid: 65534, encoding: 'utf8' },
  )
  if (r.status !== 0) return t.skip(`cannot run node as uid 65534 here: ${r.stderr || r.error}`)
  const e = JSON.parse(r.stdout)
  t.equal(e.code, 'TFO_WAN_NEEDS_ROOT')
  t.match(e.message, /root/)
})
