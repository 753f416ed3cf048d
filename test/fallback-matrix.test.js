'use strict'
// The fallback matrix: "faster when it works, never worse when it does not".
// Every case runs end to end through real sockets over the emulated WAN
// (bench/lib/wan.js: two network namespaces joined by a 50 ms delay line),
// for IPv4 and IPv6. Each connection carries a 64 KiB request and a 64 KiB
// response (dozens of segments each way); the server hashes what it received
// and what it sent, the client what it sent and what it received, and the
// hashes must match pairwise. Each case also checks the TFO outcome both ends
// report and the kernel counters of the namespace concerned:
//
//   1. first contact, no cookie          5. TFO queue overflow (ListenOverflow)
//   2. cookie held, server has no TFO    6. SYN flood defence (syncookies=2)
//   3. server key changed (PassiveFail)  7. server restarts between connections
//   4. a middlebox drops SYNs with data  8. refused, and reset during the handshake
//
// Every case gets a fresh testbed (namespaces, cookie caches, keys, counters).
// Per-destination backoff is tested on its own in backoff.test.js.
const t = require('tap')
const { startAgent: startAgentProcess } = require('./helpers/agent')
const path = require('node:path')
const crypto = require('node:crypto')

if (!process.getuid || process.getuid() !== 0) {
  t.plan(0, 'skip: the emulated WAN needs root (network namespaces and TUN devices); CI runs as root')
  return
}

const { createWan } = require('../bench/lib/wan')
const ROOT = path.join(__dirname, '..')
const RTT = 50
const SIZE = 64 * 1024
/** A connection that waited for the 1 s SYN retransmission takes > 1 s; one that did not, a few RTTs. */
const RETRANSMISSION_MS = 900
const FAMILIES = [4, 6]

