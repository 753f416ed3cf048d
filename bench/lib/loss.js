'use strict'
// Lossy ("mobile-like") paths for `npm run bench` (`--only loss`), issue #13 §5.
// Every cell runs on its own emulated WAN at --loss-rtt (100 ms):
//
//   loss<P>.tcp / loss<P>.https  random loss P (1%, 3%) on every packet in both
//       directions, independent, seeded (one splitmix64 stream per direction);
//       tfo and net TTFB, p50 and p90, and the tfo arm's SYN-data hit rate, with
//       what the delay line really dropped (SYNs with and without data, SYN-ACKs).
//   firstsyn.tcp  the delay line drops the first SYN of every connection once
//       (with data for tfo, plain for net; the retransmission passes): what a
//       lost SYN costs each arm. tfo's backoff is off in this cell, so that every
//       tfo connection really sends (and loses) SYN data.
//   dropdata.tcp  a path that drops every SYN carrying data, backoff on (its
//       defaults), connections one after another: how many tfo connections pay
//       the ~1 s SYN retransmission before tfo stops trying.
//
// The TTFB client is bench/lib/wan-client.js; the random-loss and first-SYN
// cells run `lanes` pair sequences at a time (each lane: tfo, net, tfo, ...).
const path = require('node:path')
const { summarize, round } = require('./stats')
const { makeRow, skippedRow, arm } = require('./report')
const { jsonChannel, ask, stop } = require('./proc')
const { makeCert } = require('./tls')

const LIB = __dirname
const PORTS = { tcp: { tfo: 7101, net: 7102 }, https: { tfo: 7105, net: 7106 } }

/** Sizes: the full run, and --quick (only when asked for with --only loss). */
function lossDefaults(quick) {
  return quick
    ? { rtt: 100, rates: [0.01, 0.03], n: 10, firstSynN: 4, dropDataN: 6, lanes: 4, warmup: 1, seed: 1 }
    : { rtt: 100, rates: [0.01, 0.03], n: 200, firstSynN: 32, dropDataN: 40, lanes: 4, warmup: 2, seed: 1 }
}

const pct = (p) => `${round(p * 100, 2)}%`

/** Field-by-field difference of two delay-line counter objects (numbers only, nested). */
function lineDiff(a, b) {
  const out = {}
  for (const [k, v] of Object.entries(b || {})) {
    if (typeof v === 'number' && typeof (a && a[k]) === 'number') out[k] = v - a[k]
    else if (v && typeof v === 'object') out[k] = lineDiff(a && a[k], v)
  }
  return out
}

/**
 * What the tfo arm's samples say about SYN data: acked, lost (the kernel reports
 * a retransmitted SYN and the data was not acked), not attempted because of the
 * backoff, and everything else.
 */
function synDataOf(samples) {
  const yes = samples.filter((x) => x.synData).length
  const lost = samples.filter((x) => !x.synData && x.failure === 'syn-retransmitted').length
  const paused = samples.filter((x) => x.attempted === false && String(x.reason || '').startsWith('backoff')).length
  return { yes, of: samples.length, lost, paused, source: 'client TCP_INFO (socket.fastOpen)' }
}

const TITLES = {
  tcp: (p) => `TCP req/resp TTFB, ${pct(p)} loss`,
  https: (p) => `HTTPS GET TTFB (TLS 1.3), ${pct(p)} loss`,
  firstsyn: 'TCP TTFB, 1st SYN of each conn dropped',
  dropdata: 'TCP TTFB, path drops SYNs with data',
}

class LossRun {
  constructor(bench, { counters, diff }) {
    this.b = bench
    this.cfg = bench.opts.lossCfg
    this.counters = counters
    this.diff = diff
  }

  cells() {
    const c = this.cfg
    const out = []
    for (const p of c.rates) {
      for (const s of ['tcp', 'https'])
        out.push({ id: `loss${round(p * 100, 2)}.${s}@${c.rtt}`, scenario: `loss.${s}`, title: TITLES[s](p), kind: 'random', s, p })
    }
    out.push({ id: `firstsyn.tcp@${c.rtt}`, scenario: 'loss.firstsyn', title: TITLES.firstsyn, kind: 'firstsyn', s: 'tcp', p: 0 })
    out.push({ id: `dropdata.tcp@${c.rtt}`, scenario: 'loss.dropdata', title: TITLES.dropdata, kind: 'dropdata', s: 'tcp', p: 0 })
    return out
  }

  skipped(cell, reason, status = 'skipped') {
    return skippedRow({
      id: cell.id,
      scenario: cell.scenario,
      title: cell.title,
      rttMs: this.cfg.rtt,
      unit: 'ms',
      better: 'lower',
      reason,
      status,
      targetKey: cell.kind === 'firstsyn' ? 'firstsyn.tcp' : null,
    })
  }

