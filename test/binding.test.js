'use strict'
// The raw addon (build/Release/tfo.node or a prebuild), used without lib/:
// its contract is "one syscall per function, a number back (fd, count, 0 or
// -errno), never a throw or a crash", its constants come from the C headers,
// and a whole TCP Fast Open exchange can be driven with it alone. Runs in a
// private network namespace with net.ipv4.tcp_fastopen=3 (helpers/netns.js).
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const fs = require('node:fs')
const net = require('node:net')
const { errno } = require('node:os').constants
const tfo = require('..')
const { listen, closeServer, sha256 } = require('./helpers/util')

const b = require('./helpers/binding')
const c = b.constants
const { EINVAL, EBADF, ENOTSOCK, EINPROGRESS } = errno
const { IPPROTO_TCP } = c

const { O_NONBLOCK } = fs.constants
const O_CLOEXEC = 0o2000000 // Linux; not in fs.constants
/** The open-file flags of fd, from /proc/self/fdinfo (octal there). */
const fdFlags = (fd) => parseInt(/^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))[1], 8)
const { sleep } = require('./helpers/util')
const openFds = () => fs.readdirSync('/proc/self/fd').length

/** TCP_INFO of fd as an object keyed by TCP_INFO_FIELDS, or the negative errno. */
function info(fd) {
  const out = new Float64Array(b.TCP_INFO_FIELDS.length)
  const r = b.tcpInfo(fd, out)
  if (r < 0) return r
  return Object.fromEntries(b.TCP_INFO_FIELDS.map((k, i) => [k, out[i]]))
}

async function waitFor(what, fn, ms = 3000) {
  const end = Date.now() + ms
  for (;;) {
    const v = fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(2)
  }
}

/** Reads a raw non-blocking socket until EOF; returns the bytes. */
async function recvAll(fd) {
  const chunks = []
  const buf = Buffer.alloc(4096)
  const end = Date.now() + 3000
  for (;;) {
    const n = b.recv(fd, buf, 0)
    if (n === 0) return Buffer.concat(chunks)
    if (n > 0) {
      chunks.push(Buffer.from(buf.subarray(0, n)))
      continue
    }
    if (n !== -errno.EAGAIN) throw new Error(`recv: errno ${n}`)
    if (Date.now() > end) throw new Error('recv: timed out')
    await sleep(2)
  }
}

/** b.socket(), closed at teardown if the test did not get that far. */
function rawSocket(t, family = c.AF_INET) {
  const fd = b.socket(family)
  if (fd < 0) throw new Error(`socket: errno ${fd}`)
  t.teardown(() => {
    b.close(fd)
  }) // -EBADF when already closed
  return fd
}

/** A free port on host: listen with net on :0, close, reuse the number. */
async function freePort(host) {
  const s = net.createServer()
  const { port } = await listen(s, 0, host)
  await closeServer(s)
  return port
}

/**
 * A tfo server that reads one '\n'-terminated message per connection and
 * answers `<synData> <sha256>` then closes; records what each accepted socket saw.
 */
async function messageServer(t, host) {
  const seen = []
  const live = new Set()
  const server = tfo.createServer((s) => {
    live.add(s)
    s.on('close', () => live.delete(s))
    const chunks = []
    s.on('data', (d) => {
      chunks.push(d)
      const all = Buffer.concat(chunks)
      if (all[all.length - 1] !== 0x0a) return
      seen.push({ synData: s.fastOpen?.synData, data: all.toString() })
      s.end(`${s.fastOpen?.synData} ${sha256(all)}`)
    })
    s.on('error', () => {})
  })
  t.teardown(() => {
    for (const s of live) s.destroy() // a raw client left half-way must not hold the server open
    return closeServer(server)
  })
  const { port } = await listen(server, 0, host)
  return { server, port, seen }
}

