'use strict'
// Time-to-first-byte client for the emulated-WAN scenarios, run in the client
// namespace. Every measurement is a fresh connection; the time runs from the
// connect()/request() call to the first response byte (process.hrtime).
// Arms are interleaved: tfo, net, tfo, net, ...
//
// config: { scenario: 'tcp'|'http'|'https'|'h2'|'h2c', host, ports: { tfo, net }, n, warmup, timeoutMs, control,
//           lanes (1: pairs one after another; K: K pairs at a time, each lane tfo then net),
//           backoff (options for tfo.configureBackoff, e.g. { enabled: false }),
//           hold (after the warm-up send {"warm": true} and wait for a "go" line on stdin:
//           the parent changes the path and reads its counters in between) }
// stdout: {"first": sample} (first contact, excluded), {"progress": i, "of": n},
//         {"pending": {tfo: reason}}, then {"result": {tfo: [sample], net: [sample], control?: [sample], via}, "library": {...}}
// With `control` (tcp, http), a third arm: tfo's rollout control cohort
// (fastOpen: { rollout: 0 }: plain TCP through tfo, to the tfo server), and
// the library's own figures of the measured iterations (tfo.stats(), reset
// after the warm-up) are sent with the result: see rolloutChecks in run.js.
// A sample: { ms, synData, cookie, failure, synDataBytes, rttMs, error }
const net = require('node:net')
const http = require('node:http')
const https = require('node:https')
const http2 = require('node:http2')
const { send, config, loadTfo, exitWithParent } = require('./child')

const tfo = loadTfo()
const cfg = config()
const REQUEST = `GET / HTTP/1.0\r\nHost: ${cfg.host}\r\nUser-Agent: tfo-bench\r\n\r\n`

// ---- how the tfo arm makes its HTTP(S) connections ---------------------------
// Switching to the tfo agents once they exist is this one place: they are
// picked up automatically when tfo exports them, and `via` records which path ran.
function tfoHttpClient() {
  if (tfo.http && typeof tfo.http.Agent === 'function') {
    return {
      via: 'tfo.http.Agent',
      options: { agent: new tfo.http.Agent({ keepAlive: false }) },
      control: { agent: new tfo.http.Agent({ keepAlive: false, fastOpen: CONTROL }) },
    }
  }
  return { via: 'http.get({ agent: false, createConnection: tfo.createConnection })', options: { agent: false, createConnection: tfo.createConnection } }
}
function tfoHttpsClient() {
  if (tfo.https && typeof tfo.https.Agent === 'function') return { via: 'tfo.https.Agent', options: { agent: new tfo.https.Agent({ keepAlive: false }) } }
  if (tfo.tls && typeof tfo.tls.connect === 'function') {
    return {
      via: 'https.get({ agent: false, createConnection: tfo.tls.connect })',
      options: { agent: false, createConnection: (opts) => tfo.tls.connect(opts) },
    }
  }
  return { pending: 'tfo.tls not available' }
}

function outcome(socket) {
  let info = null
  try {
    // A socket made by tfo (tfo.Socket, tfo.tls) carries its own record; otherwise ask tfo.
    info = socket && socket.fastOpen !== undefined ? socket.fastOpen : socket ? tfo.fastOpenInfo(socket) : null
  } catch {}
  if (!info) return { synData: null }
  return {
    synData: info.synData,
    cookie: info.cookie ?? null,
    failure: info.failure ?? null,
    synDataBytes: info.synDataBytes ?? null,
    rttMs: info.rttMs,
    attempted: info.attempted,
    reason: info.reason ?? null,
  }
}

// ---- one fresh connection, raw TCP --------------------------------------------
// The control arm: tfo's rollout control cohort (every connection plain TCP, decided by tfo).
const CONTROL = { rollout: 0 }

function tcpOnce(arm, port) {
  return new Promise((resolve) => {
    const mod = arm === 'net' ? net : tfo
    let ms = null
    let error = null
    const t0 = process.hrtime.bigint()
    const s = arm === 'control' ? tfo.connect({ port, host: cfg.host, fastOpen: CONTROL }) : mod.connect({ port, host: cfg.host })
    s.write(REQUEST) // before 'connect', as request/response clients do: with tfo it rides in the SYN
    s.on('data', () => {
      if (ms === null) ms = Number(process.hrtime.bigint() - t0) / 1e6
    })
    s.on('error', (e) => {
      error = e.code || e.message
    })
    const timer = setTimeout(() => {
      error = error || 'timeout'
      s.destroy()
    }, cfg.timeoutMs)
    s.on('close', () => {
      clearTimeout(timer)
      const o = arm !== 'net' ? outcome(s) : { synData: null }
      resolve({ ms, error, ...o })
    })
  })
}

// ---- one fresh connection, HTTP(S) -----------------------------------------
function httpOnce(arm, port, secure, client) {
  return new Promise((resolve) => {
    const mod = secure ? https : http
    let ms = null
    let error = null
    let socket = null
    const opts = {
      host: cfg.host,
      port,
      path: '/',
      headers: { Connection: 'close' }, // a fresh connection every time, also with keep-alive agents
      ...(secure ? { rejectUnauthorized: false } : {}),
      ...(arm === 'tfo' ? client.options : arm === 'control' ? client.control : {}), // net arm: Node's default agent
    }
    const t0 = process.hrtime.bigint()
    const timer = setTimeout(() => {
      error = error || 'timeout'
      req.destroy()
    }, cfg.timeoutMs)
    const req = mod.get(opts, (res) => {
      ms = Number(process.hrtime.bigint() - t0) / 1e6
      res.resume()
      res.on('end', () => {})
    })
    req.on('socket', (s) => {
      socket = s
    })
    req.on('error', (e) => {
      error = e.code || e.message
    })
    req.on('close', () => {
      const finish = () => {
        clearTimeout(timer)
        const o = arm !== 'net' ? outcome(socket) : { synData: null }
        resolve({ ms, error, ...o })
      }
      // Wait for the TCP connection itself to close, so connections never overlap.
      if (socket && !socket.destroyed) socket.once('close', finish)
      else finish()
    })
  })
}

