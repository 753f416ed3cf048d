'use strict'
// tfo.cookies: the kernel's TFO client cookie cache (tcp_metrics) through
// generic netlink, and the `tfo cookies` command. Runs in a private network
// namespace (see helpers/netns.js), so listing and flushing touch only that
// namespace's table. `ip tcp_metrics show` is the independent witness.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const tfo = require('..')
const { listen, closeServer, collect, sinkServer } = require('./helpers/util')

const ROOT = path.join(__dirname, '..')
const { cookies } = tfo
const binding = require('./helpers/binding')
const K = binding.netlinkConstants

// Deleting tcp_metrics entries is GENL_ADMIN_PERM: CAP_NET_ADMIN in the
// initial user namespace. The unprivileged fallback of helpers/netns.js runs
// us as "root" in a user namespace, where the kernel refuses it.
const uidMap = fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/)
const initialUserNs = uidMap[0] === '0' && uidMap[1] === '0' && uidMap[2] === '4294967295'
const canFlush = initialUserNs && process.getuid() === 0
const noFlush = canFlush ? false : 'flushing needs root in the initial user namespace (this run is in a user namespace)'

/** `ip tcp_metrics show`, parsed: [{ address, source, cookie, mss, synDrops, raw }] (only what we compare). */
function ipMetrics() {
  const r = spawnSync('ip', ['tcp_metrics', 'show'], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`ip tcp_metrics show failed: ${r.stderr}`)
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [address, ...words] = line.trim().split(/\s+/)
      const kv = {}
      for (let i = 0; i < words.length; i += 2) {
        kv[words[i]] = words[i + 1]
        if (words[i + 2] === 'ago') i++ // "fo_syn_drops 1/0.520sec ago"
      }
      return {
        address,
        source: kv.source,
        cookie: kv.fo_cookie ?? null,
        mss: kv.fo_mss === undefined ? undefined : Number(kv.fo_mss),
        synDrops: kv.fo_syn_drops === undefined ? undefined : Number(kv.fo_syn_drops.split('/')[0]),
        raw: line,
      }
    })
}

/** What list() is documented to return, derived from ip's view. */
function ipFastOpen() {
  return ipMetrics().filter((e) => e.cookie !== null || e.mss !== undefined || e.synDrops !== undefined)
}

const comparable = (e) => ({
  address: e.address,
  source: e.source,
  cookie: e.cookie === null ? null : Buffer.isBuffer(e.cookie) ? e.cookie.toString('hex') : e.cookie,
  mss: e.mss,
  synDrops: e.synDrops,
})
const sortKey = (e) => `${e.address} ${e.source}`
const sorted = (list) => list.map(comparable).sort((a, b) => sortKey(a).localeCompare(sortKey(b)))

function tfoServer(t, host) {
  const server = tfo.createServer(sinkServer())
  t.teardown(() => closeServer(server))
  return listen(server, 0, host).then(({ port }) => port)
}

/** One tfo connection that sends `payload` and reads the reply; returns socket.fastOpen. */
async function contact(port, host, payload = 'hello') {
  const socket = tfo.connect(port, host)
  socket.end(payload)
  const r = await collect(socket)
  if (r.error) throw r.error
  return socket.fastOpen
}

const entryFor = (list, address) => list.filter((e) => e.address === address)

/**
 * Runs node in this namespace without the test runner's NODE_OPTIONS hooks
 * (they write under .tap/, where uid 65534 cannot), as cli.test.js does.
 */
function nodeChild(args, options = {}) {
  return spawnSync('env', ['-u', 'NODE_OPTIONS', process.execPath, ...args], { encoding: 'utf8', timeout: 30000, cwd: '/', ...options })
}

/** Runs `script` in a child node with tfo as `tfo`; returns { status, json, stdout, stderr }. */
function child(script, options = {}) {
  const code = `const tfo = require(${JSON.stringify(ROOT)});\n${script}`
  const r = nodeChild(['-e', code], options)
  if (r.error) throw r.error
  let json = null
  try {
    json = JSON.parse(r.stdout)
  } catch {}
  return { status: r.status, json, stdout: r.stdout, stderr: r.stderr }
}