t.test('constants are the Linux ABI values, taken from C', async (t) => {
  t.equal(c.TCP_FASTOPEN, 23)
  t.equal(c.TCP_FASTOPEN_CONNECT, 30)
  t.equal(c.TCP_FASTOPEN_KEY, 33)
  t.equal(c.TCP_FASTOPEN_NO_COOKIE, 34)
  t.equal(c.MSG_FASTOPEN, 0x20000000)
  t.equal(c.TCPI_OPT_SYN_DATA, 32)
  t.equal(c.TCP_INFO, 11)
  t.equal(c.IPPROTO_TCP, 6)
  t.equal(c.AF_INET, 2)
  t.equal(c.AF_INET6, 10)
  t.equal(c.SOL_SOCKET, 1)
  t.equal(c.TCP_NODELAY, 1)
  t.equal(c.MSG_PEEK, 2)
  t.equal(c.SO_KEEPALIVE, 9)
  t.equal(c.AF_NETLINK, 16)
  t.equal(c.CAP_NET_ADMIN, 12)
  t.equal(c.NET_NS_INIT_INO, 0xeffffff9, 'the initial network namespace inode (fixed since Linux 6.18)')
  t.same(
    [c.TFO_STATUS_UNSPEC, c.TFO_COOKIE_UNAVAILABLE, c.TFO_DATA_NOT_ACKED, c.TFO_SYN_RETRANSMITTED],
    [0, 1, 2, 3],
    'enum tcp_fastopen_client_fail of <linux/tcp.h>',
  )
  t.equal(c.TCPI_FASTOPEN_CLIENT_FAIL_BITS, 2, 'tcpi_fastopen_client_fail is a 2-bit field')
  t.ok(c.TFO_SYN_RETRANSMITTED < 2 ** c.TCPI_FASTOPEN_CLIENT_FAIL_BITS, 'every code fits the field')
  t.equal(c.TCP_FASTOPEN_KEY_LENGTH, 16)
  t.equal(c.TCP_FASTOPEN_KEY_BUF_LENGTH, 2 * c.TCP_FASTOPEN_KEY_LENGTH, 'primary and backup')
  t.equal(
    tfo.sysctl.formatKey(Buffer.alloc(c.TCP_FASTOPEN_KEY_LENGTH, 1)).replace(/-/g, '').length,
    2 * c.TCP_FASTOPEN_KEY_LENGTH,
    "the addon's key length is what the sysctl's text form holds (lib/system/keyformat.ts relies on it without the addon)",
  )
  for (const gone of ['TCPI_OPT_TIMESTAMPS', 'TCPI_OPT_SACK', 'TCPI_OPT_WSCALE', 'TCPI_OPT_ECN']) t.notOk(gone in c, `${gone} is not exported: nothing used it`)
  t.same(
    { ...c.tcpStates },
    {
      TCP_ESTABLISHED: 1,
      TCP_SYN_SENT: 2,
      TCP_SYN_RECV: 3,
      TCP_FIN_WAIT1: 4,
      TCP_FIN_WAIT2: 5,
      TCP_TIME_WAIT: 6,
      TCP_CLOSE: 7,
      TCP_CLOSE_WAIT: 8,
      TCP_LAST_ACK: 9,
      TCP_LISTEN: 10,
      TCP_CLOSING: 11,
    },
  )
  t.same(
    b.TCP_INFO_FIELDS,
    [
      'state',
      'caState',
      'retransmits',
      'options',
      'fastopenClientFail',
      'rto',
      'sndMss',
      'rcvMss',
      'rtt',
      'rttvar',
      'sndCwnd',
      'totalRetrans',
      'segsOut',
      'segsIn',
      'dataSegsOut',
      'dataSegsIn',
      'bytesSent',
      'bytesAcked',
      'bytesReceived',
    ],
    'slot order is ABI between addon and lib/tcpinfo.ts: extend at the end only',
  )
})

