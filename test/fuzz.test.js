'use strict'
// Bad input, in a private network namespace (helpers/netns.js).
//
// 1. The raw binding, fuzzed: every exported function (enumerated, not
//    listed) is called >= 100 000 times with random argument lists (numbers
//    of every kind, strings with NULs and huge ones, every kind of byte view
//    incl. empty, detached, SharedArrayBuffer-backed, resizable and
//    out-of-bounds ones, objects, proxies, symbols, bigints, functions). Each
//    call must return a number (never throw); the process must survive; no fd
//    may leak and no fd we do not own may be touched. The PRNG is seeded: the
//    seed is printed first, and TFO_FUZZ_SEED=<seed> replays the same run
//    (TFO_FUZZ_TRACE=1 prints each call before making it, so the last line
//    before a crash is the culprit; TFO_FUZZ_CALLS=<n> changes the count).
//
// 2. The public API given wrong types, ranges, hosts, ports and signals: where
//    net / tls / http has the same argument, tfo must fail exactly as it does
//    (code, name, message; thrown or emitted alike), else with Node's own
//    ERR_* codes; and the fd count must not grow across repeated rounds.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const fs = require('node:fs')
const net = require('node:net')
const tls = require('node:tls')
const http = require('node:http')
const util = require('node:util')
const ERRNO_NAMES = new Map(Object.entries(require('node:os').constants.errno).map(([k, v]) => [v, k]))
const tfo = require('..')

const b = require('./helpers/binding')
const c = b.constants
const nlc = b.netlinkConstants

const fdList = () =>
  fs
    .readdirSync('/proc/self/fd')
    .map(Number)
    .filter((n) => Number.isInteger(n))
