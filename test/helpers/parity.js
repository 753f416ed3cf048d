'use strict'
// Side-by-side traces of what a program can see on a client socket: its
// events in order, and at chosen moments its state (readyState, pending,
// remote and local address, bytesWritten/bytesRead, the writable side, and
// every event's listeners as listenerCount / listeners / rawListeners).
// test/parity-net.test.js runs the same scenario with net and with tfo and
// compares the traces; the WAN part runs this file inside a namespace, so it
// only requires node: modules.

/** [event, listenerCount, listeners().length, rawListeners().length] for every event name. */
function listenerSummary(emitter) {
  return emitter.eventNames().map((e) => [String(e), emitter.listenerCount(e), emitter.listeners(e).length, emitter.rawListeners(e).length])
}

// The local port differs between two connections; everything else must not.
const portless = (a) => (a && typeof a === 'object' && 'port' in a ? { ...a, port: typeof a.port } : a)

/** What a program can read off a client socket at one moment. */
function snapshot(s) {
  return {
    readyState: s.readyState,
    pending: s.pending,
    connecting: s.connecting,
    destroyed: s.destroyed,
    remoteAddress: s.remoteAddress,
    remoteFamily: s.remoteFamily,
    remotePort: s.remotePort,
    localAddress: s.localAddress,
    localFamily: s.localFamily,
    localPort: typeof s.localPort,
    address: portless(s.address()),
    bytesWritten: s.bytesWritten,
    bytesRead: s.bytesRead,
    writableLength: s.writableLength,
    writableCorked: s.writableCorked,
    writableNeedDrain: s.writableNeedDrain,
    writableEnded: s.writableEnded,
    listeners: listenerSummary(s),
  }
}

const EVENTS = ['lookup', 'connectionAttempt', 'connectionAttemptFailed', 'connectionAttemptTimeout', 'connect', 'ready', 'timeout', 'end', 'finish']

/** A plain, comparable form of an error: its own properties (net's shape), class, message. */
function errorShape(e) {
  if (!e) return e
  const out = { name: e.name, class: e.constructor && e.constructor.name, message: e.message }
  for (const k of Object.keys(e)) out[k] = k === 'errors' ? e.errors.map(errorShape) : e[k]
  if (Array.isArray(e.errors) && !out.errors) out.errors = e.errors.map(errorShape)
  return out
}

/**
 * Runs `scenario({ connect, mark, rec })` against one module (net or tfo):
 * `connect(...args)` calls `mod.connect(...args)` and starts recording
 * (events, write callbacks through `rec.cb(label)`, the data received);
 * `mark(name)` takes a snapshot; `adopt(socket)` records a socket made by the
 * scenario. Resolves after 'close' (or `maxMs`) with
 * `{ events, marks, data, error }`.
 */
async function trace(mod, scenario, { maxMs = 10000 } = {}) {
  const events = []
  const marks = []
  const chunks = []
  let socket = null
  let error = null
  let closes = 0
  let want = 1
  let wake = () => {}
  const done = new Promise((resolve) => {
    wake = () => {
      if (closes >= want) resolve()
    }
  })
  const mark = (name) => marks.push([name, snapshot(socket)])
  const rec = {
    cb: (label) => (err) => events.push(`${label} callback${err ? ` ${err.code}` : ''}`),
    get socket() {
      return socket
    },
  }
  const watch = (s) => {
    socket = s
    for (const name of EVENTS) s.on(name, () => events.push(name))
    s.on('data', (d) => {
      if (chunks.length === 0) events.push('data')
      chunks.push(d)
    })
    s.on('error', (e) => {
      events.push(`error ${e.code || e.name}`)
      error = errorShape(e)
    })
    s.on('close', (hadError) => {
      events.push(`close${hadError ? ' (hadError)' : ''}`)
      closes++
      mark(closes > 1 ? `close ${closes}` : 'close')
      wake()
    })
    return s
  }
  const connect = (...args) => watch(mod.connect(...args))
  const adopt = (s) => watch(s)
  // A scenario may return { closes: n } when the socket closes n times (connect() again).
  want = (await scenario({ connect, adopt, mark, rec, mod }))?.closes ?? 1
  wake()
  let timer
  const finished = await Promise.race([
    done.then(() => true),
    new Promise((resolve) => {
      timer = setTimeout(resolve, maxMs, false)
    }),
  ])
  clearTimeout(timer)
  if (!finished) {
    events.push('(no close)')
    socket.destroy()
    await done
  }
  await new Promise((resolve) => setTimeout(resolve, 20)) // a late event or callback would show now
  mark('later')
  return { events, marks, data: Buffer.concat(chunks).toString(), error, fastOpen: socket.fastOpen }
}

