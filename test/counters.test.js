'use strict'
// tfo.counters() / tfo.diffCounters(): the TcpExt TFO counters of
// /proc/net/netstat. The file runs in a private network namespace so that the
// traffic it makes, and nothing else, moves the counters.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const fs = require('node:fs')
const { spawnSync } = require('node:child_process')
const tfo = require('..')

const KEYS = ['active', 'activeFail', 'passive', 'passiveFail', 'listenOverflow', 'cookieReqd', 'blackhole', 'passiveAltKey']
const KERNEL = [
  'TCPFastOpenActive',
  'TCPFastOpenActiveFail',
  'TCPFastOpenPassive',
  'TCPFastOpenPassiveFail',
  'TCPFastOpenListenOverflow',
  'TCPFastOpenCookieReqd',
  'TCPFastOpenBlackhole',
  'TCPFastOpenPassiveAltKey',
]

// Shaped like the real file: two sections of header + values; TFO counters
// among others; one value above 2^32.
const FIXTURE = [
  'TcpExt: SyncookiesSent SyncookiesRecv TCPFastOpenActive TCPFastOpenActiveFail TCPFastOpenPassive TCPFastOpenPassiveFail TCPFastOpenListenOverflow TCPFastOpenCookieReqd TCPFastOpenBlackhole TCPSpuriousRtxHostQueues TCPFastOpenPassiveAltKey TcpTimeoutRehash',
  'TcpExt: 0 0 11 2 4294967301 3 4 5 6 7 8 9',
  'IpExt: InNoRoutes InTruncatedPkts TCPFastOpenActive',
  'IpExt: 0 0 999',
  '',
].join('\n')

t.test('COUNTER_NAMES maps camelCase keys to the kernel names', async (t) => {
  const { COUNTER_NAMES } = tfo
  t.same(Object.keys(COUNTER_NAMES), KEYS)
  t.same(Object.values(COUNTER_NAMES), KERNEL)
  t.ok(Object.isFrozen(COUNTER_NAMES))
})

t.test('parseNetstat reads a fixture', async (t) => {
  const s = tfo.parseNetstat(FIXTURE, 1234)
  t.same(
    s,
    {
      at: 1234,
      active: 11,
      activeFail: 2,
      passive: 4294967301,
      passiveFail: 3,
      listenOverflow: 4,
      cookieReqd: 5,
      blackhole: 6,
      passiveAltKey: 8,
    },
    'only TcpExt counts; values above 2^32 survive',
  )
  const now = Date.now()
  t.ok(tfo.parseNetstat(FIXTURE).at >= now, 'at defaults to Date.now()')
})

t.test('parseNetstat: missing counters are null, not 0', async (t) => {
  const old = [
    'TcpExt: TCPFastOpenActive TCPFastOpenActiveFail TCPFastOpenPassive TCPFastOpenPassiveFail TCPFastOpenListenOverflow TCPFastOpenCookieReqd',
    'TcpExt: 1 0 1 0 0 1',
  ].join('\n')
  const s = tfo.parseNetstat(old, 0)
  t.equal(s.active, 1)
  t.equal(s.activeFail, 0)
  t.equal(s.blackhole, null)
  t.equal(s.passiveAltKey, null)
  const none = tfo.parseNetstat('Ip: Forwarding\nIp: 1\n', 0)
  for (const k of KEYS) t.equal(none[k], null, `${k} without a TcpExt section`)
  t.same(tfo.parseNetstat('', 5), { at: 5, ...Object.fromEntries(KEYS.map((k) => [k, null])) })
})

t.test('parseNetstat tolerates CRLF, extra spaces and blank lines', async (t) => {
  const messy = '\r\n' + FIXTURE.replace(/ /g, '  ').replace(/\n/g, '\r\n\r\n')
  t.same(tfo.parseNetstat(messy, 1234), tfo.parseNetstat(FIXTURE, 1234))
})

t.test('parseNetstat rejects what it cannot read', async (t) => {
  t.throws(() => tfo.parseNetstat(), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => tfo.parseNetstat(Buffer.from(FIXTURE)), { code: 'ERR_INVALID_ARG_TYPE' })
  const bad = [
    'TcpExt: TCPFastOpenActive TCPFastOpenPassive\nTcpExt: 1\n', // fewer values than names
    'TcpExt: TCPFastOpenActive\nTcpExt: 1 2\n', // more values than names
    'TcpExt: TCPFastOpenActive\nTcpExt: -1\n',
    'TcpExt: TCPFastOpenActive\nTcpExt: x\n',
    'TcpExt: TCPFastOpenActive\nIpExt: 1\n', // header without its value line
    'TcpExt: TCPFastOpenActive\n',
  ]
  for (const text of bad) t.throws(() => tfo.parseNetstat(text), { code: 'TFO_NETSTAT_UNPARSABLE', path: '/proc/net/netstat' }, JSON.stringify(text))
})

