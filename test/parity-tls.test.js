'use strict'
// tfo.tls.connect side by side with Node's own tls.connect: the same
// scenarios, the same observable result (events in order, error shape, write
// callbacks, remoteAddress at 'connect'), while the ClientHello rides in the
// SYN on returning connections (checked from the server side: TCP_INFO
// SYN_DATA on the accepted connection, and on the WAN on the wire).
// Loopback in a private namespace (tcp_fastopen=3); the same scenarios over
// the emulated 50 ms path (bench/lib/wan.js) as root, where 'connect' must
// wait for the SYN-ACK and the handshake is really in SYN_SENT for a while.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const path = require('node:path')
const { startServers, runScenarios } = require('./helpers/tls-parity')
const { selfSigned } = require('./helpers/tls')

const RTT = 50

function compare(t, res, { wan }) {
  const { first } = res
  t.match(first.tfo.fastOpen, { attempted: true, cookie: 'requested', synData: false }, 'first contact asks for a cookie')

  const same = (name, what = ['events']) => {
    const r = res[name]
    for (const k of what) t.same(r.tfo[k], r.node[k], `${name}: ${k} as with tls.connect`)
    return r
  }

  // Returning connections: ClientHello in the SYN, events as tls.connect's.
  for (const name of ['returning', 'requestOCSP', 'ipv6', 'resumption']) {
    if (!res[name]) continue
    const r = same(name, ['events', 'remoteAtConnect', 'error', 'authorized'])
    t.match(r.tfo.events, ['connect', 'ready', 'secureConnect'], `${name}: 'connect', 'ready', then 'secureConnect'`)
    t.ok(r.tfo.remoteAtConnect, `${name}: remoteAddress is known at 'connect' (${r.tfo.remoteAtConnect})`)
    t.equal(r.node.data, 'pong synData=false', `${name}: tls.connect: ClientHello after the handshake`)
    t.equal(r.tfo.data, 'pong synData=true', `${name}: tfo: the server got the ClientHello in the SYN`)
    t.match(r.tfo.fastOpen, { attempted: true, cookie: 'sent', synData: true, failure: null })
    t.ok(r.tfo.fastOpen.synDataBytes > 0, `${name}: ClientHello bytes in the SYN: ${r.tfo.fastOpen.synDataBytes}`)
  }
  t.equal(res.resumption.tfo.reused, true, 'TLS 1.3 session resumption with the ClientHello in the SYN')
  t.equal(res.resumption.node.reused, true)

  // Servers that hold the handshake until the client's 'connect'.
  for (const name of ['resumeSession', 'newSession', 'SNICallback']) {
    const r = same(name, ['events', 'error'])
    t.ok(r.tfo.events.includes('secureConnect'), `${name}: the handshake completes with tfo`)
    t.equal(r.tfo.data, 'pong synData=true', `${name}: ClientHello in the SYN`)
  }
  t.equal(res.resumeSession.tfo.reused, true, "'resumeSession': the session is resumed")

  // Failures: the same events, the same error, the same write callbacks.
  const w = same('writeThenDrop', ['events', 'write'])
  t.comment(`a write queued before 'connect', then the peer drops: ${w.node.write} with tls.connect, ${w.tfo.write} with tfo`)
  t.not(w.tfo.write, 'ERR_SOCKET_CLOSED_BEFORE_CONNECTION', "the write reached the TLS layer at 'connect', as in Node")
  t.equal(w.tfo.error?.code, w.node.error?.code)
  t.equal(w.tfo.error?.message, w.node.error?.message)

  const refused = same('refused', ['events', 'error'])
  t.match(refused.tfo.error, { code: 'ECONNREFUSED', syscall: 'connect', message: /^connect ECONNREFUSED / })

  const reset = same('resetDuringHandshake', ['events'])
  t.equal(reset.tfo.error?.code, reset.node.error?.code, `reset during the handshake: ${reset.node.error?.code}`)
  t.equal(reset.tfo.error?.message, reset.node.error?.message)

  t.same(same('handshakeTimeout').tfo.events, ['connect', 'ready', 'timeout', 'close'])
  same('destroyBeforeConnect', ['events', 'write', 'error'])
  same('destroyWhileConnecting', ['events', 'write', 'error'])

  if (res.happyEyeballs) {
    const he = same('happyEyeballs', ['events', 'attempted', 'error', 'remoteAtConnect'])
    t.equal(he.tfo.attempted.length, 2, `happy eyeballs: ${he.tfo.attempted.join(', ')}`)
    t.equal(he.tfo.data, 'pong synData=true', 'the IPv4 attempt, after a refused IPv6 one, carried the ClientHello in its SYN')
  }

  if (res.localhost) {
    const lh = same('localhost', ['events', 'error', 'remoteAtConnect'])
    t.ok(
      lh.tfo.events.includes('secureConnect'),
      `'localhost' with autoSelectFamily (${lh.tfo.attempted ? lh.tfo.attempted.join(', ') : lh.tfo.remoteAtConnect})`,
    )
  }

  if (wan) {
    const he = same('happyEyeballsTimeout', ['events', 'attempted', 'error', 'remoteAtConnect'])
    t.ok(he.tfo.events.includes('secureConnect'), 'an attempt net gave up on (timeout) falls back to the next address')
    const timeout = same('connectTimeout', ['events', 'error'])
    t.match(timeout.tfo.error, { code: 'ETIMEDOUT', syscall: 'connect' })
    if (res.unreachable) {
      const unreach = same('unreachable', ['events', 'error'])
      t.match(unreach.tfo.error, { code: 'EHOSTUNREACH', syscall: 'connect' })
    }
    // 'connect' cannot come before the SYN-ACK: a full round trip (causal, not a performance check).
    for (const name of ['returning', 'resumption', 'resumeSession', 'SNICallback']) {
      const r = res[name]
      t.ok(r.tfo.times.connect >= RTT * 0.8, `${name}: tfo 'connect' at the SYN-ACK (${r.tfo.times.connect} ms; tls.connect ${r.node.times.connect} ms)`)
      t.comment(`${name}: tls.connect ${JSON.stringify(r.node.times)}`)
      t.comment(`${name}: tfo         ${JSON.stringify(r.tfo.times)}`)
    }
  }
  t.equal(res.fds.after, res.fds.before, 'no descriptor left behind (the duplicates tfo waits on are closed)')
}