/** tfo's own view of the measured connections: its per-cohort stats (TTFB summary) and default histogram buckets. */
function libraryFigures() {
  if (typeof tfo.stats !== 'function') return null
  const c = tfo.stats().client
  return { cohorts: c.cohorts || null, buckets: tfo.TTFB_BUCKETS || null }
}

// ---- one fresh HTTP/2 session (TLS or h2c), one request ----------------------
// The request is made at once, before 'connect' (as Node's documentation
// shows): with h2c and tfo it rides in the SYN with the connection preface.
function h2Once(arm, port, secure) {
  return new Promise((resolve) => {
    const mod = arm === 'tfo' ? tfo.http2 : http2
    let ms = null
    let error = null
    const t0 = process.hrtime.bigint()
    const session = mod.connect(`${secure ? 'https' : 'http'}://${cfg.host}:${port}`, secure ? { rejectUnauthorized: false } : {})
    const timer = setTimeout(() => {
      error = error || 'timeout'
      session.destroy()
    }, cfg.timeoutMs)
    session.on('error', (e) => {
      error = error || e.code || e.message
    })
    const req = session.request({ ':path': '/' })
    req.on('response', () => {
      ms = Number(process.hrtime.bigint() - t0) / 1e6
    })
    req.on('error', (e) => {
      error = error || e.code || e.message
    })
    req.resume()
    req.on('close', () => session.close())
    // After the session's 'close' its socket is gone too: sessions never overlap.
    session.on('close', () => {
      clearTimeout(timer)
      const o = arm === 'tfo' ? outcome({ fastOpen: session.fastOpen }) : { synData: null }
      resolve({ ms, error, ...o })
    })
  })
}

async function main() {
  exitWithParent()
  const { scenario, ports, n, warmup } = cfg
  if (cfg.backoff) tfo.configureBackoff(cfg.backoff)
  let once
  let via = null
  const pending = {}
  if (scenario === 'tcp') {
    once = tcpOnce
    via = 'tfo.connect / net.connect'
  } else if (scenario === 'h2' || scenario === 'h2c') {
    const secure = scenario === 'h2'
    if (!tfo.http2 || typeof tfo.http2.connect !== 'function') pending.tfo = 'tfo.http2 not available'
    else via = 'tfo.http2.connect'
    once = (arm, port) => h2Once(arm, port, secure)
  } else {
    const secure = scenario === 'https'
    const client = secure ? tfoHttpsClient() : tfoHttpClient()
    if (client.pending) pending.tfo = client.pending
    via = client.via || null
    once = (arm, port) => httpOnce(arm, port, secure, client)
  }
  const arms = ['tfo', 'net'].filter((a) => !pending[a])
  if (cfg.control && arms.includes('tfo') && (scenario === 'tcp' || scenario === 'http')) arms.push('control')
  if (Object.keys(pending).length) send({ pending })

  // First contact (tfo): the kernel has no cookie yet (unless an earlier scenario
  // fetched one for this server address); reported on its own, never in the stats.
  if (arms.includes('tfo')) send({ first: await once('tfo', ports.tfo) })
  // Untimed warm-up of every arm (JIT, caches). The control arm connects to the tfo server.
  const portOf = (arm) => (arm === 'control' ? ports.tfo : ports[arm])
  for (let i = 0; i < warmup; i++) for (const arm of arms) await once(arm, portOf(arm))

  if (cfg.hold) {
    const go = new Promise((resolve) => process.stdin.once('data', resolve))
    send({ warm: true })
    await go
  }

  const result = { tfo: [], net: [] }
  if (arms.includes('control')) result.control = []
  // The library's own figures cover exactly the measured connections.
  if (typeof tfo.resetStats === 'function') tfo.resetStats()
  if ((cfg.lanes || 1) > 1) {
    // Loss scenarios: K independent lanes, each a sequence of (tfo, net) pairs;
    // pair i keeps index i in both arms, so paired ratios still line up.
    const t0 = process.hrtime.bigint()
    let next = 0
    let done = 0
    const lane = async () => {
      for (let i = next++; i < n; i = next++) {
        for (const arm of arms) {
          const startMs = Number(process.hrtime.bigint() - t0) / 1e6
          result[arm][i] = { ...(await once(arm, portOf(arm))), startMs }
        }
        send({ progress: ++done, of: n })
      }
    }
    await Promise.all(Array.from({ length: Math.min(cfg.lanes, n) }, lane))
  } else {
    for (let i = 0; i < n; i++) {
      for (const arm of arms) result[arm].push(await once(arm, portOf(arm)))
      send({ progress: i + 1, of: n })
    }
  }
  send({ result, via, pending, library: libraryFigures() })
  process.exit(0)
}

main().catch((e) => {
  send({ fatal: String(e && e.stack ? e.stack : e) })
  process.exit(1)
})
