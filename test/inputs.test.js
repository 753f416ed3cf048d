'use strict'
// Bad input must not switch TCP Fast Open off, or claim what is not so: the
// setters outside tfo.sysctl (backoff, listener keys and queue, the rotation
// clock), and what a server or client says when the kernel refuses an option
// or a sysctl cannot be read. Runs in a private network namespace with
// net.ipv4.tcp_fastopen=3 (helpers/netns.js); the host is never touched.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const tfo = require('..')
const { listen, closeServer, collect, sleep } = require('./helpers/util')
const c = require('./helpers/binding').constants

const ROOT = path.join(__dirname, '..')
const KEY = '/proc/sys/net/ipv4/tcp_fastopen_key'
const SOMAXCONN = '/proc/sys/net/core/somaxconn'
const raw = (file) => fs.readFileSync(file, 'utf8').trim()
const SECRET = 'a shared secret of more than sixteen bytes'

/** Runs `script` (with tfo as `tfo`) in a child node; returns its JSON output. */
function child(script, { prefix = [], env = {} } = {}) {
  const code = `const tfo = require(${JSON.stringify(ROOT)});\n${script}`
  const [cmd, ...args] = [...prefix, process.execPath, '-e', code]
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30000, env: { ...process.env, ...env } })
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`)
  return JSON.parse(r.stdout)
}

t.test('configureBackoff: a bound below the first pause, or a zero pause, is refused and changes nothing', async (t) => {
  const { backoff } = require('../dist/core/backoff.js')
  const DEFAULTS = { enabled: true, initialMs: 60000, maxMs: 3600000, maxEntries: 4096 }
  tfo.configureBackoff(DEFAULTS)
  t.teardown(() => tfo.configureBackoff(DEFAULTS))
  t.throws(() => tfo.configureBackoff({ maxMs: 1000 }), {
    code: 'ERR_OUT_OF_RANGE',
    message: /"options\.maxMs".*>= options\.initialMs \(60000\). Received 1000/,
  })
  t.throws(() => tfo.configureBackoff({ initialMs: 7200000 }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.initialMs".*<= options\.maxMs \(3600000\)/ })
  t.throws(() => tfo.configureBackoff({ initialMs: 5000, maxMs: 4999 }), { code: 'ERR_OUT_OF_RANGE', message: /options\.maxMs/ })
  t.throws(() => tfo.configureBackoff({ initialMs: 0 }), { code: 'ERR_OUT_OF_RANGE', message: /options\.initialMs/ })
  t.throws(() => tfo.configureBackoff({ maxMs: 0 }), { code: 'ERR_OUT_OF_RANGE', message: /options\.maxMs/ })
  t.match(backoff, DEFAULTS, 'nothing was applied')
  tfo.configureBackoff({ initialMs: 5000, maxMs: 5000 })
  t.match(backoff, { initialMs: 5000, maxMs: 5000 }, 'equal is fine (a constant pause)')
  tfo.configureBackoff({ maxMs: 10000 })
  t.match(backoff, { initialMs: 5000, maxMs: 10000 }, 'one bound alone, checked against the other')
})

t.test('listener keys of all zeros are refused (anyone could make cookies)', async (t) => {
  const zero = Buffer.alloc(16)
  const good = Buffer.alloc(16, 7)
  for (const key of [
    zero,
    new Uint8Array(16),
    '00000000-00000000-00000000-00000000',
    '0'.repeat(32),
    Buffer.concat([good, zero]),
    Buffer.concat([zero, good]),
    `${'0'.repeat(32)},${good.toString('hex')}`,
  ]) {
    t.throws(() => tfo.createServer({ fastOpen: { key } }), { code: 'ERR_INVALID_ARG_VALUE', message: /must not be all zeros/ })
  }
  const server = tfo.createServer({ fastOpen: { key: good } })
  await listen(server, 0, '127.0.0.1')
  t.teardown(() => closeServer(server))
  t.throws(() => tfo.setFastOpenKey(server, zero), { code: 'ERR_INVALID_ARG_VALUE', message: /'primary' must not be all zeros/ })
  t.throws(() => tfo.setFastOpenKey(server, good, zero), { code: 'ERR_INVALID_ARG_VALUE', message: /'backup' must not be all zeros/ })
  t.match(server.fastOpen.key, { source: 'own', backup: null, reason: null }, 'the key in use is unchanged')
  const got = Buffer.alloc(32)
  const n = require('./helpers/binding').getsockoptBytes(server._handle.fd, c.IPPROTO_TCP, c.TCP_FASTOPEN_KEY, got)
  t.same(got.subarray(0, n), good, 'the socket still holds the good key')
  t.match(tfo.setFastOpenKey(server, good, good).key, { source: 'own', backup: 'own', reason: null }, 'a backup equal to the primary is accepted')
})

t.test('queueLength above net.core.somaxconn: the state says what the kernel applies', async (t) => {
  const before = raw(SOMAXCONN)
  t.teardown(() => fs.writeFileSync(SOMAXCONN, `${before}\n`)) // this private namespace only
  fs.writeFileSync(SOMAXCONN, '128\n')
  const capped = tfo.createServer({ fastOpen: { queueLength: 1000 } })
  t.equal(capped.fastOpen.effectiveQueueLength, null, 'null before listen')
  await listen(capped, 0, '127.0.0.1')
  t.match(capped.fastOpen, { active: true, queueLength: 1000, effectiveQueueLength: 128 }, 'capped at somaxconn')
  await closeServer(capped)
  fs.writeFileSync(SOMAXCONN, '4096\n')
  const fits = tfo.createServer({ fastOpen: { queueLength: 1000 } })
  await listen(fits, 0, '127.0.0.1')
  t.match(fits.fastOpen, { queueLength: 1000, effectiveQueueLength: 1000 })
  await closeServer(fits)
})

t.test('rotateNamespaceFastOpenKey: a clock with no usable time is refused at once and writes nothing', async (t) => {
  tfo.sysctl.setKey('01234567-89abcdef-01234567-89abcdef')
  const before = raw(KEY)
  for (const [bad, said] of [
    [() => NaN, /returned NaN/],
    [() => 'now', /returned string/],
    [() => 1e300, /returned 1e\+300/],
    [
      () => {
        throw new Error('no time')
      },
      /threw no time/,
    ],
  ]) {
    t.throws(() => tfo.rotateNamespaceFastOpenKey({ secret: SECRET, periodMs: 1000, clock: bad }), { code: 'ERR_INVALID_ARG_VALUE', message: said })
    t.equal(raw(KEY), before, 'the key is unchanged')
  }
})

t.test('a rotation clock that goes bad later: recorded, keys kept, no crash (namespace and listener)', async (t) => {
  let calls = 0
  let mode = 'good'
  const clock = () => {
    calls++
    if (mode === 'nan') return NaN
    if (mode === 'throw') throw new Error('clock broke')
    return Date.now()
  }
  const rot = tfo.rotateNamespaceFastOpenKey({ secret: SECRET, periodMs: 1000, clock })
  t.teardown(() => rot.stop())
  const server = tfo.createServer({ fastOpen: { keyRotation: { secret: SECRET, periodMs: 1000, clock } } })
  await listen(server, 0, '127.0.0.1')
  t.teardown(() => closeServer(server))
  t.match(rot.state, { source: 'derived', reason: null })
  t.match(server.fastOpen.key, { source: 'derived', reason: null })
  const key = raw(KEY)
  mode = 'nan'
  const seen = calls
  await sleep(700) // the keys change every 500 ms: each loop ticks at least once
  t.ok(calls > seen, 'the clock was asked again')
  t.match(rot.state.reason, /the rotation clock returned NaN, not a time in ms; keys left as they were/)
  t.match(server.fastOpen.key.reason, /the rotation clock returned NaN/)
  t.equal(raw(KEY), key, 'the namespace key was left as it was')
  mode = 'throw'
  await sleep(1100) // a bad clock is asked again after a minute at most; meanwhile nothing crashes
  t.pass('no uncaught exception from the timers')
})

t.test('net.ipv4.tcp_fastopen unreadable: the server is not called active, and says it does not know', async (t) => {
  // A mount namespace where the sysctl file reads as nothing (as a container may mask /proc/sys).
  const out = child(
    `
    const server = tfo.createServer((s) => { s.end(String(s.fastOpen.synData)) })
    const warnings = []
    server.on('warning', (w) => warnings.push(w.code))
    server.listen(0, '127.0.0.1', () => {
      const s = tfo.connect(server.address().port, '127.0.0.1'); s.end('cookie'); s.resume()
      s.on('close', () => {
        const again = tfo.connect(server.address().port, '127.0.0.1'); again.end('data'); const d = []
        again.on('data', (x) => d.push(x))
        again.on('close', () => {
          console.log(JSON.stringify({ state: server.fastOpen, warnings, serverSaw: Buffer.concat(d).toString() }))
          server.close()
        })
      })
    })`,
    { prefix: ['unshare', '--mount', 'sh', '-c', 'mount --bind /dev/null /proc/sys/net/ipv4/tcp_fastopen && exec "$@"', 'sh'] },
  )
  t.match(out.state, {
    requested: true,
    enabled: true,
    active: false,
    reason: /net\.ipv4\.tcp_fastopen could not be read .*unknown/,
  })
  t.same(out.warnings, [], 'no TFO_SERVER_INACTIVE warning: it may well be active')
  t.equal(out.serverSaw, 'true', 'and it was: accepted sockets still tell the truth')
})

// An LD_PRELOAD library that makes setsockopt(IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE)
// fail with ENOPROTOOPT, as on a kernel older than 4.15 (the addon calls libc's setsockopt).
const SHIM_C = `
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/tcp.h>
int setsockopt(int fd, int level, int name, const void *v, socklen_t len) {
  static int (*real)(int, int, int, const void *, socklen_t);
  if (!real) real = (int (*)(int, int, int, const void *, socklen_t))dlsym(RTLD_NEXT, "setsockopt");
  if (level == IPPROTO_TCP && name == TCP_FASTOPEN_NO_COOKIE) { errno = ENOPROTOOPT; return -1; }
  return real(fd, level, name, v, len);
}
`
function buildShim() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-shim-'))
  fs.writeFileSync(path.join(dir, 'shim.c'), SHIM_C)
  const r = spawnSync('cc', ['-shared', '-fPIC', '-o', path.join(dir, 'shim.so'), path.join(dir, 'shim.c'), '-ldl'], { encoding: 'utf8' })
  if (r.error || r.status !== 0) return { dir, error: (r.error && r.error.message) || r.stderr }
  return { dir, so: path.join(dir, 'shim.so') }
}
const shim = buildShim()
t.teardown(() => fs.rmSync(shim.dir, { recursive: true, force: true }))

const NO_COOKIE = `
  const server = tfo.createServer({ fastOpen: { noCookie: true } }, (s) => { s.on('error', () => {}); s.resume(); s.on('end', () => s.end()) })
  const warnings = []
  server.on('warning', (w) => warnings.push({ code: w.code, message: w.message }))
  server.listen(0, '127.0.0.1', () => {
    const s = tfo.connect({ port: server.address().port, host: '127.0.0.1', fastOpen: { noCookie: true } })
    s.end('x'); s.resume()
    s.on('close', () => {
      console.log(JSON.stringify({ state: server.fastOpen, warnings, client: s.fastOpen, stats: tfo.stats().client }))
      server.close()
    })
  })`

t.test(
  'noCookie refused by the kernel: server and client say so (and still use TFO with a cookie)',
  { skip: shim.error ? `no C compiler for the LD_PRELOAD shim: ${shim.error}` : false },
  async (t) => {
    const out = child(NO_COOKIE, { env: { LD_PRELOAD: shim.so } })
    t.match(out.state, {
      enabled: true,
      active: true,
      noCookie: false,
      reason: /^noCookie is not in effect: setsockopt\(TCP_FASTOPEN_NO_COOKIE\) failed \(ENOPROTOOPT/,
    })
    t.match(out.warnings, [{ code: 'TFO_NO_COOKIE_NOT_SET', message: /SYN data without cookies.*ENOPROTOOPT/ }])
    t.match(out.client, {
      attempted: true,
      reason: /^noCookie is not in effect: setsockopt\(TCP_FASTOPEN_NO_COOKIE\) failed \(ENOPROTOOPT/,
    })
    t.match(out.stats, { attempted: 1, notAttempted: {} }, 'counted as an attempt, not as "not attempted"')

    const control = child(NO_COOKIE)
    t.match(control.state, { active: true, noCookie: true, reason: null }, 'without the shim: in effect')
    t.same(control.warnings, [])
    t.match(control.client, { attempted: true, reason: null, synData: true }, 'and the client sent data without a cookie')
  },
)

t.test('collect() sanity: a plain exchange still works here', async (t) => {
  const server = tfo.createServer((s) => {
    s.resume()
    s.on('end', () => s.end('ok'))
  })
  const { port } = await listen(server, 0, '127.0.0.1')
  t.teardown(() => closeServer(server))
  const s = tfo.connect(port, '127.0.0.1')
  s.end('x')
  t.equal((await collect(s)).data.toString(), 'ok')
})