t.test('loopback: tfo.tls.connect and tls.connect side by side', async (t) => {
  const { key, cert } = selfSigned()
  const base = 20000 + (process.pid % 1000) * 10
  const close = await startServers({ host: '::', v4: '127.0.0.1', base, key, cert })
  t.teardown(close)
  const res = await runScenarios({ host: '127.0.0.1', host6: '::1', v4: '127.0.0.1', base, ca: cert, wan: false })
  compare(t, res, { wan: false })
})

t.test('emulated WAN (50 ms): tfo.tls.connect and tls.connect side by side', async (t) => {
  if (!process.getuid || process.getuid() !== 0) {
    t.skip('the emulated WAN needs root (network namespaces and TUN devices); CI runs as root')
    return
  }
  const { createWan } = require('../bench/lib/wan')
  const os = require('node:os')
  const fs = require('node:fs')
  const { spawn, execFileSync } = require('node:child_process')
  const helper = path.join(__dirname, 'helpers', 'tls-parity.js')
  for (const family of [4, 6]) {
    await t.test(`IPv${family}`, async (t) => {
      const wan = await createWan({ rttMs: RTT, tag: `ptls${family}` })
      t.teardown(() => wan.close())
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-ptls-'))
      t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
      const caFile = path.join(dir, 'ca.pem')
      const host = family === 4 ? wan.server.addr : wan.server.addr6
      const base = 7400
      // A quicker connect timeout in the client namespace (never the host); behind the
      // server side, a range that silently drops SYNs and one answered with ICMP host unreachable.
      execFileSync('ip', ['netns', 'exec', wan.client.ns, 'sysctl', '-qw', 'net.ipv4.tcp_syn_retries=1'])
      let routed = false
      try {
        execFileSync('ip', ['netns', 'exec', wan.server.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'], { stdio: 'ignore' })
        execFileSync('ip', ['-n', wan.server.ns, 'route', 'add', 'blackhole', '198.18.8.0/24'], { stdio: 'ignore' })
        execFileSync('ip', ['-n', wan.server.ns, 'route', 'add', 'unreachable', '198.18.9.0/24'], { stdio: 'ignore' })
        execFileSync('ip', ['-n', wan.client.ns, 'route', 'add', '198.18.8.0/23', 'dev', wan.client.dev], { stdio: 'ignore' })
        routed = true
      } catch (e) {
        t.comment(`no routes behind the server (${e.message.split('\n')[0]}): the unreachable scenario is left out`)
      }
      const server = wan.spawn('server', process.execPath, [
        '-e',
        `require(${JSON.stringify(helper)}).serve(${JSON.stringify({ host: '::', v4: wan.server.addr, base, caFile })})`,
      ])
      let out = ''
      let errOut = ''
      server.stderr.on('data', (d) => {
        errOut += d
      })
      await new Promise((resolve, reject) => {
        server.stdout.on('data', (d) => {
          out += d
          if (out.includes('listening')) resolve()
        })
        server.on('exit', (code) => reject(new Error(`server exited (${code}): ${errOut}`)))
      })
      // The SYNs on the wire (client side of the line): their payload length.
      const dump = spawn(
        'ip',
        [
          'netns',
          'exec',
          wan.client.ns,
          'tcpdump',
          '-i',
          wan.client.dev,
          '-n',
          '-l',
          '-tt',
          // SYN without ACK (tcp[] only reaches IPv4 headers: IPv6 by offset, no extension headers here)
          `dst port ${base} and ((ip and tcp[13] & 0x12 == 0x02) or (ip6 and ip6[6] == 6 and ip6[53] & 0x12 == 0x02))`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      )
      let synLines = ''
      dump.stdout.on('data', (d) => {
        synLines += d
      })
      await new Promise((resolve) => {
        let e = ''
        dump.stderr.on('data', (d) => {
          e += d
          if (e.includes('listening on')) resolve()
        })
        dump.on('exit', resolve)
      })
      const cfg = {
        host,
        host6: family === 4 ? null : wan.server.addr6,
        v4: wan.server.addr,
        base,
        caFile,
        wan: true,
        unanswered4: routed ? '198.18.8.1' : '198.18.0.99',
        unanswered6: '2001:2::99',
        unreachable4: routed ? '198.18.9.1' : null,
      }
      if (family === 6) cfg.host6 = wan.server.addr6
      const client = await wan.exec('client', process.execPath, ['-e', `require(${JSON.stringify(helper)}).client(${JSON.stringify(cfg)})`], {
        timeout: 120000,
      })
      t.equal(client.code, 0, client.stderr)
      let dropped = null
      if (family === 4) {
        // The path drops SYNs that carry data: the kernel resends a plain SYN after its 1 s
        // timeout, and the ClientHello after the SYN-ACK; 'connect' waits for that SYN-ACK.
        await wan.setDropSynData(true)
        const again = await wan.exec(
          'client',
          process.execPath,
          ['-e', `require(${JSON.stringify(helper)}).client(${JSON.stringify({ ...cfg, only: 'returning' })})`],
          { timeout: 60000 },
        )
        await wan.setDropSynData(false)
        t.equal(again.code, 0, again.stderr)
        dropped = JSON.parse(again.stdout.trim().split('\n').pop()).returning
      }
      await new Promise((resolve) => setTimeout(resolve, 200))
      dump.kill('SIGTERM')
      server.kill('SIGTERM')
      await new Promise((resolve) => server.on('close', resolve))
      const res = JSON.parse(client.stdout.trim().split('\n').pop())
      compare(t, res, { wan: true })
      if (dropped) {
        const r = dropped
        t.same(r.tfo.events, r.node.events, `SYN data dropped: events as with tls.connect (${r.tfo.events.join(', ')})`)
        t.equal(r.tfo.data, 'pong synData=false')
        t.match(r.tfo.fastOpen, { attempted: true, cookie: 'sent', synData: false, failure: 'syn-retransmitted' })
        t.ok(r.tfo.times.connect >= 1000, `'connect' waited for the SYN-ACK to the resent SYN (${r.tfo.times.connect} ms)`)
      }
      const toUnanswered = [...synLines.matchAll(new RegExp(`> ${cfg.unanswered6.replace(/\./g, '\\.')}\\.${base}: .*length (\\d+)`, 'g'))].map((m) =>
        Number(m[1]),
      )
      t.ok(
        toUnanswered.some((n) => n > 0),
        `happy eyeballs: the attempt net gave up on had the ClientHello in its SYN (${toUnanswered.join(', ')} bytes)`,
      )
      const lengths = [...synLines.matchAll(/length (\d+)/g)].map((m) => Number(m[1]))
      t.ok(
        lengths.includes(res.returning.tfo.fastOpen.synDataBytes),
        `on the wire: a SYN to the server carried ${res.returning.tfo.fastOpen.synDataBytes} bytes (SYN lengths seen: ${[...new Set(lengths)].join(', ')})`,
      )
    })
  }
})
