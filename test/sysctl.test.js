'use strict'
// tfo.sysctl: the TCP Fast Open sysctls. The whole file runs in a private
// network namespace (net.ipv4.tcp_fastopen=3 there), so every write lands in
// that namespace; the host's values are only read, through nsenter.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename, { env: { TFO_TEST_HOST_PID: String(process.pid) } })) return

const t = require('tap')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const tfo = require('..')
const c = require('./helpers/binding').constants

const { sysctl } = tfo
const ROOT = path.resolve(__dirname, '..')
const FASTOPEN = '/proc/sys/net/ipv4/tcp_fastopen'
const KEY = '/proc/sys/net/ipv4/tcp_fastopen_key'
const BLACKHOLE = '/proc/sys/net/ipv4/tcp_fastopen_blackhole_timeout_sec'
const raw = (file) => fs.readFileSync(file, 'utf8').trim()
const rawWrite = (file, text) => fs.writeFileSync(file, `${text}\n`)

// Runs a script with tfo as `tfo` in a child node process; returns its JSON output.
function runNode(script, { prefix = [], ...options } = {}) {
  const code = `const tfo = require(${JSON.stringify(ROOT)});\n${script}`
  const [cmd, ...args] = [...prefix, process.execPath, '-e', code]
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30000, ...options })
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`)
  return JSON.parse(r.stdout)
}

// The host's (outer) network namespace: the process that started this file.
const hostNetns = `/proc/${process.env.TFO_TEST_HOST_PID}/ns/net`
function readHost() {
  return runNode(
    `
    const fs = require('node:fs')
    const rawText = fs.readFileSync('${FASTOPEN}', 'utf8')
    console.log(JSON.stringify({ raw: rawText, decoded: tfo.sysctl.fastOpen() }))
  `,
    { prefix: ['nsenter', `--net=${hostNetns}`] },
  )
}
const canReadHost = spawnSync('nsenter', [`--net=${hostNetns}`, 'true']).status === 0
const hostSkip = canReadHost ? false : 'cannot nsenter the host network namespace (needs root)'
const hostAtStart = canReadHost ? readHost() : null

t.test('FASTOPEN_FLAGS are the documented sysctl bits', async (t) => {
  t.same(sysctl.FASTOPEN_FLAGS, {
    client: 0x1,
    server: 0x2,
    clientNoCookie: 0x4,
    serverNoCookie: 0x200,
    serverWithoutSockopt: 0x400,
  })
  t.ok(Object.isFrozen(sysctl.FASTOPEN_FLAGS))
})

t.test('decodeFastOpen is pure and names every bit', async (t) => {
  const none = { client: false, server: false, clientNoCookie: false, serverNoCookie: false, serverWithoutSockopt: false }
  t.same(sysctl.decodeFastOpen(0), { value: 0, ...none, unknownBits: 0 })
  t.same(sysctl.decodeFastOpen(1), { value: 1, ...none, client: true, unknownBits: 0 })
  t.same(sysctl.decodeFastOpen(3), { value: 3, ...none, client: true, server: true, unknownBits: 0 })
  for (const [name, bit] of Object.entries(sysctl.FASTOPEN_FLAGS)) {
    t.same(sysctl.decodeFastOpen(bit), { value: bit, ...none, [name]: true, unknownBits: 0 }, name)
  }
  t.same(sysctl.decodeFastOpen(0x607), {
    value: 0x607,
    client: true,
    server: true,
    clientNoCookie: true,
    serverNoCookie: true,
    serverWithoutSockopt: true,
    unknownBits: 0,
  })
  t.equal(sysctl.decodeFastOpen(0x1003).unknownBits, 0x1000)
  t.equal(sysctl.decodeFastOpen(0x800).unknownBits, 0x800, '0x800 (old TFO_SERVER_WO_SOCKOPT2) is not a known bit')
  // The kernel stores an int and accepts -1: every bit set.
  t.equal(sysctl.decodeFastOpen(-1).unknownBits, ~0x607 >>> 0)
  t.equal(sysctl.decodeFastOpen(-1).serverWithoutSockopt, true)
  t.throws(() => sysctl.decodeFastOpen('3'), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => sysctl.decodeFastOpen(), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => sysctl.decodeFastOpen(1.5), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => sysctl.decodeFastOpen(2 ** 31), { code: 'ERR_OUT_OF_RANGE' })
})

t.test('reads the host value, decoded, without writing it', { skip: hostSkip }, async (t) => {
  const { raw: text, decoded } = hostAtStart
  t.match(text, /^-?\d+\n$/, 'the host file holds one integer')
  t.same(decoded, sysctl.decodeFastOpen(Number(text)))
})

t.test('fastOpen() reads this namespace, which is not the host', async (t) => {
  t.equal(raw(FASTOPEN), '3', 'the netns helper set 3')
  t.same(sysctl.fastOpen(), sysctl.decodeFastOpen(3))
  rawWrite(FASTOPEN, 0x403)
  t.same(sysctl.fastOpen(), sysctl.decodeFastOpen(0x403), 'follows the file')
  rawWrite(FASTOPEN, 3)
})

t.test('setFastOpen writes numbers and returns the new reading', async (t) => {
  t.teardown(() => rawWrite(FASTOPEN, 3))
  for (const v of [0, 1, 2, 0x5, 0x203, 0x403, 0x603, 0x607]) {
    const got = sysctl.setFastOpen(v)
    t.same(got, sysctl.decodeFastOpen(v), `returns the reading for ${v}`)
    t.equal(raw(FASTOPEN), String(v), `the file holds ${v}`)
  }
  const raw1001 = sysctl.setFastOpen(0x1001, { allowUnknownBits: true })
  t.same(raw1001, sysctl.decodeFastOpen(0x1001), 'an unknown bit with the explicit opt-in')
  t.equal(raw(FASTOPEN), String(0x1001))
  t.same(sysctl.setFastOpen(3, { allowUnknownBits: false }), sysctl.decodeFastOpen(3), 'the option may be false')
})

t.test('values that would switch TFO off are refused and leave the sysctl unchanged', async (t) => {
  t.teardown(() => rawWrite(FASTOPEN, 3))
  for (const start of [3, 1, 0x603]) {
    rawWrite(FASTOPEN, start)
    for (const bad of [65536, 0x10003, 0x800, 0x1000, 2 ** 31 - 1, 0x80000]) {
      const err = t.throws(() => sysctl.setFastOpen(bad), { code: 'ERR_OUT_OF_RANGE', name: 'RangeError' }, `${bad}: unknown bits`)
      t.match(
        err.message,
        /0x1 \(client\), 0x2 \(server\), 0x4 \(clientNoCookie\), 0x200 \(serverNoCookie\), 0x400 \(serverWithoutSockopt\)/,
        'the message names the known bits',
      )
      t.match(err.message, /allowUnknownBits/, 'and the opt-in')
      t.equal(raw(FASTOPEN), String(start), `${bad} not written over ${start}`)
    }
    for (const bad of [0x4, 0x200, 0x400, 0x600, 0x604]) {
      const err = t.throws(() => sysctl.setFastOpen(bad), { code: 'ERR_INVALID_ARG_VALUE', name: 'TypeError' }, `0x${bad.toString(16)}: no role bit`)
      t.match(err.message, /neither the client bit \(0x1\) nor the server bit \(0x2\).*write 0/)
      t.equal(raw(FASTOPEN), String(start), `0x${bad.toString(16)} not written over ${start}`)
    }
    for (const [opts, code] of [
      ['x', 'ERR_INVALID_ARG_TYPE'],
      [null, 'ERR_INVALID_ARG_TYPE'],
      [{ allowUnknownBits: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
    ]) {
      t.throws(() => sysctl.setFastOpen(3, opts), { code, message: /options/ })
      t.equal(raw(FASTOPEN), String(start))
    }
  }
})

t.test('why: the kernel really turns TFO off for such values (so refusing them matters)', async (t) => {
  t.teardown(() => rawWrite(FASTOPEN, 3))
  for (const value of [65536, 0x400]) {
    rawWrite(FASTOPEN, value) // what setFastOpen would have written
    const s = tfo.support()
    t.equal(s.client, false, `${value}: TCP_FASTOPEN_CONNECT refused`)
    t.match(s.clientReason, /lacks the client bit/)
    t.equal(s.server, false, `${value}: no server bit`)
  }
  t.same(sysctl.setFastOpen(65536, { allowUnknownBits: true }), sysctl.decodeFastOpen(65536), 'the opt-in writes it nonetheless')
  t.equal(raw(FASTOPEN), '65536')
})

t.test('setFastOpen merges named flags into the current value', async (t) => {
  t.teardown(() => rawWrite(FASTOPEN, 3))
  rawWrite(FASTOPEN, 3)
  t.equal(sysctl.setFastOpen({ serverNoCookie: true }).value, 0x203)
  t.equal(raw(FASTOPEN), String(0x203))
  t.equal(sysctl.setFastOpen({ client: false, serverWithoutSockopt: true }).value, 0x602)
  t.equal(sysctl.setFastOpen({ serverNoCookie: false, server: false, serverWithoutSockopt: false }).value, 0)
  t.equal(sysctl.setFastOpen({ client: true, clientNoCookie: true, server: undefined }).value, 0x5, 'undefined leaves a flag alone')
  t.equal(sysctl.setFastOpen({}).value, 0x5, 'no flags: value unchanged')
  rawWrite(FASTOPEN, 0x1003)
  const got = sysctl.setFastOpen({ server: false })
  t.equal(got.value, 0x1001, 'unknown bits are kept')
  t.equal(got.unknownBits, 0x1000)
  t.equal(raw(FASTOPEN), String(0x1001))
})

t.test('setFastOpen rejects bad arguments with Node codes and writes nothing', async (t) => {
  rawWrite(FASTOPEN, 3)
  t.throws(() => sysctl.setFastOpen('3'), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => sysctl.setFastOpen(), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => sysctl.setFastOpen(null), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => sysctl.setFastOpen([1]), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => sysctl.setFastOpen(true), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => sysctl.setFastOpen(-1), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => sysctl.setFastOpen(1.5), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => sysctl.setFastOpen(2 ** 31), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => sysctl.setFastOpen(NaN), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => sysctl.setFastOpen({ server: 1 }), { code: 'ERR_INVALID_ARG_TYPE', message: /value\.server/ })
  t.throws(() => sysctl.setFastOpen({ sever: true }), { code: 'ERR_INVALID_ARG_VALUE', message: /value\.sever/ })
  t.throws(() => sysctl.setFastOpen({ client: false, sever: true }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.equal(raw(FASTOPEN), '3', 'nothing was written')
})

// The addon's constants (from the C headers) for Python scripts, in the environment.
const PY_ENV = { ...process.env, TCP_FASTOPEN: String(c.TCP_FASTOPEN), TCP_FASTOPEN_KEY: String(c.TCP_FASTOPEN_KEY), MSG_FASTOPEN: String(c.MSG_FASTOPEN) }

// Runs Python to make a TFO listener on 127.0.0.1 (with its own TCP_FASTOPEN_KEY
// when keyHex is given) and connects to it twice with MSG_FASTOPEN; prints the
// cookie the client cached for 127.0.0.1.
const COOKIE_PY = `
import os, socket, subprocess, sys
C = {k: int(os.environ[k]) for k in ('TCP_FASTOPEN', 'TCP_FASTOPEN_KEY', 'MSG_FASTOPEN')}
subprocess.run(['ip', 'tcp_metrics', 'flush'], check=True)
l = socket.socket()
l.settimeout(10)
l.setsockopt(socket.IPPROTO_TCP, C['TCP_FASTOPEN'], 16)
if len(sys.argv) > 1:
    l.setsockopt(socket.IPPROTO_TCP, C['TCP_FASTOPEN_KEY'], bytes.fromhex(sys.argv[1]))