const openFds = () => fdList().length
const fdTarget = (fd) => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`)
  } catch {
    return null
  }
}
const { sleep } = require('./helpers/util')

// ---------------------------------------------------------------------------
// 1. The binding, fuzzed
// ---------------------------------------------------------------------------

/** mulberry32: small, fast, seeded; good enough to pick arguments. */
function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

// Functions given an fd that change the socket or the kernel's state. Their fd
// argument is only ever one of the fuzzer's own sockets or a number that is
// surely not an open fd: listen() or setsockopt() on libuv's epoll fd, on
// stdout or on the test runner's pipe would not be a bug of ours but would
// wreck this process. Read-only ones (getsockopt*, tcpInfo) and the
// ownership-guarded ones (close, release: they refuse fds the addon did not
// make) get any fd, Node's own included: that checks the guard.
// dup() is among them: its copy is the fuzzer's to use and close, so it copies only the fuzzer's own fds.
const MUTATING = new Set(['bind', 'listen', 'connect', 'send', 'sendto', 'recv', 'setsockoptInt', 'setsockoptBytes', 'genlSend', 'genlRecv', 'dup'])
const ANY_FD = new Set(['close', 'release', 'getsockoptInt', 'getsockoptBytes', 'tcpInfo'])
// Option pairs left out on purpose (not bugs; harmful to the test process):
//  SOL_SOCKET/SO_LINGER (13): a lingering close() blocks, non-blocking or not.
//  SOL_SOCKET/SO_SNDBUFFORCE, SO_RCVBUFFORCE (32, 33): as root, unbounded
//    kernel buffers on sockets the fuzzer fills and never reads.
//  SOL_SOCKET/SO_PEERPIDFD (77): getsockopt() of it creates a pidfd (an fd).
const SOL_SOCKET = c.SOL_SOCKET
const EXCLUDED_OPTS = new Set([13, 32, 33, 77])
// Numbers that are never open fds here (above the kernel's nr_open ceiling, or
// not an int): safe in any position.
const INVALID_FDS = [-1, -2, 2 ** 31 - 1, 2 ** 31, 2 ** 20 + 7, 2 ** 30, 1e9, -(2 ** 31)]

function makeFuzzer(seed) {
  const rnd = prng(seed)
  const int = (n) => Math.floor(rnd() * n)
  const pick = (a) => a[int(a.length)]
  const chance = (p) => rnd() < p

  const own = new Set() // fds the addon made for us and still owns
  const released = new Set() // ours, released by release(): we close them with fs
  const genl = new Set() // the netlink ones among own ∪ released
  let closedNow = [] // fds closed during the current synchronous chunk (not reused by anyone else yet)
  const nodeFds = fdList() // everything that was open before: never ours

  const HUGE_STRING = 'x'.repeat(1 << 20)
  const HUGE_NUL_STRING = '127.0.0.1\u0000' + 'y'.repeat(1 << 16)
  const HUGE_BUFFER = Buffer.alloc(1 << 20, 0x41)
  const TYPED = [
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
  ]
  const PORT_BASE = 41000 // the fuzzer's sockets bind and connect in 41000..41031

  const detached = () => {
    const ab = new ArrayBuffer(64)
    const view = chance(0.5) ? new Uint8Array(ab, 8) : new DataView(ab, 16)
    structuredClone(ab, { transfer: [ab] })
    return view
  }
  const outOfBounds = () => {
    const ab = new ArrayBuffer(128, { maxByteLength: 256 })
    const view = chance(0.5) ? new Float64Array(ab, 64) : new DataView(ab, 64)
    ab.resize(8) // the length-tracking view now lies beyond the end
    return view
  }

  function bytes() {
    const k = int(14)
    const size = pick([0, 0, 1, 4, 7, 8, 16, 31, 32, 64, 232, 512, 4095, 4096, 4097, 65536, int(300)])
    switch (k) {
      case 0:
        return Buffer.alloc(size, int(256))
      case 1: {
        const B = Buffer.alloc(size + 16)
        return B.subarray(int(16), int(16) + size)
      }
      case 2: {
        const T = pick(TYPED)
        const n = Math.ceil(size / T.BYTES_PER_ELEMENT)
        return new T(n)
      }
      case 3: {
        const ab = new ArrayBuffer(size + 64)
        const off = int(64)
        return new DataView(ab, off, chance(0.5) ? size : undefined)
      }
      case 4:
        return detached()
      case 5: {
        const sab = new SharedArrayBuffer(8 * Math.ceil(size / 8) + 64)
        const T = pick(TYPED)
        return new T(sab, T.BYTES_PER_ELEMENT * int(8))
      }
      case 6:
        return new DataView(new SharedArrayBuffer(size + 16), int(16))
      case 7: {
        const ab = new ArrayBuffer(size, { maxByteLength: size + 1024 })
        const v = new Uint8Array(ab)
        ab.resize(size + int(1024))
        return v
      }
      case 8:
        return outOfBounds()
      case 9:
        return chance(0.1) ? HUGE_BUFFER : Buffer.allocUnsafe(size)
      case 10:
        return new Float64Array(pick([0, b.TCP_INFO_FIELDS.length - 1, b.TCP_INFO_FIELDS.length, 64]))
      case 11: {
        const sab = new SharedArrayBuffer(8 * 64, { maxByteLength: 8 * 128 })
        return new Float64Array(sab, 8 * int(4))
      }
      case 12:
        return new ArrayBuffer(size) // not a view: must be refused
      default:
        return new SharedArrayBuffer(size)
    }
  }

  function number() {
    return pick([
      0,
      -0,
      1,
      -1,
      2,
      3,
      10,
      255,
      256,
      65535,
      65536,
      2 ** 31 - 1,
      2 ** 31,
      -(2 ** 31),
      -(2 ** 31) - 1,
      2 ** 32,
      2 ** 32 + 1,
      2 ** 53,
      2 ** 53 + 2,
      -(2 ** 53),
      2 ** 63,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
      Number.EPSILON,
      NaN,
      Infinity,
      -Infinity,
      0.5,
      1.5,
      -1.5,
      1e-300,
      int(100),
      -int(100),
      int(2 ** 31),
      int(2 ** 20) - 2 ** 19 + 0.25,
    ])
  }

  function string() {
    return pick([
      '',
      '0',
      '1',
      '-1',
      ' 1',
      '0x10',
      '5e2',
      '127.0.0.1',
      '127.0.0.2',
      '0.0.0.0',
      '::1',
      '::',
      '::ffff:127.0.0.1',
      '::1%1',
      '::1%0',
      '::1%4294967295',
      '::1%4294967296',
      '::1%-1',
      '::1% 1',
      '::1%',
      '::1%lo',
      'fe80::1%99999999999999999999',
      '127.0.0.1\u0000garbage',
      '\u0000',
      '1.2.3.4\u0000',
      '256.0.0.1',
      '1.2.3',
      'localhost',
      '[::1]',
      '::1]',
      '\uD800',
      '\uDFFF\uD800',
      'é',
      '🙂'.repeat(20),
      '%',
      '%%%',
      'a'.repeat(int(300)),
      HUGE_NUL_STRING,
      chance(0.2) ? HUGE_STRING : 'tiny',
      String.fromCharCode(...Array.from({ length: int(40) }, () => int(0x10000))),
    ])
  }

  const throwing = new Proxy(
    {},
    {
      get() {
        throw new Error('proxy get')
      },
      has() {
        throw new Error('proxy has')
      },
      ownKeys() {
        throw new Error('proxy ownKeys')
      },
      getPrototypeOf() {
        throw new Error('proxy getPrototypeOf')
      },
      getOwnPropertyDescriptor() {
        throw new Error('proxy gOPD')
      },
    },
  )
  const getterBomb = Object.defineProperty({}, 'length', {
    get() {
      throw new Error('getter')
    },
  })

  function other() {
    return pick([
      null,
      undefined,
      true,
      false,
      {},
      [],
      [1, 2, 3],
      [5],
      new Array(5),
      { valueOf: () => 5 },
      { toString: () => '127.0.0.1' },
      {
        [Symbol.toPrimitive]: () => {
          throw new Error('toPrimitive')
        },
      },
      throwing,
      getterBomb,
      Object.create(null),
      new Date(),
      /re/,
      new Map(),
      new Set(),
      Promise.resolve(),
      new Error('e'),
      new WeakRef({}),
      new Proxy([], {}),
      Symbol('s'),
      Symbol.iterator,
      0n,
      5n,
      -1n,
      2n ** 64n,
      () => 5,
      class X {},
      async () => {},
      function* g() {},
      b.socket,
      Math.max,
      globalThis,
      b,
      c,
    ])
  }

  function anyValue() {
    const k = int(10)
    if (k < 3) return number()
    if (k < 5) return string()
    if (k < 7) return bytes()
    return other()
  }

  // Typed generators: right-ish arguments, so calls also reach the kernel.
  const ownFd = () => {
    const pool = [...own, ...released]
    return pool.length ? pick(pool) : pick(INVALID_FDS)
  }
  function fdFor(name) {
    const r = rnd()
    if (r < 0.7) return ownFd()
    if (r < 0.8 && closedNow.length) return pick(closedNow)
    if (r < 0.85 && ANY_FD.has(name)) return pick(nodeFds)
    if (r < 0.95) return pick(INVALID_FDS)
    return anyValue()
  }
  const family = () => (chance(0.9) ? pick([c.AF_INET, c.AF_INET6]) : pick([0, 1, 3, 16, 255, 256, -2, c.AF_INET + 0.5]))
  const address = () => (chance(0.7) ? pick(['127.0.0.1', '127.0.0.2', '::1', '::', '0.0.0.0', '::ffff:127.0.0.1', '10.9.9.9']) : string())
  const port = () => (chance(0.8) ? PORT_BASE + int(32) : pick([0, 1, 65535, 65536, -1]))
  const level = () => pick([SOL_SOCKET, c.IPPROTO_TCP, c.IPPROTO_IPV6, 0, 270 /* SOL_NETLINK */, int(300), 2 ** 31, -1])
  const optname = () =>
    chance(0.8) ? int(80) : pick([c.TCP_FASTOPEN, c.TCP_FASTOPEN_CONNECT, c.TCP_FASTOPEN_KEY, c.TCP_FASTOPEN_NO_COOKIE, c.TCP_INFO, 2 ** 31 - 1, -1])
  const flags = () =>
    chance(0.6) ? pick([0, 0, c.MSG_PEEK, c.MSG_FASTOPEN, 0x40 /* DONTWAIT */, 0x8000 /* MORE */, 0x100 /* WAITALL */, 1 /* OOB */]) : number()
  const intValue = () => (chance(0.7) ? pick([0, 1, 16, 256, -1, 2 ** 31 - 1]) : number())

  const TEMPLATES = {
    socket: [family],
    genlSocket: [],
    close: [fdFor],
    release: [fdFor],
    dup: [fdFor],
    bind: [fdFor, family, address, port],
    listen: [fdFor, () => pick([0, 1, 16, -1, 2 ** 31 - 1, -(2 ** 31)])],
    connect: [fdFor, family, address, port],
    send: [fdFor, bytes, flags],
    sendto: [fdFor, bytes, flags, family, address, port],
    recv: [fdFor, bytes, flags],
    setsockoptInt: [fdFor, level, optname, intValue],
    getsockoptInt: [fdFor, level, optname],
    setsockoptBytes: [fdFor, level, optname, bytes],
    getsockoptBytes: [fdFor, level, optname, bytes],
    tcpInfo: [fdFor, bytes],
    genlSend: [fdFor, bytes],
    genlRecv: [fdFor, bytes],
  }

  const isOurs = (v) => own.has(v) || released.has(v)
  const isIntFd = (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 31

  /** Anything sent on a netlink fd goes to the kernel: keep it to harmless message types. */
  function tameNetlink(view) {
    let dv
    try {
      if (!ArrayBuffer.isView(view) || view.byteLength < 6) return
      dv = new DataView(view.buffer, view.byteOffset, view.byteLength)
    } catch {
      return // detached or out of bounds: nothing is sent
    }
    // nlmsg_type: a reserved control type (< 16, ignored) or the genl controller (16, read-only commands).
    dv.setUint16(4, pick([0, 1, 2, 3, 15, nlc.GENL_ID_CTRL]), true)
  }

  function argsFor(name) {
    const tmpl = TEMPLATES[name]
    let args
    const mode = rnd()
    if (mode < 0.6 && tmpl) args = tmpl.map((gen) => (gen === fdFor ? fdFor(name) : gen()))
    else if (mode < 0.9 && tmpl) args = tmpl.map((gen) => (chance(0.5) ? (gen === fdFor ? fdFor(name) : gen()) : anyValue()))
    else args = Array.from({ length: int(8) }, anyValue)
    if (chance(0.05)) args.length = int(args.length + 1) // too few
    if (chance(0.05)) args.push(anyValue(), anyValue()) // too many
    // The fd rule (see MUTATING): an fd we do not own becomes a surely-invalid one.
    if (MUTATING.has(name) && args.length > 0 && isIntFd(args[0]) && !isOurs(args[0]) && !closedNow.includes(args[0])) {
      args[0] = pick(INVALID_FDS)
    }
    if (name.startsWith('setsockopt') || name.startsWith('getsockopt')) {
      if (args[1] === SOL_SOCKET && EXCLUDED_OPTS.has(args[2])) args[2] = c.SO_ERROR
    }
    if ((name === 'send' || name === 'sendto' || name === 'genlSend') && genl.has(args[0])) tameNetlink(args[1])
    return args
  }

  const describe = (v) => {
    try {
      return describeUnsafe(v)
    } catch {
      return 'proxy' // the trap-throwing Proxy throws even on instanceof
    }
  }
  const describeUnsafe = (v) => {
    if (typeof v === 'string') return v.length > 40 ? `string(${v.length})` : JSON.stringify(v)
    if (typeof v === 'bigint') return `${v}n`
    if (typeof v === 'symbol') return v.toString()
    if (typeof v === 'function') return `function ${v.name}`
    if (v instanceof DataView) {
      try {
        return `DataView(${v.byteLength})`
      } catch {
        return 'DataView(detached)'
      }
    }
    if (ArrayBuffer.isView(v)) {
      let shared = false
      try {
        shared = v.buffer instanceof SharedArrayBuffer
      } catch {}
      return `${v.constructor.name}(${v.byteLength}${shared ? ', shared' : ''})`
    }
    if (v instanceof ArrayBuffer || v instanceof SharedArrayBuffer) return `${v.constructor.name}(${v.byteLength})`
    if (v === null || typeof v !== 'object') return String(v)
    if (v instanceof DataView) {
      try {
        return `DataView(${v.byteLength})`
      } catch {
        return 'DataView(detached)'
      }
    }
    if (v === b) return 'binding'
    try {
      return Array.isArray(v) ? `array(${v.length})` : `object ${Object.prototype.toString.call(v)}`
    } catch {
      return 'proxy'
    }
  }

  /** After a call, keep track of what the fuzzer owns. */
  function account(name, args, r) {
    if (typeof r !== 'number') return
    if ((name === 'socket' || name === 'genlSocket') && r >= 0) {
      own.add(r)
      if (name === 'genlSocket') genl.add(r)
      else genl.delete(r)
    } else if (name === 'dup' && r >= 0) {
      own.add(r) // a copy of one of ours (see MUTATING), owned by the addon like socket()'s
      if (genl.has(args[0])) genl.add(r)
      else genl.delete(r)
    } else if (name === 'close' && r === 0) {
      own.delete(args[0])
      genl.delete(args[0])
      closedNow.push(args[0])
    } else if (name === 'release' && r === 0) {
      own.delete(args[0])
      released.add(args[0])
    }
  }

  /** Keeps the number of open fuzz sockets bounded. */
  function trim(max) {
    while (own.size + released.size > max) {
      const fd = pick([...own, ...released])
      if (own.has(fd)) {
        if (b.close(fd) !== 0) throw new Error(`close(${fd}) of an owned fd failed`)
        own.delete(fd)
      } else {
        fs.closeSync(fd)
        released.delete(fd)
      }
      genl.delete(fd)
      closedNow.push(fd)
    }
  }

  function closeAll() {
    const failures = []
    for (const fd of own) if (b.close(fd) !== 0) failures.push(`close(${fd})`)
    for (const fd of released) fs.closeSync(fd)
    own.clear()
    released.clear()
    genl.clear()
    closedNow = []
    return failures
  }

  return {
    rnd,
    int,
    pick,
    chance,
    argsFor,
    describe,
    account,
    trim,
    closeAll,
    nodeFds,
    get own() {
      return own
    },
    newChunk() {
      closedNow = []
    },
  }
}

t.test('the binding survives >= 100 000 random calls, always returns a number, leaks no fd', async (t) => {
  const seed = process.env.TFO_FUZZ_SEED ? Number(process.env.TFO_FUZZ_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0
  const total = Number(process.env.TFO_FUZZ_CALLS || 100_000)
  const trace = process.env.TFO_FUZZ_TRACE === '1'
  // Printed before anything runs (stderr is synchronous on a pipe), so even a crash leaves it behind.
  process.stderr.write(`# binding fuzz seed ${seed} (replay: TFO_FUZZ_SEED=${seed} TFO_FUZZ_TRACE=1)\n`)
  t.comment(`seed ${seed}`)

  const names = Object.keys(b)
    .filter((k) => typeof b[k] === 'function')
    .sort()
  t.ok(names.length >= 17, `${names.length} exported functions: ${names.join(', ')}`)
  const snapshot = JSON.stringify({ constants: b.constants, fields: b.TCP_INFO_FIELDS, nl: b.netlinkConstants })

  const before = openFds()
  const foreign = new Map(fdList().map((fd) => [fd, fdTarget(fd)]))
  const f = makeFuzzer(seed)
  const failures = []
  const perFunction = Object.fromEntries(names.map((n) => [n, 0]))
  const errnos = new Map()
  const started = Date.now()
  const deadline = started + 100_000 // a bound, far above the few seconds this takes
  let calls = 0
  while (calls < total && Date.now() < deadline) {
    f.newChunk()
    const chunkEnd = Math.min(total, calls + 2000)
    for (; calls < chunkEnd; calls++) {
      const name = f.pick(names)
      const args = f.argsFor(name)
      // With `new` the result is an object, so what the call did is unknown: not for fd makers and closers.
      const asNew = f.chance(0.01) && !['socket', 'genlSocket', 'dup', 'close', 'release'].includes(name)
      const self = f.chance(0.02) ? f.pick([null, {}, b, 5]) : b
      if (trace) process.stderr.write(`${calls} ${asNew ? 'new ' : ''}${name}(${args.map(f.describe).join(', ')})\n`)
      let r
      try {
        r = asNew ? new b[name](...args) : b[name].apply(self, args)
      } catch (e) {
        failures.push(`call ${calls}: ${name}(${args.map(f.describe).join(', ')}) threw ${e && e.message}`)
        continue
      }
      perFunction[name]++
      if (asNew) {
        if (r === null || typeof r !== 'object') failures.push(`call ${calls}: new ${name}() gave ${typeof r}`)
        continue
      }
      if (typeof r !== 'number' || !Number.isInteger(r)) {
        failures.push(`call ${calls}: ${name}(${args.map(f.describe).join(', ')}) returned ${f.describe(r)}`)
        continue
      }
      if (r < 0 && name !== 'getsockoptInt') {
        // A negative result is -errno: a real one.
        const code = ERRNO_NAMES.get(-r)
        if (!code) failures.push(`call ${calls}: ${name} returned ${r}, not a -errno`)
        else errnos.set(code, (errnos.get(code) || 0) + 1)
      }
      f.account(name, args, r)
      f.trim(48)
    }
    await new Promise(setImmediate) // let the loop breathe between chunks
  }
  const ms = Date.now() - started
  t.same(failures.slice(0, 20), [], `no call threw or returned a non-number (${failures.length} failures)`)
  t.equal(calls, total, `${calls} calls in ${ms} ms`)
  t.comment(`calls per function: ${JSON.stringify(perFunction)}`)
  t.comment(`errnos seen: ${JSON.stringify(Object.fromEntries([...errnos].sort((a, b) => b[1] - a[1])))}`)
  t.ok(
    Object.values(perFunction).every((n) => n > 1000),
    'every function was called many times',
  )

  t.same(f.closeAll(), [], 'every fd the fuzzer still owns closes')
  await sleep(50)
  t.equal(openFds(), before, 'no fd leaked')
  const touched = [...foreign].filter(([fd, target]) => fdTarget(fd) !== target)
  t.same(touched, [], 'no fd the fuzzer did not make was closed or replaced')
  t.equal(JSON.stringify({ constants: b.constants, fields: b.TCP_INFO_FIELDS, nl: b.netlinkConstants }), snapshot, 'exported constants unchanged')
  const fd = b.socket(c.AF_INET)
  t.ok(fd > 2, 'the binding still works afterwards')
  t.equal(b.close(fd), 0)
})