/** Calls cookiesCommand in this process, capturing what it writes to stdout. */
async function cli(argv) {
  const { cookiesCommand } = require('../dist/cli/cookies.js')
  const write = process.stdout.write
  let out = ''
  process.stdout.write = (chunk) => {
    out += chunk
    return true
  }
  try {
    const code = await cookiesCommand(argv)
    return { code, out }
  } finally {
    process.stdout.write = write
  }
}

t.test('the addon exports the netlink constants from the C headers', async (t) => {
  t.equal(K.TCP_METRICS_GENL_NAME, 'tcp_metrics')
  for (const [name, value] of Object.entries(K)) {
    if (name !== 'TCP_METRICS_GENL_NAME') t.ok(Number.isInteger(value) && value >= 0, `${name} = ${value}`)
  }
  t.equal(K.NLMSG_HDRLEN, 16, 'struct nlmsghdr')
  t.equal(K.GENL_HDRLEN, 4, 'struct genlmsghdr')
  t.equal(K.NLA_TYPE_MASK, 0x3fff)
  // offsetof / sizeof of the header fields lib/system/cookies.ts reads and writes (the Linux ABI).
  const fields = (prefix) => [K[`${prefix}_OFFSET`], K[`${prefix}_SIZE`]]
  t.same(fields('NLMSG_LEN'), [0, 4], 'nlmsghdr.nlmsg_len')
  t.same(fields('NLMSG_TYPE'), [4, 2], 'nlmsghdr.nlmsg_type')
  t.same(fields('NLMSG_FLAGS'), [6, 2], 'nlmsghdr.nlmsg_flags')
  t.same(fields('NLMSG_SEQ'), [8, 4], 'nlmsghdr.nlmsg_seq')
  t.same(fields('NLMSG_PID'), [12, 4], 'nlmsghdr.nlmsg_pid')
  t.same(fields('GENL_CMD'), [0, 1], 'genlmsghdr.cmd')
  t.same(fields('GENL_VERSION'), [1, 1], 'genlmsghdr.version')
  t.same(fields('NLA_LEN'), [0, 2], 'nlattr.nla_len')
  t.same(fields('NLA_TYPE'), [2, 2], 'nlattr.nla_type')
  t.same(fields('NLMSGERR_ERROR'), [0, 4], 'nlmsgerr.error')
  t.equal(K.NLMSG_PID_OFFSET + K.NLMSG_PID_SIZE, K.NLMSG_HDRLEN, 'the fields fill the header')
})

t.test('list() shows the cookie a first TFO contact got, as ip tcp_metrics does (IPv4 and IPv6)', async (t) => {
  for (const host of ['127.0.0.20', '::1']) {
    const port = await tfoServer(t, host)
    t.equal(entryFor(cookies.list(), host).length, 0, `${host}: no entry before the first contact`)
    const first = await contact(port, host)
    t.match(first, { cookie: 'requested', synData: false }, `${host}: first contact asks for a cookie`)
    const [e, ...more] = entryFor(cookies.list(), host)
    t.equal(more.length, 0, `${host}: one entry`)
    t.ok(Buffer.isBuffer(e.cookie), `${host}: the cookie is a Buffer`)
    t.equal(e.cookie.length, 8, `${host}: Linux servers give 8-byte cookies`)
    t.equal(e.family, net.isIP(host))
    t.equal(e.source, host === '::1' ? '::1' : '127.0.0.1', `${host}: source is the local address the connection used`)
    t.ok(e.mss > 1000, `${host}: the server's MSS is cached with the cookie (${e.mss})`)
    t.ok(Number.isInteger(e.ageMs) && e.ageMs >= 0 && e.ageMs < 60000, `${host}: ageMs ${e.ageMs}`)
    t.equal(e.synDrops, undefined, `${host}: no SYN drops recorded`)
    const ip = entryFor(ipMetrics(), host)
    t.equal(ip.length, 1)
    t.equal(ip[0].cookie, e.cookie.toString('hex'), `${host}: ip shows the same cookie (${ip[0].raw})`)
    t.equal(ip[0].mss, e.mss)
    t.equal(ip[0].source, e.source)
    const json = JSON.parse(JSON.stringify(e))
    t.equal(json.cookie, e.cookie.toString('hex'), 'JSON shows the cookie in hex')
    t.same(Object.keys(json), Object.keys(e), 'toJSON adds no key (it is not enumerable)')
    const second = await contact(port, host)
    t.match(second, { cookie: 'sent', synData: true }, `${host}: the next connection uses it`)
  }
  t.same(sorted(cookies.list()), sorted(ipFastOpen()), 'list() holds exactly the entries with fo_* data that ip shows')
})