l.bind(('127.0.0.1', 0))
l.listen()
c = socket.socket()  # blocking: MSG_FASTOPEN on a non-blocking socket gives EINPROGRESS
c.sendto(b'x', C['MSG_FASTOPEN'], l.getsockname())
s, _ = l.accept()
assert s.recv(1) == b'x'
s.close(); c.close(); l.close()
out = subprocess.run(['ip', 'tcp_metrics', 'show', '127.0.0.1'], check=True, capture_output=True, text=True).stdout
print(out.split('fo_cookie ')[1].split()[0])
`
function cookieFor(keyHex) {
  const r = spawnSync('python3', ['-c', COOKIE_PY, ...(keyHex ? [keyHex] : [])], { encoding: 'utf8', timeout: 30000, env: PY_ENV })
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`)
  return r.stdout.trim()
}

t.test('key(): zeros until the kernel makes a key, then the key', async (t) => {
  // This namespace is new and nothing here set TCP_FASTOPEN yet.
  t.equal(raw(KEY), '00000000-00000000-00000000-00000000')
  t.same(sysctl.key(), { primary: Buffer.alloc(16), backup: null })
  const r = spawnSync('python3', ['-c', 'import os, socket; socket.socket().setsockopt(socket.IPPROTO_TCP, int(os.environ["TCP_FASTOPEN"]), 1)'], {
    timeout: 30000,
    env: PY_ENV,
  })
  t.equal(r.status, 0, 'python set TCP_FASTOPEN on a socket')
  const k = sysctl.key()
  t.equal(k.primary.length, 16)
  t.notSame(k.primary, Buffer.alloc(16), 'setting TCP_FASTOPEN made the kernel generate a random key')
  t.equal(k.backup, null)
  t.equal(sysctl.formatKey(k.primary), raw(KEY))
})