t.test('byte views on a SharedArrayBuffer, resizable and out-of-bounds buffers are taken (or refused) without throwing', async (t) => {
  // Regression: BytesArg/tcpInfo took the base pointer from napi_get_arraybuffer_info,
  // which fails for a SharedArrayBuffer: every byte function threw "Invalid argument"
  // and tcpInfo() wrote its slots through a null pointer (SIGSEGV).
  const fd = b.socket(c.AF_INET)
  t.teardown(() => b.close(fd))
  const n = b.TCP_INFO_FIELDS.length
  const sab = new SharedArrayBuffer(8 * (n + 4))
  const out = new Float64Array(sab, 16, n)
  t.ok(b.tcpInfo(fd, out) >= 232, 'tcpInfo fills a Float64Array on a SharedArrayBuffer')
  t.equal(out[0], c.tcpStates.TCP_CLOSE, 'with the right values, at the right offset')
  t.same(Array.from(new Float64Array(sab, 0, 2)), [0, 0], 'slots before the view untouched')
  const gsab = new SharedArrayBuffer(8, { maxByteLength: 8 * 64 })
  const tracking = new Float64Array(gsab)
  t.equal(b.tcpInfo(fd, tracking), -22, 'a growable SharedArrayBuffer view too short: -EINVAL')
  gsab.grow(8 * 64)
  t.ok(b.tcpInfo(fd, tracking) >= 232, 'after growing: filled')

  t.equal(b.setsockoptInt(fd, c.IPPROTO_TCP, c.TCP_FASTOPEN, 4), 0)
  const key = new Uint8Array(new SharedArrayBuffer(32), 8, 16).fill(7)
  t.equal(b.setsockoptBytes(fd, c.IPPROTO_TCP, c.TCP_FASTOPEN_KEY, key), 0, 'a key from a SharedArrayBuffer view')
  const back = new DataView(new SharedArrayBuffer(40), 4, 32)
  t.equal(b.getsockoptBytes(fd, c.IPPROTO_TCP, c.TCP_FASTOPEN_KEY, back), 16, 'read back into a shared DataView')
  t.equal(Buffer.from(back.buffer, 4, 16).toString('hex'), '07'.repeat(16))
  t.equal(b.send(fd, new Uint8Array(new SharedArrayBuffer(4)), 0), -32 /* EPIPE: not connected */, 'send from shared memory: the kernel answers')

  const rab = new ArrayBuffer(64, { maxByteLength: 128 })
  const oob = new Float64Array(rab, 32)
  rab.resize(8)
  t.equal(b.tcpInfo(fd, oob), -22, 'an out-of-bounds view: -EINVAL')
  t.type(b.send(fd, new DataView(rab), 0), 'number')
  t.equal(b.getsockoptBytes(fd, c.IPPROTO_TCP, c.TCP_FASTOPEN_KEY, oob), 0, 'an out-of-bounds view is empty')
  t.equal(b.send(fd, new ArrayBuffer(4), 0), -22, 'an ArrayBuffer itself is not a view: -EINVAL')
  t.equal(b.send(fd, new SharedArrayBuffer(4), 0), -22)
})