// ---------------------------------------------------------------- agent
// Runs in a namespace (`node -e`), never in this process. One JSON command a
// line on stdin, one JSON answer a line on stdout. Wire format of a request:
// u32 request length, u32 response length, random bytes; the response is
// derived from the request, so each end can check what the other sent.
function agentMain(ROOT) {
  const tfo = require(ROOT)
  const crypto = require('node:crypto')
  const fs = require('node:fs')
  const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')
  const servers = new Map()
  const fdCount = () => fs.readdirSync('/proc/self/fd').length
  const payload = (reqLen, respLen) => {
    const b = crypto.randomBytes(8 + reqLen)
    b.writeUInt32BE(reqLen, 0)
    b.writeUInt32BE(respLen, 4)
    return b
  }
  const responseFor = (req) => {
    const out = Buffer.allocUnsafe(req.readUInt32BE(4))
    for (let i = 0; i < out.length; i++) out[i] = req[i % req.length] ^ 0x5a
    return out
  }
  const handler = (entry, mode) => (s) => {
    const rec = { remoteAddress: s.remoteAddress, remotePort: s.remotePort, synData: s.fastOpen ? s.fastOpen.synData : null, rxLen: 0 }
    entry.sockets.add(s)
    s.on('error', (e) => {
      rec.error = e.code
    })
    s.on('close', () => {
      entry.sockets.delete(s)
      entry.conns.push(rec)
      entry.wake()
    })
    if (mode === 'rst-accept') {
      s.resetAndDestroy()
      return
    }
    const chunks = []
    s.on('data', (d) => {
      chunks.push(d)
      rec.rxLen += d.length
      if (mode === 'rst-data') {
        s.resetAndDestroy()
        return
      }
      const all = Buffer.concat(chunks)
      if (!rec.rxHash && all.length >= 8 && all.length >= 8 + all.readUInt32BE(0)) {
        rec.rxHash = sha(all)
        const resp = responseFor(all)
        rec.txHash = sha(resp)
        s.end(resp)
      }
    })
  }
  const ops = {
    async listen({ port, host = '::', fastOpen, mode = 'echo' }) {
      const entry = {
        sockets: new Set(),
        conns: [],
        waiters: [],
        warning: null,
        wake() {
          for (const w of this.waiters.splice(0)) w()
        },
      }
      const server = tfo.createServer({ fastOpen }, handler(entry, mode))
      server.on('warning', (w) => {
        entry.warning = w.code
      })
      entry.server = server
      await new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen({ port, host }, resolve)
      })
      servers.set(port, entry)
      return { fastOpen: server.fastOpen, warning: entry.warning }
    },
    async close({ port }) {
      const e = servers.get(port)
      if (!e) return false
      servers.delete(port)
      for (const s of e.sockets) s.destroy()
      await new Promise((resolve) => e.server.close(resolve))
      return true
    },
    // Records of the connections closed so far on `port` (waits for `n` of them).
    async conns({ port, n = 0, timeoutMs = 20000 }) {
      const e = servers.get(port)
      const deadline = Date.now() + timeoutMs
      while (e.conns.length < n && Date.now() < deadline) {
        await new Promise((resolve) => {
          e.waiters.push(resolve)
          setTimeout(resolve, 100)
        })
      }
      return e.conns.splice(0)
    },
    async connect({ host, port, reqLen = 65536, respLen = 65536, count = 1, parallel = false, fastOpen, timeoutMs = 15000 }) {
      const one = () =>
        new Promise((resolve) => {
          const req = payload(reqLen, respLen)
          const r = { events: [], txHash: sha(req), expectedRxHash: sha(responseFor(req)) }
          const t0 = process.hrtime.bigint()
          const ms = () => Number(process.hrtime.bigint() - t0) / 1e6
          const s = tfo.connect({ host, port, fastOpen })
          s.write(req) // before 'connect': rides in the SYN when the kernel holds a cookie
          const chunks = []
          let got = 0
          s.on('connect', () => {
            r.connectMs = ms()
            r.events.push('connect')
            r.localPort = s.localPort
          })
          s.on('data', (d) => {
            if (!got) r.ttfbMs = ms()
            chunks.push(d)
            got += d.length
            if (got >= respLen) s.end()
          })
          s.on('end', () => r.events.push('end'))
          s.on('error', (e) => {
            r.events.push('error')
            r.error = { code: e.code, errno: e.errno, syscall: e.syscall, address: e.address, port: e.port, message: e.message }
          })
          const timer = setTimeout(() => {
            r.events.push('timeout')
            s.destroy()
          }, timeoutMs)
          s.on('close', () => {
            clearTimeout(timer)
            r.totalMs = ms()
            const d = Buffer.concat(chunks)
            r.rxLen = d.length
            r.rxHash = sha(d)
            r.info = s.fastOpen
            r.events.push('close')
            resolve(r)
          })
        })
      if (parallel) return Promise.all(Array.from({ length: count }, one))
      const out = []
      for (let i = 0; i < count; i++) out.push(await one())
      return out
    },
    async eval({ code }) {
      const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor
      return new AsyncFunction('tfo', 'ctx', code)(tfo, { servers, fdCount, sha, fs })
    },
  }
  require(ROOT + '/test/helpers/agent.js').serveAgent(ops, async () => {
    for (const port of [...servers.keys()]) await ops.close({ port })
    process.exit(0)
  })
}
const AGENT = `(${agentMain})(${JSON.stringify(ROOT)})`

const startAgent = (wan, side) => startAgentProcess(wan, side, AGENT)

/** A fresh testbed: WAN, a server agent, a client agent; all stopped (and waited for) at teardown. */
async function testbed(t, tag, wanOptions = {}) {
  const wan = await createWan({ rttMs: RTT, tag, ...wanOptions })
  const bed = {
    wan,
    host: { 4: wan.server.addr, 6: wan.server.addr6 },
    server: startAgent(wan, 'server'),
    client: startAgent(wan, 'client'),
    async restartServer() {
      await this.server.stop()
      this.server = startAgent(wan, 'server')
    },
  }
  t.teardown(async () => {
    await Promise.all([bed.client.stop(), bed.server.stop()])
    await wan.close()
  })
  return bed
}

const counters = (agent) => agent.eval('return tfo.counters()')
function diff(before, after) {
  const d = {}
  for (const k of Object.keys(after)) if (k !== 'at' && typeof after[k] === 'number') d[k] = after[k] - before[k]
  return d
}
const ms = (x) => (x == null ? '-' : x.toFixed(0))

/**
 * Runs `count` request/response exchanges and checks them end to end: every
 * connection served, both payloads intact (sha256 on both ends), and both
 * ends agree on whether the SYN carried data. Returns the client results.
 */