t.test('setKey / key round trip, Buffer and string forms, backup', async (t) => {
  const bytes = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
  let k = sysctl.setKey(bytes)
  t.same(k, { primary: bytes, backup: null }, 'returns the new reading')
  t.same(sysctl.key(), { primary: bytes, backup: null })
  t.equal(raw(KEY), '33221100-77665544-bbaa9988-ffeeddcc', 'the kernel prints little-endian 32-bit words')

  const text = '0a0b0c0d-01020304-05060708-090a0b0c'
  k = sysctl.setKey(text)
  t.equal(raw(KEY), text, 'a string is the kernel text form')
  t.same(k.primary, Buffer.from('0d0c0b0a04030201080706050c0b0a09', 'hex'))
  t.same(sysctl.setKey('0A0B0C0D01020304050607080 90A0B0C'.replace(' ', '')).primary, k.primary, 'dashes optional, any case')
  t.same(sysctl.setKey(' 0a0b0c0d-01020304-05060708-090a0b0c\n').primary, k.primary, 'surrounding white space ignored')

  const backup = Buffer.from('ffeeddccbbaa99887766554433221100', 'hex')
  k = sysctl.setKey(bytes, backup)
  t.same(k, { primary: bytes, backup })
  t.equal(raw(KEY), '33221100-77665544-bbaa9988-ffeeddcc,ccddeeff-8899aabb-44556677-00112233')
  t.same(sysctl.setKey(text, 'ccddeeff8899aabb4455667700112233'), { primary: sysctl.parseKey(text), backup })
  t.same(sysctl.setKey(new Uint8Array(bytes), null), { primary: bytes, backup: null }, 'Uint8Array; null backup')

  sysctl.setKey(bytes, backup)
  t.same(sysctl.setKey(text), { primary: sysctl.parseKey(text), backup: null }, 'writing a primary alone drops the backup')
  t.equal(raw(KEY), text)
})

