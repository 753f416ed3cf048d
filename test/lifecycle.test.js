'use strict'
// Socket lifecycle while connecting, in a private network namespace
// (helpers/netns.js): destroy / timeout / AbortSignal during a deferred
// connect, end() before connect (with and without data), cork() across
// SYN_SENT, half-close, writes after end, destroy twice. (State at each
// moment, listeners, refused and DNS failures, reconnects, socket options and
// the 50 ms WAN: test/parity-net.test.js.) Each case runs with net.connect and with
// tfo.connect and the client's event sequences (events, write callbacks,
// error codes, 'close' exactly once) must be the same; the server must get
// the same bytes; fds return to the baseline.
//
// Two kinds of destination:
//  - a TFO server that answers (S). The client holds a cookie for its
//    address, so tfo's connect() is deferred (checked before each case with a
//    raw TCP_FASTOPEN_CONNECT probe) and the first bytes ride in the SYN.
//  - a SYN-dropping listener (D): a raw listener with backlog 0 whose one
//    accept-queue slot is taken, so the kernel drops every further SYN and the
//    client stays in SYN_SENT, deterministically (loopback otherwise completes
//    the handshake inside connect()/send()). Its address has a cookie too, so
//    tfo's SYN carries data and is dropped. "Releasing" D (net.Server
//    listen({ fd }) re-listens with a real backlog and accepts) lets the
//    retransmitted SYN (1 s RTO) through: the connect completes on a path
//    where the SYN with data was lost, which is where end() in SYN_SENT
//    would lose the request if tfo did not hold it.
// The raw binding is used only to build D and for the deferral probe.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const fs = require('node:fs')
const net = require('node:net')
const { once } = require('node:events')
const tfo = require('..')

const b = require('./helpers/binding')
const c = b.constants
const openFds = () => fs.readdirSync('/proc/self/fd').length
const { sleep } = require('./helpers/util')

/** A server (on every address) that collects what a connection sends and, at its end, answers `<n> bytes` and ends. */
function answering(mod) {
  const got = []
  const live = new Set()
  const server = mod.createServer({ allowHalfOpen: true }, (s) => {
    live.add(s)
    const chunks = []
    s.on('data', (d) => chunks.push(d))
    s.on('end', () => {
      const data = Buffer.concat(chunks).toString()
      got.push(data)
      s.end(`${data.length} bytes`)
    })
    s.on('error', () => {})
    s.on('close', () => live.delete(s))
  })
  return { server, got, live }
}

/** Whether a TCP_FASTOPEN_CONNECT connect() to host:port defers (a cookie is cached for host). */
function defers(host, port) {
  const fd = b.socket(c.AF_INET)
  try {
    if (b.setsockoptInt(fd, c.IPPROTO_TCP, c.TCP_FASTOPEN_CONNECT, 1) !== 0) return false
    return b.connect(fd, c.AF_INET, host, port) === 0
  } finally {
    b.close(fd)
  }
}

let nextHost = 1
/** A fresh loopback address with a cookie cached for it (one tfo exchange with S). */
async function cookieHost(S) {
  const host = `127.0.3.${nextHost++}`
  const s = tfo.connect(S.port, host)
  s.end('cookie please')
  s.resume()
  await once(s, 'close')
  return host
}

/** The SYN-dropping listener D on host (see the top of the file). */
async function dropper(host) {
  // A free port (the binding has no getsockname): net finds one, the raw listener takes it.
  const probe = net.createServer()
  await new Promise((resolve) => probe.listen(0, host, resolve))
  const port = probe.address().port
  await new Promise((resolve) => probe.close(resolve))
  const lfd = b.socket(c.AF_INET)
  if (b.setsockoptInt(lfd, c.SOL_SOCKET, c.SO_REUSEADDR, 1) !== 0) throw new Error('SO_REUSEADDR')
  if (b.bind(lfd, c.AF_INET, host, port) !== 0) throw new Error('bind D')
  if (b.listen(lfd, 0) !== 0) throw new Error('listen D')
  const filler = net.connect(port, host)
  filler.on('error', () => {})
  await once(filler, 'connect') // takes the only accept-queue slot: later SYNs are dropped
  let server = null
  const answer = answering(net)
  return {
    host,
    port,
    got: answer.got,
    /** Lets SYNs through from now on: net adopts the fd, listens with a real backlog, accepts. */
    release() {
      if (server) return
      b.release(lfd)
      server = answer.server
      server.listen({ fd: lfd })
    },
    async close() {
      filler.destroy()
      if (server) {
        for (const s of answer.live) s.destroy()
        await new Promise((resolve) => server.close(resolve))
      } else {
        b.close(lfd)
      }
    },
  }
}

/**
 * Records what a client socket shows: its events in order (data once, at its
 * first chunk), write callbacks, error codes, close(hadError), and how many
 * times 'close' fired.
 */
