'use strict'
// Kernel constants come from C (the addon), never from numbers written in
// TypeScript. A scanner reads every TS file under lib/ with the TypeScript
// parser (comments, strings and template text are not numbers) and fails on
// any numeric literal that is not allowed below, with the file and line.
// Then: the client-failure codes go from the kernel's enum to tfo's names
// and through the compact outcome without a copy of their values in TS.
const t = require('tap')
const fs = require('node:fs')
const path = require('node:path')
const ts = require('typescript')
const b = require('./helpers/binding')

const ROOT = path.join(__dirname, '..')
const c = b.constants

// ---- the allow-list ----
//
// Allowed everywhere: 0, 1 and 2 written in decimal (counting, identity,
// halves and doubles, an "off by one", the CLI's usage exit status), and a
// radix (the argument of `x.toString(16)`, the second of `parseInt(s, 16)`).
// A hexadecimal literal is never allowed everywhere: it is what a bit of a
// kernel ABI looks like.
//
// Everything else is allowed per file, by its text (underscores dropped,
// lower case), with the reason it is not a kernel constant. Kernel numbers
// that no uapi header defines (the sysctl bits, the blackhole arithmetic) are
// listed with their source. An entry that no longer occurs fails the test too,
// so the list stays exact.
const EVERYWHERE = new Set(['0', '1', '2'])
const ALLOWED = {
  'lib/base/errors.ts': {
    25: 'Node prints at most 28 characters of a received value: the cut',
    28: 'the same, the limit',
  },
  'lib/base/internals.ts': { 3: "a probe's scratch byte count (_pendingData)", 7: "a probe's scratch peer port (_peername)" },
  'lib/cli/cookies.ts': { 60: 'seconds per minute', 1000: 'ms per second', 3600: 'seconds per hour', 86400: 'seconds per day' },
  'lib/cli/cohorts.ts': {
    3: 'a regex group index / decimals shown',
    100: 'per cent',
    1000: 'ms per second',
    1e6: 'µs per second',
    0.01: 'below 1%, two decimals',
    0.5: 'the median',
    0.9: 'the 90th percentile',
  },
  'lib/cli/demo.ts': { 1000: 'the largest --count', 1e6: 'ns per ms (hrtime)' },
  'lib/cli/doctor.ts': {
    4: 'Linux 4.11 (TCP_FASTOPEN_CONNECT): a version',
    11: 'Linux 4.11: a version',
    6: 'Linux 6.18 (fixed namespace inode): a version',
    18: 'Linux 6.18: a version',
    21: 'column width',
    22: 'column width',
    4096: 'a suggested net.core.somaxconn',
    5000: 'ms to wait for a scratch listener',
  },
  'lib/cli/enable.ts': { '0o644': 'file mode of the drop-in (rw-r--r--)' },
  'lib/cli/main.ts': { 8: 'column width' },
  'lib/cli/netns.ts': { 128: 'shell exit status of a killed child: 128 + signal', 10000: 'ms allowed for the namespace probe' },
  'lib/cli/output.ts': { 31: 'ANSI red', 32: 'ANSI green', 33: 'ANSI yellow' },
  'lib/cli/probe.ts': { 31: "2^31-1 ms: Node's longest timer", 100: 'the largest --count', 65535: 'the largest TCP port', 1e6: 'ns per ms (hrtime)' },
  'lib/cli/stats.ts': {
    8: 'column width',
    31: '2^31-1: the largest --count',
    1000: 'ms per second',
    86400: 'seconds per day: the longest --watch',
    0.01: 'the shortest --watch (10 ms)',
    10: 'seconds: the longest scrape timeout',
    10000: 'ms: the same',
  },
  'lib/core/attempt.ts': { 4: "net's family number for IPv4", 6: "net's family number for IPv6", 1000: 'µs per ms' },
  'lib/core/backoff.ts': {
    30: 'the largest doubling exponent',
    31: '2^31-1 ms: the longest setting',
    1000: 'ms per second',
    4096: 'default destinations remembered',
    60000: 'default first pause (1 min)',
    3600000: 'default longest pause (1 h)',
  },
  'lib/core/diagnostics.ts': { 4: "net's family number for IPv4", 6: "net's family number for IPv6" },
  'lib/core/keys.ts': {
    8: 'bytes of the int64 window number in the HKDF info',
    24: 'hours per day',
    60: 'minutes, seconds',
    366: 'days: the longest period',
    1000: 'ms per second',
  },
  'lib/core/listener.ts': { 31: '2^31-1: the largest queue length', 256: 'default TFO queue length (DEFAULT_QUEUE_LENGTH)', 1000: 'µs per ms' },
  'lib/core/outcome.ts': {
    3: 'a bit position of the packed outcome',
    4: 'a bit position / the server word multiplier',
    5: 'a bit position',
    6: 'a bit position',
    8: 'a bit position',
    29: 'bits of the server RTT (a Smi)',
    31: 'bits of a Smi-sized word',
    1000: 'µs per ms',
  },
  'lib/core/saved.ts': { 1e6: 'µs per second', 10: 'ms between estimates while SYN-data connections arrive', 100: 'idle ticks before the timer stops' },
  'lib/core/reuseport.ts': {
    4: "net's family number for IPv4",
    6: "net's family number for IPv6",
    511: "Node's default listen backlog",
    65535: 'the largest TCP port',
  },
  'lib/core/socket.ts': { 1000: 'µs per ms', 64: 'KiB: the most bytes of queued writes offered to a SYN (not an ABI value)', 1024: 'bytes per KiB' },
  'lib/http/agent.ts': { 5000: "the global agents' idle timeout (ms), as Node's" },
  'lib/http/http2.ts': { 6: "net's family number for IPv6", 80: "http2.connect's default port for http:", 443: "http2.connect's default port for https:" },
  'lib/http/replay.ts': {
    31: '2^31-1 ms: the longest window',
    256: 'byte values (the token table)',
    16384: 'above the longest request line: two offsets in one integer',
    4096: 'failure table size',
    8192: 'longest request line read (bytes)',
    30000: 'default retry window (ms)',
  },
  'lib/http/undici.ts': {
    31: '2^31-1: the largest option',
    64: 'bytes of a request line read',
    80: 'the HTTP port',
    100: 'default TLS session cache',
    443: 'the HTTPS port',
    1024: 'bytes',
    10000: 'default connect timeout (ms, undici)',
    16384: 'bytes',
    60000: 'ms',
  },
  'lib/system/cookies.ts': {
    4: 'IPv4: 4 bytes, family 4',
    6: 'family 6',
    8: 'bits per byte',
    16: 'IPv6: 16 bytes',
    64: 'KiB of the receive buffer',
    1024: 'bytes per KiB',
    1000: 'µs per ms',
    4096: 'bytes: the receive buffer of RTT lookups (one entry per reply)',
  },
  'lib/observe/ttfb.ts': {
    4: 'series: 2 cohorts x 2 outcomes',
    30: 'bits of a start time (a Smi)',
    1e6: 'µs per second',
    1000: 'µs per ms',
    0.5: 'the median',
    0.9: 'the 90th percentile',
    0.005: 'the sketch accuracy (0.5%) / a bucket bound (s)',
    // TTFB_BUCKETS: histogram bounds in seconds (a Prometheus convention, not the kernel's).
    0.0005: 'a bucket bound (s)',
    0.001: 'a bucket bound (s)',
    0.0015: 'a bucket bound (s)',
    0.002: 'a bucket bound (s)',
    0.003: 'a bucket bound (s)',
    0.004: 'a bucket bound (s)',
    0.006: 'a bucket bound (s)',
    0.0075: 'a bucket bound (s)',
    0.01: 'a bucket bound (s)',
    0.015: 'a bucket bound (s)',
    0.02: 'a bucket bound (s)',
    0.03: 'a bucket bound (s)',
    0.04: 'a bucket bound (s)',
    0.05: 'a bucket bound (s)',
    0.06: 'a bucket bound (s)',
    0.075: 'a bucket bound (s)',
    0.1: 'a bucket bound (s)',
    0.15: 'a bucket bound (s)',
    0.2: 'a bucket bound (s)',
    0.3: 'a bucket bound (s)',
    0.4: 'a bucket bound (s)',
    0.6: 'a bucket bound (s)',
    0.75: 'a bucket bound (s)',
    1.5: 'a bucket bound (s)',
    3: 'a bucket bound (s)',
    5: 'a bucket bound (s)',
    10: 'a bucket bound (s)',
  },
  'lib/system/host.ts': { '1n': 'one bit of the capability mask' },
  'lib/system/sysctl.ts': {
    '0x1': 'FASTOPEN_FLAGS.client: a sysctl bit (ip-sysctl.rst; TFO_CLIENT_ENABLE is in include/net/tcp.h, not uapi)',
    '0x2': 'FASTOPEN_FLAGS.server (TFO_SERVER_ENABLE, not uapi)',
    '0x4': 'FASTOPEN_FLAGS.clientNoCookie (TFO_CLIENT_NO_COOKIE, not uapi)',
    '0x200': 'FASTOPEN_FLAGS.serverNoCookie (TFO_SERVER_COOKIE_NOT_REQD, not uapi)',
    '0x400': 'FASTOPEN_FLAGS.serverWithoutSockopt (TFO_SERVER_WO_SOCKOPT1, not uapi)',
    '0x7fffffff': 'the int range of a sysctl value',
    '0x80000000': 'the int range of a sysctl value',
    '0xffffffff': 'the 32-bit unsigned arithmetic of tcp_fastopen_active_should_disable() (MAX_BLACKHOLE_TIMEOUT_SEC)',
    6: 'the largest backoff exponent there (2^6)',
    1000: 'HZ=1000, the largest x86/arm64 HZ (not visible from user space)',
  },
}