// ---------------------------------------------------------------------------
// 2. The public API
// ---------------------------------------------------------------------------

const PICK = (e) => e && { name: e.name, code: e.code, message: e.message }
const noop = () => {}

const handles = () => new Set(process._getActiveHandles())
const closed = (obj) =>
  new Promise((resolve) => {
    if (obj.destroyed && !obj.connecting) return resolve()
    obj.once('close', resolve)
  })
const within = (ms, p) => Promise.race([p, sleep(ms)])

/**
 * What a call did: threw synchronously (and left no socket or server behind),
 * or made a socket/server that emitted 'error' (or not). Whatever it made is
 * closed before this returns.
 */
async function outcome(make, { settle = true } = {}) {
  const before = handles()
  let obj
  try {
    obj = make()
  } catch (e) {
    // A throw must not leave a live socket or server behind (it would leak its
    // fd, and its later 'error' would have no listener: an uncaught exception).
    // Found synchronously, so that such an error is caught here, not by the process.
    const left = [...handles()].filter((h) => !before.has(h) && (h instanceof net.Socket || h instanceof net.Server))
    for (const h of left) h.on('error', noop)
    // (net itself leaves an fd-less TCP handle behind when connect() rejects its
    // arguments after making the handle: that is compared like the rest.)
    const kinds = left.map(
      (h) => `${h instanceof net.Server ? 'server' : 'socket'}${h._handle && h._handle.fd >= 0 ? ' with an fd' : ''}${h.connecting ? ', connecting' : ''}`,
    )
    for (const h of left) {
      if (h instanceof net.Socket) h.destroy()
      else h.close()
    }
    await new Promise(setImmediate)
    return left.length ? { threw: PICK(e), leftBehind: kinds } : { threw: PICK(e) }
  }
  if (!obj || typeof obj.on !== 'function') return { returned: typeof obj }
  let error = null
  obj.on('error', (e) => {
    error = error || PICK(e)
  })
  if (!settle) return { emitted: error }
  if (obj instanceof net.Server) {
    await within(
      2000,
      new Promise((resolve) => {
        obj.once('listening', resolve)
        obj.once('error', resolve)
        obj.once('close', resolve)
      }),
    )
    await new Promise(setImmediate)
    if (obj.listening) await new Promise((resolve) => obj.close(resolve))
  } else {
    if (obj.connecting)
      await within(
        2000,
        new Promise((resolve) => {
          obj.once('connect', resolve)
          obj.once('close', resolve)
        }),
      )
    await new Promise(setImmediate) // an error scheduled on the next tick (an aborted signal) comes now
    await new Promise(setImmediate)
    const done = closed(obj)
    obj.destroy()
    await within(2000, done)
  }
  return { emitted: error }
}

