'use strict'
// tfo's net drop-in side by side with Node's own net, where a program can
// see the difference. Each case runs the same scenario against net and
// against tfo and compares what the program sees:
//  - the module: every key of the running Node's `net` is on tfo, the same
//    value unless tfo replaces it (the replaced keys are listed here);
//  - socket.connect() gets exactly the arguments net.connect gives it (code
//    that wraps net.Socket.prototype.connect, as APM agents do, sees the same);
//  - client sockets: events in order, write callbacks, errors, and at each
//    moment (before connect, while connecting, in 'connect', after close)
//    readyState, pending, remote/local address, bytesWritten/bytesRead, the
//    writable side and every event's listeners (listenerCount, listeners,
//    rawListeners, eventNames): tfo's own hooks never show. On loopback here,
//    and on the emulated 50 ms WAN (bench/lib/wan.js) where the kernel
//    really defers the connect and 'connect' comes a round trip later;
//  - servers (tfo.Server, and an http.Server given to enableFastOpen):
//    listeners of every event before listen, listening, in 'connection',
//    after close.
// Loopback cases run in a private network namespace (helpers/netns.js); the
// WAN needs root.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const http = require('node:http')
const net = require('node:net')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')
const { once } = require('node:events')
const tfo = require('..')
const { clientScenarios, listenerSummary, sideBySide, tick } = require('./helpers/parity')

const ROOT = path.join(__dirname, '..')
const HELPER = path.join(__dirname, 'helpers', 'parity.js')
const b = require('node-gyp-build')(ROOT)

/** The keys tfo replaces with its own; every other key of net must be net's own value. */
const REPLACED = ['Socket', 'Stream', 'Server', 'connect', 'createConnection', 'createServer']

t.test("every key of the running Node's net is on tfo, net's own value unless tfo replaces it", async (t) => {
  const keys = Object.keys(net)
  for (const k of ['_normalizeArgs', '_createServerHandle', 'isIP', 'BlockList', 'SocketAddress', 'Stream'])
    t.ok(keys.includes(k), `net has ${k} here (the check below covers it)`)
  for (const k of keys) {
    t.ok(k in tfo, `tfo.${k} exists`)
    if (REPLACED.includes(k)) t.not(tfo[k], net[k], `tfo.${k} is tfo's own`)
    else t.equal(tfo[k], net[k], `tfo.${k} === net.${k}`)
  }
  t.equal(tfo.Stream, tfo.Socket, 'Stream is Socket, as in net')
  t.equal(tfo.createConnection, tfo.connect)
  // In ES modules too: named exports of the running Node's net (export * from 'node:net').
  const esm = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
    import * as tfo from ${JSON.stringify(path.join(ROOT, 'dist', 'index.mjs'))}
    import * as net from 'node:net'
    const out = {}
    for (const k of Object.keys(net)) if (k !== 'default') out[k] = !(k in tfo) ? 'missing' : tfo[k] === net[k] ? 'same' : 'own'
    console.log(JSON.stringify(out))
  `,
    ],
    { encoding: 'utf8' },
  )
  t.equal(esm.status, 0, esm.stderr)
  const seen = JSON.parse(esm.stdout)
  for (const [k, v] of Object.entries(seen)) t.equal(v, REPLACED.includes(k) ? 'own' : 'same', `ESM: ${k}`)
})

t.test('socket.connect() gets what net.connect gives it, for every overload', async (t) => {
  // A child process wraps net.Socket.prototype.connect (as APM agents do) and
  // records every call: how many arguments, and for each its shape (an array
  // from net._normalizeArgs with its private mark, the options, the callback).
  const script = `
    const net = require('node:net')
    const calls = []
    const original = net.Socket.prototype.connect
    const describe = (v, cb) => {
      if (Array.isArray(v)) return { array: v.map((x) => describe(x, cb)), marks: Object.getOwnPropertySymbols(v).map((s) => [String(s), v[s]]) }
      if (typeof v === 'function') return v === cb ? '<the callback>' : '<a function>'
      if (v && typeof v === 'object') return { object: Object.entries(v).map(([k, x]) => [k, describe(x, cb)]) }
      return v === undefined ? '<undefined>' : v
    }
    let cb = null
    net.Socket.prototype.connect = function (...args) {
      calls.push({ isNetSocket: this instanceof net.Socket, args: args.map((a) => describe(a, cb)) })
      return original.apply(this, args)
    }
    const tfo = require(${JSON.stringify(ROOT)})
    const port = Number(process.argv[1])
    const sock = '/nonexistent/parity.sock'
    const forms = {
      'options': () => [{ port, host: '127.0.0.1' }],
      'options, callback': (f) => [{ port, host: '127.0.0.1', timeout: 5000 }, f],
      'port, host': () => [port, '127.0.0.1'],
      'port, host, callback': (f) => [port, '127.0.0.1', f],
      'port': () => [port],
      'port, callback': (f) => [port, f],
      'port as a string, host': () => [String(port), '127.0.0.1'],
      'path': () => [sock],
      'path, callback': (f) => [sock, f],
      'options with a path': () => [{ path: sock }],
    }
    const out = {}
    for (const [name, make] of Object.entries(forms)) {
      for (const [label, mod] of [['net', net], ['tfo', tfo]]) {
        for (const fn of ['connect', 'createConnection']) {
          calls.length = 0
          cb = function () {}
          const s = mod[fn](...make(cb))
          s.on('error', () => {})
          s.destroy()
          out[name + ' / ' + fn + ' / ' + label] = calls.slice()
        }
        // A socket connected directly: the wrapper sees the caller's own arguments.
        calls.length = 0
        cb = function () {}
        const s = new mod.Socket()
        s.on('error', () => {})
        s.connect(...make(cb))
        s.destroy()
        out[name + ' / Socket#connect / ' + label] = calls.slice()
      }
    }
    console.log(JSON.stringify(out))
  `
  const probe = net.createServer()
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = probe.address().port
  await new Promise((resolve) => probe.close(resolve)) // nothing listens there: connects are refused (and destroyed first anyway)
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script, String(port)], { encoding: 'utf8' }))
  const names = Object.keys(out).filter((k) => k.endsWith(' / net'))
  t.equal(names.length, 30)
  for (const k of names) {
    const mine = out[k.replace(/ \/ net$/, ' / tfo')]
    t.equal(out[k].length, 1, `${k}: one call`)
    t.strictSame(mine, out[k], `${k.replace(/ \/ net$/, '')}: tfo's socket.connect got ${JSON.stringify(out[k][0].args)}`)
  }
  // The array form net.connect passes carries net's private mark.
  t.match(out['port, host, callback / connect / tfo'][0].args[0], {
    array: [
      {
        object: [
          ['port', port],
          ['host', '127.0.0.1'],
        ],
      },
      '<the callback>',
    ],
    marks: [[/Symbol/, true]],
  })
  t.match(out['port, host / Socket#connect / tfo'][0].args, [port, '127.0.0.1'])
})