function record(socket) {
  const events = []
  const chunks = []
  let closes = 0
  for (const name of ['lookup', 'connectionAttempt', 'connectionAttemptFailed', 'connect', 'ready', 'timeout', 'end', 'finish']) {
    socket.on(name, () => events.push(name))
  }
  socket.on('data', (d) => {
    if (chunks.length === 0) events.push('data')
    chunks.push(d)
  })
  socket.on('error', (e) => events.push(`error ${e.code || e.name}`))
  socket.on('close', (hadError) => {
    closes++
    events.push(`close${hadError ? ' (hadError)' : ''}`)
  })
  const closed = new Promise((resolve) => socket.once('close', resolve))
  return {
    events,
    cb: (label) => (err) => events.push(`${label} callback${err ? ` ${err.code}` : ''}`),
    data: () => Buffer.concat(chunks).toString(),
    closes: () => closes,
    closed,
  }
}

const isCallback = (e) => / callback( |$)/.test(e)
const eventsOnly = (list) => list.filter((e) => !isCallback(e))
const callbacks = (list) => list.filter(isCallback).sort()

/**
 * Runs one scenario with net and with tfo and returns both records.
 * `scenario(connect, rec, target)` starts the client; it may return a promise.
 */
async function both(t, name, { target, scenario, maxMs = 5000 }) {
  const out = {}
  for (const [label, mod] of [
    ['net', net],
    ['tfo', tfo],
  ]) {
    tfo.clearBackoff()
    const dest = typeof target === 'function' ? await target() : target
    if (label === 'tfo' && dest.deferred !== false)
      t.ok(defers(dest.host, dest.port), `${name}: precondition: tfo's connect to ${dest.host} is deferred (cookie cached)`)
    let rec
    const connect = (...args) => {
      const s = mod.connect(...args)
      rec = record(s)
      return s
    }
    const socket = await scenario(connect, () => rec, dest)
    const closed = await Promise.race([rec.closed.then(() => true), sleep(maxMs).then(() => false)])
    if (!closed) {
      t.fail(`${name} (${label}): no 'close' within ${maxMs} ms`, { events: rec.events })
      socket.destroy()
      await rec.closed
    }
    await sleep(30) // a second 'close', a late error or callback would show now
    out[label] = { events: rec.events, data: rec.data(), closes: rec.closes(), socket, dest }
    if (dest.close) await dest.close()
  }
  // Events in the same order; write/end callbacks the same ones with the same
  // errors (once each), interleaved with the events exactly as net does.
  t.same(eventsOnly(out.tfo.events), eventsOnly(out.net.events), `${name}: the same events as net: ${eventsOnly(out.net.events).join(', ')}`)
  t.same(callbacks(out.tfo.events), callbacks(out.net.events), `${name}: the same callbacks as net: ${callbacks(out.net.events).join(', ') || 'none'}`)
  t.same(out.tfo.events, out.net.events, `${name}: callbacks interleaved with events as net`)
  t.equal(out.tfo.closes, 1, `${name}: 'close' once`)
  t.equal(out.tfo.data, out.net.data, `${name}: the same data received as net`)
  return out
}

