'use strict'
// The canary for Node's private parts. tfo touches what Node does not
// document in one module only (lib/base/internals.ts), which registers each
// part with what tfo uses it for, what happens without it, and a probe of the
// behaviour tfo relies on. This file:
//
//  1. reads lib/ with the TypeScript compiler: outside internals.ts no
//     underscore property, private symbol, process.binding or function source
//     text is touched; inside it, every underscore name and symbol description
//     it touches belongs to a registered part (so a private added without
//     registering it fails here);
//  2. checks every registered part on the running Node (CI runs this file on
//     Node 20, 22, 24 and 26, so an upgrade that breaks one shows it by name):
//     the probes' verdicts, after the first uses that check the others, and
//     this file's own checks of the parts only a real connection shows.
//
// test/internals-stubs.test.js breaks parts on purpose and checks the
// fallbacks. Runs in a private network namespace (net.ipv4.tcp_fastopen=3).
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const fs = require('node:fs')
const path = require('node:path')
const net = require('node:net')
const tls = require('node:tls')
const http = require('node:http')
const https = require('node:https')
const http2 = require('node:http2')
const { once } = require('node:events')
const { spawn } = require('node:child_process')
const ts = require('typescript')
const tfo = require('..')
const internals = require('../dist/base/internals.js')
const { listen, closeServer, collect } = require('./helpers/util')
const { selfSigned } = require('./helpers/tls')

const LIB = path.join(__dirname, '..', 'lib')
const INTERNALS = path.join(LIB, 'base', 'internals.ts')

function libFiles(dir = LIB) {
  const out = []
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...libFiles(p))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