/** A server that reads each connection to its end and answers `got <n>` (allowHalfOpen), on every address. */
function answering(mod, t) {
  const live = new Set()
  const server = mod.createServer({ allowHalfOpen: true }, (s) => {
    live.add(s)
    let n = 0
    s.on('data', (d) => {
      n += d.length
    })
    s.on('end', () => s.end(`got ${n}`))
    s.on('error', () => {})
    s.on('close', () => live.delete(s))
  })
  t.teardown(async () => {
    for (const s of live) s.destroy()
    if (server.listening) await new Promise((resolve) => server.close(resolve))
  })
  return server
}

const REMOTE_UNKNOWN = [
  'sync',
  'after writes',
  'after write',
  'next tick',
  'in SYN_SENT',
  'corked',
  'uncorked',
  'before destroy',
  'before abort',
  'new',
  'connecting again',
]
const REMOTE_KNOWN = ['connect callback', 'connect listener', 'ready', 'before uncork', 'after uncork']

/** Compares the net and tfo traces of one scenario; checks the peer address at each moment. */
function compare(t, name, r, { host, port }) {
  t.strictSame(r.tfo.events, r.net.events, `${name}: events and callbacks as net: ${r.net.events.join(', ')}`)
  t.strictSame(
    r.tfo.marks.map((m) => m[0]),
    r.net.marks.map((m) => m[0]),
    `${name}: the same moments, in the same order`,
  )
  for (let i = 0; i < r.net.marks.length; i++) {
    const [label, snap] = r.net.marks[i]
    const mine = r.tfo.marks[i] ? r.tfo.marks[i][1] : null
    t.strictSame(mine, snap, `${name}: at '${label}', what the program sees is net's`)
    if (!mine) continue
    if (REMOTE_UNKNOWN.includes(label)) {
      t.strictSame(
        [mine.remoteAddress, mine.remoteFamily, mine.remotePort],
        [undefined, undefined, undefined],
        `${name}: at '${label}', no remote address yet (as net)`,
      )
    } else if (REMOTE_KNOWN.includes(label) && host) {
      const family = net.isIP(host) === 6 ? 'IPv6' : 'IPv4'
      t.strictSame([mine.remoteAddress, mine.remoteFamily, mine.remotePort], [host, family, port], `${name}: at '${label}', the peer is ${host}:${port}`)
    }
  }
  t.strictSame(r.tfo.error, r.net.error, `${name}: the same error${r.net.error ? ` (${r.net.error.message})` : ''}`)
  t.equal(r.tfo.data, r.net.data, `${name}: the same reply (${JSON.stringify(r.net.data)})`)
}

