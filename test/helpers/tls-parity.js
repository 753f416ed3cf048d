'use strict'
// Side-by-side scenarios for test/parity-tls.test.js: each one runs with
// Node's own tls.connect and with tfo.tls.connect, and records what a program
// can see (events in order, error shape, write callbacks, remoteAddress at
// 'connect', the TFO outcome). Used in one process on loopback, and as a
// server process and a client process on the emulated WAN
// (`node -e "require(helper).serve(cfg)"` / `.client(cfg)`).
const crypto = require('node:crypto')
const fs = require('node:fs')
const net = require('node:net')
const tls = require('node:tls')
const path = require('node:path')

const ROOT = path.join(__dirname, '..', '..')
const tfo = () => require(ROOT)
const { lookupOf } = require('./parity')

/** Port offsets from cfg.base. */
const PORT = { main: 0, resume: 1, newSession: 2, sni: 3, drop: 4, reset: 5, silent: 6, closed: 7, signal: 8, v4only: 9 }

// ---- servers ----

/**
 * Starts every scenario's server on cfg.host (a dual-stack '::' or an
 * address) and the v4-only one on cfg.v4; resolves to a close function.
 */
async function startServers(cfg) {
  const t = tfo()
  const { key, cert } = cfg
  const servers = []
  const listen = (server, port, host = cfg.host) =>
    new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        servers.push(server)
        resolve(server)
      })
    })
  const base = cfg.base

  // Signals from clients ("my 'connect' happened"): each waiter takes one.
  let signals = 0
  const waiters = []
  const takeSignal = () =>
    new Promise((resolve) => {
      if (signals > 0) {
        signals--
        resolve()
      } else waiters.push(resolve)
    })
  await listen(
    net.createServer((s) => {
      s.resume()
      s.on('error', () => {})
      s.on('end', () => {
        s.end()
        const w = waiters.shift()
        if (w) w()
        else signals++
      })
    }),
    base + PORT.signal,
  )

  // Answers 'ping' with whether the ClientHello came in the SYN.
  const answer = (s) => {
    s.on('error', () => {})
    s.on('data', () => s.end(`pong synData=${t.fastOpenInfo(s)?.synData}`))
  }
  const tls13 = tls.createServer({ key, cert }, answer)
  t.enableFastOpen(tls13)
  await listen(tls13, base + PORT.main)

  // TLS 1.2 with a server-side session cache (no tickets): 'resumeSession' waits for the client's 'connect'.
  const store = new Map()
  const tls12 = { key, cert, maxVersion: 'TLSv1.2', secureOptions: crypto.constants.SSL_OP_NO_TICKET }
  const resume = tls.createServer(tls12, answer)
  resume.on('newSession', (id, data, cb) => {
    store.set(id.toString('hex'), data)
    cb()
  })
  resume.on('resumeSession', (id, cb) => {
    // (A TLS 1.3-capable client sends a random session id on a fresh handshake too: only a known one waits.)
    const known = store.get(id.toString('hex'))
    if (!known) cb(null, null)
    else takeSignal().then(() => cb(null, known))
  })
  t.enableFastOpen(resume)
  await listen(resume, base + PORT.resume)

  // 'newSession' (a full TLS 1.2 handshake) waits for the client's 'connect'.
  const newSession = tls.createServer(tls12, answer)
  newSession.on('newSession', (id, data, cb) => {
    takeSignal().then(() => cb())
  })
  t.enableFastOpen(newSession)
  await listen(newSession, base + PORT.newSession)

  // An asynchronous SNICallback that waits for the client's 'connect'.
  const ctx = tls.createSecureContext({ key, cert })
  const sni = tls.createServer(
    {
      key,
      cert,
      SNICallback: (name, cb) => {
        takeSignal().then(() => cb(null, ctx))
      },
    },
    answer,
  )
  t.enableFastOpen(sni)
  await listen(sni, base + PORT.sni)

  // TCP peers that never speak TLS: close, or reset, once they have the ClientHello and the
  // client has seen 'connect'; or stay silent. (With TFO the ClientHello arrives a round trip
  // earlier: a peer that reacts to it at once sends its FIN or reset right behind the SYN-ACK,
  // where it races the client's 'connect'. A peer that closes without reading answers with a
  // reset instead of a FIN once the ClientHello is in its receive queue.)
  await listen(
    t.createServer((s) => {
      s.on('error', () => {})
      s.once('data', () => takeSignal().then(() => s.destroy()))
    }),
    base + PORT.drop,
  )
  await listen(
    t.createServer((s) => {
      s.on('error', () => {})
      s.once('data', () => takeSignal().then(() => s.resetAndDestroy()))
    }),
    base + PORT.reset,
  )
  await listen(
    t.createServer((s) => {
      s.on('error', () => {})
      s.resume()
    }),
    base + PORT.silent,
  )

  // Listens on the IPv4 address only: happy eyeballs' IPv6 attempt there is refused.
  const v4only = tls.createServer({ key, cert }, answer)
  t.enableFastOpen(v4only)
  await listen(v4only, base + PORT.v4only, cfg.v4)

  return async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  }
}