// Each function with arguments that are valid for a fresh unconnected socket
// (a NETLINK_GENERIC one for genl*); every position is then replaced, in
// turn, by each bad value.
const FUNCTIONS = {
  socket: () => [c.AF_INET],
  genlSocket: () => [],
  genlSend: (fd) => [fd, Buffer.alloc(16)],
  genlRecv: (fd) => [fd, Buffer.alloc(64)],
  close: (fd) => [fd],
  release: (fd) => [fd],
  dup: (fd) => [fd],
  bind: (fd) => [fd, c.AF_INET, '127.0.0.1', 0],
  listen: (fd) => [fd, 1],
  connect: (fd) => [fd, c.AF_INET, '127.0.0.1', 1],
  send: (fd) => [fd, Buffer.from('x'), 0],
  sendto: (fd) => [fd, Buffer.from('x'), 0, c.AF_INET, '127.0.0.1', 1],
  recv: (fd) => [fd, Buffer.alloc(4), 0],
  setsockoptInt: (fd) => [fd, IPPROTO_TCP, c.TCP_NODELAY, 1],
  getsockoptInt: (fd) => [fd, IPPROTO_TCP, c.TCP_NODELAY],
  setsockoptBytes: (fd) => [fd, IPPROTO_TCP, c.TCP_NODELAY, Buffer.alloc(4)],
  getsockoptBytes: (fd) => [fd, IPPROTO_TCP, c.TCP_NODELAY, Buffer.alloc(4)],
  tcpInfo: (fd) => [fd, new Float64Array(b.TCP_INFO_FIELDS.length)],
}
const BAD = {
  'a string': 'x',
  'a numeric string': '5',
  'an object': {},
  'an array': [5],
  'an object with valueOf': { valueOf: () => 5 },
  'a function': () => 5,
  NaN,
  Infinity,
  '-Infinity': -Infinity,
  '-1': -1,
  '2**40': 2 ** 40,
  1.5: 1.5,
  null: null,
  undefined,
  'a Symbol': Symbol('fd'),
  'a BigInt': 5n,
}
// In-range integers the kernel takes: these are not bad arguments there.
const VALID_THERE = new Set(['listen:1:-1', 'setsockoptInt:3:-1'])

t.test('every function returns a number, -EINVAL for bad arguments, and never throws', async (t) => {
  t.same(
    Object.keys(b)
      .filter((k) => typeof b[k] === 'function')
      .sort(),
    Object.keys(FUNCTIONS).sort(),
    'all exported functions are covered',
  )
  const before = openFds()
  const failures = []
  let calls = 0
  for (const [name, argsFor] of Object.entries(FUNCTIONS)) {
    const call = (args, label) => {
      calls++
      let r
      try {
        r = b[name](...args)
      } catch (e) {
        failures.push(`${name}(${label}) threw ${e && e.message}`)
        return
      }
      if (VALID_THERE.has(label)) {
        if (typeof r !== 'number' || !Number.isInteger(r) || r > 0) failures.push(`${name}(${label}) returned ${String(r)}`)
      } else if (r !== -EINVAL) failures.push(`${name}(${label}) returned ${String(r)}, not -EINVAL`)
    }
    if (name === 'genlSocket') {
      // Takes no arguments: extra ones, whatever they are, are ignored.
      for (const [what, value] of Object.entries(BAD)) {
        calls++
        let r
        try {
          r = b.genlSocket(value)
        } catch (e) {
          r = `threw ${e.message}`
        }
        if (!(r > 2)) failures.push(`genlSocket(${what}) returned ${String(r)}`)
        else if (b.close(r) !== 0) failures.push(`genlSocket(${what}) gave an fd close() refuses`)
      }
      continue
    }
    call([], 'no arguments')
    const fd = name.startsWith('genl') ? b.genlSocket() : b.socket(c.AF_INET)
    t.ok(fd > 2, `${name}: a scratch socket`)
    const good = argsFor(fd)
    for (let i = 0; i < good.length; i++) {
      for (const [what, value] of Object.entries(BAD)) {
        const args = good.slice()
        args[i] = value
        call(args, `${name}:${i}:${what}`)
      }
      // Too few arguments: everything up to this position only.
      if (i > 0) call(good.slice(0, i), `${name}: first ${i} arguments only`)
    }
    t.equal(b.close(fd), 0, `${name}: the scratch socket is still ours and closes`)
  }
  t.same(failures, [], `${calls} calls with bad arguments`)
  t.equal(openFds(), before, 'no fd leaked')
})