t.test('an MSS without a cookie: a TFO client asked a server without TFO; plain connections leave no TFO entry', async (t) => {
  const plain = net.createServer(sinkServer())
  t.teardown(() => closeServer(plain))
  const { port } = await listen(plain, 0, '127.0.0.21')
  t.match(await contact(port, '127.0.0.21'), { cookie: 'requested', failure: 'cookie-unavailable' })
  const [e] = entryFor(cookies.list(), '127.0.0.21')
  t.ok(e, 'listed')
  t.equal(e.cookie, null, 'no cookie')
  t.ok(e.mss > 0, 'but an MSS')
  t.equal(JSON.parse(JSON.stringify(e)).cookie, null)

  const other = net.createServer(sinkServer())
  t.teardown(() => closeServer(other))
  const { port: p2 } = await listen(other, 0, '127.0.0.22')
  const s = net.connect(p2, '127.0.0.22')
  s.end('plain')
  await collect(s)
  t.ok(entryFor(ipMetrics(), '127.0.0.22').length > 0, 'the kernel keeps RTT metrics for a plain connection')
  t.same(entryFor(cookies.list(), '127.0.0.22'), [], 'list() leaves entries without TFO data out')
})

t.test('a dump in many parts: every entry, as ip sees them', async (t) => {
  const server = tfo.createServer(sinkServer())
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, '0.0.0.0')
  const N = 400 // ~100 bytes each: several netlink datagrams
  for (let i = 0; i < N; i++) await contact(port, `127.2.${i >> 8}.${i & 255}`, 'x')
  const list = cookies.list()
  const mine = list.filter((e) => e.address.startsWith('127.2.'))
  t.equal(mine.length, N, `all ${N} destinations listed`)
  t.ok(
    mine.every((e) => e.cookie && e.cookie.length === 8),
    'each with its cookie',
  )
  t.same(sorted(list), sorted(ipFastOpen()), 'the same set as ip')
})

t.test('flush(host) deletes that destination only; the next connection asks for a new cookie', { skip: noFlush }, async (t) => {
  const ports = {}
  for (const host of ['127.0.0.23', '127.0.0.24', '::1']) {
    ports[host] = await tfoServer(t, host)
    await contact(ports[host], host)
    t.ok(entryFor(cookies.list(), host)[0]?.cookie, `${host}: has a cookie`)
  }
  const total = ipMetrics().length
  t.equal(cookies.flush('127.0.0.23'), 1, 'one entry deleted')
  t.same(entryFor(cookies.list(), '127.0.0.23'), [], 'gone from list()')
  t.same(entryFor(ipMetrics(), '127.0.0.23'), [], 'gone for ip too')
  t.equal(ipMetrics().length, total - 1, 'nothing else deleted')
  t.ok(entryFor(cookies.list(), '127.0.0.24')[0]?.cookie, 'the other destination keeps its cookie')
  t.equal(cookies.flush('127.0.0.23'), 0, 'again: nothing to delete (the kernel says ESRCH), 0')

  t.match(await contact(ports['127.0.0.23'], '127.0.0.23'), { cookie: 'requested', synData: false }, 'the kernel forgot it: a new cookie is requested')
  t.match(await contact(ports['127.0.0.24'], '127.0.0.24'), { cookie: 'sent', synData: true }, 'the other still rides the SYN')

  t.equal(cookies.flush('::ffff:127.0.0.24'), 1, 'an IPv4-mapped address means the IPv4 entry')
  t.same(entryFor(cookies.list(), '127.0.0.24'), [])
  t.equal(cookies.flush('0:0:0:0:0:0:0:1'), 1, 'IPv6, any spelling')
  t.same(entryFor(cookies.list(), '::1'), [])
  t.match(await contact(ports['::1'], '::1'), { cookie: 'requested' })
})