t.test('formatKey / parseKey are inverse', async (t) => {
  const bytes = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
  t.equal(sysctl.formatKey(bytes), '33221100-77665544-bbaa9988-ffeeddcc')
  t.same(sysctl.parseKey('33221100-77665544-bbaa9988-ffeeddcc'), bytes)
  t.same(sysctl.parseKey(sysctl.formatKey(bytes.subarray(0, 16))), bytes)
  const copy = sysctl.parseKey(bytes)
  copy[0] = 0xff
  t.equal(bytes[0], 0, 'parseKey copies a Buffer')
  t.throws(() => sysctl.formatKey('33221100-77665544-bbaa9988-ffeeddcc'), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => sysctl.formatKey(Buffer.alloc(32)), { code: 'ERR_INVALID_ARG_VALUE' })
})

t.test('a Buffer key is the byte string TCP_FASTOPEN_KEY takes', async (t) => {
  const hex = '8f2e7a01c3b4d5e6f708192a3b4c5d6e'
  const viaSockopt = cookieFor(hex)
  sysctl.setKey(Buffer.from(hex, 'hex'))
  const viaSysctl = cookieFor()
  t.match(viaSockopt, /^[0-9a-f]{16}$/)
  t.equal(viaSysctl, viaSockopt, 'the same cookie from the listener key and the sysctl key')
  sysctl.setKey(sysctl.formatKey(Buffer.from(hex, 'hex')).split('-').reverse().join('-'))
  t.not(cookieFor(), viaSockopt, 'a different key gives a different cookie')
})