async function exchange(t, bed, family, port, { count = 1, parallel = false, label = '', ...opts } = {}) {
  const results = await bed.client.call('connect', { host: bed.host[family], port, count, parallel, ...opts })
  const served = await bed.server.call('conns', { port, n: count })
  t.equal(served.length, count, `${label}: the server served all ${count} connection(s)`)
  results.forEach((r, i) => {
    const name = `${label}${count > 1 ? ` #${i}` : ''}`
    t.same(r.events, ['connect', 'end', 'close'], `${name}: connected, answered, closed without error`)
    t.equal(r.rxLen, SIZE, `${name}: 64 KiB response received`)
    t.equal(r.rxHash, r.expectedRxHash, `${name}: response intact (sha256 at the client)`)
    const s = served.find((x) => x.remotePort === r.localPort)
    if (!t.ok(s, `${name}: the server saw this connection`)) return
    t.equal(s.rxLen, SIZE + 8, `${name}: whole request received`)
    t.equal(s.rxHash, r.txHash, `${name}: request intact (sha256 at the server)`)
    t.equal(s.txHash, r.rxHash, `${name}: what the server sent is what the client got`)
    t.equal(s.synData, r.info.synData, `${name}: both ends agree whether the SYN carried data (${r.info.synData})`)
  })
  return results
}

const outcome = (r) => r.info && `${r.info.cookie}/${r.info.synData ? 'syn-data' : 'no-syn-data'}/${r.info.failure || r.info.reason || 'ok'}`
function comment(t, label, results) {
  for (const r of results) t.comment(`${label}: ${outcome(r)}, first byte ${ms(r.ttfbMs)} ms, done ${ms(r.totalMs)} ms`)
}

/** A fresh listener key in the kernel's text form. */
const newKey = () => crypto.randomBytes(16).toString('hex').match(/.{8}/g).join('-')

// ---------------------------------------------------------------- cases

t.test('1. first contact: no cookie yet, normal handshake, a cookie for next time', async (t) => {
  const bed = await testbed(t, 'fm1')
  await bed.server.call('listen', { port: 7100 })
  for (const fam of FAMILIES) {
    await t.test(`IPv${fam}`, async (t) => {
      const c0 = await counters(bed.server)
      const [first] = await exchange(t, bed, fam, 7100, { label: 'first contact' })
      t.match(first.info, { attempted: true, cookie: 'requested', synData: false, synDataBytes: 0, failure: 'cookie-unavailable', reason: null })
      const c1 = await counters(bed.server)
      t.match(diff(c0, c1), { cookieReqd: 1, passive: 0, passiveFail: 0 }, 'server: one cookie request, no TFO')
      const [next] = await exchange(t, bed, fam, 7100, { label: 'returning' })
      t.match(next.info, { attempted: true, cookie: 'sent', synData: true, failure: null })
      t.ok(next.info.synDataBytes > 1000, `returning: a full segment rode in the SYN (${next.info.synDataBytes} bytes)`)
      t.match(diff(c1, await counters(bed.server)), { passive: 1, passiveFail: 0 }, 'server: one TFO connection')
      comment(t, `IPv${fam}`, [first, next])
    })
  }
})