const ac = new AbortController()
ac.abort()
const aborted = ac.signal

// Arguments for net.connect / tfo.connect. A closure so each round builds fresh objects.
const CONNECT_CASES = () => [
  [],
  [undefined],
  [null],
  [Symbol('x')],
  [5n],
  [true],
  [{}],
  [{ port: 'abc' }],
  [{ port: '' }],
  [{ port: ' 80' }],
  [{ port: -1 }],
  [{ port: 0 }],
  [{ port: 65536 }],
  [{ port: 1.5 }],
  [{ port: NaN }],
  [{ port: Infinity }],
  [{ port: {} }],
  [{ port: [] }],
  [{ port: null }],
  [{ port: true }],
  [{ port: 5n }],
  [{ port: Symbol('p') }],
  [-1],
  [65536],
  ['65536'],
  [70000, '127.0.0.1'],
  [1.5, '127.0.0.1'],
  [80, 5],
  [80, {}],
  [{ port: 80, host: 5 }],
  [{ port: 80, host: {} }],
  [{ port: 80, host: '' }],
  [{ port: 80, host: 'no-such-host.invalid' }],
  [{ port: 80, host: '256.256.256.256' }],
  [{ port: 80, host: '127.0.0.1\u0000x' }],
  [{ port: 80, host: 'a'.repeat(300) }],
  [{ port: 80, host: '::1%' }],
  [{ port: 80, host: '127.0.0.1', localAddress: 'nope' }],
  [{ port: 80, host: '127.0.0.1', localAddress: 5 }],
  [{ port: 80, host: '127.0.0.1', localAddress: '10.1.2.3' }],
  [{ port: 80, host: '127.0.0.1', localPort: 'x' }],
  [{ port: 80, host: '127.0.0.1', localPort: -1 }],
  [{ port: 80, host: '127.0.0.1', localPort: 70000 }],
  [{ port: 80, host: '127.0.0.1', family: 5 }],
  [{ port: 80, host: '127.0.0.1', family: 'x' }],
  [{ port: 80, host: 'localhost', hints: 'x' }],
  [{ port: 80, host: 'localhost', hints: 0xffff }],
  [{ port: 80, host: 'localhost', lookup: 42 }],
  [{ port: 80, host: 'localhost', lookup: (h, o, cb) => cb(new Error('custom lookup failed')) }],
  [{ port: 80, host: 'localhost', lookup: (h, o, cb) => cb(null, 'not-an-ip', 4) }],
  [
    {
      port: 80,
      host: 'localhost',
      lookup: () => {
        throw new Error('lookup threw')
      },
    },
  ],
  [{ port: 80, host: '127.0.0.1', timeout: -1 }],
  [{ port: 80, host: '127.0.0.1', timeout: 'x' }],
  [{ port: 80, host: '127.0.0.1', timeout: Infinity }],
  [{ port: 80, host: '127.0.0.1', signal: 'x' }],
  [{ port: 80, host: '127.0.0.1', signal: {} }],
  [{ port: 80, host: '127.0.0.1', signal: aborted }],
  [{ port: 80, host: '127.0.0.1', autoSelectFamily: 'yes' }],
  [{ port: 80, host: '127.0.0.1', autoSelectFamilyAttemptTimeout: 'x' }],
  [{ port: 80, host: 'localhost', autoSelectFamily: true, autoSelectFamilyAttemptTimeout: -5 }],
  [{ port: 80, host: '127.0.0.1', keepAlive: true, keepAliveInitialDelay: 'x' }],
  [{ port: 80, host: '127.0.0.1', onread: 5 }],
  [{ port: 80, host: '127.0.0.1', onread: { buffer: 5, callback: noop } }],
  [{ port: 80, host: '127.0.0.1', highWaterMark: -1 }],
  [{ path: 5 }],
  [{ path: '' }],
  [{ path: '/nonexistent/dir/sock' }],
  [{ port: 80, host: '127.0.0.1' }, 'not a function'],
  [80, '127.0.0.1', 'not a function'],
]