t.test('setKey rejects bad keys with Node codes, never showing them', async (t) => {
  sysctl.setKey('01234567-89abcdef-01234567-89abcdef')
  const before = raw(KEY)
  const good = Buffer.alloc(16, 1)
  t.throws(() => sysctl.setKey(), { code: 'ERR_INVALID_ARG_TYPE', message: /"primary"/ })
  t.throws(() => sysctl.setKey(123), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => sysctl.setKey([1, 2, 3]), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => sysctl.setKey(good, 5), { code: 'ERR_INVALID_ARG_TYPE', message: /"backup"/ })
  const secrets = [
    Buffer.alloc(15, 0xab),
    Buffer.alloc(32, 0xab),
    'abababab-abababab-abababab-ababab',
    'abababab-abababab-abababab-abababab0',
    'abababab-abababab-abababab-abababag',
    'abababababababababababababababab-',
    'ababab-abababab-abababab-abababab', // the kernel would take short groups; tfo does not
    '',
  ]
  for (const bad of secrets) {
    const err = t.throws(() => sysctl.setKey(bad), { code: 'ERR_INVALID_ARG_VALUE', message: /'primary'/ })
    t.notMatch(err.message, /abab|171/, 'the message does not show the key')
    t.throws(() => sysctl.setKey(good, bad), { code: 'ERR_INVALID_ARG_VALUE', message: /'backup'/ })
  }
  t.equal(raw(KEY), before, 'nothing was written')
})

t.test('setKey refuses keys of all zeros (anyone could make cookies) and leaves the key unchanged', async (t) => {
  sysctl.setKey('01234567-89abcdef-01234567-89abcdef')
  const before = raw(KEY)
  const good = Buffer.alloc(16, 1)
  for (const zero of [Buffer.alloc(16), new Uint8Array(16), '00000000-00000000-00000000-00000000', '0'.repeat(32)]) {
    t.throws(() => sysctl.setKey(zero), { code: 'ERR_INVALID_ARG_VALUE', message: /'primary' must not be all zeros/ })
    t.throws(() => sysctl.setKey(good, zero), { code: 'ERR_INVALID_ARG_VALUE', message: /'backup' must not be all zeros/ })
  }
  t.equal(raw(KEY), before, 'nothing was written')
  // A backup equal to the primary is accepted: it changes nothing (documented).
  t.same(sysctl.setKey(good, good), { primary: good, backup: good })
  t.same(sysctl.parseKey('00000000-00000000-00000000-00000000'), Buffer.alloc(16), 'parsing zeros (reading "no key yet") still works')
})