/** Which address a scenario reaches, for the peer check. */
function peerOf(sc, { v4, v6 }) {
  if (/\bIPv6:/.test(sc.name)) return v6
  if (/refused|DNS/.test(sc.name)) return null
  return v4
}

t.test('client sockets on loopback: events, state and listeners as net, at every moment', async (t) => {
  const server = answering(tfo, t)
  await new Promise((resolve) => server.listen(0, '::', resolve))
  const port = server.address().port
  t.match(server.fastOpen, { enabled: true, active: true })
  const refused = net.createServer()
  await new Promise((resolve) => refused.listen(0, '::', resolve))
  const refusedPort = refused.address().port
  await new Promise((resolve) => refused.close(resolve))

  const v4 = '127.0.0.1'
  const v6 = '::1'
  // First contact for each address (tfo asks for a cookie), traced like the rest.
  for (const [name, host] of [
    ['IPv4', v4],
    ['IPv6', v6],
  ]) {
    tfo.clearBackoff()
    const sc = clientScenarios({ port, v4, v6, refusedPort, rtt: false }).find((s) => s.name.startsWith(name))
    const r = await sideBySide(net, tfo, sc.run)
    compare(t, `first contact, ${sc.name}`, r, { host, port })
    t.match(r.tfo.fastOpen, { attempted: true, cookie: 'requested' }, `first contact to ${host}: a cookie was asked for`)
  }
  // Unroutable here (the namespace has no IPv6 route but ::1): the first attempt fails at once.
  const scenarios = clientScenarios({ port, v4, v6, refusedPort, blackhole: '2001:db8::1', rtt: false })
  t.ok(scenarios.length >= 11)
  for (const sc of scenarios) {
    tfo.clearBackoff()
    const r = await sideBySide(net, tfo, sc.run)
    compare(t, sc.name, r, { host: peerOf(sc, { v4, v6 }), port })
    if (sc.deferred && r.tfo.fastOpen)
      t.match(r.tfo.fastOpen, { attempted: true, cookie: 'sent' }, `${sc.name}: tfo's connect was deferred (a cookie cached): the TFO path was taken`)
    if (/^IPv[46]: data before connect|as http does/.test(sc.name)) t.match(r.tfo.fastOpen, { synData: true }, `${sc.name}: the first bytes rode in the SYN`)
    if (/held until connect/.test(sc.name))
      t.match(r.tfo.fastOpen, { synData: false, synDataBytes: 0 }, `${sc.name}: corked bytes stay out of the SYN, as net keeps them until uncork()`)
    if (/autoSelectFamily/.test(sc.name)) t.ok(r.tfo.events.includes('connectionAttemptFailed'), `${sc.name}: the IPv6 attempt failed first`)
  }
})

t.test('writes before connect: all that was written rides in the SYN, and bytesWritten counts each byte once', async (t) => {
  const server = answering(tfo, t)
  await new Promise((resolve) => server.listen(0, '0.0.0.0', resolve))
  const port = server.address().port
  const host = '127.0.0.5' // an address with no cookie yet
  const prime = tfo.connect(port, host)
  prime.end('cookie please')
  prime.resume()
  await once(prime, 'close')
  const seen = {}
  for (const [label, mod] of [
    ['net', net],
    ['tfo', tfo],
  ]) {
    const s = mod.connect(port, host)
    const counts = []
    s.write('a'.repeat(100))
    s.write(Buffer.alloc(200, 'b'))
    s.write('636363', 'hex')
    counts.push(s.bytesWritten)
    s.on('connect', () => counts.push(s.bytesWritten))
    s.on('ready', () => counts.push(s.bytesWritten))
    s.end('tail')
    let reply = ''
    s.on('data', (d) => {
      reply += d
    })
    await once(s, 'close')
    counts.push(s.bytesWritten, s.bytesRead)
    seen[label] = { counts, reply, info: s.fastOpen }
  }
  t.strictSame(seen.tfo.counts, seen.net.counts, `bytesWritten before, at 'connect', at 'ready', after close; bytesRead: ${seen.net.counts.join(', ')}`)
  t.equal(seen.tfo.reply, seen.net.reply)
  t.equal(seen.tfo.reply, 'got 307')
  t.match(seen.tfo.info, { synData: true, cookie: 'sent', synDataBytes: 307 }, "the three writes and end()'s data were coalesced into the SYN")
})