function libFiles(dir = path.join(ROOT, 'lib')) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    return e.isDirectory() ? libFiles(p) : e.name.endsWith('.ts') ? [p] : []
  })
}

/** Whether literal `node` is a radix: `x.toString(16)`, `parseInt(s, 16)`, `Number.parseInt(s, 16)`. */
function isRadix(node) {
  const call = node.parent
  if (!call || !ts.isCallExpression(call)) return false
  const callee = call.expression
  const name = ts.isPropertyAccessExpression(callee) ? callee.name.text : ts.isIdentifier(callee) ? callee.text : ''
  if (name === 'toString') return call.arguments[0] === node
  if (name === 'parseInt') return call.arguments[1] === node
  return false
}

/** Every numeric literal of a TS file: { text, line, radix }. */
function literals(file) {
  const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true)
  const out = []
  const visit = (node) => {
    if (ts.isNumericLiteral(node) || ts.isBigIntLiteral(node)) {
      const raw = node.getText(src).replace(/_/g, '').toLowerCase()
      // Decimal literals by value (1e6 and 1000000 alike); others by their text.
      const text = /^[0-9.e+]+$/.test(raw) ? String(Number(raw)) : raw
      out.push({ text, line: src.getLineAndCharacterOfPosition(node.getStart(src)).line + 1, radix: isRadix(node) })
    }
    ts.forEachChild(node, visit)
  }
  visit(src)
  return out
}