t.test('blackhole timeout round trip', async (t) => {
  t.equal(sysctl.blackholeTimeout(), Number(raw(BLACKHOLE)))
  t.equal(sysctl.blackholeTimeout(), 0, 'a new namespace starts with detection off (kernel 6.x default)')
  t.equal(sysctl.setBlackholeTimeout(3600), 3600)
  t.equal(raw(BLACKHOLE), '3600')
  t.equal(sysctl.blackholeTimeout(), 3600)
  t.equal(sysctl.MAX_BLACKHOLE_TIMEOUT_SEC, 67108, 'floor((2^32 - 1) / (64 * 1000)): no wrap at HZ=1000 and the 64x backoff')
  t.equal(sysctl.setBlackholeTimeout(sysctl.MAX_BLACKHOLE_TIMEOUT_SEC), 67108)
  t.equal(raw(BLACKHOLE), '67108')
  for (const big of [67109, 4294968, 2 ** 31 - 1]) {
    t.throws(() => sysctl.setBlackholeTimeout(big), { code: 'ERR_OUT_OF_RANGE', message: /<= 67108/ }, `${big} would overflow the kernel's arithmetic`)
    t.equal(raw(BLACKHOLE), '67108', `${big} not written`)
  }
  t.equal(sysctl.setBlackholeTimeout(0), 0)
  t.equal(raw(BLACKHOLE), '0')
  t.throws(() => sysctl.setBlackholeTimeout('60'), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => sysctl.setBlackholeTimeout(), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => sysctl.setBlackholeTimeout(-1), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => sysctl.setBlackholeTimeout(0.5), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => sysctl.setBlackholeTimeout(2 ** 31), { code: 'ERR_OUT_OF_RANGE' })
  t.equal(raw(BLACKHOLE), '0', 'nothing was written')
})

t.test('read-only helpers for doctor', async (t) => {
  rawWrite('/proc/sys/net/core/somaxconn', 1234)
  t.equal(sysctl.somaxconn(), 1234)
  rawWrite('/proc/sys/net/ipv4/tcp_syncookies', 2)
  t.equal(sysctl.syncookies(), 2)
  rawWrite('/proc/sys/net/ipv4/tcp_max_syn_backlog', 321)
  t.equal(sysctl.maxSynBacklog(), 321)
})

t.test('generic path() and read()', async (t) => {
  t.equal(sysctl.path('net.ipv4.tcp_fastopen'), FASTOPEN)
  t.equal(sysctl.path('net/ipv4/tcp_fastopen'), FASTOPEN)
  t.equal(sysctl.path('net.ipv4.conf.lo.forwarding'), '/proc/sys/net/ipv4/conf/lo/forwarding')
  t.equal(sysctl.read('net.ipv4.tcp_fastopen'), raw(FASTOPEN))
  t.equal(sysctl.read('net/ipv4/tcp_fastopen_key'), raw(KEY))
  t.throws(() => sysctl.path(1), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => sysctl.read(), { code: 'ERR_INVALID_ARG_TYPE' })
  for (const bad of ['', 'net..ipv4', '../../etc/passwd', 'net/ipv4/../../../etc/passwd', '/proc/sys/net', 'net.'])
    t.throws(() => sysctl.read(bad), { code: 'ERR_INVALID_ARG_VALUE' }, JSON.stringify(bad))
})

