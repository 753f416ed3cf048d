'use strict'
// The replay guard's reading of a request line (lib/http/replay.ts): a byte
// scan that runs between connect() and the SYN of every plain-HTTP
// connection. It must agree exactly with the grammar it stands for (a token,
// one space, a target without spaces, one space, HTTP/1.1 or HTTP/1.0, CRLF
// within the first 8 KiB), written here as the obvious string code: on
// edge cases and on 200 000 seeded random lines. The decisions the agents
// make from it are tested end to end in http.test.js and parity-http.test.js.
const t = require('tap')
const replay = require('../dist/http/replay.js')

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
function reference(first) {
  const end = first.indexOf('\r\n')
  if (end < 0 || end > 8192) return null
  const line = first.toString('latin1', 0, end)
  const sp1 = line.indexOf(' ')
  const sp2 = line.lastIndexOf(' ')
  if (sp1 <= 0 || sp2 <= sp1 + 1) return null
  const version = line.slice(sp2 + 1)
  if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') return null
  const method = line.slice(0, sp1)
  const path = line.slice(sp1 + 1, sp2)
  if (!TOKEN.test(method) || path.includes(' ')) return null
  return { method, path }
}

// mulberry32: a seeded PRNG, so a failure can be replayed (TFO_REPLAY_SEED).
function prng(seed) {
  return () => {
    seed |= 0
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

t.test('edge cases agree with the grammar', async (t) => {
  const cases = [
    'GET / HTTP/1.1\r\n',
    'GET / HTTP/1.0\r\nHost: a\r\n\r\n',
    'M-SEARCH * HTTP/1.1\r\n',
    "!#$%&'*+-.^_`|~09AZaz /x HTTP/1.1\r\n",
    'GET /a b HTTP/1.1\r\n',
    'GET  / HTTP/1.1\r\n',
    'GET / HTTP/1.1 \r\n',
    ' GET / HTTP/1.1\r\n',
    'GET / HTTP/1.2\r\n',
    'GET / HTTP/2.0\r\n',
    'GET / http/1.1\r\n',
    'GET / HTTP/1.1',
    'GET / HTTP/1.1\r',
    'GET / HTTP/1.1\n',
    'GET /\r HTTP/1.1\r\n',
    'G\rT / HTTP/1.1\r\n',
    'GÉT / HTTP/1.1\r\n',
    'GET /é HTTP/1.1\r\n',
    'GET\t/ HTTP/1.1\r\n',
    'GET / HTTP/1.\r\n',
    'GET / HTTP/1.11\r\n',
    '/ HTTP/1.1\r\n',
    '',
    '\r\n',
    'GET',
  ]
  // Around the 8 KiB limit: the CRLF at index 8191, 8192 (the last allowed) and 8193.
  for (const at of [8191, 8192, 8193]) cases.push('GET /' + 'a'.repeat(at - 'GET / HTTP/1.1'.length) + ' HTTP/1.1\r\n')
  for (const s of cases) {
    const b = Buffer.from(s, 'latin1')
    t.same(replay.parseRequestLine(b), reference(b), JSON.stringify(s.length > 40 ? s.slice(0, 20) + '…' + s.slice(-20) : s))
  }
})

t.test('200 000 random lines agree with the grammar, and so does the idempotent decision', async (t) => {
  const seed = Number(process.env.TFO_REPLAY_SEED) || 0x7f0
  t.comment(`seed ${seed} (TFO_REPLAY_SEED replays it)`)
  const rand = prng(seed)
  const parts = ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'POST', 'get', 'M-SEARCH', 'G@T', ' ', '/', '/a b', '*', 'HTTP/1.1', 'HTTP/1.0']
  // Near misses of the idempotent methods (same length, one byte off; a prefix; one byte more): the decision compares bytes.
  parts.push('GEt', 'PUX', 'PET', 'HEAX', 'DELETe', 'OPTIONs', 'TRACe', 'GE', 'GETS', 'HEADS', 'DELET', 'OPTION', 'TRACES')
  const noise = ['HTTP/1.', 'HTTP/1.2', 'HTTP/2.0', '\r', '\n', '\r\n', '\x80', '\xe9', '\t', '\x00', 'X']
  const pick = (a) => a[Math.floor(rand() * a.length)]
  // The built-in 'idempotent' policy on a first try (what tfo.http.Agent uses by default).
  const decide = replay.httpFastOpen(replay.normalizePolicy(undefined), 'h', 80, false).synData
  let mismatches = 0
  let lines = 0
  let rides = 0
  for (let i = 0; i < 200000; i++) {
    let s = ''
    if (rand() < 0.5) s = `${pick(parts)} ${pick(parts)} ${pick(parts)}\r\n`
    const k = Math.floor(rand() * 6)
    for (let j = 0; j < k; j++) s += pick(rand() < 0.7 ? parts : noise) + (rand() < 0.3 ? ' ' : '')
    if (rand() < 0.3) s += '\r\n'
    const b = Buffer.from(s, 'latin1')
    const want = reference(b)
    const got = replay.parseRequestLine(b)
    const ride = want !== null && replay.IDEMPOTENT_METHODS.has(want.method)
    if (want !== null) lines++
    if (ride) rides++
    if (JSON.stringify(got) !== JSON.stringify(want) || decide(b) !== ride) {
      if (mismatches++ < 5) t.fail(`${JSON.stringify(s)}: got ${JSON.stringify(got)} / ride ${decide(b)}, want ${JSON.stringify(want)} / ride ${ride}`)
    }
  }
  t.equal(mismatches, 0, 'no disagreement')
  t.ok(lines > 5000 && rides > 1000, `the inputs reach both answers (${lines} request lines, ${rides} that ride)`)
})