/**
 * A timer as ss prints it, in ms. iproute2's print_ms_timer writes minutes,
 * then seconds followed by "." when milliseconds follow or by "sec" when
 * there are none, then milliseconds: "7sec", "6.996ms", "996ms", "1min59sec",
 * "1min5.200ms". (Reading "6.996ms" as 6.996 ms, and "7sec" as 7 s, made this
 * test fail whenever one arm read the timer on a whole second.)
 */
function ssTimerMs(text) {
  const m = /^(?:(\d+)min)?(?:(\d+)(?:sec|\.(?=\d+ms)))?(?:(\d+)ms)?$/.exec(text)
  if (!m || text === '') return NaN
  return Number(m[1] ?? 0) * 60000 + Number(m[2] ?? 0) * 1000 + Number(m[3] ?? 0)
}

t.test('ss timers read as ss writes them', async (t) => {
  for (const [text, ms] of [
    ['7sec', 7000],
    ['6.996ms', 6996],
    ['6.050ms', 6050],
    ['996ms', 996],
    ['1min59sec', 119000],
    ['1min5.200ms', 65200],
    ['2min', 120000],
  ])
    t.equal(ssTimerMs(text), ms, text)
  t.ok(Number.isNaN(ssTimerMs('soon')))
})

t.test('setNoDelay / setKeepAlive before connect take effect as with net', async (t) => {
  const server = answering(tfo, t)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = server.address().port
  const c = b.constants
  const read = async (mod, when) => {
    const s = new mod.Socket()
    if (when === 'before connect()') {
      s.setNoDelay(true)
      s.setKeepAlive(true, 7000)
    }
    s.connect(port, '127.0.0.1')
    if (when === 'right after connect()') {
      s.setNoDelay(true)
      s.setKeepAlive(true, 7000)
    }
    s.write('x')
    await once(s, 'connect')
    const fd = s._handle.fd
    const nodelay = b.getsockoptInt(fd, c.IPPROTO_TCP, c.TCP_NODELAY)
    // The keepalive timer as the kernel shows it (ss prints the time left).
    const ss = execFileSync('ss', ['-tnoH', 'state', 'established', `sport = :${s.localPort}`], { encoding: 'utf8' })
    const m = /timer:\((\w+),([^,)]+)/.exec(ss)
    s.end()
    s.resume()
    await once(s, 'close')
    return {
      nodelay: nodelay > 0,
      timer: m ? m[1] : null,
      idleS: m ? Math.round(ssTimerMs(m[2]) / 1000) : null,
    }
  }
  for (const when of ['before connect()', 'right after connect()']) {
    const a = await read(net, when)
    const r = await read(tfo, when)
    t.strictSame(r, a, `${when}: TCP_NODELAY and the keepalive timer as net: ${JSON.stringify(a)}`)
    t.equal(a.nodelay, true)
    t.equal(a.timer, 'keepalive')
    t.equal(a.idleS, 7, 'the keepalive timer as set (7 s)')
  }
})