t.test('addresses and sizes out of range are -EINVAL', async (t) => {
  const before = openFds()
  const fd = b.socket(c.AF_INET)
  const fd6 = b.socket(c.AF_INET6)
  t.equal(b.socket(255), -EINVAL, 'family other than AF_INET/AF_INET6')
  t.equal(b.socket(0), -EINVAL)
  t.equal(b.bind(fd, c.AF_INET, '127.0.0.256', 0), -EINVAL, 'not an IPv4 address')
  t.equal(b.bind(fd, c.AF_INET, 'localhost', 0), -EINVAL, 'names are resolved in JS, not here')
  t.equal(b.bind(fd, c.AF_INET, '::1', 0), -EINVAL, 'IPv6 address with AF_INET')
  t.equal(b.bind(fd6, c.AF_INET6, '127.0.0.1', 0), -EINVAL, 'IPv4 address with AF_INET6')
  t.equal(b.bind(fd6, c.AF_INET6, '::1%', 0), -EINVAL, 'empty scope id')
  t.equal(b.bind(fd6, c.AF_INET6, '::1%eth0', 0), -EINVAL, 'scope names are resolved in JS')
  t.equal(b.bind(fd, c.AF_INET, '127.0.0.1', 65536), -EINVAL, 'port above 65535')
  t.equal(b.bind(fd, 3, '127.0.0.1', 0), -EINVAL, 'unknown family')
  t.equal(b.getsockoptBytes(fd, IPPROTO_TCP, c.TCP_INFO, Buffer.alloc(4097)), -EINVAL, 'byte options are capped at 4096')
  t.equal(b.setsockoptBytes(fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, Buffer.alloc(4097)), -EINVAL)
  t.equal(b.tcpInfo(fd, new Float64Array(b.TCP_INFO_FIELDS.length - 1)), -EINVAL, 'Float64Array one slot too short')
  t.equal(b.tcpInfo(fd, new Float64Array(0)), -EINVAL)
  t.equal(b.tcpInfo(fd, new Float32Array(64)), -EINVAL, 'another TypedArray type')
  t.equal(b.tcpInfo(fd, Buffer.alloc(512)), -EINVAL)
  // Still usable after all that: the rejected calls did nothing.
  t.equal(b.bind(fd, c.AF_INET, '127.0.0.1', 0), 0)
  t.equal(b.close(fd), 0)
  t.equal(b.close(fd6), 0)
  t.equal(openFds(), before, 'no fd leaked')
})

t.test('an address string with an embedded NUL is rejected, not truncated', async (t) => {
  // std::string keeps the NUL; inet_pton(c_str()) stops at it and would parse '127.0.0.1'.
  const fd = b.socket(c.AF_INET)
  t.teardown(() => b.close(fd))
  t.equal(b.bind(fd, c.AF_INET, '127.0.0.1\u0000garbage', 0), -EINVAL)
  t.equal(b.connect(fd, c.AF_INET, '127.0.0.1\u0000garbage', 1), -EINVAL)
})

t.test('byte arguments take any TypedArray by its byte length, and a DataView as documented, without throwing', async (t) => {
  const fd = b.socket(c.AF_INET)
  t.teardown(() => b.close(fd))
  t.equal(b.setsockoptInt(fd, IPPROTO_TCP, c.TCP_FASTOPEN, 4), 0)
  const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex')
  for (const T of [Uint8Array, Int16Array, Uint32Array, Float64Array, BigUint64Array]) {
    const k = new T(key.buffer.slice(key.byteOffset, key.byteOffset + 16))
    t.equal(b.setsockoptBytes(fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, k), 0, `set from a ${T.name}`)
    const out = new T(32 / T.BYTES_PER_ELEMENT)
    t.equal(b.getsockoptBytes(fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, out), 16, `read into a ${T.name}: 16 bytes`)
    t.equal(Buffer.from(out.buffer, 0, 16).toString('hex'), key.toString('hex'))
  }
  // src/common.h BytesArg says "Buffer / TypedArray / DataView".
  const gfd = b.genlSocket()
  t.teardown(() => b.close(gfd))
  for (const name of ['send', 'recv', 'setsockoptBytes', 'getsockoptBytes', 'sendto', 'genlSend', 'genlRecv']) {
    const dv = new DataView(new ArrayBuffer(16))
    const args = {
      send: [fd, dv, 0],
      recv: [fd, dv, 0],
      setsockoptBytes: [fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, dv],
      getsockoptBytes: [fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, dv],
      sendto: [fd, dv, 0, 255, '127.0.0.1', 1],
      genlSend: [gfd, dv],
      genlRecv: [gfd, dv],
    }[name]
    let r
    try {
      r = b[name](...args)
    } catch (e) {
      r = `threw "${e.message}"`
    }
    t.type(r, 'number', `${name}(DataView) returns a number (got ${r})`)
  }
  // A detached buffer is an empty view: no crash.
  const ab = new ArrayBuffer(16)
  const view = new Uint8Array(ab)
  structuredClone(ab, { transfer: [ab] })
  t.equal(view.byteLength, 0)
  t.type(b.getsockoptBytes(fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, view), 'number')
  const f = new Float64Array(64)
  structuredClone(f.buffer, { transfer: [f.buffer] })
  t.equal(b.tcpInfo(fd, f), -EINVAL, 'detached Float64Array is too short')
})