// ---- client ----

const pickError = (e) =>
  e && {
    name: e.name,
    code: e.code,
    errno: e.errno,
    syscall: e.syscall,
    address: e.address,
    port: e.port,
    message: e.message,
  }

/** Open socket descriptors of this process (a duplicate tfo left open would show here). */
function openSockets() {
  let n = 0
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) n++
    } catch {}
  }
  return n
}

/**
 * One connection; resolves at 'close' with what a program can see.
 * hooks: start(s, r) right after connect(), connect(s, r), secure(s, r), timeout(s, r).
 */
function observe(arm, options, hooks = {}) {
  const connect = arm === 'node' ? tls.connect : tfo().tls.connect
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint()
    const ms = () => Math.round(Number(process.hrtime.bigint() - t0) / 1e4) / 100
    const r = { arm, events: [], times: {}, error: null, write: undefined, data: '' }
    const mark = (e) => {
      r.events.push(e)
      if (!(e in r.times)) r.times[e] = ms()
    }
    const s = connect(options)
    s.on('connect', () => {
      mark('connect')
      r.remoteAtConnect = s.remoteAddress ?? null
      if (hooks.connect) hooks.connect(s, r)
    })
    s.on('ready', () => mark('ready'))
    s.on('secureConnect', () => {
      mark('secureConnect')
      r.authorized = s.authorized
      r.reused = s.isSessionReused()
      if (hooks.secure) hooks.secure(s, r)
      else s.write('ping')
    })
    s.on('session', (session) => {
      mark('session')
      r.session = session
    })
    s.on('data', (d) => {
      mark('data')
      r.data += d
    })
    s.on('end', () => mark('end'))
    s.on('timeout', () => {
      mark('timeout')
      if (hooks.timeout) hooks.timeout(s, r)
    })
    s.on('error', (e) => {
      mark('error')
      r.error = pickError(e)
    })
    s.on('close', () => {
      mark('close')
      r.fastOpen = arm === 'tfo' ? s.fastOpen : undefined
      r.attempted = s.autoSelectFamilyAttemptedAddresses
      resolve(r)
    })
    if (hooks.start) hooks.start(s, r)
  })
}

/** Tells the server "this client's 'connect' happened" (a plain TCP connection to the signal port). */
function signal(host, port) {
  const c = net.connect(port, host, () => c.end())
  c.resume()
  c.on('error', () => {})
}

/**
 * Runs every scenario with both arms. cfg: { host, host6, v4, base, ca,
 * wan (bool), unanswered4, unanswered6, unreachable4, only ('a,b': just
 * these scenarios, cookies assumed cached), log (scenario names on stderr) }.
 * Resolves to { scenario: { node, tfo } }.
 */