t.test('no TS file under lib/ writes a kernel constant as a number', async (t) => {
  const files = libFiles()
  t.ok(files.length > 30, `${files.length} files scanned`)
  const used = new Set()
  const offending = []
  for (const file of files) {
    const rel = path.relative(ROOT, file).split(path.sep).join('/')
    const allowed = ALLOWED[rel] ?? {}
    for (const lit of literals(file)) {
      if (lit.radix || EVERYWHERE.has(lit.text)) continue
      const key = Object.keys(allowed).find((k) => (/^[0-9.e+]+$/.test(k) ? String(Number(k)) : k) === lit.text)
      if (key === undefined) offending.push(`${rel}:${lit.line}: ${lit.text}`)
      else used.add(`${rel} ${key}`)
    }
  }
  t.same(offending, [], 'every number is allowed (a kernel constant belongs in src/, exported by the addon)')
  const stale = Object.entries(ALLOWED)
    .flatMap(([file, entries]) => Object.keys(entries).map((k) => `${file} ${k}`))
    .filter((e) => !used.has(e))
  t.same(stale, [], 'every allow-list entry is still needed')
})

t.test('the scanner sees what it must, and skips what it must', async (t) => {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'tfo-scan-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'x.ts')
  fs.writeFileSync(
    file,
    [
      '// IPPROTO_TCP is 6 in a comment',
      "const s = 'TCP_INFO = 11 in a string'",
      'const level = 6',
      'const flags = value | 0x2',
      'const hex = n.toString(16) + parseInt("ff", 16)',
      'const big = 12n',
      'const u = 1_000',
      'const tpl = `x ${33} y 44`',
    ].join('\n'),
  )
  t.same(
    literals(file)
      .filter((l) => !l.radix)
      .map((l) => [l.text, l.line]),
    [
      ['6', 3],
      ['0x2', 4],
      ['12n', 6],
      ['1000', 7],
      ['33', 8],
    ],
  )
  t.same(
    literals(file)
      .filter((l) => l.radix)
      .map((l) => l.text),
    ['16', '16'],
  )
})

t.test("tcpi_fastopen_client_fail: the kernel's enum, named once, packed by its own value", async (t) => {
  const { decodeClientFail, clientFailCode, FAILURE_CODES, CLIENT_FAIL_BITS } = require('../dist/system/tcpinfo.js')
  const { packClientOutcome, unpackClientOutcome } = require('../dist/core/outcome.js')
  const kernel = {
    'cookie-unavailable': c.TFO_COOKIE_UNAVAILABLE,
    'data-not-acked': c.TFO_DATA_NOT_ACKED,
    'syn-retransmitted': c.TFO_SYN_RETRANSMITTED,
  }
  t.same({ ...FAILURE_CODES }, kernel, "the codes are the addon's")
  t.equal(CLIENT_FAIL_BITS, c.TCPI_FASTOPEN_CLIENT_FAIL_BITS)
  t.equal(decodeClientFail(c.TFO_STATUS_UNSPEC), null, 'TFO_STATUS_UNSPEC: nothing to report')
  t.equal(clientFailCode(null), c.TFO_STATUS_UNSPEC)
  const base = { role: 'client', attempted: true, synData: false, cookie: 'sent', synDataBytes: 1234, synDataWithheld: false, reason: null, rttMs: 0 }
  for (const [name, code] of Object.entries(kernel)) {
    t.equal(decodeClientFail(code), name, `${code} is ${name}`)
    t.equal(clientFailCode(name), code)
    const packed = packClientOutcome({ ...base, failure: name })
    t.match(unpackClientOutcome(packed, 0, null), { ...base, failure: name }, `${name} survives packing`)
  }
  t.match(unpackClientOutcome(packClientOutcome({ ...base, failure: null }), 0, null), { failure: null, synDataBytes: 1234 })
  for (let code = 2 ** c.TCPI_FASTOPEN_CLIENT_FAIL_BITS; code < 8; code++) t.equal(decodeClientFail(code), null, `${code}: not a code`)
})