t.test('tcpInfo: errors, and writes only its slots of a subarray', async (t) => {
  const sock = b.socket(c.AF_INET)
  t.equal(b.close(sock), 0)
  t.equal(b.tcpInfo(sock, new Float64Array(32)), -EBADF, 'closed fd')
  const file = fs.openSync(__filename, 'r')
  t.teardown(() => fs.closeSync(file))
  t.equal(b.tcpInfo(file, new Float64Array(32)), -ENOTSOCK, 'a file')
  t.equal(b.tcpInfo(2 ** 31 - 1, new Float64Array(32)), -EBADF, 'largest fd number')

  const fd = b.socket(c.AF_INET)
  t.teardown(() => b.close(fd))
  const n = b.TCP_INFO_FIELDS.length
  const whole = new Float64Array(n + 10).fill(-7)
  const r = b.tcpInfo(fd, whole.subarray(5, 5 + n))
  t.ok(r >= 232, `the kernel filled ${r} bytes of struct tcp_info`)
  t.same(Array.from(whole.subarray(0, 5)), [-7, -7, -7, -7, -7], 'slots before the view untouched')
  t.same(Array.from(whole.subarray(5 + n)), [-7, -7, -7, -7, -7], 'slots after the view untouched')
  t.equal(whole[5], c.tcpStates.TCP_CLOSE, 'state of a fresh socket: CLOSE')
  t.equal(whole[5 + b.TCP_INFO_FIELDS.indexOf('segsOut')], 0)
})

t.test('close() only closes what socket() made; release() gives ownership away', async (t) => {
  for (const fd of [0, 1, 2]) t.equal(b.close(fd), -EBADF, `fd ${fd} is not the addon's`)
  t.ok(fs.fstatSync(1), 'stdout still open')
  const file = fs.openSync(__filename, 'r')
  t.teardown(() => fs.closeSync(file))
  t.equal(b.close(file), -EBADF, 'an fs fd is refused')
  const buf = Buffer.alloc(13)
  t.equal(fs.readSync(file, buf, 0, 13, 0), 13, 'and stays usable')
  t.equal(buf.toString(), "'use strict'\n")

  const fd = b.socket(c.AF_INET)
  const flags = fdFlags(fd)
  t.ok(flags & O_NONBLOCK, 'socket() makes a non-blocking socket')
  t.ok(flags & O_CLOEXEC, 'and close-on-exec')
  t.equal(b.release(fd), 0)
  t.equal(b.close(fd), -EBADF, "released: no longer the addon's to close")
  t.equal(b.release(fd), -EBADF, 'released twice')
  t.equal(b.getsockoptInt(fd, c.SOL_SOCKET, c.SO_DOMAIN), c.AF_INET, 'the released socket is still open')
  fs.closeSync(fd) // now its owner (us) closes it
  t.equal(b.tcpInfo(fd, new Float64Array(32)), -EBADF)

  // dup(): a second descriptor of the same socket, owned by the addon like socket()'s.
  const orig = b.socket(c.AF_INET)
  const copy = b.dup(orig)
  t.ok(copy > 2 && copy !== orig, 'dup() gives a new descriptor')
  t.ok(fdFlags(copy) & O_CLOEXEC, 'close-on-exec')
  t.equal(b.bind(copy, c.AF_INET, '127.0.0.1', 0), 0, 'of the same socket: bound through the copy...')
  t.ok(b.getsockoptInt(orig, c.SOL_SOCKET, c.SO_DOMAIN) === c.AF_INET && b.listen(orig, 1) === 0, '...listening through the original')
  t.equal(b.close(copy), 0, "the copy is the addon's to close")
  t.equal(b.getsockoptInt(orig, c.SOL_SOCKET, c.SO_ACCEPTCONN), 1, 'closing the copy left the socket open and listening')
  t.equal(b.close(orig), 0)
  t.equal(b.dup(orig), -EBADF, 'dup() of a closed descriptor')
  const released = b.dup(1)
  t.ok(released > 2, 'dup() of any open descriptor')
  t.equal(b.release(released), 0, "release()d like socket()'s")
  fs.closeSync(released)

  const fd2 = b.socket(c.AF_INET6)
  t.equal(b.getsockoptInt(fd2, c.SOL_SOCKET, c.SO_DOMAIN), c.AF_INET6)
  t.equal(b.close(fd2), 0)
  t.equal(b.close(fd2), -EBADF, 'closed twice')

  const nl = b.genlSocket()
  t.ok(fdFlags(nl) & O_NONBLOCK && fdFlags(nl) & O_CLOEXEC, 'genlSocket(): non-blocking, close-on-exec')
  t.equal(b.getsockoptInt(nl, c.SOL_SOCKET, c.SO_DOMAIN), c.AF_NETLINK, 'genlSocket() makes a netlink socket')
  t.equal(b.close(nl), 0, "owned like socket()'s")
  t.equal(b.close(nl), -EBADF)
})

