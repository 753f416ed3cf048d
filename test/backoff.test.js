'use strict'
// Per-destination TFO backoff (lib/core/backoff.ts). On a path that drops SYNs
// carrying data every TFO connection waits for the 1 s SYN retransmission,
// and the kernel (6.18) keeps sending SYN data there. tfo notices it
// (TCP_INFO: SYN retransmitted twice in a row, or SYN data not acknowledged
// twice in a row) and stops attempting TFO to that address:port for a while
// (exponential, bounded), so one bad path costs two slow connections, then one
// per pause, not one per request. A single retransmitted SYN (random loss on a
// mobile path) pauses nothing: it costs a TFO connection what it costs a plain one.
//
// First the rules, on the process-wide table with a synthetic clock; then the
// real thing over the emulated WAN (bench/lib/wan.js, 50 ms RTT) with the
// delay line dropping SYNs that carry data, and healing.
const t = require('tap')
const { startAgent: startAgentProcess } = require('./helpers/agent')
const path = require('node:path')
const tfo = require('..')
const { backoff } = require('../dist/core/backoff.js') // the table tfo's sockets use (internal)

const ROOT = path.join(__dirname, '..')
const DEFAULTS = { enabled: true, initialMs: 60000, maxMs: 3600000, maxEntries: 4096 }

const info = (o) => ({ role: 'client', attempted: true, synData: false, cookie: 'sent', synDataBytes: 100, failure: null, reason: null, rttMs: 50, ...o })
const RETRANSMITTED = info({ failure: 'syn-retransmitted' })
const NOT_ACKED = info({ failure: 'data-not-acked' })
const SUCCESS = info({ synData: true })

function fresh(t, options = {}) {
  tfo.configureBackoff({ ...DEFAULTS, ...options })
  tfo.clearBackoff()
  t.teardown(() => {
    tfo.configureBackoff(DEFAULTS)
    tfo.clearBackoff()
  })
}

// ---------------------------------------------------------------- rules