t.test('2. the client holds a cookie but the server has no TFO (any more)', async (t) => {
  const bed = await testbed(t, 'fm2')
  for (const fam of FAMILIES) {
    await t.test(`IPv${fam}`, async (t) => {
      const base = fam === 6 ? 7300 : 7200
      await bed.server.call('listen', { port: base })
      await exchange(t, bed, fam, base, { label: 'cookie' })
      const [warm] = await exchange(t, bed, fam, base, { label: 'with TFO' })
      t.equal(warm.info.synData, true, 'TFO works before the switch')

      // (a) The server namespace loses the server bit: the listener keeps TCP_FASTOPEN, the kernel ignores it.
      await bed.server.eval('tfo.sysctl.setFastOpen(1)')
      const c0 = await counters(bed.server)
      const [off] = await exchange(t, bed, fam, base, { label: 'server bit off' })
      t.match(off.info, { attempted: true, cookie: 'sent', synData: false, failure: 'data-not-acked' }, 'SYN data ignored; resent after the handshake')
      t.match(diff(c0, await counters(bed.server)), { passive: 0, passiveFail: 0 }, 'the server kernel did no TFO')
      const later = await bed.server.call('listen', { port: base + 1 })
      t.match(later, { fastOpen: { enabled: true, active: false }, warning: 'TFO_SERVER_INACTIVE' }, 'a listener made now says TFO is inactive')
      await bed.server.eval('tfo.sysctl.setFastOpen(3)')

      // (b) A plain net server on the same host: the kernel caches cookies per IP, so the client sends one.
      await bed.server.call('listen', { port: base + 2, fastOpen: false })
      const plain = await exchange(t, bed, fam, base + 2, { count: 3, label: 'plain server' })
      t.match(plain[0].info, { attempted: true, cookie: 'sent', synData: false, failure: 'data-not-acked' })
      t.match(plain[1].info, { attempted: true, cookie: 'sent', synData: false, failure: 'data-not-acked' })
      t.match(plain[2].info, { attempted: false, synData: false, reason: /^backoff: / }, 'twice not acknowledged in a row: TFO paused for that port')
      const entries = await bed.client.eval('return tfo.backoffEntries()')
      const dest = fam === 6 ? `[${bed.host[6]}]:${base + 2}` : `${bed.host[4]}:${base + 2}`
      const mine = entries.filter((e) => e.destination === dest)
      t.equal(mine.length, 1, `backoff entry for ${dest}`)
      t.match(mine[0], { failures: 1, cause: /not acknowledged twice/ })
      comment(t, `IPv${fam}`, [off, ...plain])
    })
  }
})

t.test('3. the server key changed: the cookie is invalid, PassiveFail, fallback, fresh cookie', async (t) => {
  const bed = await testbed(t, 'fm3')
  for (const fam of FAMILIES) {
    await t.test(`IPv${fam}`, async (t) => {
      const port = fam === 6 ? 7301 : 7201
      await bed.server.call('listen', { port })
      await exchange(t, bed, fam, port, { label: 'cookie' })
      t.equal((await exchange(t, bed, fam, port, { label: 'with TFO' }))[0].info.synData, true)

      const rotate = async (label, code) => {
        await bed.server.eval(code)
        const c0 = await counters(bed.server)
        const [stale] = await exchange(t, bed, fam, port, { label: `${label}: stale cookie` })
        t.match(stale.info, { attempted: true, cookie: 'sent', synData: false, failure: 'data-not-acked' })
        const c1 = await counters(bed.server)
        t.match(diff(c0, c1), { passiveFail: 1, passive: 0 }, `${label}: the server rejected the cookie (TCPFastOpenPassiveFail +1)`)
        const [fresh] = await exchange(t, bed, fam, port, { label: `${label}: fresh cookie` })
        t.match(
          fresh.info,
          { attempted: true, cookie: 'sent', synData: true, failure: null },
          `${label}: the SYN-ACK brought a new cookie; the next request rides the SYN`,
        )
        t.match(diff(c1, await counters(bed.server)), { passive: 1, passiveFail: 0 })
        comment(t, `IPv${fam} ${label}`, [stale, fresh])
      }
      // The namespace key (tcp_fastopen_key in the server namespace), then a key of the listener's own.
      await rotate('namespace key', "tfo.sysctl.setKey(require('node:crypto').randomBytes(16))")
      await rotate('listener key', `tfo.setFastOpenKey(ctx.servers.get(${port}).server, ${JSON.stringify(newKey())})`)
      t.same(await bed.client.eval('return tfo.backoffEntries()'), [], 'one stale cookie is normal: no backoff')
    })
  }
})