t.test('diffCounters subtracts counter by counter', async (t) => {
  const before = tfo.parseNetstat(FIXTURE, 1000)
  const after = { ...before, at: 1250, active: before.active + 2, cookieReqd: before.cookieReqd + 1, passive: before.passive + 2 ** 33 }
  t.same(tfo.diffCounters(before, after), {
    at: 1250,
    intervalMs: 250,
    active: 2,
    activeFail: 0,
    passive: 2 ** 33,
    passiveFail: 0,
    listenOverflow: 0,
    cookieReqd: 1,
    blackhole: 0,
    passiveAltKey: 0,
  })
  const d = tfo.diffCounters({ ...before, passiveAltKey: null }, { ...after, blackhole: null })
  t.equal(d.passiveAltKey, null, 'missing before')
  t.equal(d.blackhole, null, 'missing after')
  t.equal(d.active, 2)
  t.throws(() => tfo.diffCounters(null, after), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => tfo.diffCounters(before), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => tfo.diffCounters({}, after), { code: 'ERR_INVALID_ARG_TYPE', message: /before\.at/ })
})

t.test('counters() reads all eight counters of this kernel', async (t) => {
  const text = fs.readFileSync('/proc/net/netstat', 'utf8')
  for (const name of KERNEL) t.match(text, new RegExp(`^TcpExt:.* ${name}( |$)`, 'm'), `${name} is in the file`)
  const from = Date.now()
  const s = tfo.counters()
  t.ok(s.at >= from && s.at <= Date.now(), 'at is the time of the snapshot')
  t.same(Object.keys(s).sort(), [...KEYS, 'at'].sort())
  for (const k of KEYS) t.ok(Number.isSafeInteger(s[k]) && s[k] >= 0, `${k} is a count: ${s[k]}`)
  t.same({ ...s, at: 0 }, tfo.parseNetstat(fs.readFileSync('/proc/net/netstat', 'utf8'), 0), 'same as parsing the file')
})

// A TFO listener (queue 16) on 127.0.0.1 and `connections` clients using
// sendto(MSG_FASTOPEN); each exchanges a request and a reply, and checks both.
const TRAFFIC_PY = `
import socket, sys
l = socket.socket()
l.settimeout(10)
l.setsockopt(socket.IPPROTO_TCP, 23, 16)  # TCP_FASTOPEN
l.bind(('127.0.0.1', 0))
l.listen()
for i in range(int(sys.argv[1])):
    c = socket.socket()  # blocking: MSG_FASTOPEN on a non-blocking socket gives EINPROGRESS
    c.settimeout(None)
    c.sendto(b'ping %d' % i, 0x20000000, l.getsockname())  # MSG_FASTOPEN
    s, _ = l.accept()
    assert s.recv(100) == b'ping %d' % i
    s.sendall(b'pong')
    assert c.recv(100) == b'pong'
    s.close()
    c.close()
l.close()
`
function traffic(connections) {
  const r = spawnSync('python3', ['-c', TRAFFIC_PY, String(connections)], { encoding: 'utf8', timeout: 30000 })
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`)
}

t.test('real TFO traffic moves the counters by what the kernel did', async (t) => {
  const flush = spawnSync('ip', ['tcp_metrics', 'flush'])
  t.equal(flush.status, 0, 'cleared the client cookie cache')

  // First connection: no cookie yet, so the client asks for one (cookieReqd on
  // the listener) and its data follows the handshake; the second connection
  // carries its data in the SYN with the cookie (active on the client, passive
  // on the listener: both ends are in this namespace).
  let before = tfo.counters()
  traffic(2)
  let d = tfo.diffCounters(before, tfo.counters())
  t.same(
    d,
    {
      at: d.at,
      intervalMs: d.intervalMs,
      active: 1,
      activeFail: 0,
      passive: 1,
      passiveFail: 0,
      listenOverflow: 0,
      cookieReqd: 1,
      blackhole: 0,
      passiveAltKey: 0,
    },
    'first: cookie request; second: data in the SYN',
  )
  t.ok(d.intervalMs >= 0)

  // The cookie is cached now: every connection is a TFO connection.
  before = tfo.counters()
  traffic(2)
  d = tfo.diffCounters(before, tfo.counters())
  t.match(d, { active: 2, activeFail: 0, passive: 2, passiveFail: 0, cookieReqd: 0, listenOverflow: 0 }, 'with a cached cookie')
})

t.test('counters are per network namespace', async (t) => {
  // A further private namespace sees its own, fresh counters.
  const r = spawnSync(
    'unshare',
    ['--net', process.execPath, '-e', `console.log(JSON.stringify(require(${JSON.stringify(require.resolve('..'))}).counters()))`],
    { encoding: 'utf8' },
  )
  if (r.status !== 0) return t.skip('cannot create a nested network namespace here')
  const fresh = JSON.parse(r.stdout)
  for (const k of KEYS) t.equal(fresh[k], 0, `${k} starts at 0 in a new namespace`)
  t.ok(tfo.counters().active > 0, 'while this namespace has counted traffic')
})