t.test('lifecycle while connecting: as net, event for event', async (t) => {
  const S = answering(tfo)
  await new Promise((resolve) => S.server.listen(0, '0.0.0.0', resolve))
  S.port = S.server.address().port
  t.teardown(async () => {
    for (const s of S.live) s.destroy()
    await new Promise((resolve) => S.server.close(resolve))
  })
  t.match(S.server.fastOpen, { enabled: true, active: true })

  // A warm-up that makes everything lazily created exist before the fd baseline.
  const warmHost = await cookieHost(S)
  const warm = await dropper(warmHost)
  await warm.close()
  await sleep(50)
  const baseline = openFds()

  // S's address for this file's answered cases, with a cookie.
  const host = await cookieHost(S)
  const answered = { host, port: S.port }
  const dropping = () => cookieHost(S).then(dropper)

  await t.test('destroy() synchronously after connect(), before any SYN', async (t) => {
    const r = await both(t, 'destroy() after connect()', {
      target: answered,
      scenario: (connect, rec, d) => {
        const s = connect(d.port, d.host)
        s.destroy()
        return s
      },
    })
    t.same(r.tfo.events, ['close'])
  })

  await t.test('destroy() right after a write, before the connection exists', async (t) => {
    const r = await both(t, 'write, destroy()', {
      target: answered,
      scenario: (connect, rec, d) => {
        const s = connect(d.port, d.host)
        s.write('lost', rec().cb('write'))
        s.destroy()
        return s
      },
    })
    t.same(eventsOnly(r.tfo.events), ['close'])
    t.same(callbacks(r.tfo.events), ['write callback ERR_SOCKET_CLOSED_BEFORE_CONNECTION'], 'the write fails as in net')
  })

  await t.test('destroy() in SYN_SENT after the SYN (with data) left', async (t) => {
    const r = await both(t, 'SYN_SENT, destroy()', {
      target: dropping,
      scenario: async (connect, rec, d) => {
        const s = connect(d.port, d.host)
        s.write('dropped with the SYN', rec().cb('write'))
        await sleep(50)
        t.equal(s.connecting, true, 'still connecting')
        s.destroy()
        return s
      },
    })
    t.same(eventsOnly(r.tfo.events), ['connectionAttempt', 'close'])
    t.same(callbacks(r.tfo.events), ['write callback ERR_SOCKET_CLOSED_BEFORE_CONNECTION'])
  })

  await t.test('destroy(error) in SYN_SENT, and a second destroy(error)', async (t) => {
    const r = await both(t, 'SYN_SENT, destroy(err) twice', {
      target: dropping,
      scenario: async (connect, rec, d) => {
        const s = connect(d.port, d.host)
        s.write('x', rec().cb('write'))
        await sleep(50)
        s.destroy(Object.assign(new Error('first'), { code: 'EFIRST' }))
        s.destroy(Object.assign(new Error('second'), { code: 'ESECOND' }))
        return s
      },
    })
    t.same(eventsOnly(r.tfo.events), ['connectionAttempt', 'error EFIRST', 'close (hadError)'], 'only the first error is emitted')
  })

  await t.test('destroy() twice, before and after connect', async (t) => {
    await both(t, 'destroy() twice before connect', {
      target: dropping,
      scenario: async (connect, rec, d) => {
        const s = connect(d.port, d.host)
        await sleep(20)
        s.destroy()
        s.destroy()
        return s
      },
    })
    await both(t, 'destroy() twice after connect', {
      target: answered,
      scenario: async (connect, rec, d) => {
        const s = connect(d.port, d.host)
        s.write('hi')
        await once(s, 'connect')
        s.destroy()
        s.destroy()
        return s
      },
    })
  })

  await t.test('setTimeout(1) while connecting', async (t) => {
    const r = await both(t, 'setTimeout(1) in SYN_SENT', {
      target: dropping,
      scenario: (connect, rec, d) => {
        const s = connect(d.port, d.host)
        s.write('x', rec().cb('write'))
        s.setTimeout(1)
        s.on('timeout', () => s.destroy())
        return s
      },
    })
    t.same(eventsOnly(r.tfo.events), ['connectionAttempt', 'timeout', 'close'])
    await both(t, '{ timeout: 1 } option in SYN_SENT', {
      target: dropping,
      scenario: (connect, rec, d) => {
        const s = connect({ port: d.port, host: d.host, timeout: 1 })
        s.on('timeout', () => s.destroy())
        return s
      },
    })
  })

  await t.test('AbortSignal while connecting', async (t) => {
    const r = await both(t, 'abort in SYN_SENT', {
      target: dropping,
      scenario: async (connect, rec, d) => {
        const ac = new AbortController()
        const s = connect({ port: d.port, host: d.host, signal: ac.signal })
        s.write('x', rec().cb('write'))
        await sleep(50)
        ac.abort()
        return s
      },
    })
    t.same(eventsOnly(r.tfo.events), ['connectionAttempt', 'error ABORT_ERR', 'close (hadError)'])
    await both(t, 'abort synchronously after connect()', {
      target: answered,
      scenario: (connect, rec, d) => {
        const ac = new AbortController()
        const s = connect({ port: d.port, host: d.host, signal: ac.signal })
        s.write('x', rec().cb('write'))
        ac.abort()
        return s
      },
    })
    await both(t, 'abort on the next tick (the deferred connect was made, its SYN not yet sent)', {
      target: answered,
      scenario: (connect, rec, d) => {
        const ac = new AbortController()
        const s = connect({ port: d.port, host: d.host, signal: ac.signal })
        s.write('x', rec().cb('write'))
        // net connects on the tick queued by connect() (before this one); tfo
        // sends the SYN on a tick queued by that connect (after this one).
        process.nextTick(() => {
          t.equal(s.connecting, true)
          ac.abort()
        })
        return s
      },
    })
  })

  await t.test('end() before connect', async (t) => {
    const noData = await both(t, 'end() before connect, no data', {
      target: answered,
      scenario: (connect, rec, d) => {
        const s = connect(d.port, d.host)
        s.end(rec().cb('end'))
        return s
      },
    })
    t.equal(noData.tfo.data, '0 bytes')
    t.match(noData.tfo.socket.fastOpen, { attempted: true, cookie: 'sent' })
    const withData = await both(t, 'end(data) before connect', {
      target: answered,
      scenario: (connect, rec, d) => {
        const s = connect(d.port, d.host)
        s.write('GET / HTTP/1.0\r\n\r\n', rec().cb('write'))
        s.end('tail', rec().cb('end'))
        return s
      },
    })
    t.equal(withData.tfo.data, '22 bytes', 'the server got every byte')
    t.match(withData.tfo.socket.fastOpen, { synData: true, cookie: 'sent' }, 'the first bytes rode in the SYN')

    // The SYN with data is dropped; end() was called in SYN_SENT. The data and the
    // FIN must follow the retransmitted SYN's handshake, nothing reset or lost.
    const late = await both(t, 'write + end() in SYN_SENT, connection completes after a retransmitted SYN', {
      target: dropping,
      maxMs: 8000,
      scenario: async (connect, rec, d) => {
        const s = connect(d.port, d.host)
        s.write('request that must not be lost', rec().cb('write'))
        s.end(rec().cb('end'))
        await sleep(100)
        t.equal(s.connecting, true, 'in SYN_SENT when end() has been called')
        d.release()
        return s
      },
    })
    t.equal(late.tfo.data, '29 bytes', 'the server got the request, after the handshake')
    t.same(late.tfo.dest.got, ['request that must not be lost'])
    t.match(late.tfo.socket.fastOpen, { attempted: true, cookie: 'sent', synData: false, failure: 'syn-retransmitted' })
    const lateEmpty = await both(t, 'end() without data in SYN_SENT, completes after a retransmitted SYN', {
      target: dropping,
      maxMs: 8000,
      scenario: async (connect, rec, d) => {
        const s = connect(d.port, d.host)
        s.end()
        await sleep(100)
        d.release()
        return s
      },
    })
    t.equal(lateEmpty.tfo.data, '0 bytes')
  })

  await t.test('cork() before connect, uncork() in SYN_SENT', async (t) => {
    // tfo's SYN leaves without the corked bytes (net keeps them until
    // uncork()); it is dropped, and they follow the retransmitted SYN's handshake.
    const r = await both(t, 'cork, write, uncork() and end() in SYN_SENT, completes after a retransmitted SYN', {
      target: dropping,
      maxMs: 8000,
      scenario: async (connect, rec, d) => {
        const s = connect(d.port, d.host)
        s.cork()
        s.write('corked request', rec().cb('write'))
        await sleep(50)
        t.equal(s.connecting, true, 'in SYN_SENT at uncork()')
        t.equal(s.writableCorked, 1, "corked once: the program's own cork() only")
        s.uncork()
        s.end(rec().cb('end'))
        d.release()
        return s
      },
    })
    t.equal(r.tfo.data, '14 bytes')
    t.same(r.tfo.dest.got, ['corked request'])
    t.match(r.tfo.socket.fastOpen, { attempted: true, cookie: 'sent', synDataBytes: 0 }, 'the corked bytes stayed out of the SYN')
  })

  await t.test('half-close: allowHalfOpen on both sides', async (t) => {
    const r = await both(t, 'client end() first, then reads the reply', {
      target: answered,
      scenario: (connect, rec, d) => {
        const s = connect({ port: d.port, host: d.host, allowHalfOpen: true })
        s.write('question', rec().cb('write'))
        s.end(rec().cb('end'))
        s.on('finish', () => t.equal(s.readable, true, 'still readable after our end()'))
        return s
      },
    })
    t.equal(r.tfo.data, '8 bytes', 'the reply arrived after the client had half-closed')
    t.same(eventsOnly(r.tfo.events), ['connectionAttempt', 'connect', 'ready', 'finish', 'data', 'end', 'close'])
  })

  await t.test('write after end(): ERR_STREAM_WRITE_AFTER_END, as net', async (t) => {
    const before = await both(t, 'write after end() before connect', {
      target: answered,
      scenario: (connect, rec, d) => {
        const s = connect(d.port, d.host)
        s.end('first', rec().cb('end'))
        s.write('too late', rec().cb('write'))
        return s
      },
    })
    t.ok(before.tfo.events.includes('error ERR_STREAM_WRITE_AFTER_END'))
    await both(t, 'write after end() after connect', {
      target: answered,
      scenario: async (connect, rec, d) => {
        const s = connect(d.port, d.host)
        await once(s, 'connect')
        s.end('first', rec().cb('end'))
        s.write('too late', rec().cb('write'))
        return s
      },
    })
    await both(t, 'write after end() in SYN_SENT', {
      target: dropping,
      scenario: async (connect, rec, d) => {
        const s = connect(d.port, d.host)
        s.end('first', rec().cb('end'))
        await sleep(50)
        s.write('too late', rec().cb('write'))
        await sleep(20)
        s.destroy()
        return s
      },
    })
  })

  await sleep(100)
  t.equal(openFds(), baseline, 'every fd back: nothing leaked by any case')
})