// tfo's own options, which net does not have: Node-style ERR_* codes.
const FAST_OPEN_BAD = ['yes', 1, 0, null, [], () => {}, { noCookie: 1 }, { noCookie: 'true' }, { synData: 5 }, { synData: 'x' }, Symbol('f')]

t.test('tfo.connect / createConnection / Socket#connect fail exactly as net does, and leak no fd', async (t) => {
  await sleep(50)
  let base = null
  for (let round = 0; round < 3; round++) {
    const diffs = []
    const count = CONNECT_CASES().length
    for (let i = 0; i < count; i++) {
      const fresh = () => CONNECT_CASES()[i] // a fresh argument list per call: nothing shared between net and tfo
      const label = util.inspect(fresh(), { depth: 2, breakLength: Infinity }).slice(0, 120)
      const expected = await outcome(() => net.connect(...fresh()))
      const viaConnect = await outcome(() => tfo.connect(...fresh()))
      const viaCreate = await outcome(() => tfo.createConnection(...fresh()))
      const viaSocket = await outcome(() => {
        const s = new tfo.Socket()
        try {
          return s.connect(...fresh())
        } catch (e) {
          s.destroy()
          throw e
        }
      })
      const netSocket = await outcome(() => {
        const s = new net.Socket()
        try {
          return s.connect(...fresh())
        } catch (e) {
          s.destroy()
          throw e
        }
      })
      if (!util.isDeepStrictEqual(viaConnect, expected)) diffs.push({ label, fn: 'connect', net: expected, tfo: viaConnect })
      if (!util.isDeepStrictEqual(viaCreate, expected)) diffs.push({ label, fn: 'createConnection', net: expected, tfo: viaCreate })
      if (!util.isDeepStrictEqual(viaSocket, netSocket)) diffs.push({ label, fn: 'Socket#connect', net: netSocket, tfo: viaSocket })
    }
    if (round === 0) t.same(diffs, [], `${CONNECT_CASES().length} argument lists: same outcome as net (thrown or emitted: name, code, message)`)
    else if (diffs.length) t.fail(`round ${round}: differences`, { diffs })
    for (const fo of FAST_OPEN_BAD) {
      const r = await outcome(() => tfo.connect({ port: 80, host: '127.0.0.1', fastOpen: fo }))
      if (round === 0) {
        t.match(
          r,
          { threw: { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /^The "options\.fastOpen(\.\w+)?" property must be/ } },
          `fastOpen: ${String(typeof fo === 'symbol' ? fo.toString() : JSON.stringify(fo))}`,
        )
        t.notOk(r.leftBehind, 'nothing left behind')
      }
      const r2 = await outcome(() => new tfo.Socket({ fastOpen: fo }))
      if (round === 0) t.match(r2, { threw: { code: 'ERR_INVALID_ARG_TYPE' } }, 'new Socket({ fastOpen }) too')
    }
    await sleep(100)
    if (round === 0) base = openFds()
    else t.equal(openFds(), base, `round ${round}: no fd leaked`)
  }
})

t.test('new tfo.Socket(options) fails as new net.Socket(options)', async (t) => {
  const cases = () => [
    'x',
    -1,
    2 ** 31,
    1.5,
    99999,
    { fd: -1 },
    { fd: 'x' },
    { fd: 1.5 },
    { fd: 99999 },
    { fd: 2 ** 31 },
    { fd: {} },
    { handle: 5 },
    { allowHalfOpen: 'x' },
    { readable: 5 },
    { signal: 'x' },
    { signal: aborted },
    { highWaterMark: -1 },
    { onread: 5 },
    { onread: { buffer: 'x', callback: noop } },
    Symbol('o'),
    5n,
    null,
    undefined,
  ]
  const base = openFds()
  for (let round = 0; round < 2; round++) {
    const list = cases()
    for (let i = 0; i < list.length; i++) {
      const expected = await outcome(() => new net.Socket(list[i]))
      const got = await outcome(() => new tfo.Socket(cases()[i]))
      const got2 = await outcome(() => tfo.Socket(cases()[i]))
      const label = typeof list[i] === 'symbol' ? 'Symbol' : util.inspect(list[i])
      if (round === 0) {
        t.same(got, expected, `new Socket(${label})`)
        t.same(got2, expected, `Socket(${label}) without new`)
      }
    }
  }
  await sleep(50)
  t.equal(openFds(), base, 'no fd leaked')
})

