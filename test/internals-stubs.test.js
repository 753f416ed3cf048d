'use strict'
// What happens on a Node whose private parts changed: each child process is
// preloaded (`--require test/helpers/stub-private.js`) with one part broken
// the way an upgrade might break it (gone, or changed behaviour), then
// connects through tfo (test/helpers/stubbed-child.js). The connection must
// work — plain TCP, or Node's own path — and tfo.support() and the
// connection's fastOpen.reason must name the part; never a crash, never a
// hang (each child is bounded in time). Runs in a private network namespace
// (net.ipv4.tcp_fastopen=3), so that TFO would otherwise be used.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

function runStubbed(part, client) {
  const r = spawnSync(
    process.execPath,
    ['--require', path.join(__dirname, 'helpers', 'stub-private.js'), path.join(__dirname, 'helpers', 'stubbed-child.js')],
    {
      env: { ...process.env, TFO_STUB: part, TFO_STUB_CLIENT: client },
      encoding: 'utf8',
      timeout: 30_000,
    },
  )
  return { status: r.status, signal: r.signal, stderr: r.stderr, out: r.status === 0 ? JSON.parse(r.stdout) : null }
}

function ran(t, r) {
  t.equal(r.signal, null, 'the child was not killed (no hang)')
  t.equal(r.status, 0, `the child exited cleanly${r.stderr ? `: ${r.stderr.slice(0, 500)}` : ''}`)
  return r.out !== null
}

// (Node's own tls.connect reads its arguments with net._normalizeArgs too: without it, Node's TLS is gone as well.)
t.test('net._normalizeArgs gone: tfo reads the arguments itself, TFO unaffected', async (t) => {
  const r = runStubbed('net._normalizeArgs', 'net')
  if (!ran(t, r)) return
  t.equal(r.out.reply, 'got hello')
  t.match(r.out.fastOpen, { attempted: true, cookie: 'sent', synData: true, reason: null }, 'TFO still works (the bytes rode in the SYN)')
  t.match(r.out.part, { ok: false, reason: 'not a function', checked: 'load' })
  t.equal(r.out.clientReason, null)
})

t.test('net.Socket.prototype._writev gone: tfo.Socket leaves writes to net, plain TCP, the reason names it', async (t) => {
  const r = runStubbed('net.Socket.prototype._writev', 'net')
  if (!ran(t, r)) return
  t.equal(r.out.reply, 'got hello', 'the bytes arrive (written by net)')
  t.match(r.out.fastOpen, { attempted: false, synData: false, reason: /net\.Socket\.prototype\._writev is missing or changed/ })
  t.match(r.out.part, { ok: false, reason: 'not a function' })
  t.match(r.out.clientReason, /net\.Socket\.prototype\._writev/)
})

t.test('tls.TLSSocket.prototype._start starts later: tfo.tls uses plain TCP, the reason names it', async (t) => {
  const r = runStubbed('tls.TLSSocket.prototype._start', 'tls')
  if (!ran(t, r)) return
  t.equal(r.out.reply, 'got hello')
  t.match(r.out.fastOpen, { attempted: false, reason: /tls\.TLSSocket\.prototype\._start is missing or changed/ })
  t.match(r.out.part, { ok: false, reason: /'connect'|synchronously/ })
  t.equal(r.out.clientReason, null, 'tfo.connect is not affected')
})

t.test('tls.TLSSocket.prototype._start starts later: tfo.https.Agent still answers, over plain TCP', async (t) => {
  const r = runStubbed('tls.TLSSocket.prototype._start', 'https')
  if (!ran(t, r)) return
  t.equal(r.out.reply, 'got /hello')
  t.match(r.out.fastOpen, { attempted: false, reason: /tls\.TLSSocket\.prototype\._start/ })
})

t.test("a TCP handle's open(fd) refuses: plain TCP (libuv makes its own socket), the reason names it", async (t) => {
  for (const client of ['net', 'tls']) {
    const r = runStubbed('TCP handle #open(fd)', client)
    if (!ran(t, r)) continue
    t.equal(r.out.reply, 'got hello', client)
    t.match(r.out.fastOpen, { attempted: false, reason: /TCP handle #open\(fd\) is missing or changed/ }, client)
    t.match(r.out.part, { ok: false, checked: 'first use', reason: /could not adopt a descriptor/ })
    t.match(r.out.clientReason, /TCP handle #open\(fd\)/)
  }
})

t.test('handles no longer tell their fd: clients plain TCP, servers listen without TFO, both say why', async (t) => {
  const r = runStubbed('TCP handle #fd', 'server')
  if (!ran(t, r)) return
  t.equal(r.out.reply, 'got hello')
  t.match(r.out.server, { enabled: false, reason: /TCP handle #fd is missing or changed/ })
  t.match(r.out.fastOpen, { attempted: false, reason: /TCP handle #fd/ })
  t.match(r.out.part, { ok: false, reason: /not the descriptor/ })
  t.match(r.out.serverReason, /TCP handle #fd/)
})

t.test("https.Agent's session cache gone: tfo.https.Agent keeps TFO, without resumption", async (t) => {
  const r = runStubbed('https.Agent#_getSession, #_cacheSession, #_evictSession', 'https')
  if (!ran(t, r)) return
  t.equal(r.out.reply, 'got /hello')
  t.match(r.out.fastOpen, { attempted: true, cookie: 'sent', synData: true }, 'the ClientHello rode in the SYN')
  t.match(r.out.part, { ok: false, reason: 'a method is missing' })
})

t.test("node:net's connect cannot be replaced: tfo.http2 runs over Node's own socket", async (t) => {
  const r = runStubbed('http2.connect: net.connect / tls.connect read off the module objects', 'h2c')
  if (!ran(t, r)) return
  t.equal(r.out.reply, 'got /hello')
  t.equal(r.out.fastOpen, null)
  t.match(r.out.part, { ok: false, reason: /cannot be replaced/ })
})