/** What a file touches that may be a Node private: from its syntax tree (comments and text ignored). */
function privateTouches(file) {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true)
  const found = []
  const at = (node) => `${path.relative(LIB, file)}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}`
  const visit = (node) => {
    if (ts.isPropertyAccessExpression(node) && node.name.text.startsWith('_')) {
      found.push({ kind: 'property', name: node.name.text, via: node.expression.getText(sf), at: at(node) })
    } else if (ts.isElementAccessExpression(node) && ts.isStringLiteral(node.argumentExpression) && node.argumentExpression.text.startsWith('_')) {
      found.push({ kind: 'property', name: node.argumentExpression.text, via: node.expression.getText(sf), at: at(node) })
    } else if (ts.isStringLiteralLike(node) && /^_[A-Za-z]\w*$/.test(node.text)) {
      found.push({ kind: 'string', name: node.text, at: at(node) })
    } else if (
      (ts.isPropertySignature(node) || ts.isPropertyDeclaration(node) || ts.isPropertyAssignment(node)) &&
      ts.isIdentifier(node.name) &&
      node.name.text.startsWith('_')
    ) {
      found.push({ kind: 'declared', name: node.name.text, at: at(node) })
    } else if (ts.isMethodSignature(node) && ts.isIdentifier(node.name) && node.name.text.startsWith('_')) {
      found.push({ kind: 'declared', name: node.name.text, at: at(node) })
    } else if (ts.isPropertyAccessExpression(node)) {
      const text = node.getText(sf)
      if (
        /^(Object\.getOwnPropertySymbols|Symbol\.for|process\.binding|process\._linkedBinding|Function\.prototype\.toString)$/.test(text) ||
        (node.name.text === 'description' && !/^(state|options|opts|o|a)\./.test(text)) ||
        /\.toString\.call$/.test(text)
      ) {
        found.push({ kind: 'api', name: text, at: at(node) })
      }
    } else if (ts.isIdentifier(node) && node.text === 'internalBinding') {
      found.push({ kind: 'api', name: 'internalBinding', at: at(node) })
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return found
}

t.test('outside lib/base/internals.ts, lib/ touches no Node private', async (t) => {
  // Stream implementers' documented methods on tfo's own classes (overridden, called on super,
  // removed from tfo.Socket's prototype where net's are not usable), and tfo's own underscore names.
  // Also the Prometheus exposition format's histogram sample suffixes, which are strings, not properties.
  const ownOrDocumented = (f) =>
    /^_tfo/.test(f.name) ||
    (f.kind === 'string' && ['_bucket', '_sum', '_count'].includes(f.name)) ||
    (f.kind === 'property' && /^(super|\(TfoSocket\.prototype as .*\))$/.test(f.via) && ['_destroy', '_write', '_writev', '_final', '_read'].includes(f.name))
  const offending = []
  for (const file of libFiles()) {
    if (file === INTERNALS) continue
    for (const f of privateTouches(file)) if (!ownOrDocumented(f)) offending.push(`${f.at}: ${f.kind} ${f.name}`)
  }
  t.same(offending, [], 'every use of a Node private goes through lib/base/internals.ts')
})

t.test('no module of lib/ reads function source text', async (t) => {
  for (const file of libFiles()) {
    const src = fs.readFileSync(file, 'utf8')
    t.notMatch(src, /Function\.prototype\.toString|\.toString\.call\(/, path.relative(LIB, file))
  }
})

t.test('every private lib/base/internals.ts touches is registered', async (t) => {
  const registry = tfo.support().internals
  const text = registry.map((p) => `${p.name} ${p.usedFor}`).join('\n')
  const touched = new Set(
    privateTouches(INTERNALS)
      .filter((f) => f.kind !== 'api')
      .map((f) => f.name),
  )
  t.ok(touched.size >= 10, `internals.ts touches ${touched.size} underscore names`)
  for (const name of touched) t.ok(text.includes(name), `${name} is named by a registered part`)
  // Symbols found by their description.
  const src = fs.readFileSync(INTERNALS, 'utf8')
  for (const m of src.matchAll(/description === '([^']+)'/g)) t.ok(text.includes(m[1]), `Symbol('${m[1]}') is named by a registered part`)
})

t.test('the registry: one entry per part, each saying what it is for and what happens without it', async (t) => {
  const registry = tfo.support().internals
  t.same(Object.keys(internals.P).length, registry.length, 'tfo.support().internals lists every part of the registry')
  t.equal(new Set(registry.map((p) => p.name)).size, registry.length, 'names are unique')
  for (const p of registry) {
    t.match(p, { name: String, usedFor: String, fallback: String }, p.name)
    t.ok(['load', 'first use', 'tests'].includes(p.checked), `${p.name}: checked ${p.checked}`)
    t.ok(p.ok === true || p.ok === false || p.ok === null)
  }
  const a = tfo.support().internals
  a[0].ok = 'changed'
  t.not(tfo.support().internals[0].ok, 'changed', 'each call returns new objects')
})

/** Every part, by name, with when it is checked: a part added to or dropped from the registry must be added or dropped here. */
const PARTS = {
  'net._normalizeArgs': 'load',
  'net.Socket.prototype._write': 'load',
  'net.Socket.prototype._writev': 'load',
  'net.Socket#_pendingData': 'load',
  'net.Socket.prototype.bytesWritten (accessor)': 'load',
  'stream.Writable#writableBuffer': 'load',
  'net.Socket#_peername': 'load',
  'net.Socket#_handle, net.Server#_handle': 'first use',
  'TCP handle #fd': 'first use',
  'TCP handle #open(fd)': 'first use',
  'net.Socket#server': 'first use',
  'tls.TLSSocket.prototype._start': 'load',
  'TLS wrap #start()': 'first use',
  'TLS wrap #_parent': 'first use',
  'TLS wrap #connect(req) / #connect6(req), req.oncomplete': 'first use',
  'tls.TLSSocket#_parent': 'tests',
  'https.Agent: options._agentKey': 'load',
  'https.Agent#_getSession, #_cacheSession, #_evictSession': 'load',
  "https: Symbol('per-request checkServerIdentity')": 'tests',
  'http.Agent[kProxyConfig]': 'load',
  'http2.connect: net.connect / tls.connect read off the module objects': 'first use',
  'cluster primary: round-robin server (net.createServer(assert.fail))': 'first use',
}

t.test('the registry is this list of parts, by name', async (t) => {
  t.same(Object.fromEntries(tfo.support().internals.map((p) => [p.name, p.checked])), PARTS)
})

t.test('each part in internals.ts has a one-line comment saying what it is and why tfo needs it', async (t) => {
  const src = fs.readFileSync(INTERNALS, 'utf8')
  const table = src.slice(src.indexOf('export const P = {'), src.indexOf('} as const;'))
  const lines = table.split('\n')
  const keys = Object.keys(internals.P)
  for (const key of keys) {
    const i = lines.findIndex((l) => l.startsWith(`  ${key}: `))
    t.match(lines[i - 1] ?? '', /^ {2}\/\/ \S.{20,}$/, `P.${key} (${internals.P[key]})`)
  }
})

// ---- each part on the running Node ----

const { key, cert } = selfSigned()

/** The first uses that check the 'first use' parts: a TFO server accepting, a TLS client, an h2c session. */
async function firstUses(t) {
  const server = tfo.createServer((s) => {
    s.on('error', () => {})
    s.resume()
    s.end('x')
  })
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, '127.0.0.1')
  const r = await collect(tfo.connect(port, '127.0.0.1').end('hi'))
  t.equal(r.data.toString(), 'x')

  const tlsServer = tls.createServer({ key, cert }, (s) => {
    s.on('error', () => {})
    s.resume()
    s.end('tls')
  })
  t.teardown(() => closeServer(tlsServer))
  const { port: tport } = await listen(tlsServer, 0, '127.0.0.1')
  const tr = await collect(tfo.tls.connect({ port: tport, host: '127.0.0.1', ca: cert, servername: 'localhost' }))
  t.equal(tr.data.toString(), 'tls')

  const h2 = http2.createServer((req, res) => res.end('h2'))
  t.teardown(() => closeServer(h2))
  const { port: hport } = await listen(h2, 0, '127.0.0.1')
  const session = tfo.http2.connect(`http://127.0.0.1:${hport}`)
  const req = session.request({ ':path': '/' })
  req.setEncoding('utf8')
  let body = ''
  req.on('data', (d) => {
    body += d
  })
  await once(req, 'end')
  session.close()
  await once(session, 'close')
  t.equal(body, 'h2')
}

/** Checks of the parts only a real connection or a cluster shows (checked: 'tests'; also the 'first use' ones again). */
const CHECKS = {
  'net.Socket#server': async (t) => {
    const server = net.createServer((s) => {
      server.emit('seen', s.server)
      s.destroy()
    })
    t.teardown(() => closeServer(server))
    const { port } = await listen(server, 0, '127.0.0.1')
    net.connect(port, '127.0.0.1').on('error', () => {})
    const [seen] = await once(server, 'seen')
    t.equal(seen, server, "an accepted socket's server is the server that accepted it")
  },
  'tls.TLSSocket#_parent': async (t) => {
    let raw
    const server = tls.createServer({ key, cert }, (s) => {
      server.emit('pair', s)
      s.end()
    })
    server.on('connection', (s) => {
      raw = s
    })
    t.teardown(() => closeServer(server))
    const { port } = await listen(server, 0, '127.0.0.1')
    const c = tls.connect({ port, host: '127.0.0.1', ca: cert, servername: 'localhost' })
    c.on('error', () => {})
    const [tlsSocket] = await once(server, 'pair')
    t.equal(tlsSocket._parent, raw, "a server-side TLS socket's _parent is the accepted net.Socket")
    t.equal(internals.tlsParentOf(tlsSocket), raw)
    await once(c, 'close')
  },
  "https: Symbol('per-request checkServerIdentity')": async (t) => {
    const server = https.createServer({ key, cert }, (req, res) => res.end('ok'))
    t.teardown(() => closeServer(server))
    const { port } = await listen(server, 0, '127.0.0.1')
    const marks = []
    class Spy extends https.Agent {
      createConnection(options, cb) {
        marks.push(internals.perRequestIdentityMark(options))
        return super.createConnection(options, cb)
      }
    }
    const agent = new Spy({ ca: cert, servername: 'localhost' })
    t.teardown(() => agent.destroy())
    await new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, agent, checkServerIdentity: () => undefined }, (res) => res.resume().on('end', resolve)).on('error', reject)
    })
    // Node 22 added the rule (its https.Agent#keepSocketAlive honours the mark); Node 20 has neither.
    const perRequest = https.Agent.prototype.keepSocketAlive !== http.Agent.prototype.keepSocketAlive
    t.equal(typeof marks[0], perRequest ? 'symbol' : 'undefined', `Node ${process.version}: the mark ${perRequest ? 'is' : 'is not'} there`)
  },
  'cluster primary: round-robin server (net.createServer(assert.fail))': async (t) => {
    // A cluster primary (round-robin) with one worker; tfo.enableClusterFastOpen must see its socket.
    const script = path.join(fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'tfo-rr-')), 'primary.js')
    t.teardown(() => fs.rmSync(path.dirname(script), { recursive: true, force: true }))
    fs.writeFileSync(
      script,
      `
      const cluster = require('node:cluster')
      cluster.schedulingPolicy = cluster.SCHED_RR
      if (cluster.isWorker) {
        require('node:net').createServer().listen(0, '127.0.0.1', () => process.send('listening'))
      } else {
        const tfo = require(${JSON.stringify(path.join(__dirname, '..'))})
        const state = tfo.enableClusterFastOpen()
        const w = cluster.fork()
        w.on('message', () => {
          const p = tfo.support().internals.find((x) => x.name.startsWith('cluster'))
          console.log(JSON.stringify({ listeners: state.listeners.length, ok: p.ok }))
          w.kill()
        })
      }`,
    )
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    await once(child, 'close')
    t.same(JSON.parse(out), { listeners: 1, ok: true }, 'the primary recognised the round-robin socket')
  },
}

t.test('every part tfo uses behaves as tfo relies on, on this Node', async (t) => {
  // The integrations' probes run when they load; the first uses check the rest.
  void tfo.tls
  void tfo.https
  void tfo.http
  void tfo.http2
  await firstUses(t)
  for (const p of tfo.support().internals) {
    if (CHECKS[p.name]) {
      await t.test(p.name, CHECKS[p.name])
    } else {
      t.equal(p.checked === 'tests', false, `${p.name}: a part checked only by the tests has its check here`)
    }
    if (p.checked !== 'tests' && !p.name.startsWith('cluster')) {
      t.equal(p.ok, true, `${p.name} on Node ${process.version}${p.reason ? `: ${p.reason}` : ''}`)
    }
  }
  t.equal(tfo.support().clientReason, null)
  t.equal(tfo.support().serverReason, null)
})