t.test('4. a middlebox drops SYNs carrying data: the data is resent after the SYN retransmission', async (t) => {
  const bed = await testbed(t, 'fm4', { dropSynData: true })
  await bed.server.call('listen', { port: 7400 })
  for (const fam of FAMILIES) {
    await t.test(`IPv${fam}`, async (t) => {
      const [first] = await exchange(t, bed, fam, 7400, { label: 'first contact' })
      t.match(first.info, { cookie: 'requested', synData: false }, 'a SYN without data passes: the cookie arrives')
      t.ok(first.ttfbMs < RETRANSMISSION_MS, `first contact: no retransmission (${ms(first.ttfbMs)} ms)`)
      const w0 = await bed.wan.stats()
      const c0 = await counters(bed.client)
      const [dropped] = await exchange(t, bed, fam, 7400, { label: 'SYN data dropped' })
      t.match(dropped.info, { attempted: true, cookie: 'sent', synData: false, failure: 'syn-retransmitted' })
      t.ok(dropped.ttfbMs > RETRANSMISSION_MS, `waited for the 1 s SYN retransmission (${ms(dropped.ttfbMs)} ms)`)
      const w1 = await bed.wan.stats()
      t.equal(w1.synDataDropped - w0.synDataDropped, 1, 'the delay line dropped that SYN')
      t.match(diff(c0, await counters(bed.client)), { activeFail: 1, active: 0 }, 'client: TCPFastOpenActiveFail +1')
      // The kernel sends SYN data again (and waits 1 s again): one lost SYN may be random loss.
      const [again] = await exchange(t, bed, fam, 7400, { label: 'SYN data dropped again' })
      t.match(again.info, { attempted: true, cookie: 'sent', synData: false, failure: 'syn-retransmitted' })
      const w2 = await bed.wan.stats()
      t.equal(w2.synDataDropped - w1.synDataDropped, 1, 'the delay line dropped that SYN too')
      // Two in a row: tfo's backoff stops it.
      const [after] = await exchange(t, bed, fam, 7400, { label: 'next' })
      t.match(after.info, { attempted: false, synData: false, reason: /^backoff: TFO to .* after two retransmitted SYNs in a row/ })
      t.ok(after.ttfbMs < RETRANSMISSION_MS, `next: no retransmission wait (${ms(after.ttfbMs)} ms)`)
      t.equal((await bed.wan.stats()).synDataDropped, w2.synDataDropped, 'no SYN data sent into the drop')
      comment(t, `IPv${fam}`, [first, dropped, again, after])
    })
  }
})

t.test('5. TFO queue overflow: the surplus falls back to a normal handshake (ListenOverflow)', async (t) => {
  const bed = await testbed(t, 'fm5')
  for (const fam of FAMILIES) {
    await t.test(`IPv${fam}`, async (t) => {
      const port = fam === 6 ? 7501 : 7500
      const l = await bed.server.call('listen', { port, fastOpen: { queueLength: 1 } })
      t.match(l.fastOpen, { active: true, queueLength: 1 })
      await exchange(t, bed, fam, port, { label: 'cookie' })
      const c0 = await counters(bed.server)
      const burst = await exchange(t, bed, fam, port, { count: 20, parallel: true, label: 'burst' })
      const d = diff(c0, await counters(bed.server))
      const rode = burst.filter((r) => r.info.synData).length
      const fell = burst.filter((r) => r.info.failure === 'data-not-acked')
      t.ok(d.listenOverflow >= 1, `TCPFastOpenListenOverflow +${d.listenOverflow}`)
      t.ok(fell.length >= 1, `${fell.length} of 20 fell back (SYN data not acknowledged)`)
      t.equal(rode + fell.length, 20, 'each either rode the SYN or fell back')
      t.equal(fell.length, d.listenOverflow, 'one fallback per overflow')
      t.ok(
        fell.every((r) => r.info.cookie === 'sent'),
        'all sent their cookie',
      )
      t.ok(d.passive >= rode, `TCPFastOpenPassive +${d.passive}`)
      t.equal(d.passiveFail, 0)
      t.comment(
        `IPv${fam}: ${rode} rode the SYN, ${fell.length} overflowed; first byte ${ms(Math.min(...burst.map((r) => r.ttfbMs)))}..${ms(Math.max(...burst.map((r) => r.ttfbMs)))} ms`,
      )
      t.comment(`IPv${fam}: backoff after the burst: ${JSON.stringify(await bed.client.eval('return tfo.backoffEntries()'))}`)
    })
  }
})