t.test('TCP_FASTOPEN_KEY on a listening socket (kernel 6.18 semantics)', async (t) => {
  const host = '127.0.0.80'
  const port = await freePort(host)
  const fd = b.socket(c.AF_INET)
  t.teardown(() => b.close(fd))
  t.equal(b.bind(fd, c.AF_INET, host, port), 0)
  t.equal(b.setsockoptInt(fd, IPPROTO_TCP, c.TCP_FASTOPEN, 16), 0)
  t.equal(b.listen(fd, 16), 0)
  t.equal(b.getsockoptInt(fd, IPPROTO_TCP, c.TCP_FASTOPEN), 16, 'queue length reads back')

  const out = Buffer.alloc(32, 0xee)
  t.equal(b.getsockoptBytes(fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, out), 0, 'no key of its own: 0 bytes (the namespace key is not shown through the socket)')

  const A = Buffer.from('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf', 'hex')
  const B = Buffer.from('b0b1b2b3b4b5b6b7b8b9babbbcbdbebf', 'hex')
  t.equal(b.setsockoptBytes(fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, A), 0, 'set a 16-byte key')
  out.fill(0xee)
  t.equal(b.getsockoptBytes(fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, out), 16, 'reads back 16 bytes into a 32-byte buffer')
  t.equal(out.subarray(0, 16).toString('hex'), A.toString('hex'), 'byte for byte as set')
  t.equal(out.subarray(16).toString('hex'), 'ee'.repeat(16), 'the rest of the buffer untouched')
  const short = Buffer.alloc(8)
  t.equal(b.getsockoptBytes(fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, short), 8, 'a short buffer gets a truncated key')
  t.equal(short.toString('hex'), A.subarray(0, 8).toString('hex'))
  t.equal(b.setsockoptBytes(fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, Buffer.alloc(8)), -EINVAL, '8 bytes: neither 16 nor 32')
  t.equal(b.setsockoptBytes(fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, Buffer.alloc(24)), -EINVAL)

  // The key is really the one cookies are made and checked with.
  const exchange = () =>
    new Promise((resolve) => {
      const s = tfo.connect(port, host)
      s.on('error', () => {})
      s.end('hi')
      s.on('connect', () => {
        resolve(s.fastOpen)
        s.destroy()
      })
    })
  let before = tfo.counters()
  t.match(await exchange(), { cookie: 'requested', synData: false })
  t.match(await exchange(), { cookie: 'sent', synData: true }, 'cookie made with key A is accepted')
  t.match(tfo.diffCounters(before, tfo.counters()), { cookieReqd: 1, passive: 1, passiveFail: 0, passiveAltKey: 0 })

  t.equal(b.setsockoptBytes(fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, Buffer.concat([B, A])), 0, 'primary B, backup A')
  out.fill(0)
  t.equal(b.getsockoptBytes(fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, out), 32, 'both keys read back')
  t.equal(out.toString('hex'), B.toString('hex') + A.toString('hex'))
  before = tfo.counters()
  t.match(await exchange(), { cookie: 'sent', synData: true }, 'old cookie still accepted through the backup key')
  t.match(tfo.diffCounters(before, tfo.counters()), { passive: 1, passiveAltKey: 1, passiveFail: 0 })

  t.equal(b.setsockoptBytes(fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, Buffer.alloc(16, 0xcc)), 0, 'one new key: backup dropped')
  out.fill(0)
  t.equal(b.getsockoptBytes(fd, IPPROTO_TCP, c.TCP_FASTOPEN_KEY, out), 16)
  before = tfo.counters()
  t.match(await exchange(), { cookie: 'sent', synData: false, failure: 'data-not-acked' }, 'a cookie from neither key is refused')
  t.match(tfo.diffCounters(before, tfo.counters()), { passiveFail: 1, activeFail: 1, passive: 0 })
  t.match(await exchange(), { cookie: 'sent', synData: true }, 'the refusal carried a fresh cookie')
})