t.test('flush() deletes every entry', { skip: noFlush }, async (t) => {
  const port = await tfoServer(t, '127.0.0.25')
  await contact(port, '127.0.0.25')
  await contact(port, '127.0.0.25')
  const before = ipMetrics().length
  t.ok(before > 1)
  t.equal(cookies.flush(), before, 'returns how many entries there were')
  t.same(ipMetrics(), [], 'ip shows an empty table')
  t.same(cookies.list(), [])
  t.equal(cookies.flush(), 0, 'an empty table: 0')
  t.match(await contact(port, '127.0.0.25'), { cookie: 'requested', synData: false }, 'the next connection asks for a cookie again')
  t.match(await contact(port, '127.0.0.25'), { cookie: 'sent', synData: true })
})

t.test("flush(host) takes IP literals only, with Node's argument errors", async (t) => {
  t.throws(() => cookies.flush(42), { code: 'ERR_INVALID_ARG_TYPE', message: /The "host" argument must be of type string/ })
  t.throws(() => cookies.flush(null), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => cookies.flush('localhost'), { code: 'ERR_INVALID_ARG_VALUE', message: /must be an IP address/ })
  t.throws(() => cookies.flush(''), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => cookies.flush('1.2.3.4.5'), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => cookies.flush('::1::2'), { code: 'ERR_INVALID_ARG_VALUE' })
})

t.test('permissions: any user may list; flushing needs CAP_NET_ADMIN (EPERM otherwise)', async (t) => {
  const port = await tfoServer(t, '127.0.0.26')
  await contact(port, '127.0.0.26')
  const script = `
    const out = { list: null, flush: null, flushOne: null }
    try { out.list = tfo.cookies.list().map((e) => e.address) } catch (e) { out.list = { code: e.code, message: e.message } }
    for (const [k, f] of [['flush', () => tfo.cookies.flush()], ['flushOne', () => tfo.cookies.flush('127.0.0.26')]]) {
      try { out[k] = f() } catch (e) { out[k] = { code: e.code, errno: e.errno, syscall: e.syscall, message: e.message, address: e.address } }
    }
    console.log(JSON.stringify(out))`
  const asNobody = canFlush ? { uid: 65534, gid: 65534 } : {}
  const r = child(script, asNobody)
  t.equal(r.status, 0, r.stderr)
  t.ok(
    Array.isArray(r.json.list) && r.json.list.includes('127.0.0.26'),
    `${canFlush ? 'uid 65534' : 'root in a user namespace'} lists the cache, cookies included`,
  )
  for (const k of ['flush', 'flushOne']) {
    t.match(
      r.json[k],
      {
        code: 'EPERM',
        errno: -1,
        syscall: 'sendto',
        message: /^sendto EPERM tcp_metrics (flush|delete 127\.0\.0\.26): .*CAP_NET_ADMIN \(root\) in the initial user namespace/,
      },
      `${k}: EPERM, and the message says what is needed`,
    )
  }
  t.equal(r.json.flushOne.address, '127.0.0.26', 'a delete names its address')
  t.ok(entryFor(cookies.list(), '127.0.0.26')[0]?.cookie, 'nothing was deleted')
})