t.test('tfo.createServer / server.listen fail exactly as net does', async (t) => {
  const serverCases = () => [
    ['x'],
    [5],
    [true],
    [Symbol('s')],
    [5n],
    [{ allowHalfOpen: 'x' }],
    [{ pauseOnConnect: 5 }],
    [{ noDelay: 'x' }],
    [{ keepAlive: 'x' }],
    [{ keepAliveInitialDelay: 'x' }],
    [{ highWaterMark: -1 }],
    [{ highWaterMark: 'x' }],
    [{}, 'not a function'],
    [null, null],
    [undefined, 5],
  ]
  const listenCases = () => [
    [-1],
    [65536],
    ['abc'],
    [1.5],
    [NaN],
    [{}],
    [{ port: -1 }],
    [{ port: 'x' }],
    [{ port: 65536 }],
    [{ port: 1.5 }],
    [{ port: 0, host: 5 }],
    [{ port: 0, host: {} }],
    [{ port: 0, host: 'no-such-host.invalid' }],
    [{ port: 0, host: '10.77.1.1' }],
    [{ port: 0, host: '256.1.1.1' }],
    [0, '127.0.0.1', 'x'],
    [0, '127.0.0.1', -1],
    [{ port: 0, backlog: 'x' }],
    [{ port: 0, backlog: -5 }],
    [{ path: 5 }],
    [{ path: '/nonexistent/dir/sock' }],
    [{ port: 0, signal: 'x' }],
    [{ port: 0, signal: {} }],
    [{ port: 0, host: '127.0.0.1', signal: aborted }],
    [{ port: 0, ipv6Only: 'x' }],
    [{ port: 0, exclusive: 'x' }],
    [{ port: 0, readableAll: 5 }],
    [Symbol('l')],
    [5n],
    [null],
    [true],
    [[]],
    [{ fd: -1 }],
    [{ fd: 99999 }],
    [{ handle: 5 }],
    [{ handle: {} }],
  ]
  const base0 = openFds()
  let base = null
  for (let round = 0; round < 3; round++) {
    const diffs = []
    const sc = serverCases()
    for (let i = 0; i < sc.length; i++) {
      const expected = await outcome(() => net.createServer(...sc[i]), { settle: false })
      const got = await outcome(() => tfo.createServer(...serverCases()[i]), { settle: false })
      if (!util.isDeepStrictEqual(got, expected)) diffs.push({ call: `createServer(${util.inspect(sc[i])})`, net: expected, tfo: got })
    }
    const lc = listenCases()
    for (let i = 0; i < lc.length; i++) {
      const expected = await outcome(() => net.createServer().listen(...lc[i]))
      const got = await outcome(() => tfo.createServer().listen(...listenCases()[i]))
      if (!util.isDeepStrictEqual(got, expected)) diffs.push({ call: `listen(${util.inspect(lc[i])})`, net: expected, tfo: got })
    }
    if (round === 0) t.same(diffs, [], `${sc.length} createServer and ${lc.length} listen argument lists: same outcome as net`)
    else if (diffs.length) t.fail(`round ${round}: differences`, { diffs })

    const fastOpenCases = [
      [{ queueLength: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ queueLength: -1 }, 'ERR_OUT_OF_RANGE'],
      [{ queueLength: 1.5 }, 'ERR_OUT_OF_RANGE'],
      [{ queueLength: 2 ** 31 }, 'ERR_OUT_OF_RANGE'],
      [{ queueLength: NaN }, 'ERR_OUT_OF_RANGE'],
      [{ queueLength: '5' }, 'ERR_INVALID_ARG_TYPE'],
      [{ noCookie: 'x' }, 'ERR_INVALID_ARG_TYPE'],
      [{ key: 'not hex' }, 'ERR_INVALID_ARG_VALUE'],
      [{ key: Buffer.alloc(5) }, 'ERR_INVALID_ARG_VALUE'],
      [{ key: 5 }, 'ERR_INVALID_ARG_TYPE'],
      [{ keyRotation: 5 }, 'ERR_INVALID_ARG_TYPE'],
      [{ key: Buffer.alloc(16), keyRotation: { secret: Buffer.alloc(32) } }, 'ERR_INVALID_ARG_VALUE'],
      ['yes', 'ERR_INVALID_ARG_TYPE'],
      [5, 'ERR_INVALID_ARG_TYPE'],
      [null, 'ERR_INVALID_ARG_TYPE'],
      [[], 'ERR_INVALID_ARG_TYPE'],
    ]
    for (const [fo, code] of fastOpenCases) {
      const r = await outcome(() => tfo.createServer({ fastOpen: fo }), { settle: false })
      const r2 = await outcome(() => tfo.enableFastOpen(net.createServer(), fo), { settle: false })
      if (round === 0) {
        t.match(r, { threw: { code } }, `createServer({ fastOpen: ${util.inspect(fo, { depth: 1 })} }) → ${code}`)
        t.match(r2, { threw: { code } }, 'enableFastOpen(server, same) too')
      }
    }
    for (const notServer of [undefined, null, {}, 5, 'x', new net.Socket(), http.createServer, Symbol('s')]) {
      const r = await outcome(() => tfo.enableFastOpen(notServer), { settle: false })
      if (round === 0)
        t.match(r, { threw: { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /^The "server" argument must be an instance of net\.Server/ } })
      if (notServer instanceof net.Socket) notServer.destroy()
    }
    await sleep(100)
    if (round === 0) base = openFds()
    else t.equal(openFds(), base, `round ${round}: no fd leaked`)
  }
  t.ok(base - base0 <= 2, `fds after the first round: ${base} (started at ${base0})`)
})