t.test('6. SYN flood defence (tcp_syncookies=2): no TFO, every connection served', async (t) => {
  const bed = await testbed(t, 'fm6')
  const syncookiesSent = () =>
    bed.server.eval(
      "const l = ctx.fs.readFileSync('/proc/net/netstat', 'latin1').split('\\n').filter((x) => x.startsWith('TcpExt:'));" +
        "return Number(l[1].split(' ')[l[0].split(' ').indexOf('SyncookiesSent')])",
    )
  await bed.server.call('listen', { port: 7600 })
  for (const fam of FAMILIES) {
    await t.test(`IPv${fam}`, async (t) => {
      await exchange(t, bed, fam, 7600, { label: 'cookie' })
      t.equal((await exchange(t, bed, fam, 7600, { label: 'with TFO' }))[0].info.synData, true)
      await bed.server.eval("ctx.fs.writeFileSync('/proc/sys/net/ipv4/tcp_syncookies', '2')") // the server namespace only
      t.teardown(() => bed.server.eval("ctx.fs.writeFileSync('/proc/sys/net/ipv4/tcp_syncookies', '1')").catch(() => {}))
      const c0 = await counters(bed.server)
      const s0 = await syncookiesSent()
      const burst = await exchange(t, bed, fam, 7600, { count: 10, parallel: true, label: 'syncookies' })
      t.ok(
        burst.every((r) => r.info.synData === false && r.info.failure === 'data-not-acked'),
        'no SYN data accepted; each resent after the handshake',
      )
      t.equal((await syncookiesSent()) - s0, 10, 'every SYN was answered with a SYN cookie')
      t.match(diff(c0, await counters(bed.server)), { passive: 0, passiveFail: 0, listenOverflow: 0 })
      // A client without a cookie gets none while the defence is on.
      await bed.wan.exec('client', 'ip', ['tcp_metrics', 'flush', 'all'])
      await bed.client.eval('tfo.clearBackoff()') // the burst paused TFO to this port; start clean
      const [firstContact] = await exchange(t, bed, fam, 7600, { label: 'first contact under syncookies' })
      t.match(firstContact.info, { cookie: 'requested', synData: false, failure: 'cookie-unavailable' })
      await bed.server.eval("ctx.fs.writeFileSync('/proc/sys/net/ipv4/tcp_syncookies', '1')")
      const back = await exchange(t, bed, fam, 7600, { count: 2, label: 'defence off' })
      t.same(
        back.map((r) => [r.info.cookie, r.info.synData]),
        [
          ['requested', false],
          ['sent', true],
        ],
        'TFO comes back: a cookie, then SYN data',
      )
      comment(t, `IPv${fam}`, [burst[0], firstContact, ...back])
    })
  }
})

t.test('7. the server restarts between connections', async (t) => {
  const bed = await testbed(t, 'fm7')
  const key = newKey() // a key of the listeners' own, the same after the restart (a fleet's shared key)
  // The client's kernel keeps one cookie per server IP: each stage starts from an empty cache.
  const flushCookies = () => bed.wan.exec('client', 'ip', ['tcp_metrics', 'flush', 'all'])
  const restartAndListen = async (port, fastOpen) => {
    await bed.restartServer()
    await bed.server.call('listen', { port, fastOpen })
  }
  for (const fam of FAMILIES) {
    await t.test(`IPv${fam}`, async (t) => {
      const port = fam === 6 ? 7701 : 7700
      for (const [label, fastOpen] of [
        ['namespace key', undefined],
        ['same listener key', { key }],
      ]) {
        await flushCookies()
        await bed.restartServer()
        await bed.server.call('listen', { port, fastOpen })
        await exchange(t, bed, fam, port, { label: `${label}: cookie` })
        t.equal((await exchange(t, bed, fam, port, { label: `${label}: with TFO` }))[0].info.synData, true)
        await restartAndListen(port, fastOpen)
        const c0 = await counters(bed.server)
        const [after] = await exchange(t, bed, fam, port, { label: `${label}: after restart` })
        t.match(after.info, { cookie: 'sent', synData: true, failure: null }, `${label}: the new process accepts the cookie the old one issued`)
        t.match(diff(c0, await counters(bed.server)), { passive: 1, passiveFail: 0 })
        t.comment(`IPv${fam} ${label}, after the restart: ${outcome(after)}, first byte ${ms(after.ttfbMs)} ms`)
      }
      // Restarted with another key: one stale cookie, then a fresh one (as in case 3).
      await restartAndListen(port, { key: newKey() })
      const changed = await exchange(t, bed, fam, port, { count: 2, label: 'after restart with a new key' })
      t.same(
        changed.map((r) => [r.info.synData, r.info.failure]),
        [
          [false, 'data-not-acked'],
          [true, null],
        ],
        'new key: stale cookie once, then TFO again',
      )
      comment(t, `IPv${fam} new key after the restart`, changed)
    })
  }
})