t.test('a raw TFO flow: sendto(MSG_FASTOPEN) to a raw listener, then to a tfo server', async (t) => {
  const before = openFds()
  // 1. Raw listener (no accept: the kernel completes handshakes and queues).
  const host = '127.0.0.81'
  const port = await freePort(host)
  const lfd = rawSocket(t)
  t.equal(b.setsockoptInt(lfd, IPPROTO_TCP, c.TCP_FASTOPEN, 16), 0, 'TCP_FASTOPEN before listen()')
  t.equal(b.bind(lfd, c.AF_INET, host, port), 0)
  t.equal(b.listen(lfd, 16), 0)
  t.equal(info(lfd).state, c.tcpStates.TCP_LISTEN)
  let counters = tfo.counters()
  const raw = []
  for (let i = 0; i < 2; i++) {
    const fd = rawSocket(t)
    const msg = Buffer.from(`raw ${i}\n`)
    const r = b.sendto(fd, msg, c.MSG_FASTOPEN, c.AF_INET, host, port)
    const ti = await waitFor('ESTABLISHED', () => {
      const x = info(fd)
      return x.state === c.tcpStates.TCP_ESTABLISHED && x
    })
    raw.push({ r, options: ti.options, fail: ti.fastopenClientFail })
    if (r === -EINPROGRESS) t.equal(b.send(fd, msg, 0), msg.length, 'no cookie: data sent after the handshake')
    t.equal(b.close(fd), 0)
  }
  t.equal(raw[0].r, -EINPROGRESS, 'first sendto: no cookie, SYN asks for one, nothing taken')
  t.equal(raw[0].options & c.TCPI_OPT_SYN_DATA, 0)
  t.equal(raw[0].fail, 1, 'tcpi_fastopen_client_fail = 1 (cookie unavailable)')
  t.equal(raw[1].r, 'raw 1\n'.length, 'second sendto: the bytes went into the SYN at once')
  t.equal(raw[1].options & c.TCPI_OPT_SYN_DATA, c.TCPI_OPT_SYN_DATA, 'the raw listener acked the SYN data')
  t.equal(raw[1].fail, 0)
  t.match(tfo.diffCounters(counters, tfo.counters()), { cookieReqd: 1, passive: 1, active: 1, activeFail: 0 })
  t.equal(b.close(lfd), 0, 'closing the listener drops its queue')

  // 2. Against a tfo server, which reports its side and what arrived.
  const host2 = '127.0.0.82'
  const { server, port: port2, seen } = await messageServer(t, host2)
  counters = tfo.counters()
  const replies = []
  for (let i = 0; i < 2; i++) {
    const fd = rawSocket(t)
    const msg = Buffer.from(`message number ${i}: ${'x'.repeat(100 * i)}\n`)
    const r = b.sendto(fd, msg, c.MSG_FASTOPEN, c.AF_INET, host2, port2)
    if (i === 0) {
      t.equal(r, -EINPROGRESS)
      await waitFor('ESTABLISHED', () => info(fd).state === c.tcpStates.TCP_ESTABLISHED)
      t.equal(b.send(fd, msg, 0), msg.length)
    } else {
      t.equal(r, msg.length, 'returning: sendto takes every byte into the SYN')
    }
    replies.push((await recvAll(fd)).toString())
    t.equal(replies[i], `${i === 1} ${sha256(msg)}`, `connection ${i}: the server got the bytes intact`)
    t.equal(info(fd).options & c.TCPI_OPT_SYN_DATA, i === 1 ? c.TCPI_OPT_SYN_DATA : 0)
    t.equal(b.close(fd), 0)
  }
  t.same(
    seen.map((s) => s.synData),
    [false, true],
    'server side: the second SYN carried the data',
  )
  t.match(tfo.diffCounters(counters, tfo.counters()), { cookieReqd: 1, passive: 1, active: 1 })
  await closeServer(server) // waits for its accepted sockets to close too
  t.equal(openFds(), before, 'no fd leaked')
})

