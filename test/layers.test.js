'use strict'
// One layer per job (ARCHITECTURE.md, "Layers"): lib/'s imports, read with
// the TypeScript compiler (`import type` and re-exports count, as do the
// require() calls of lazy loading), go only downwards, with no cycle; and a
// program that uses only the net drop-in loads none of node:http, node:https,
// node:tls, node:http2, node:cluster (checked in a child process, with the
// modules Node itself says it loaded).
const t = require('tap')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const ts = require('typescript')

const LIB = path.join(__dirname, '..', 'lib')

/** Which layers each layer may import (its own included: a layer's modules use each other, without cycles). */
const MAY_IMPORT = {
  base: ['base'],
  system: ['system', 'base'],
  observe: ['observe', 'system', 'base'],
  core: ['core', 'observe', 'system', 'base'],
  http: ['http', 'core', 'base'],
  fleet: ['fleet', 'core', 'base'],
  cli: ['cli', 'index'],
  index: ['index', 'core', 'fleet', 'http', 'observe', 'system', 'base'],
}

/** Imports the layer rules do not allow, each with its reason (keep this short). */
const EXCEPTIONS = {
  // Facts about the host that only `tfo doctor` reports (CAP_NET_ADMIN, the initial netns inode): not public API.
  'cli/doctor.ts': ['system/host.ts'],
}

function modules(dir = LIB) {
  const out = []
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...modules(p))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

const layerOf = (file) => {
  const rel = path.relative(LIB, file)
  return rel.includes(path.sep) ? rel.split(path.sep)[0] : path.basename(rel, '.ts')
}

/** lib/ modules a module imports: static imports (type-only too), re-exports, require() and import(). */
function importsOf(file) {
  const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true)
  const out = []
  for (const { fileName } of info.importedFiles) {
    if (!fileName.startsWith('.')) continue
    const base = path.resolve(path.dirname(file), fileName)
    const target = [`${base}.ts`, path.join(base, 'index.ts')].find((p) => fs.existsSync(p))
    out.push(target ?? `${base} (missing)`)
  }
  return out
}

const files = modules()
const graph = new Map(files.map((f) => [f, importsOf(f)]))

t.test('the parser sees what lib/ imports (type-only imports and lazy require() included)', async (t) => {
  const index = graph.get(path.join(LIB, 'index.ts'))
  t.ok(index.includes(path.join(LIB, 'http', 'http.ts')), "index.ts's lazy require('./http/http') and its import type")
  const missing = [...graph.values()].flat().filter((p) => p.endsWith('(missing)'))
  t.same(missing, [], 'every relative import resolves to a module of lib/')
})

t.test('imports go only downwards (ARCHITECTURE.md, "Layers")', async (t) => {
  const wrong = []
  for (const [file, deps] of graph) {
    const from = layerOf(file)
    t.ok(MAY_IMPORT[from], `${path.relative(LIB, file)} is in a known layer (${from})`)
    for (const dep of deps) {
      const to = layerOf(dep)
      if (EXCEPTIONS[path.relative(LIB, file)]?.includes(path.relative(LIB, dep))) continue
      if (!MAY_IMPORT[from]?.includes(to)) wrong.push(`${path.relative(LIB, file)} (${from}) imports ${path.relative(LIB, dep)} (${to})`)
    }
  }
  t.same(wrong, [], 'no module imports a layer above it, or one it may not use')
})

t.test('no import cycles', async (t) => {
  const cycles = []
  const state = new Map() // 1: on the path, 2: done
  const stack = []
  const visit = (f) => {
    state.set(f, 1)
    stack.push(f)
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === 1) cycles.push([...stack.slice(stack.indexOf(d)), d].map((p) => path.relative(LIB, p)).join(' -> '))
      else if (!state.has(d)) visit(d)
    }
    stack.pop()
    state.set(f, 2)
  }
  for (const f of files) if (!state.has(f)) visit(f)
  t.same(cycles, [])
})

const HEAVY = ['http', 'https', 'tls', '_tls_wrap', 'http2', 'cluster']

function loadedBuiltins(script) {
  const r = spawnSync(process.execPath, ['-e', script], { cwd: path.join(__dirname, '..'), encoding: 'utf8', timeout: 30_000 })
  if (r.status !== 0) throw new Error(r.stderr)
  return JSON.parse(r.stdout)
}

// process.moduleLoadList names the built-in modules Node loaded ('NativeModule tls', ...).
const REPORT = `
  const loaded = () => process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13))
  const before = new Set(loaded())
  const report = () => console.log(JSON.stringify({ before: [...before], after: loaded().filter((m) => !before.has(m)) }))
`

/** A TCP server and one client connection, with `lib` ('net' or tfo) for both; reports what was loaded on the way. */
const netOnly = (lib) => `${REPORT}
  const lib = require(${JSON.stringify(lib)})
  if (lib.support) lib.support()
  const server = lib.createServer((s) => { s.resume(); s.end('x') })
  server.listen(0, '127.0.0.1', () => {
    const c = lib.connect(server.address().port, '127.0.0.1')
    c.end('hi')
    c.resume()
    c.on('close', () => { server.close(); report() })
  })`

t.test('using only tfo.connect / tfo.createServer loads none of node:http, https, tls, http2, cluster beyond what net does', async (t) => {
  const nets = loadedBuiltins(netOnly('node:net'))
  const ours = loadedBuiltins(netOnly('.'))
  for (const m of HEAVY) t.notOk(ours.before.includes(m), `${m} is not loaded before tfo (the check can see it)`)
  // (net loads node:cluster itself when a server listens: net's own, not tfo's.)
  const extra = ours.after.filter((m) => !nets.after.includes(m))
  for (const m of HEAVY) t.notOk(extra.includes(m), `node:${m} is not loaded by tfo (net's run: ${nets.after.includes(m) ? 'loads it too' : 'does not'})`)
  t.ok(ours.after.includes('net') || ours.before.includes('net'), 'node:net is (the check sees what tfo loads)')
})

t.test('a client alone (tfo.connect to a port nobody listens on) loads none of them, nor node:cluster', async (t) => {
  const r = loadedBuiltins(`${REPORT}
    const tfo = require('.')
    const c = tfo.connect(9, '127.0.0.1')
    c.on('error', () => {})
    c.on('close', report)`)
  for (const m of HEAVY) t.notOk(r.after.includes(m), `node:${m} is not loaded`)
})

t.test('the check sees an integration load what it needs', async (t) => {
  const r = loadedBuiltins(`${REPORT}
    const tfo = require('.')
    void tfo.tls
    void tfo.http
    report()`)
  t.ok(r.after.includes('tls'), 'tfo.tls loads node:tls')
  t.ok(r.after.includes('http'), 'tfo.http loads node:http')
  t.notOk(r.after.includes('cluster'), 'not node:cluster')
})