t.test("8. refused, and reset during the handshake: errors with net's shape, nothing hangs, no fd leaks", async (t) => {
  const bed = await testbed(t, 'fm8')
  const fds = { client: () => bed.client.eval('return ctx.fdCount()'), server: () => bed.server.eval('return ctx.fdCount()') }
  const refused = async (t, fam, port, label) => {
    const [r] = await bed.client.call('connect', { host: bed.host[fam], port })
    t.same(r.events, ['error', 'close'], `${label}: 'error' then 'close', no 'connect'`)
    t.match(
      r.error,
      { code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: bed.host[fam], port, message: /^connect ECONNREFUSED / },
      `${label}: net's error shape`,
    )
    t.equal(r.info, null, `${label}: no outcome (never connected)`)
    t.ok(r.totalMs < RETRANSMISSION_MS, `${label}: refused within a round trip (${ms(r.totalMs)} ms)`)
    return r
  }
  await bed.server.call('listen', { port: 7800 })
  await bed.server.call('listen', { port: 7801, mode: 'rst-data' })
  await bed.server.call('listen', { port: 7802, mode: 'rst-accept' })
  for (const fam of FAMILIES) {
    await t.test(`IPv${fam}`, async (t) => {
      const closed = fam === 6 ? 7899 : 7898
      const cookieFor = async () => /fo_cookie/.test((await bed.wan.exec('client', 'ip', [`-${fam}`, 'tcp_metrics', 'show', bed.host[fam]])).stdout)
      t.notOk(await cookieFor(), 'no cookie for the server yet')
      const fresh = await refused(t, fam, closed, 'refused, first contact')

      // Reset at once by a server that accepts the connection (first contact: after the handshake).
      const [rst0] = await bed.client.call('connect', { host: bed.host[fam], port: 7802 })
      t.equal(rst0.error && rst0.error.code, 'ECONNRESET', 'reset on accept, first contact: ECONNRESET')
      t.equal(rst0.events.at(-1), 'close')
      await bed.server.call('conns', { port: 7802, n: 1 })

      await exchange(t, bed, fam, 7800, { label: 'cookie' })
      t.ok(await cookieFor(), 'the client now holds a cookie for the server')
      const cf0 = await fds.client()
      const sf0 = await fds.server()
      const withCookie = await refused(t, fam, closed, 'refused, SYN with cookie and data')

      // Reset by the server after it read the SYN data: the child socket is accepted
      // on the SYN (TFO), so the RST leaves before the client has completed the handshake.
      const [rst1] = await bed.client.call('connect', { host: bed.host[fam], port: 7801 })
      t.equal(rst1.error && rst1.error.code, 'ECONNRESET', 'reset after reading the SYN data: ECONNRESET')
      t.notOk(rst1.events.includes('timeout'), 'nothing hung')
      t.ok(rst1.totalMs < RETRANSMISSION_MS, `closed within a round trip or so (${ms(rst1.totalMs)} ms)`)
      const [s1] = await bed.server.call('conns', { port: 7801, n: 1 })
      t.match(s1, { synData: true }, 'the server got the request in the SYN')
      t.ok(s1.rxLen > 0 && s1.rxLen < SIZE, `it read the SYN's ${s1.rxLen} bytes, then reset`)

      const [rst2] = await bed.client.call('connect', { host: bed.host[fam], port: 7802 })
      t.equal(rst2.error && rst2.error.code, 'ECONNRESET', 'reset on accept of a TFO connection: ECONNRESET')
      const [s2] = await bed.server.call('conns', { port: 7802, n: 1 })
      t.equal(s2.synData, true, 'that connection had SYN data (accepted before the handshake completed)')

      t.equal(await fds.client(), cf0, 'client: no fd left open')
      t.equal(await fds.server(), sf0, 'server: no fd left open')
      t.same(await bed.client.eval('return tfo.backoffEntries()'), [], 'refusals and resets do not pause TFO')
      const [ok] = await exchange(t, bed, fam, 7800, { label: 'afterwards' })
      t.equal(ok.info.synData, true, 'TFO still works afterwards')
      t.comment(
        `IPv${fam}: refused ${ms(fresh.totalMs)} / ${ms(withCookie.totalMs)} ms (no cookie / cookie), reset ${ms(rst0.totalMs)} / ${ms(rst1.totalMs)} / ${ms(rst2.totalMs)} ms`,
      )
    })
  }
})