async function runScenarios(cfg) {
  const { host, base, ca } = cfg
  const common = { host, ca, servername: 'localhost' }
  const results = {}
  const both = async (name, fn) => {
    if (cfg.only && !cfg.only.split(',').includes(name)) return
    results[name] = {}
    for (const arm of ['node', 'tfo']) {
      if (cfg.log) console.error(`${name} ${arm}`)
      results[name][arm] = await fn(arm)
    }
  }
  const fdsBefore = openSockets()

  // First contact: the kernel caches the server's cookie (per destination address).
  // (cfg.only: a rerun of some scenarios, the cookies are there already.)
  if (!cfg.only) {
    results.first = { tfo: await observe('tfo', { ...common, port: base + PORT.main }) }
    if (cfg.host6 && cfg.host6 !== host) results.first6 = { tfo: await observe('tfo', { ...common, host: cfg.host6, port: base + PORT.main }) }
    if (cfg.v4 !== host) results.first4 = { tfo: await observe('tfo', { ...common, host: cfg.v4, port: base + PORT.main }) }
  }

  await both('returning', (arm) => observe(arm, { ...common, port: base + PORT.main }))
  await both('requestOCSP', (arm) => observe(arm, { ...common, port: base + PORT.main, requestOCSP: true }))
  if (cfg.host6) await both('ipv6', (arm) => observe(arm, { ...common, host: cfg.host6, port: base + PORT.main }))

  // TLS 1.3 resumption (tickets), ClientHello in the SYN.
  await both('resumption', async (arm) => {
    const a = await observe(arm, { ...common, port: base + PORT.main })
    return observe(arm, { ...common, port: base + PORT.main, session: a.session })
  })

  // Servers that hold their handshake until the client's 'connect'.
  const signalAtConnect = { connect: () => signal(host, base + PORT.signal) }
  await both('resumeSession', async (arm) => {
    const a = await observe(
      arm,
      { ...common, port: base + PORT.resume },
      {
        secure: (s, r) => {
          r.session = s.getSession()
          s.write('ping')
        },
      },
    )
    return observe(arm, { ...common, port: base + PORT.resume, session: a.session }, signalAtConnect)
  })
  await both('newSession', (arm) => observe(arm, { ...common, port: base + PORT.newSession }, signalAtConnect))
  await both('SNICallback', (arm) => observe(arm, { ...common, port: base + PORT.sni }, signalAtConnect))

  // A write queued before 'connect', then the peer drops the connection.
  await both('writeThenDrop', (arm) =>
    observe(
      arm,
      { ...common, port: base + PORT.drop },
      {
        start: (s, r) =>
          s.write('early', (err) => {
            r.write = err ? err.code : 'ok'
          }),
        ...signalAtConnect,
      },
    ),
  )
  await both('refused', (arm) => observe(arm, { ...common, port: base + PORT.closed }))
  await both('resetDuringHandshake', (arm) => observe(arm, { ...common, port: base + PORT.reset }, signalAtConnect))
  await both('handshakeTimeout', (arm) =>
    observe(
      arm,
      { ...common, port: base + PORT.silent, timeout: cfg.wan ? 300 : 150 },
      {
        timeout: (s) => s.destroy(),
      },
    ),
  )
  await both('destroyBeforeConnect', (arm) =>
    observe(
      arm,
      { ...common, port: base + PORT.main },
      {
        start: (s, r) => {
          s.write('early', (err) => {
            r.write = err ? err.code : 'ok'
          })
          s.destroy()
        },
      },
    ),
  )
  await both('destroyWhileConnecting', (arm) =>
    observe(
      arm,
      { ...common, port: base + PORT.main },
      {
        start: (s, r) => {
          s.write('early', (err) => {
            r.write = err ? err.code : 'ok'
          })
          // On loopback: after connect() was called, before the loop polls; on the WAN: in SYN_SENT.
          if (cfg.wan) setTimeout(() => s.destroy(), 10)
          else s.once('connectionAttempt', () => process.nextTick(() => s.destroy()))
        },
      },
    ),
  )

  // Happy eyeballs: a name that resolves to IPv6 first, then IPv4 (as 'localhost' does
  // on many systems); the IPv6 attempt is refused (cookie cached there), IPv4 answers.
  if (cfg.host6) {
    const lookup = lookupOf([
      { address: cfg.host6, family: 6 },
      { address: cfg.v4, family: 4 },
    ])
    await both('happyEyeballs', (arm) =>
      observe(arm, {
        ...common,
        host: 'localhost',
        lookup,
        autoSelectFamily: true,
        port: base + PORT.v4only,
      }),
    )
  }

  if (!cfg.wan) {
    // The name itself, through the system's resolver (here it may give one address or two).
    await both('localhost', (arm) => observe(arm, { ...common, host: 'localhost', autoSelectFamily: true, port: base + PORT.main }))
  }

  if (cfg.wan) {
    // The IPv6 attempt gets no answer: net gives up on it after the attempt timeout
    // (tfo with noCookie, so that the attempt is a deferred one with the ClientHello in its SYN).
    const lookup = lookupOf([
      { address: cfg.unanswered6, family: 6 },
      { address: cfg.v4, family: 4 },
    ])
    await both('happyEyeballsTimeout', (arm) =>
      observe(arm, {
        ...common,
        host: 'localhost',
        lookup,
        autoSelectFamily: true,
        autoSelectFamilyAttemptTimeout: 100,
        port: base + PORT.main,
        fastOpen: { noCookie: true },
      }),
    )
    await both('connectTimeout', (arm) => observe(arm, { ...common, host: cfg.unanswered4, port: 443, fastOpen: { noCookie: true } }))
    if (cfg.unreachable4) {
      await both('unreachable', (arm) => observe(arm, { ...common, host: cfg.unreachable4, port: 443, fastOpen: { noCookie: true } }))
    }
  }

  await new Promise((resolve) => setTimeout(resolve, 200))
  results.fds = { before: fdsBefore, after: openSockets() }
  return results
}

// ---- entry points for the WAN's two processes ----

function serve(cfg) {
  const { selfSigned } = require('./tls')
  const { key, cert } = selfSigned()
  fs.writeFileSync(cfg.caFile, cert)
  startServers({ ...cfg, key, cert }).then(() => console.log(JSON.stringify({ listening: true })))
}

function client(cfg) {
  const ca = fs.readFileSync(cfg.caFile)
  runScenarios({ ...cfg, ca }).then((r) => {
    for (const v of Object.values(r)) for (const rec of Object.values(v)) if (rec && rec.session) rec.session = true
    console.log(JSON.stringify(r))
  })
}

module.exports = { PORT, startServers, runScenarios, observe, serve, client }