t.test('tfo.tls.connect fails exactly as tls.connect does', async (t) => {
  const cases = () => [
    [{ port: -1 }],
    [{ port: 'abc' }],
    [{ port: 65536 }],
    [70000],
    [{ port: 80, host: 5 }],
    [{ port: 80, host: 'no-such-host.invalid' }],
    [{ port: 80, host: '127.0.0.1', servername: 5 }],
    [{ port: 80, host: '127.0.0.1', ALPNProtocols: 5 }],
    [{ port: 80, host: '127.0.0.1', minVersion: 'TLSv9' }],
    [{ port: 80, host: '127.0.0.1', ca: 5 }],
    [{ port: 80, host: '127.0.0.1', localAddress: 'nope' }],
    [{ port: 80, host: '127.0.0.1', timeout: 'x' }],
    [{ port: 80, host: '127.0.0.1', signal: 'x' }],
    [{ port: 80, host: '127.0.0.1', lookup: 42 }],
    [{ port: 80, host: '127.0.0.1' }],
    [{ port: 80, host: '127.0.0.1', session: 'x' }],
    [{ port: 80, host: '127.0.0.1', socket: 5 }],
    [],
    [null],
    [Symbol('t')],
  ]
  let base = null
  for (let round = 0; round < 3; round++) {
    const diffs = []
    const list = cases()
    for (let i = 0; i < list.length; i++) {
      const expected = await outcome(() => tls.connect(...list[i]))
      const got = await outcome(() => tfo.tls.connect(...cases()[i]))
      if (!util.isDeepStrictEqual(got, expected)) diffs.push({ call: util.inspect(list[i]), tls: expected, tfo: got })
    }
    if (round === 0) t.same(diffs, [], `${list.length} argument lists: same outcome as tls.connect`)
    else if (diffs.length) t.fail(`round ${round}: differences`, { diffs })
    for (const fo of ['yes', 5, null, { noCookie: 1 }]) {
      const r = await outcome(() => tfo.tls.connect({ port: 80, host: '127.0.0.1', fastOpen: fo }))
      if (round === 0) {
        t.match(r, { threw: { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' } }, `fastOpen: ${JSON.stringify(fo)}`)
        t.notOk(r.leftBehind, 'the throw leaves no connecting socket behind', { leftBehind: r.leftBehind })
      }
    }
    await sleep(100)
    if (round === 0) base = openFds()
    else t.equal(openFds(), base, `round ${round}: no fd leaked (a socket made before the fastOpen check is closed)`)
  }
})

t.test('tfo.http.Agent, undici.connector, configureBackoff, metricsText, sysctl: Node ERR_* codes', async (t) => {
  // http.Agent's own options: as http.Agent.
  for (const opts of [
    { maxSockets: 'x' },
    { maxSockets: 0 },
    { maxTotalSockets: 0 },
    { maxTotalSockets: 'x' },
    { scheduling: 'bogus' },
    { timeout: 'x' },
    'x',
    5,
    null,
  ]) {
    const expected = await outcome(() => new http.Agent(opts), { settle: false })
    const got = await outcome(() => new tfo.http.Agent(opts), { settle: false })
    t.same(got, expected, `new Agent(${util.inspect(opts)}) as http.Agent`)
  }
  const agentFastOpen = [
    ['x', 'ERR_INVALID_ARG_TYPE'],
    [5, 'ERR_INVALID_ARG_TYPE'],
    [null, 'ERR_INVALID_ARG_TYPE'],
    [{ replay: 'sometimes' }, 'ERR_INVALID_ARG_VALUE'],
    [{ replay: 5 }, 'ERR_INVALID_ARG_TYPE'],
    [{ retryWindowMs: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ retryWindowMs: 'x' }, 'ERR_INVALID_ARG_TYPE'],
    [{ retryWindowMs: 1.5 }, 'ERR_OUT_OF_RANGE'],
    [{ noCookie: 'x' }, 'ERR_INVALID_ARG_TYPE'],
  ]
  for (const [fo, code] of agentFastOpen) {
    t.throws(() => new tfo.http.Agent({ fastOpen: fo }), { code }, `Agent fastOpen ${util.inspect(fo)}`)
    t.throws(() => tfo.undici.connector({ fastOpen: fo }), { code }, `connector fastOpen ${util.inspect(fo)}`)
  }
  for (const [opts, code] of [
    ['x', 'ERR_INVALID_ARG_TYPE'],
    [null, 'ERR_INVALID_ARG_TYPE'],
    [5, 'ERR_INVALID_ARG_TYPE'],
    [{ timeout: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ timeout: 'x' }, 'ERR_INVALID_ARG_TYPE'],
    [{ timeout: NaN }, 'ERR_OUT_OF_RANGE'],
    [{ maxCachedSessions: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ maxCachedSessions: 1.5 }, 'ERR_OUT_OF_RANGE'],
    [{ allowH2: 'x' }, 'ERR_INVALID_ARG_TYPE'],
  ]) {
    t.throws(() => tfo.undici.connector(opts), { code }, `connector(${util.inspect(opts)})`)
  }
  for (const [opts, code] of [
    [undefined, 'ERR_INVALID_ARG_TYPE'],
    ['x', 'ERR_INVALID_ARG_TYPE'],
    [null, 'ERR_INVALID_ARG_TYPE'],
    [[], 'ERR_INVALID_ARG_TYPE'],
    [{ enabled: 'x' }, 'ERR_INVALID_ARG_TYPE'],
    [{ initialMs: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ initialMs: 'x' }, 'ERR_INVALID_ARG_TYPE'],
    [{ maxMs: 1.5 }, 'ERR_OUT_OF_RANGE'],
    [{ maxMs: 2 ** 31 }, 'ERR_OUT_OF_RANGE'],
    [{ maxEntries: 0 }, 'ERR_OUT_OF_RANGE'],
    [{ maxEntries: NaN }, 'ERR_OUT_OF_RANGE'],
  ]) {
    t.throws(() => tfo.configureBackoff(opts), { code }, `configureBackoff(${util.inspect(opts)})`)
  }
  t.match(tfo.backoffEntries(), [], 'backoff still usable')
  for (const [opts, code] of [
    ['x', 'ERR_INVALID_ARG_TYPE'],
    [null, 'ERR_INVALID_ARG_TYPE'],
    [5, 'ERR_INVALID_ARG_TYPE'],
    [{ prefix: 5 }, 'ERR_INVALID_ARG_TYPE'],
    [{ prefix: '1bad' }, 'ERR_INVALID_ARG_TYPE'],
    [{ prefix: 'a b' }, 'ERR_INVALID_ARG_TYPE'],
    [{ kernel: 'x' }, 'ERR_INVALID_ARG_TYPE'],
  ]) {
    t.throws(() => tfo.metricsText(opts), { code }, `metricsText(${util.inspect(opts)})`)
  }
  t.match(tfo.metricsText(), /^# HELP tfo_/, 'metricsText still works')

  const before = tfo.sysctl.fastOpen().value
  for (const [fn, args, code] of [
    ['setFastOpen', ['x'], 'ERR_INVALID_ARG_TYPE'],
    ['setFastOpen', [-1], 'ERR_OUT_OF_RANGE'],
    ['setFastOpen', [1.5], 'ERR_OUT_OF_RANGE'],
    ['setFastOpen', [2 ** 31], 'ERR_OUT_OF_RANGE'],
    ['setFastOpen', [NaN], 'ERR_OUT_OF_RANGE'],
    ['setFastOpen', [null], 'ERR_INVALID_ARG_TYPE'],
    ['setFastOpen', [{ bogus: true }], 'ERR_INVALID_ARG_VALUE'],
    ['setFastOpen', [{ client: 'yes' }], 'ERR_INVALID_ARG_TYPE'],
    ['setFastOpen', [], 'ERR_INVALID_ARG_TYPE'],
    ['decodeFastOpen', ['3'], 'ERR_INVALID_ARG_TYPE'],
    ['decodeFastOpen', [2 ** 32], 'ERR_OUT_OF_RANGE'],
    ['setKey', ['zz'], 'ERR_INVALID_ARG_VALUE'],
    ['setKey', [Buffer.alloc(3)], 'ERR_INVALID_ARG_VALUE'],
    ['setKey', [5], 'ERR_INVALID_ARG_TYPE'],
    ['setKey', [Buffer.alloc(16), 'zz'], 'ERR_INVALID_ARG_VALUE'],
    ['setBlackholeTimeout', [-1], 'ERR_OUT_OF_RANGE'],
    ['setBlackholeTimeout', ['x'], 'ERR_INVALID_ARG_TYPE'],
    ['read', [5], 'ERR_INVALID_ARG_TYPE'],
    ['read', ['../../etc/passwd'], 'ERR_INVALID_ARG_VALUE'],
    ['read', [''], 'ERR_INVALID_ARG_VALUE'],
    ['read', ['net.ipv4.no_such_sysctl'], 'ENOENT'],
    ['path', [{}], 'ERR_INVALID_ARG_TYPE'],
    ['formatKey', ['x'], 'ERR_INVALID_ARG_TYPE'],
    ['formatKey', [Buffer.alloc(15)], 'ERR_INVALID_ARG_VALUE'],
    ['parseKey', [5], 'ERR_INVALID_ARG_TYPE'],
  ]) {
    if (typeof tfo.sysctl[fn] !== 'function') {
      t.fail(`sysctl.${fn} is not exported`)
      continue
    }
    t.throws(() => tfo.sysctl[fn](...args), { code }, `sysctl.${fn}(${args.map((a) => util.inspect(a)).join(', ')}) → ${code}`)
  }
  t.equal(tfo.sysctl.fastOpen().value, before, 'no bad value reached the sysctl')
})