t.test('without the addon: TFO_UNSUPPORTED with the reason', async (t) => {
  const r = child(
    `
    try { tfo.cookies.list(); console.log('null') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`,
    { env: { ...process.env, TFO_DISABLE_NATIVE: '1' } },
  )
  t.match(r.json, { code: 'TFO_UNSUPPORTED', message: /cookie cache is not available: the native addon is disabled by TFO_DISABLE_NATIVE=1/ })
})

t.test('the netlink calls take any argument without crashing: -EINVAL', async (t) => {
  const EINVAL = -22
  const fd = binding.genlSocket()
  t.ok(fd >= 0, 'genlSocket() gives an fd')
  t.teardown(() => binding.close(fd))
  const buf = Buffer.alloc(64)
  const bad = [undefined, null, -1, 1.5, 2 ** 31, NaN, Infinity, '3', {}, [], 3n]
  for (const v of bad) {
    t.equal(binding.genlSend(v, buf), EINVAL, `genlSend(fd=${String(v)})`)
    t.equal(binding.genlRecv(v, buf), EINVAL, `genlRecv(fd=${String(v)})`)
  }
  for (const v of [undefined, null, 'abc', 42, {}, [1, 2], new ArrayBuffer(64)]) {
    t.equal(binding.genlSend(fd, v), EINVAL, `genlSend(data=${Object.prototype.toString.call(v)})`)
    t.equal(binding.genlRecv(fd, v), EINVAL, `genlRecv(into=${Object.prototype.toString.call(v)})`)
  }
  t.equal(binding.genlRecv(fd, Buffer.alloc(0)), EINVAL, 'a buffer without room for a header')
  t.equal(binding.genlRecv(fd, Buffer.alloc(K.NLMSG_HDRLEN - 1)), EINVAL)
  t.equal(binding.genlRecv(fd, new Uint8Array(K.NLMSG_HDRLEN)), -11, 'nothing queued: -EAGAIN at once (non-blocking)')
  t.equal(binding.genlRecv(fd, new Float64Array(8)), -11, 'any TypedArray will do')

  // Garbage to the kernel: at worst an NLMSG_ERROR back, never a crash.
  // The type is the controller's (read-only), so random bytes cannot hit a family that changes state.
  const crypto = require('node:crypto')
  const drain = Buffer.alloc(65536)
  let sent = 0
  for (let i = 0; i < 300; i++) {
    const junk = crypto.randomBytes(1 + (i % 97))
    if (junk.length >= 8) {
      junk.writeUInt32LE(crypto.randomInt(0, 200), 0)
      junk.writeUInt16LE(K.GENL_ID_CTRL, 4)
    }
    const n = binding.genlSend(fd, junk)
    if (n === junk.length) sent++
    else t.ok(n < 0, `refused with an errno (${n})`)
    while (binding.genlRecv(fd, drain) > 0) continue // drain the replies
  }
  t.ok(sent > 0, `${sent} junk messages sent, no crash`)
  t.ok(binding.genlSend(fd, Buffer.alloc(0)) <= 0, 'an empty message: refused (ENODATA here) or ignored')

  // A reply bigger than the buffer is reported, not silently cut: -EMSGSIZE.
  const name = Buffer.from(`${K.TCP_METRICS_GENL_NAME}\0`)
  const attr = Buffer.alloc(4 + name.length + ((4 - (name.length % 4)) % 4))
  attr.writeUInt16LE(4 + name.length, 0)
  attr.writeUInt16LE(K.CTRL_ATTR_FAMILY_NAME, 2)
  name.copy(attr, 4)
  const msg = Buffer.alloc(K.NLMSG_HDRLEN + K.GENL_HDRLEN + attr.length)
  if (require('node:os').endianness() === 'LE') {
    msg.writeUInt32LE(msg.length, 0)
    msg.writeUInt16LE(K.GENL_ID_CTRL, 4)
    msg.writeUInt16LE(K.NLM_F_REQUEST, 6)
    msg.writeUInt32LE(7, 8)
    msg[K.NLMSG_HDRLEN] = K.CTRL_CMD_GETFAMILY
    attr.copy(msg, K.NLMSG_HDRLEN + K.GENL_HDRLEN)
    t.equal(binding.genlSend(fd, msg), msg.length)
    t.equal(binding.genlRecv(fd, Buffer.alloc(K.NLMSG_HDRLEN)), -90, 'the reply did not fit: -EMSGSIZE')
    t.equal(binding.genlSend(fd, msg), msg.length)
    const big = Buffer.alloc(65536)
    const n = binding.genlRecv(fd, big)
    t.ok(n > K.NLMSG_HDRLEN, `the reply is there as soon as sendto() returned (${n} bytes)`)
    t.equal(big.readUInt32LE(8), 7, 'with our sequence number')
  }

  t.equal(binding.close(fd), 0, 'close() accepts a genlSocket() fd')
  t.equal(binding.close(fd), -9, 'once')
  t.equal(binding.genlRecv(fd, buf), -9, 'a closed fd: -EBADF')
  const tcp = binding.socket(binding.constants.AF_INET)
  t.ok(binding.genlSend(tcp, Buffer.alloc(20)) < 0, 'genlSend on a TCP socket: an errno, no crash')
  binding.close(tcp)
})