/** Runs the scenario with net, then with tfo. */
async function sideBySide(net, tfo, scenario, options) {
  const a = await trace(net, scenario, options)
  const b = await trace(tfo, scenario, options)
  return { net: a, tfo: b }
}

const tick = () => new Promise((resolve) => process.nextTick(resolve))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The client scenarios, for a server at `port` that reads to the end and
 * answers `got <n>` (allowHalfOpen), reachable at `v4` and `v6`;
 * `refusedPort` has no listener; `blackhole` is an IPv6 address whose SYNs
 * are dropped (or null); `rtt` says whether the path has a real round trip
 * (a mark in SYN_SENT is taken only then). The server's addresses must have
 * a TFO cookie cached before the scenarios marked `deferred`.
 */
function clientScenarios({ port, v4, v6, refusedPort, blackhole, rtt }) {
  // The loop's first check phase: the SYN has left (net and tfo send it
  // from ticks before it), the answer is a round trip away. No timer: a busy
  // machine may fire one late.
  const inSynSent = async (mark) => {
    if (!rtt) return
    await new Promise((resolve) => setImmediate(resolve))
    mark('in SYN_SENT')
  }
  const readers = (s, mark) => {
    s.on('connect', () => mark('connect listener'))
    s.on('ready', () => mark('ready'))
  }
  const request =
    (host, extra = {}) =>
    async ({ connect, mark, rec }) => {
      const s = connect({ port, host, ...extra }, () => mark('connect callback'))
      mark('sync')
      readers(s, mark)
      s.write('hello ', rec.cb('write 1'))
      s.write('world', rec.cb('write 2'))
      mark('after writes')
      s.end(rec.cb('end'))
      await tick()
      mark('next tick')
      await inSynSent(mark)
    }
  const list = [
    { name: 'IPv4: data before connect', deferred: v4, run: request(v4) },
    { name: 'IPv6: data before connect', deferred: v6, run: request(v6) },
    {
      name: 'port + host + callback overload, no data before connect: the connect listener reads the peer and writes',
      deferred: v4,
      run: async ({ connect, mark, rec }) => {
        const s = connect(port, v4, () => mark('connect callback'))
        readers(s, mark)
        s.on('connect', () => s.end('late', rec.cb('end')))
        mark('sync')
        await tick()
        mark('next tick')
        await inSynSent(mark)
      },
    },
    {
      // end() waits for 'connect' here: with net itself, an end() made before
      // a failed attempt is lost (the next attempt's new handle resets the
      // stream's state: no FIN is ever sent), on Node 20 to 26.
      name: 'a hostname with autoSelectFamily: IPv6 then IPv4 (the first attempt fails)',
      deferred: v4,
      run: async ({ connect, mark, rec }) => {
        const lookup = lookupOf([
          { address: blackhole, family: 6 },
          { address: v4, family: 4 },
        ])
        const s = connect({ port, host: 'parity.example', autoSelectFamily: true, lookup }, () => mark('connect callback'))
        mark('sync')
        readers(s, mark)
        s.on('connect', () => s.end(rec.cb('end')))
        s.write('hello ', rec.cb('write 1'))
        s.write('world', rec.cb('write 2'))
        mark('after writes')
        await tick()
        mark('next tick')
        await inSynSent(mark)
      },
    },
    {
      name: 'cork() before connect, uncork() on the next tick (as http does)',
      deferred: v4,
      run: async ({ connect, mark, rec }) => {
        const s = connect(port, v4)
        readers(s, mark)
        s.cork()
        s.write('GET / HTTP/1.1\r\n', rec.cb('write 1'))
        s.write('\r\n', rec.cb('write 2'))
        mark('corked')
        process.nextTick(() => {
          s.uncork()
          mark('uncorked')
          s.end(rec.cb('end'))
        })
        await inSynSent(mark)
      },
    },
    {
      name: 'cork() held until connect',
      deferred: v4,
      run: async ({ connect, mark, rec }) => {
        const s = connect(port, v4)
        readers(s, mark)
        s.cork()
        s.write('held ', rec.cb('write 1'))
        s.write('back', rec.cb('write 2'))
        s.on('connect', () => {
          mark('before uncork')
          s.uncork()
          mark('after uncork')
          s.end(rec.cb('end'))
        })
        await tick()
        mark('next tick')
        await inSynSent(mark)
      },
    },
    {
      name: 'refused, with data written before connect',
      deferred: v4,
      run: async ({ connect, mark, rec }) => {
        const s = connect(refusedPort, v4)
        readers(s, mark)
        s.write('refused', rec.cb('write'))
        mark('after write')
        await tick()
        mark('next tick')
        await inSynSent(mark)
      },
    },
    {
      name: 'destroy() while connecting, writes pending',
      deferred: v4,
      run: async ({ connect, mark, rec }) => {
        const s = connect(port, v4)
        readers(s, mark)
        s.write('one', rec.cb('write 1'))
        s.write('two', rec.cb('write 2'))
        await tick()
        await tick()
        mark('before destroy')
        s.destroy()
        mark('after destroy')
      },
    },
    {
      name: 'DNS failure (a lookup that fails)',
      run: async ({ connect, mark, rec }) => {
        const lookup = (hostname, options, cb) =>
          setImmediate(() =>
            cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname })),
          )
        const s = connect({ port, host: 'nowhere.invalid', lookup })
        readers(s, mark)
        s.write('x', rec.cb('write'))
        mark('sync')
      },
    },
    {
      name: 'end() before connect, no data',
      deferred: v4,
      run: async ({ connect, mark, rec }) => {
        const s = connect(port, v4)
        readers(s, mark)
        s.end(rec.cb('end'))
        mark('sync')
        await tick()
        mark('next tick')
        await inSynSent(mark)
      },
    },
    {
      name: 'setNoDelay / setKeepAlive before connect, then socket.connect() again after close',
      deferred: v4,
      run: async ({ adopt, mark, rec, mod }) => {
        const s = adopt(new mod.Socket())
        s.setNoDelay(true)
        s.setKeepAlive(true, 5000)
        mark('new')
        s.connect(port, v4)
        readers(s, mark)
        s.write('first', rec.cb('write 1'))
        s.end(rec.cb('end 1'))
        await new Promise((resolve) => s.once('close', resolve))
        mark('closed once')
        s.connect(port, v4)
        mark('connecting again')
        s.write('second', rec.cb('write 2'))
        s.end(rec.cb('end 2'))
        return { closes: 2 }
      },
    },
    {
      // Without a write pending at the refusal: net itself then throws
      // ERR_MULTIPLE_CALLBACK from the stale 'connect' listener of that write
      // when the socket connects again (Node 20 to 26); tfo does not.
      name: 'socket.connect() again after a refused connect',
      deferred: v4,
      run: async ({ connect, mark, rec }) => {
        const s = connect(refusedPort, v4)
        readers(s, mark)
        await new Promise((resolve) => s.once('close', resolve))
        mark('closed once')
        s.connect(port, v4)
        mark('connecting again')
        s.write('second', rec.cb('write'))
        s.end(rec.cb('end'))
        return { closes: 2 }
      },
    },
  ]
  if (rtt) {
    list.push(
      {
        name: 'timeout while connecting',
        deferred: v4,
        run: async ({ connect, mark, rec }) => {
          const s = connect({ port, host: v4, timeout: 10 })
          readers(s, mark)
          s.write('slow', rec.cb('write'))
          s.on('timeout', () => {
            mark('timeout')
            s.destroy()
          })
        },
      },
      {
        name: 'abort while connecting',
        deferred: v4,
        run: async ({ connect, mark, rec }) => {
          const ac = new AbortController()
          const s = connect({ port, host: v4, signal: ac.signal })
          readers(s, mark)
          s.write('aborted', rec.cb('write'))
          await new Promise((resolve) => setImmediate(resolve)) // in SYN_SENT (see inSynSent)
          mark('before abort')
          ac.abort()
        },
      },
    )
  }
  return list
}

/** A dns.lookup stand-in that answers `addresses` (in order) on the next turn, as a resolver would. */
function lookupOf(addresses) {
  return (hostname, options, cb) => {
    setImmediate(() => {
      if (options && options.all) cb(null, addresses)
      else cb(null, addresses[0].address, addresses[0].family)
    })
  }
}

module.exports = { lookupOf, snapshot, listenerSummary, errorShape, trace, sideBySide, clientScenarios, tick, sleep }