  async run() {
    const b = this.b
    const cells = this.cells()
    if (!b.root) {
      const reason = process.platform !== 'linux' ? 'needs Linux (network namespaces)' : 'needs root (network namespaces, TUN devices); run as root (CI does)'
      b.progress.note(`note: loss scenarios skipped: ${reason}`)
      for (const c of cells) b.rows.push(this.skipped(c, reason))
      return
    }
    const tls = makeCert(b.tmp, '198.18.0.2')
    if (tls.error) b.progress.note(`note: HTTPS loss rows skipped: ${tls.error}`)
    this.tls = tls.error ? null : tls
    // One testbed per loss rate (both scenarios), one for each middlebox mode.
    const groups = [
      ...this.cfg.rates.map((p) => ({ wan: { loss: p }, cells: cells.filter((c) => c.kind === 'random' && c.p === p) })),
      { wan: { loss: 0 }, cells: cells.filter((c) => c.kind === 'firstsyn') },
      { wan: { loss: 0 }, cells: cells.filter((c) => c.kind === 'dropdata') },
    ]
    for (const g of groups) await this.group(g)
  }

  async group({ wan: wanOpts, cells }) {
    const b = this.b
    const c = this.cfg
    const { createWan } = require('./wan')
    b.progress.update(`loss: rtt ${c.rtt} ms, ${cells.map((x) => x.id).join(', ')}`, 'setting up the testbed')
    let wan
    try {
      // Loss and the middlebox modes are switched on only for the measured connections (see cell()).
      wan = await createWan({ rttMs: c.rtt, loss: 0, seed: c.seed, tag: `bench-loss-${cells[0].id}` })
    } catch (e) {
      const msg = `emulated WAN unavailable: ${String(e && e.message ? e.message : e).split('\n')[0]}`
      b.progress.note(`error: ${msg}`)
      for (const cell of cells) b.rows.push(this.skipped(cell, msg, 'error'))
      b.errors = (b.errors || 0) + 1
      return
    }
    const info = { rttMs: c.rtt, loss: wanOpts.loss, seed: c.seed, client: wan.client, server: wan.server, rows: cells.map((x) => x.id) }
    b.wanInfo.push(info)
    let server = null
    try {
      server = await this.startServer(wan)
      for (const cell of cells) {
        if (cell.s === 'https' && !this.tls) {
          b.rows.push(this.skipped(cell, 'no certificate (openssl)'))
          continue
        }
        await b.guard(
          () => this.cell(wan, server, cell),
          () => [this.skipped(cell, null, 'error')],
        )
      }
    } finally {
      if (server) await stop(server.child)
      info.delayLine = await wan.close()
    }
  }

  async startServer(wan) {
    const b = this.b
    const cfg = { host: wan.server.addr, ports: { tcp: PORTS.tcp, http: null, https: this.tls ? PORTS.https : null }, tls: this.tls }
    const child = wan.spawn('server', process.execPath, [...b.nodeArgs, path.join(LIB, 'wan-server.js'), JSON.stringify(cfg)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: b.env,
    })
    child.stdin.on('error', () => {})
    const channel = jsonChannel(child, { name: 'WAN server (loss)' })
    const ready = await channel.next((m) => m.ready || m.fatal, 20000)
    if (ready.fatal) throw new Error(`WAN server: ${ready.fatal}`)
    for (const [k, v] of Object.entries(ready.fastOpen)) if (!v.active) b.progress.note(`warning: ${k}: TFO not active: ${v.reason}`)
    return { child, channel }
  }