t.test('TCP_FASTOPEN_CONNECT: deferred connect, then the first send carries the SYN', async (t) => {
  const before = openFds()
  const host = '127.0.0.83'
  const { server, port, seen } = await messageServer(t, host)

  // No cookie yet: connect() sends a SYN with a cookie request.
  let fd = rawSocket(t)
  t.equal(b.setsockoptInt(fd, IPPROTO_TCP, c.TCP_FASTOPEN_CONNECT, 1), 0)
  t.equal(b.getsockoptInt(fd, IPPROTO_TCP, c.TCP_FASTOPEN_CONNECT), 1)
  t.equal(b.connect(fd, c.AF_INET, host, port), -EINPROGRESS, 'no cookie: a real connect')
  t.ok(info(fd).segsOut >= 1, 'the SYN left in connect()')
  await waitFor('ESTABLISHED', () => info(fd).state === c.tcpStates.TCP_ESTABLISHED)
  t.equal(b.setsockoptInt(fd, IPPROTO_TCP, c.TCP_FASTOPEN_CONNECT, 1), -EINVAL, 'not settable once connected')
  let msg = Buffer.from('after the handshake\n')
  t.equal(b.send(fd, msg, 0), msg.length)
  t.equal((await recvAll(fd)).toString(), `false ${sha256(msg)}`)
  t.equal(info(fd).fastopenClientFail, 1, 'cookie unavailable')
  t.equal(b.close(fd), 0)

  // Cookie cached: connect() defers, nothing is sent until the first send().
  fd = rawSocket(t)
  t.equal(b.setsockoptInt(fd, IPPROTO_TCP, c.TCP_FASTOPEN_CONNECT, 1), 0)
  t.equal(b.connect(fd, c.AF_INET, host, port), 0, 'deferred: connect() returns 0 at once')
  const deferred = info(fd)
  t.equal(deferred.state, c.tcpStates.TCP_SYN_SENT, 'state SYN_SENT')
  t.equal(deferred.segsOut, 0, 'no segment out yet')
  await sleep(20)
  t.equal(info(fd).segsOut, 0, 'still nothing sent while the application is silent')
  t.equal(seen.length, 1, 'the server has seen only the first connection')
  msg = Buffer.from('rides in the SYN\n')
  t.equal(b.send(fd, msg, 0), msg.length, 'send() takes the bytes and sends SYN+data')
  t.equal((await recvAll(fd)).toString(), `true ${sha256(msg)}`)
  const done = info(fd)
  t.equal(done.options & c.TCPI_OPT_SYN_DATA, c.TCPI_OPT_SYN_DATA, 'TCPI_OPT_SYN_DATA: the server acked the SYN data')
  t.equal(done.fastopenClientFail, 0)
  t.equal(b.close(fd), 0)
  t.same(
    seen.map((s) => s.synData),
    [false, true],
  )

  // Refused while deferred: the error appears on the first send, not in connect().
  const deadPort = await freePort(host)
  fd = rawSocket(t)
  t.equal(b.setsockoptInt(fd, IPPROTO_TCP, c.TCP_FASTOPEN_CONNECT, 1), 0)
  t.equal(b.connect(fd, c.AF_INET, host, deadPort), 0, 'the cookie is per address, so this port defers too')
  const r = b.send(fd, Buffer.from('nobody\n'), 0)
  await waitFor('CLOSE', () => info(fd).state === c.tcpStates.TCP_CLOSE)
  if (r === -errno.ECONNREFUSED) t.pass('send() itself saw the RST')
  else {
    t.equal(r, 7, 'send() took the bytes into the SYN (the RST came after)')
    t.equal(b.getsockoptInt(fd, c.SOL_SOCKET, c.SO_ERROR), errno.ECONNREFUSED, 'the refusal is in SO_ERROR')
  }
  t.equal(b.close(fd), 0)
  await closeServer(server)
  t.equal(openFds(), before, 'no fd leaked')
})