t.test('tfo cookies (the command, called in-process)', async (t) => {
  const port = await tfoServer(t, '127.0.0.27')
  await contact(port, '127.0.0.27')
  const [e] = entryFor(cookies.list(), '127.0.0.27')

  const json = await cli(['--json'])
  t.equal(json.code, 0)
  const parsed = JSON.parse(json.out)
  const row = parsed.entries.find((x) => x.address === '127.0.0.27')
  t.match(row, { address: '127.0.0.27', family: 4, source: '127.0.0.1', cookie: e.cookie.toString('hex'), mss: e.mss })
  t.equal(parsed.entries.length, cookies.list().length)

  const human = await cli([])
  t.equal(human.code, 0)
  t.match(human.out, /^destination\s+source\s+cookie\s+mss\s+SYN drops\s+age\n/, 'a table (no colour: stdout is not a TTY)')
  t.match(human.out, new RegExp(`127\\.0\\.0\\.27\\s+127\\.0\\.0\\.1\\s+${e.cookie.toString('hex')}\\s+${e.mss}\\s+0\\s+\\d`))
  t.notMatch(human.out, /\x1b\[/, 'no escape codes')

  t.match((await cli(['--help'])).out, /^Usage: tfo cookies/)
  await t.rejects(cli(['127.0.0.27']), { exitCode: 2, message: /unexpected argument '127\.0\.0\.27' \(to flush one host: tfo cookies --flush HOST\)/ })
  await t.rejects(cli(['--nope']), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' })
  await t.rejects(cli(['--flush', 'no-such-host.invalid']), { exitCode: 1, message: /^cannot resolve no-such-host\.invalid: E[A-Z_]+$/ })

  if (canFlush) {
    const one = await cli(['--flush', '127.0.0.27'])
    t.same(one, { code: 0, out: 'flushed 1 entry for 127.0.0.27\n' })
    t.same(entryFor(cookies.list(), '127.0.0.27'), [])
    t.same(await cli(['--flush', '127.0.0.27']), { code: 0, out: 'no entry for 127.0.0.27\n' })
    await contact(port, '127.0.0.27')
    const named = JSON.parse((await cli(['--flush', 'localhost', '--json'])).out)
    t.ok(
      named.targets[0].addresses.some((a) => a.address === '127.0.0.1'),
      'a name is resolved (localhost → 127.0.0.1 ...)',
    )
    const all = JSON.parse((await cli(['--flush', '--json'])).out)
    t.match(all, { flushed: Number, all: true })
    t.ok(all.flushed >= 1)
    t.same(cookies.list(), [])
    t.match((await cli([])).out, /^no TCP Fast Open cookies cached in this network namespace\n$/)
  }
})

t.test('tfo cookies --flush without privilege: one line naming CAP_NET_ADMIN', async (t) => {
  const r = child(
    `
    require(${JSON.stringify(path.join(ROOT, 'dist/cli/cookies.js'))}).cookiesCommand(['--flush']).then(
      (code) => console.log(JSON.stringify({ code })),
      (e) => console.log(JSON.stringify({ code: e.code, message: e.message })))`,
    canFlush ? { uid: 65534, gid: 65534 } : {},
  )
  t.match(r.json, { code: 'EPERM', message: /^sendto EPERM tcp_metrics flush: .*CAP_NET_ADMIN/ })
  t.notMatch(r.json.message, /\n/, 'one line')
})

t.test('`tfo cookies` through the tfo command', async (t) => {
  const main = spawnSync(process.execPath, [path.join(ROOT, 'dist/cli/main.js'), '--help'], { encoding: 'utf8' })
  if (!/\bcookies\b/.test(main.stdout)) return t.skip('the cookies command is not registered in lib/cli/main.ts yet')
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/cli/main.js'), 'cookies', '--json'], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  t.ok(Array.isArray(JSON.parse(r.stdout).entries))
  if (canFlush) {
    const nobody = nodeChild([path.join(ROOT, 'dist/cli/main.js'), 'cookies', '--flush'], { uid: 65534, gid: 65534 })
    t.equal(nobody.status, 1)
    t.match(nobody.stderr, /^tfo cookies: sendto EPERM tcp_metrics flush: .*CAP_NET_ADMIN.*\n$/)
  }
})

t.test('SYN drops: a path that loses SYNs with data (emulated WAN)', { skip: canFlush ? false : 'the emulated WAN needs root' }, async (t) => {
  let wan
  try {
    wan = await require('../bench/lib/wan').createWan({ rttMs: 4, tag: 'cookies' })
  } catch (e) {
    return t.skip(`no emulated WAN here: ${e.message}`)
  }
  t.teardown(() => wan.close())
  const server = wan.spawn(
    'server',
    process.execPath,
    [
      '-e',
      `
    const tfo = require(${JSON.stringify(ROOT)})
    tfo.createServer((s) => { s.on('data', () => s.end('ok')); s.on('error', () => {}) }).listen(7001, '0.0.0.0', () => console.log('ready'))`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  await new Promise((resolve) => server.stdout.once('data', resolve))
  const host = wan.server.addr
  const connect = `
    const s = tfo.connect(7001, ${JSON.stringify(host)}); s.end('hello'); s.resume()
    s.on('close', () => console.log(JSON.stringify(s.fastOpen)))`
  const run = async (script) => {
    const r = await wan.exec('client', process.execPath, ['-e', `const tfo = require(${JSON.stringify(ROOT)});\n${script}`])
    if (r.code !== 0) throw new Error(r.stderr)
    return JSON.parse(r.stdout)
  }
  await run(connect)
  t.match(await run(connect), { synData: true }, 'cookie cached, data rides the SYN')
  await wan.setDropSynData(true)
  t.match(await run(connect), { synData: false, failure: 'syn-retransmitted' }, 'SYN with data lost, plain SYN retransmitted')
  const list = await run('console.log(JSON.stringify(tfo.cookies.list()))')
  const [e] = list.filter((x) => x.address === host)
  t.match(e, { cookie: /^[0-9a-f]{16}$/, synDrops: 1 }, 'the kernel counts the drop and keeps the cookie')
  t.ok(Number.isInteger(e.synDropAgeMs) && e.synDropAgeMs < 30000, `synDropAgeMs ${e.synDropAgeMs}`)
  const ip = await wan.exec('client', 'ip', ['tcp_metrics', 'show', host])
  t.match(ip.stdout, /fo_syn_drops 1\//, `ip agrees: ${ip.stdout.trim()}`)
})