  /**
   * Runs bench/lib/wan-client.js in the client namespace to completion. After
   * its first contact and warm-up it waits: `atStart()` changes the path and
   * takes the counters, then the measured connections run; resolves to the
   * result message (with the first contact).
   */
  async client(wan, cfg, stage, atStart) {
    const b = this.b
    const child = wan.spawn('client', process.execPath, [...b.nodeArgs, path.join(LIB, 'wan-client.js'), JSON.stringify({ ...cfg, hold: true })], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: b.env,
    })
    child.stdin.on('error', () => {})
    const ch = jsonChannel(child, {
      name: `WAN client (${stage})`,
      onMessage: (m) => {
        if (m.progress) b.progress.update(stage, `${m.progress}/${m.of}`)
      },
    })
    let msg
    try {
      msg = await ch.next((m) => m.warm || m.fatal, cfg.timeoutMs * (cfg.warmup + 1) * 2 + 30000)
      if (msg.warm) {
        await atStart()
        child.stdin.write('go\n')
        do msg = await ch.next((m) => m.result || m.fatal || m.progress, cfg.timeoutMs * 3 + 30000)
        while (!msg.result && !msg.fatal)
      }
    } finally {
      await stop(child)
    }
    if (msg.fatal) throw new Error(`WAN client (${stage}): ${msg.fatal}`)
    return { ...msg, first: (ch.messages.find((m) => m.first) || {}).first || null }
  }

  async cell(wan, server, cell) {
    const b = this.b
    const c = this.cfg
    const stage = `loss: rtt ${c.rtt} ms, ${cell.id}`
    b.progress.update(stage, 'starting')
    const cfg = {
      scenario: cell.s,
      host: wan.server.addr,
      ports: PORTS[cell.s],
      timeoutMs: Math.max(10000, c.rtt * 40 + 5000),
      warmup: c.warmup,
      n: c.n,
      lanes: c.lanes,
    }
    // First contact and warm-up run on a clean path: a SYN retransmission
    // carries no TFO option (Linux leaves it out of SYN retries), so a path
    // that drops every first SYN would never hand out a cookie.
    if (cell.kind === 'random') {
      await wan.setLoss(0)
    } else if (cell.kind === 'firstsyn') {
      Object.assign(cfg, { n: c.firstSynN, backoff: { enabled: false } })
    } else {
      Object.assign(cfg, { n: c.dropDataN, lanes: 1 }) // backoff: tfo's defaults
    }
    await ask(server.child, server.channel, 'stats', 'stats') // reset the server's counters
    let k0, d0, t0
    const msg = await this.client(wan, cfg, stage, async () => {
      if (cell.kind === 'random') await wan.setLoss(cell.p)
      else if (cell.kind === 'firstsyn') await wan.setDropFirstSyn(true)
      else await wan.setDropSynData(true)
      ;[k0, d0] = await Promise.all([this.counters(wan), wan.stats()])
      await ask(server.child, server.channel, 'stats', 'stats') // only the measured connections from here
      t0 = Date.now()
    })
    const seconds = (Date.now() - t0) / 1000
    const [k1, d1] = await Promise.all([this.counters(wan), wan.stats()])
    await Promise.all([wan.setLoss(0), wan.setDropFirstSyn(false), wan.setDropSynData(false)])
    const srv = await ask(server.child, server.channel, 'stats', 'stats')
    b.rows.push(this.row(cell, cfg, msg, lineDiff(d0, d1), this.diff(k0, k1), srv, seconds))
  }

  row(cell, cfg, msg, line, kernel, srv, seconds) {
    const c = this.cfg
    const { result, via, first } = msg
    const rtt = c.rtt
    const ms = (x) => (x.error ? null : x.ms)
    const synData = synDataOf(result.tfo)
    const label = cell.s === 'https' ? [`tfo: ${via}`, 'https.get, default agent'] : ['tfo.connect → tfo.createServer', 'net.connect → net.createServer']
    const tfoArm = arm(label[0], result.tfo.map(ms), { samples: result.tfo, synData })
    const netArm = arm(label[1], result.net.map(ms), { samples: result.net })
    const lostMs = summarize(result.tfo.filter((x) => x.failure === 'syn-retransmitted').map(ms))
    const name = cell.s === 'https' ? 'https' : 'tcp'
    const server = { tfo: srv[`${name}Tfo`] || null, net: srv[`${name}Net`] || null }
    const extra = {
      via,
      lanes: cfg.lanes || 1,
      seconds: round(seconds, 1),
      delayLine: line,
      server: {
        tfo: server.tfo && { accepted: server.tfo.accepted, synData: server.tfo.synData },
        net: server.net && { accepted: server.net.accepted, synData: server.net.synData },
      },
      tfoSynLost: { n: lostMs.n, median: round(lostMs.median, 2), max: round(lostMs.max, 2) },
      backoff: cfg.backoff || 'defaults',
    }
    let note
    if (cell.kind === 'random') {
      extra.loss = { rate: cell.p, seed: c.seed, perPacket: true, directions: 'both' }
      note = `line dropped ${line.lossDropped}/${line.clientToServer.rx + line.serverToClient.rx} pkts: SYN+data ${line.lossSynData}, plain SYN ${line.lossSyn}, SYN-ACK ${line.lossSynack}`
      if (lostMs.n) note += `; tfo conns with SYN data lost: TTFB median ${lostMs.median.toFixed(0)} ms (n=${lostMs.n})`
      note += `; ${extra.lanes} lanes`
    } else if (cell.kind === 'firstsyn') {
      note = `line dropped the 1st SYN of every conn: ${line.firstSynDataDropped} with data (tfo), ${line.firstSynDropped} plain (net); retransmissions passed; tfo backoff off here; expected both ≈ 1 s RTO + 2 RTT = ${1000 + 2 * rtt} ms`
    } else {
      note = `${synData.lost}/${synData.of} tfo conns paid the SYN retransmission (line dropped ${line.synDataDropped} SYNs with data), ${synData.paused} went without TFO (backoff); conns one after another`
    }
    return makeRow({
      id: cell.id,
      scenario: cell.scenario,
      title: cell.title,
      rttMs: rtt,
      unit: 'ms',
      better: 'lower',
      tfo: tfoArm,
      net: netArm,
      targetKey: cell.kind === 'firstsyn' ? 'firstsyn.tcp' : null,
      firstContact: first,
      kernel,
      extra: { ...extra, note },
    })
  }
}

/** Adds the loss rows to bench.rows (skipped with the reason without root). */
function runLoss(bench, helpers) {
  return new LossRun(bench, helpers).run()
}

module.exports = { runLoss, lossDefaults, lineDiff, synDataOf, PORTS }