t.test('configureBackoff validates every option before applying any', async (t) => {
  fresh(t)
  t.throws(() => tfo.configureBackoff(), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => tfo.configureBackoff(null), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => tfo.configureBackoff({ enabled: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.enabled/ })
  t.throws(() => tfo.configureBackoff({ initialMs: '5' }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.initialMs/ })
  t.throws(() => tfo.configureBackoff({ initialMs: -1 }), { code: 'ERR_OUT_OF_RANGE', message: /options\.initialMs/ })
  t.throws(() => tfo.configureBackoff({ maxMs: 1.5 }), { code: 'ERR_OUT_OF_RANGE', message: /options\.maxMs/ })
  t.throws(() => tfo.configureBackoff({ maxMs: 2 ** 31 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => tfo.configureBackoff({ maxEntries: 0 }), { code: 'ERR_OUT_OF_RANGE', message: /options\.maxEntries/ })
  t.throws(() => tfo.configureBackoff({ initialMs: 5, maxEntries: 0 }), { code: 'ERR_OUT_OF_RANGE' })
  t.match(backoff, DEFAULTS, 'a rejected call changed nothing')
  tfo.configureBackoff({})
  t.match(backoff, DEFAULTS, 'defaults: on, 1 min, at most 1 h, 4096 destinations')
})

t.test('two retransmitted SYNs in a row pause TFO to that address:port', async (t) => {
  fresh(t)
  const now = 1e12
  t.equal(backoff.blockedReason('192.0.2.1', 443, now), null)
  backoff.report('192.0.2.1', 443, RETRANSMITTED, now)
  t.equal(backoff.blockedReason('192.0.2.1', 443, now + 1), null, 'one retransmitted SYN (random loss does that): no pause')
  t.same(backoff.entries(now + 1), [])
  backoff.report('192.0.2.1', 443, RETRANSMITTED, now + 10)
  t.match(backoff.blockedReason('192.0.2.1', 443, now + 11), /^backoff: TFO to 192\.0\.2\.1:443 paused for 60 s after two retransmitted SYNs in a row/)
  t.equal(backoff.blockedReason('192.0.2.1', 80, now + 11), null, 'another port of the same host is not paused')
  t.equal(backoff.blockedReason('192.0.2.2', 443, now + 11), null, 'another host is not paused')
  t.same(backoff.entries(now + 11), [
    { destination: '192.0.2.1:443', until: now + 10 + 60000, failures: 1, cause: 'two retransmitted SYNs in a row (the path may drop SYNs that carry data)' },
  ])
  t.equal(backoff.blockedReason('192.0.2.1', 443, now + 10 + 60000), null, 'the pause ends by itself')
  t.same(backoff.entries(now + 10 + 60000), [], 'and is no longer listed')
})

t.test('random loss: a success or an unacknowledged SYN between two retransmitted SYNs means no pause', async (t) => {
  fresh(t)
  let now = 1e12
  // 1% loss: every so often one connection loses its SYN; the ones in between carry their data.
  for (let i = 0; i < 50; i++) {
    backoff.report('192.0.2.1', 443, RETRANSMITTED, now++)
    backoff.report('192.0.2.1', 443, SUCCESS, now++)
  }
  t.equal(backoff.blockedReason('192.0.2.1', 443, now), null, 'fifty isolated retransmitted SYNs: never paused')
  backoff.report('192.0.2.1', 443, RETRANSMITTED, now++)
  backoff.report('192.0.2.1', 443, NOT_ACKED, now++)
  backoff.report('192.0.2.1', 443, RETRANSMITTED, now++)
  t.equal(backoff.blockedReason('192.0.2.1', 443, now), null, 'SYN data that got through (not acked, no retransmission) ends the run')
  backoff.report('192.0.2.1', 443, RETRANSMITTED, now++)
  t.match(backoff.blockedReason('192.0.2.1', 443, now), /two retransmitted SYNs in a row/, 'the next one in a row does')
})

t.test('IPv6 destinations are written [addr]:port', async (t) => {
  fresh(t)
  backoff.report('2001:db8::1', 443, RETRANSMITTED)
  backoff.report('2001:db8::1', 443, RETRANSMITTED)
  t.match(tfo.backoffEntries(), [{ destination: '[2001:db8::1]:443' }])
  t.match(backoff.blockedReason('2001:db8::1', 443), /^backoff: TFO to \[2001:db8::1\]:443 paused/)
})

t.test('exponential on each repeat, bounded by maxMs; a success forgets it', async (t) => {
  fresh(t, { initialMs: 1000, maxMs: 5000 })
  let now = 1e12
  const pauses = []
  backoff.report('192.0.2.1', 443, RETRANSMITTED, now - 10) // the first of the two in a row
  for (let i = 0; i < 6; i++) {
    // Once paused, one more retransmitted SYN after the pause pauses again (no success since).
    backoff.report('192.0.2.1', 443, RETRANSMITTED, now)
    const [e] = backoff.entries(now)
    pauses.push(e.until - now)
    t.equal(e.failures, i + 1)
    now = e.until // the pause ran out; the next attempt fails again
  }
  t.same(pauses, [1000, 2000, 4000, 5000, 5000, 5000])
  backoff.report('192.0.2.1', 443, SUCCESS, now)
  t.same(backoff.entries(now), [], 'SYN data acknowledged: the destination is forgotten')
  backoff.report('192.0.2.1', 443, RETRANSMITTED, now)
  t.same(backoff.entries(now), [], 'after a success one retransmitted SYN is an accident again')
  backoff.report('192.0.2.1', 443, RETRANSMITTED, now + 1)
  t.equal(backoff.entries(now + 1)[0].until - (now + 1), 1000, 'and two in a row start from initialMs again')
})

t.test('SYN data not acknowledged: once is normal (key rotation), twice in a row pauses', async (t) => {
  fresh(t)
  const now = 1e12
  backoff.report('192.0.2.1', 443, NOT_ACKED, now)
  t.equal(backoff.blockedReason('192.0.2.1', 443, now + 1), null, 'once: no pause')
  t.same(tfo.backoffEntries(), [])
  backoff.report('192.0.2.1', 443, SUCCESS, now + 10)
  backoff.report('192.0.2.1', 443, NOT_ACKED, now + 20)
  t.equal(backoff.blockedReason('192.0.2.1', 443, now + 21), null, 'a success in between resets the count')
  backoff.report('192.0.2.1', 443, NOT_ACKED, now + 30)
  t.match(backoff.blockedReason('192.0.2.1', 443, now + 31), /paused for 60 s after SYN data not acknowledged twice in a row/)
  // Outcomes that say nothing about the path never pause.
  for (const o of [
    info({ failure: 'cookie-unavailable', cookie: 'requested' }),
    info({ failure: null }),
    info({ failure: 'data-not-acked', cookie: 'requested' }),
    info({ attempted: false, failure: 'syn-retransmitted' }),
  ]) {
    backoff.report('192.0.2.9', 443, o, now)
    backoff.report('192.0.2.9', 443, o, now + 1)
  }
  t.equal(backoff.blockedReason('192.0.2.9', 443, now + 2), null, 'cookie requests, no failure, not attempted: no pause')
})

t.test('a burst of connections that fail together counts once', async (t) => {
  // Twenty parallel requests over a path that drops SYN data all started with
  // TFO on, so all twenty report a retransmitted SYN. That is one failure,
  // not twenty doublings (which used to jump straight to maxMs).
  fresh(t, { initialMs: 1000, maxMs: 3600000 })
  const now = 1e12
  // Without start times (each taken to start when it reports) the second report is "in a row".
  for (let i = 0; i < 20; i++) backoff.report('192.0.2.1', 443, RETRANSMITTED, now + i)
  t.match(backoff.entries(now + 20), [{ failures: 1, until: now + 1 + 1000 }])
  // With start times: a burst that started together is one retransmitted SYN, not two in a row.
  for (let i = 0; i < 20; i++) backoff.report('192.0.2.5', 443, RETRANSMITTED, now + 100 + i, now)
  t.equal(backoff.blockedReason('192.0.2.5', 443, now + 200), null, 'a burst that lost its SYNs together does not pause')
  backoff.report('192.0.2.5', 443, RETRANSMITTED, now + 1300, now + 200)
  t.match(
    backoff.entries(now + 1300).find((e) => e.destination === '192.0.2.5:443'),
    { failures: 1, until: now + 1300 + 1000 },
    'a later connection that loses its SYN again does',
  )
  for (let i = 0; i < 20; i++) backoff.report('192.0.2.2', 443, NOT_ACKED, now + i)
  t.match(
    backoff.entries(now + 20).find((e) => e.destination === '192.0.2.2:443'),
    { failures: 1, until: now + 1 + 1000 },
  )
  // With the start time of each connection known, a burst that started together is not "in a row".
  for (let i = 0; i < 20; i++) backoff.report('192.0.2.3', 443, NOT_ACKED, now + 100 + i, now)
  t.equal(backoff.blockedReason('192.0.2.3', 443, now + 200), null, 'a stale-cookie burst (started together) does not pause')
  backoff.report('192.0.2.3', 443, NOT_ACKED, now + 400, now + 300)
  t.match(backoff.blockedReason('192.0.2.3', 443, now + 401), /twice in a row/, 'a later connection that fails again does')
  // A connection that started before a pause and reports after it ran out adds nothing either.
  backoff.report('192.0.2.4', 443, RETRANSMITTED, now + 800, now)
  backoff.report('192.0.2.4', 443, RETRANSMITTED, now + 1000, now + 900) // in a row: paused until now + 2000
  backoff.report('192.0.2.4', 443, RETRANSMITTED, now + 5000, now + 500)
  t.equal(
    backoff.entries(now + 5000).find((e) => e.destination === '192.0.2.4:443'),
    undefined,
    'expired, not escalated',
  )
  backoff.report('192.0.2.4', 443, RETRANSMITTED, now + 6000, now + 5500)
  t.match(
    backoff.entries(now + 6000).find((e) => e.destination === '192.0.2.4:443'),
    { failures: 2, until: now + 6000 + 2000 },
  )
})

t.test('maxEntries bounds the table (oldest forgotten first), also when lowered', async (t) => {
  fresh(t, { maxEntries: 3 })
  for (let i = 1; i <= 4; i++) for (let k = 0; k < 2; k++) backoff.report(`192.0.2.${i}`, 443, RETRANSMITTED)
  t.same(
    tfo.backoffEntries().map((e) => e.destination),
    ['192.0.2.2:443', '192.0.2.3:443', '192.0.2.4:443'],
  )
  tfo.configureBackoff({ maxEntries: 1 })
  t.same(
    tfo.backoffEntries().map((e) => e.destination),
    ['192.0.2.4:443'],
  )
  tfo.clearBackoff()
  t.same(tfo.backoffEntries(), [])
})

t.test('enabled: false turns it off (nothing learnt, nothing paused)', async (t) => {
  fresh(t)
  backoff.report('192.0.2.1', 443, RETRANSMITTED)
  backoff.report('192.0.2.1', 443, RETRANSMITTED)
  tfo.configureBackoff({ enabled: false })
  t.equal(backoff.blockedReason('192.0.2.1', 443), null)
  t.same(tfo.backoffEntries(), [], 'nothing is listed as paused while off')
  backoff.report('192.0.2.2', 443, RETRANSMITTED)
  backoff.report('192.0.2.2', 443, RETRANSMITTED)
  tfo.configureBackoff({ enabled: true })
  t.same(
    tfo.backoffEntries().map((e) => e.destination),
    ['192.0.2.1:443'],
    'nothing was learnt while off',
  )
})

// ---------------------------------------------------------------- over the emulated WAN

const RTT = 50
/** A TFO connection on the dropping path waits for the 1 s SYN retransmission; plain TCP needs about 2 RTT. */
const RETRANSMISSION_MS = 900
const PAUSE_MS = 1500

// Runs in a namespace (`node -e`): one JSON command a line on stdin, one answer a line on stdout.
// Request: u32 request length, u32 response length, random bytes; the response derives from the request.
function agentMain(ROOT) {
  const tfo = require(ROOT)
  const crypto = require('node:crypto')
  const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')
  const responseFor = (req) => {
    const out = Buffer.allocUnsafe(req.readUInt32BE(4))
    for (let i = 0; i < out.length; i++) out[i] = req[i % req.length] ^ 0x5a
    return out
  }
  const servers = []
  const ops = {
    listen({ port }) {
      const server = tfo.createServer((s) => {
        const chunks = []
        s.on('error', () => {})
        s.on('data', (d) => {
          chunks.push(d)
          const all = Buffer.concat(chunks)
          if (all.length >= 8 + all.readUInt32BE(0)) s.end(responseFor(all))
        })
      })
      servers.push(server)
      return new Promise((resolve) => server.listen(port, '::', () => resolve(server.fastOpen)))
    },
    connect({ host, port, reqLen = 300, respLen = 65536 }) {
      return new Promise((resolve) => {
        const req = crypto.randomBytes(8 + reqLen)
        req.writeUInt32BE(reqLen, 0)
        req.writeUInt32BE(respLen, 4)
        const r = { events: [] }
        const t0 = process.hrtime.bigint()
        const ms = () => Number(process.hrtime.bigint() - t0) / 1e6
        const s = tfo.connect({ host, port })
        s.write(req)
        const chunks = []
        let got = 0
        s.on('connect', () => {
          r.events.push('connect')
          r.now = Date.now() // the outcome (and the backoff's verdict) was recorded just before this listener
          r.entries = tfo.backoffEntries()
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
          r.error = e.code
        })
        const timer = setTimeout(() => s.destroy(), 15000)
        s.on('close', () => {
          clearTimeout(timer)
          r.events.push('close')
          r.intact = sha(Buffer.concat(chunks)) === sha(responseFor(req))
          r.info = s.fastOpen
          resolve(r)
        })
      })
    },
    async eval({ code }) {
      const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor
      return new AsyncFunction('tfo', code)(tfo)
    },
  }
  require(ROOT + '/test/helpers/agent.js').serveAgent(ops, () => {
    let n = servers.length
    if (!n) process.exit(0)
    for (const s of servers)
      s.close(() => {
        if (--n === 0) process.exit(0)
      })
  })
}

const startAgent = (wan, side) => startAgentProcess(wan, side, `(${agentMain})(${JSON.stringify(ROOT)})`)

const { sleep } = require('./helpers/util')
const fmt = (x) => (x == null ? '-' : x.toFixed(0))

t.test(
  'over a path that drops SYNs carrying data (50 ms RTT)',
  { skip: process.getuid && process.getuid() === 0 ? false : 'the emulated WAN needs root (network namespaces, TUN); CI runs as root' },
  async (t) => {
    const { createWan } = require('../bench/lib/wan')
    const wan = await createWan({ rttMs: RTT, dropSynData: true, tag: 'backoff' })
    const server = startAgent(wan, 'server')
    const client = startAgent(wan, 'client')
    t.teardown(async () => {
      await Promise.all([client.stop(), server.stop()])
      await wan.close()
    })
    await server.call('listen', { port: 7000 })
    // A short pause so that expiry and healing fit in a test; doubling visible below maxMs.
    await client.call('eval', { code: `tfo.configureBackoff({ initialMs: ${PAUSE_MS}, maxMs: ${4 * PAUSE_MS} })` })
    const dropped = async () => (await wan.stats()).synDataDropped
    const stats = () => client.call('eval', { code: 'return tfo.stats().client' })

    for (const fam of [4, 6]) {
      await t.test(`IPv${fam}`, async (t) => {
        const host = fam === 6 ? wan.server.addr6 : wan.server.addr
        const dest = fam === 6 ? `[${host}]:7000` : `${host}:7000`
        const connect = async (label) => {
          const r = await client.call('connect', { host, port: 7000 })
          t.same(r.events, ['connect', 'end', 'close'], `${label}: served`)
          t.ok(r.intact, `${label}: response intact`)
          return r
        }
        const mine = (r) => r.entries.filter((e) => e.destination === dest)
        const waitUnpaused = async () => {
          for (let i = 0; i < 100; i++) {
            const e = await client.call('eval', { code: 'return tfo.backoffEntries()' })
            if (!e.some((x) => x.destination === dest)) return
            await sleep(100)
          }
          throw new Error(`${dest} still paused`)
        }
        await wan.setDropSynData(true)
        await client.call('eval', { code: 'tfo.resetStats()' })
        const timeline = []

        const first = await connect('first contact')
        t.match(first.info, { attempted: true, cookie: 'requested', synData: false })
        t.ok(first.ttfbMs < RETRANSMISSION_MS, `first contact: a SYN without data passes (${fmt(first.ttfbMs)} ms)`)
        t.same(mine(first), [], 'no cookie yet is not a failure')
        timeline.push(['first contact', first])

        const d0 = await dropped()
        const lone = await connect('first TFO attempt')
        t.match(lone.info, { attempted: true, cookie: 'sent', synData: false, failure: 'syn-retransmitted' })
        t.ok(lone.ttfbMs > RETRANSMISSION_MS, `first TFO attempt: waited for the SYN retransmission (${fmt(lone.ttfbMs)} ms)`)
        t.same(mine(lone), [], 'one retransmitted SYN (random loss does that too): not paused yet')
        timeline.push(['SYN data dropped', lone])
        const slow = await connect('second TFO attempt')
        t.match(slow.info, { attempted: true, cookie: 'sent', synData: false, failure: 'syn-retransmitted' })
        t.ok(slow.ttfbMs > RETRANSMISSION_MS, `second TFO attempt: waited for the SYN retransmission (${fmt(slow.ttfbMs)} ms)`)
        t.equal((await dropped()) - d0, 2, 'the delay line dropped both SYNs')
        const [e1] = mine(slow)
        t.match(e1, { failures: 1, cause: /two retransmitted SYNs in a row/ }, 'two in a row: TFO to this destination is paused')
        t.ok(e1.until - slow.now > PAUSE_MS - 300 && e1.until - slow.now <= PAUSE_MS, `for initialMs (${e1.until - slow.now} ms left)`)
        timeline.push(['SYN data dropped again', slow])

        const d1 = await dropped()
        for (let i = 0; i < 3; i++) {
          const r = await connect(`paused #${i}`)
          t.match(r.info, {
            attempted: false,
            synData: false,
            cookie: 'none',
            failure: null,
            reason: new RegExp(`^backoff: TFO to ${dest.replace(/[[\].]/g, '\\$&')} paused for \\d s after two retransmitted SYNs in a row`),
          })
          t.ok(r.ttfbMs < RETRANSMISSION_MS, `paused #${i}: plain TCP, no retransmission wait (${fmt(r.ttfbMs)} ms)`)
          timeline.push([`paused #${i}`, r])
        }
        t.equal(await dropped(), d1, 'no SYN data sent into the drop while paused')
        const s1 = await stats()
        t.equal(s1.failures['syn-retransmitted'], 2, 'stats: two connections paid the retransmission')
        const backoffKeys = Object.keys(s1.notAttempted).filter((k) => k.startsWith('backoff'))
        t.equal(
          backoffKeys.reduce((n, k) => n + s1.notAttempted[k], 0),
          3,
          'stats: three connections not attempted because of the backoff',
        )
        t.same(backoffKeys, ['backoff'], 'stats: one stable reason key for the backoff (a bounded metric label)')

        // Still dropping when the pause runs out: one more slow connection, then a doubled pause.
        await waitUnpaused()
        const again = await connect('TFO again, path still bad')
        t.match(again.info, { attempted: true, cookie: 'sent', failure: 'syn-retransmitted' }, 'after the pause TFO is tried again')
        t.ok(again.ttfbMs > RETRANSMISSION_MS, `and still pays the retransmission (${fmt(again.ttfbMs)} ms)`)
        const [e2] = mine(again)
        t.match(e2, { failures: 2, cause: /retransmitted SYN again/ }, 'known bad path: one retransmitted SYN pauses again')
        t.ok(e2.until - again.now > 2 * PAUSE_MS - 300 && e2.until - again.now <= 2 * PAUSE_MS, `the pause doubled (${e2.until - again.now} ms left)`)
        timeline.push(['pause over, still dropping', again])

        // The path heals: the pause still holds, then TFO resumes by itself.
        await wan.setDropSynData(false)
        const held = await connect('healed, still paused')
        t.match(held.info, { attempted: false, reason: /^backoff: / })
        timeline.push(['healed, still paused', held])
        await waitUnpaused()
        const back = await connect('healed, pause over')
        t.match(back.info, { attempted: true, cookie: 'sent', synData: true, failure: null }, 'TFO resumed: the request rode the SYN')
        t.ok(back.ttfbMs < RETRANSMISSION_MS, `(${fmt(back.ttfbMs)} ms)`)
        t.same(mine(back), [], 'the destination is forgotten')
        const next = await connect('next')
        t.match(next.info, { synData: true })
        timeline.push(['healed, pause over', back], ['next', next])
        const s2 = await stats()
        t.match(s2, { connections: 10, attempted: 6, synDataAcked: 2, failures: { 'syn-retransmitted': 3 } })

        for (const [label, r] of timeline) {
          t.comment(
            `IPv${fam} ${label}: ${r.info.attempted ? `${r.info.cookie}, ${r.info.synData ? 'SYN data acked' : r.info.failure}` : 'TFO not attempted (backoff)'}; first byte ${fmt(r.ttfbMs)} ms`,
          )
        }
      })
    }
  },
)