t.test('a missing sysctl is a clear ENOENT', async (t) => {
  const file = '/proc/sys/net/ipv4/tcp_fastopen_no_such_thing'
  const err = t.throws(() => sysctl.read('net.ipv4.tcp_fastopen_no_such_thing'), {
    code: 'ENOENT',
    errno: -2,
    syscall: 'open',
    path: file,
  })
  t.match(err.message, `open ENOENT ${file}: net.ipv4.tcp_fastopen_no_such_thing does not exist`)
})

// Writes each setting as uid/gid 65534 (nobody) and reports the errors.
const TRY_WRITES = `
const shape = (fn) => { try { fn(); return null } catch (e) {
  return { code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, message: e.message } } }
console.log(JSON.stringify({
  uid: process.getuid(),
  fastOpen: tfo.sysctl.fastOpen(),
  setFastOpen: shape(() => tfo.sysctl.setFastOpen(0x403)),
  setFlags: shape(() => tfo.sysctl.setFastOpen({ server: false })),
  setKey: shape(() => tfo.sysctl.setKey(Buffer.alloc(16, 0xab))),
  setBlackholeTimeout: shape(() => tfo.sysctl.setBlackholeTimeout(7)),
  key: shape(() => tfo.sysctl.key()),
}))
`
const WHERE = {
  setFastOpen: 'net.ipv4.tcp_fastopen',
  setFlags: 'net.ipv4.tcp_fastopen',
  setKey: 'net.ipv4.tcp_fastopen_key',
  setBlackholeTimeout: 'net.ipv4.tcp_fastopen_blackhole_timeout_sec',
}

t.test('writing without root: EACCES naming the file and CAP_NET_ADMIN', async (t) => {
  rawWrite(FASTOPEN, 3)
  const keyBefore = raw(KEY)
  const out = runNode(TRY_WRITES, { uid: 65534, gid: 65534 })
  t.equal(out.uid, 65534)
  t.same(out.fastOpen, sysctl.decodeFastOpen(3), 'reading tcp_fastopen needs no privilege')
  for (const [what, name] of Object.entries(WHERE)) {
    const file = sysctl.path(name)
    t.match(out[what], { code: 'EACCES', errno: -13, syscall: 'open', path: file }, what)
    t.equal(out[what].message, `open EACCES ${file}: writing ${name} needs root (CAP_NET_ADMIN) in this network namespace`, what)
  }
  t.notMatch(out.setKey.message, /ab/, 'no key material in the message')
  t.match(out.key, { code: 'EACCES', errno: -13, syscall: 'open', path: KEY }, 'the key file is mode 0600')
  t.match(out.key.message, `reading net.ipv4.tcp_fastopen_key needs root (CAP_NET_ADMIN) in this network namespace`)
  t.equal(raw(FASTOPEN), '3')
  t.equal(raw(KEY), keyBefore)
})

t.test('writing to a read-only /proc/sys (containers): EROFS', async (t) => {
  // A private mount namespace with /proc/sys bind-mounted read-only, as Docker does.
  const ro = 'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$@"'
  const probe = spawnSync('unshare', ['--mount', 'sh', '-c', ro, 'ro', 'true'])
  if (probe.status !== 0) return t.skip('cannot make a read-only /proc/sys here (needs root)')
  const out = runNode(TRY_WRITES, { prefix: ['unshare', '--mount', 'sh', '-c', ro, 'ro'] })
  t.equal(out.uid, 0, 'still root')
  for (const [what, name] of Object.entries(WHERE)) {
    const file = sysctl.path(name)
    t.match(out[what], { code: 'EROFS', errno: -30, syscall: 'open', path: file }, what)
    t.match(out[what].message, `open EROFS ${file}: writing ${name} needs root (CAP_NET_ADMIN) in this network namespace and a writable /proc/sys`)
    t.match(out[what].message, /mounted read-only/)
  }
  t.equal(out.key, null, 'reading still works')
  t.equal(raw(FASTOPEN), '3', 'nothing was written')
})

t.test('the host value is unchanged', { skip: hostSkip }, async (t) => {
  t.same(readHost(), hostAtStart)
})