t.test("servers: no listener of tfo's shows, before listen, listening, in 'connection', after close", async (t) => {
  const trace = async (server, label) => {
    const marks = []
    const mark = (name, extra) => marks.push([name, listenerSummary(server), Object.keys(server).sort(), extra])
    mark('created')
    let accepted = null
    server.on('connection', (s) => {
      accepted = s
      mark('in connection', listenerSummary(s))
    })
    mark('with a connection listener')
    server.listen(0, '127.0.0.1')
    mark('after listen()')
    server.once('listening', () => mark('in listening'))
    await once(server, 'listening')
    const c = net.connect(server.address().port, '127.0.0.1')
    c.on('error', () => {})
    await once(server, 'connection')
    mark('after connection')
    c.destroy()
    accepted.destroy()
    await once(accepted, 'close')
    server.close()
    mark('after close()')
    await once(server, 'close')
    mark('closed')
    // Listened on again and closed again: still nothing of tfo's.
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    server.close()
    await once(server, 'close')
    mark('closed twice')
    return { label, marks, accepted }
  }
  const pairs = [
    ['net.createServer / tfo.createServer', () => net.createServer(), () => tfo.createServer()],
    ['net.Server with a listener / tfo.Server', () => new net.Server(() => {}), () => new tfo.Server(() => {})],
    [
      'http.Server / http.Server + tfo.enableFastOpen',
      () => http.createServer(),
      () => {
        const s = http.createServer()
        tfo.enableFastOpen(s)
        return s
      },
    ],
  ]
  for (const [name, makeNet, makeTfo] of pairs) {
    const a = await trace(makeNet(), 'net')
    const r = await trace(makeTfo(), 'tfo')
    t.strictSame(
      r.marks.map((m) => m[0]),
      a.marks.map((m) => m[0]),
    )
    for (let i = 0; i < a.marks.length; i++) {
      t.strictSame(r.marks[i][1], a.marks[i][1], `${name}: at '${a.marks[i][0]}', the server's listeners are net's: ${JSON.stringify(a.marks[i][1])}`)
      t.strictSame(r.marks[i][2], a.marks[i][2], `${name}: at '${a.marks[i][0]}', the server's own keys are net's`)
      t.strictSame(r.marks[i][3], a.marks[i][3], `${name}: at '${a.marks[i][0]}', the accepted socket's listeners are net's`)
    }
    const closed = r.marks.find((m) => m[0] === 'closed')[1]
    t.notOk(
      closed.some(([e]) => e === 'listening' || e === 'close') && !/http/.test(name),
      `${name}: closed: no 'listening' or 'close' listener left (tfo's hooks are not listeners)`,
    )
    // tfo's part still ran: TFO on the listener, the outcome on the accepted socket before any 'connection' listener.
    t.match(r.accepted.fastOpen, { role: 'server', attempted: true, synData: false }, `${name}: the accepted socket was tagged`)
  }
  // The tagging happens before a 'connection' listener added first (prepended even) runs.
  const server = tfo.createServer()
  let seen
  server.prependListener('connection', (s) => {
    seen = s.fastOpen
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const c = net.connect(server.address().port, '127.0.0.1')
  await once(server, 'connection')
  t.match(seen, { role: 'server', attempted: true }, 'socket.fastOpen is set when the first connection listener runs')
  t.match(server.fastOpen, { enabled: true, active: true })
  c.destroy()
  await new Promise((resolve) => server.close(resolve))
})

t.test('the fastOpen option is read from the options in both forms of socket.connect()', async (t) => {
  const server = answering(tfo, t)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = server.address().port
  const forms = {
    'tfo.connect(options)': () => tfo.connect({ port, host: '127.0.0.1', fastOpen: false }),
    'socket.connect(options)': () => new tfo.Socket().connect({ port, host: '127.0.0.1', fastOpen: false }),
    'socket.connect(net._normalizeArgs([...]))': () => new tfo.Socket().connect(net._normalizeArgs([{ port, host: '127.0.0.1', fastOpen: false }])),
    'new Socket({ fastOpen: false }).connect(port, host)': () => new tfo.Socket({ fastOpen: false }).connect(port, '127.0.0.1'),
  }
  for (const [name, make] of Object.entries(forms)) {
    const s = make()
    s.end('x')
    s.resume()
    await once(s, 'close')
    t.match(s.fastOpen, { attempted: false, reason: 'disabled by the fastOpen: false option' }, name)
  }
  t.throws(
    () => new tfo.Socket().connect(net._normalizeArgs([{ port, host: '127.0.0.1', fastOpen: 'yes' }])),
    { code: 'ERR_INVALID_ARG_TYPE' },
    'validated in the array form too',
  )
  await tick()
})

t.test('connect() again after a refused connect with a write pending (where net itself throws)', async (t) => {
  // net keeps the pending write's 'connect' listener after the failure; on the
  // next connect it writes the old bytes again and calls their callback a
  // second time (ERR_MULTIPLE_CALLBACK, thrown; Node 20 to 26). tfo keeps
  // net's listeners (the counts match) but its stale one does nothing.
  const server = answering(tfo, t)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = server.address().port
  const probe = net.createServer()
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const refusedPort = probe.address().port
  await new Promise((resolve) => probe.close(resolve))
  const s = tfo.connect(refusedPort, '127.0.0.1')
  const calls = []
  s.on('error', (e) => calls.push(`error ${e.code}`))
  s.write('lost', (err) => calls.push(`write 1 ${err ? err.code : 'ok'}`))
  await new Promise((resolve) => s.once('close', resolve))
  t.equal(s.listenerCount('connect'), 1, "the failed write's 'connect' listener is still there, as with net")
  s.connect(port, '127.0.0.1')
  s.write('again', (err) => calls.push(`write 2 ${err ? err.code : 'ok'}`))
  s.end()
  let reply = ''
  s.on('data', (d) => {
    reply += d
  })
  await once(s, 'close')
  t.same(calls, ['error ECONNREFUSED', 'write 1 ERR_SOCKET_CLOSED_BEFORE_CONNECTION', 'write 2 ok'], 'each callback once')
  t.equal(reply, 'got 5', 'only the new bytes were sent')
})

t.test('on a 50 ms WAN: the deferred connect, side by side with net', async (t) => {
  if (!process.getuid || process.getuid() !== 0) {
    t.plan(0, 'skip: the emulated WAN needs root (network namespaces and TUN devices); CI runs as root')
    return
  }
  const { createWan } = require('../bench/lib/wan')
  const wan = await createWan({ rttMs: 50, tag: 'parity' })
  t.teardown(() => wan.close())
  const PORT = 7000
  const SERVER = `
    const tfo = require(${JSON.stringify(ROOT)})
    const server = tfo.createServer({ allowHalfOpen: true }, (s) => {
      let n = 0
      s.on('data', (d) => { n += d.length })
      s.on('end', () => s.end('got ' + n))
      s.on('error', () => {})
    })
    server.listen(${PORT}, '::', () => console.log(JSON.stringify(server.fastOpen)))
  `
  const server = wan.spawn('server', process.execPath, ['-e', SERVER])
  t.teardown(() => server.kill('SIGTERM'))
  const [line] = await once(server.stdout, 'data')
  t.match(JSON.parse(String(line)), { active: true })
  const { addr: v4, addr6: v6 } = wan.server
  const blackhole = v6.replace(/::2$/, '::99') // routed to the server's namespace, which drops it
  const CLIENT = `
    const net = require('node:net')
    const tfo = require(${JSON.stringify(ROOT)})
    const { clientScenarios, sideBySide } = require(${JSON.stringify(HELPER)})
    const params = JSON.parse(process.argv[1])
    ;(async () => {
      const out = []
      const all = clientScenarios({ ...params, rtt: true })
      for (const sc of all.filter((s) => /^IPv[46]:/.test(s.name))) {
        tfo.clearBackoff()
        out.push({ name: 'first contact, ' + sc.name, first: true, ...(await sideBySide(net, tfo, sc.run)) })
      }
      for (const sc of all) {
        tfo.clearBackoff()
        out.push({ name: sc.name, deferred: Boolean(sc.deferred), ...(await sideBySide(net, tfo, sc.run)) })
      }
      console.log(JSON.stringify(out))
    })()
  `
  const params = { port: PORT, v4, v6, refusedPort: PORT + 1, blackhole }
  const client = await wan.exec('client', process.execPath, ['-e', CLIENT, JSON.stringify(params)], { timeout: 120000 })
  t.equal(client.code, 0, client.stderr)
  const results = JSON.parse(client.stdout)
  t.ok(results.length >= 15, `${results.length} scenarios ran`)
  // JSON drops undefined: compare as parsed (a missing remoteAddress is undefined).
  for (const r of results) {
    const name = `WAN: ${r.name}`
    compare(t, name, r, { host: peerOf(r, { v4, v6 }), port: PORT })
    if (r.first) t.match(r.tfo.fastOpen, { attempted: true, cookie: 'requested', synData: false }, `${name}: a cookie was asked for`)
    else if (r.deferred && r.tfo.fastOpen) t.match(r.tfo.fastOpen, { attempted: true, cookie: 'sent' }, `${name}: deferred connect (cookie cached)`)
    if (!r.first && /^IPv[46]: data before connect|as http does/.test(r.name))
      t.match(r.tfo.fastOpen, { synData: true }, `${name}: the first bytes rode in the SYN`)
    if (/data before connect|no data before connect/.test(r.name)) {
      const marks = Object.fromEntries(r.tfo.marks)
      t.ok('in SYN_SENT' in marks && marks['in SYN_SENT'].connecting, `${name}: 15 ms in, still connecting (a real round trip)`)
    }
    if (/autoSelectFamily/.test(r.name)) t.ok(r.tfo.events.includes('connectionAttemptTimeout'), `${name}: the IPv6 attempt timed out first`)
  }
})
