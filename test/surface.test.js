'use strict'
// The public surface is what the docs say it is: for 'tfo' and each subpath in
// package.json "exports", the names a program gets at runtime are the names
// the generated dist/*.d.ts declare, which are the names README's API section
// documents; scripts/entries.js agrees with package.json; and nothing internal
// (an @internal declaration, tfo's private helpers) reaches the types or the
// runtime exports. What an entry re-exports from Node (`export * from
// 'node:net'`, tfo.tls's and tfo.http2's lists) counts as Node's, checked to be
// Node's own values. Reads dist/: run after `npm run build:ts`.
const t = require('tap')
const fs = require('node:fs')
const path = require('node:path')
const ts = require('typescript')

const ROOT = path.join(__dirname, '..')
const DIST = path.join(ROOT, 'dist')
const pkg = require('../package.json')
const entries = require('../scripts/entries')
const tfo = require('..')

/** subpath ('.' for tfo itself) → { module under dist/, the node: module it re-exports from, if any } */
const ENTRIES = {
  '.': { file: 'index', node: 'node:net' },
  './http': { file: 'http/http', node: null },
  './https': { file: 'http/https', node: null },
  './tls': { file: 'http/tls', node: 'node:tls' },
  './undici': { file: 'http/undici', node: null },
  './http2': { file: 'http/http2', node: 'node:http2' },
}

/** Names of tfo's private parts that must never be in the public types. */
const FORBIDDEN = ['kOrigin', 'AgentInternalOptions', 'CreateSocket', 'normalizeFastOpenOption', '_write', '_writev', 'Held', 'waitEstablished']

t.test('scripts/entries.js, package.json "exports" and the entries checked here agree', async (t) => {
  const subpaths = Object.keys(pkg.exports).filter((k) => k !== '.' && k !== './package.json')
  t.same(subpaths.sort(), Object.keys(entries.subpaths).sort(), 'the same subpaths')
  t.same(
    Object.keys(ENTRIES)
      .filter((k) => k !== '.')
      .sort(),
    subpaths.sort(),
    'this test checks every one',
  )
  for (const [sub, mod] of Object.entries({ '.': 'index', ...entries.subpaths })) {
    t.equal(ENTRIES[sub].file, mod, `${sub} is dist/${mod}`)
    t.same(
      pkg.exports[sub],
      {
        import: { types: `./dist/${mod}.d.mts`, default: `./dist/${mod}.mjs` },
        require: { types: `./dist/${mod}.d.ts`, default: `./dist/${mod}.js` },
      },
      `package.json maps ${sub} to dist/${mod}`,
    )
    for (const f of [`${mod}.d.mts`, `${mod}.mjs`, `${mod}.d.ts`, `${mod}.js`]) t.ok(fs.existsSync(path.join(DIST, f)), `dist/${f} exists`)
  }
  t.equal(pkg.main, './dist/index.js')
  t.equal(pkg.types, './dist/index.d.ts')
  // The lazy namespaces on 'tfo' are the subpaths, as getters (require('tfo') loads none of them).
  t.same(entries.lazy.map((n) => `./${n}`).sort(), subpaths.sort(), 'one lazy namespace per subpath')
  for (const name of entries.lazy) {
    const d = Object.getOwnPropertyDescriptor(tfo, name)
    t.ok(
      d && (typeof d.get === 'function' || d.value === require(`../dist/${entries.subpaths[`./${name}`]}`)),
      `tfo.${name} is a getter (or already the loaded module)`,
    )
  }
})

const program = ts.createProgram(
  Object.values(ENTRIES).map((e) => path.join(DIST, `${e.file}.d.ts`)),
  { strict: true, types: ['node'], noEmit: true },
)
const checker = program.getTypeChecker()
const ours = (decl) => decl.getSourceFile().fileName.startsWith(DIST + path.sep)
const resolve = (s) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s)

/** An entry's declared exports: tfo's own (values, types) and what it re-exports from Node. */
function declared(file) {
  const sf = program.getSourceFile(path.join(DIST, `${file}.d.ts`))
  const own = { values: new Map(), types: [] }
  const node = []
  for (const s of checker.getExportsOfModule(checker.getSymbolAtLocation(sf))) {
    const r = resolve(s)
    const decls = r.declarations ?? []
    if (decls.length && !decls.some(ours)) {
      if (r.flags & ts.SymbolFlags.Value) node.push(s.name) // (Node's types are types only)
    } else if (r.flags & ts.SymbolFlags.Value) own.values.set(s.name, r)
    else own.types.push(s.name)
  }
  return { sf, own, node }
}

/** The runtime names of a module object that are tfo's own (not the very value Node's module has). */
function runtimeOwn(mod, nodeMod) {
  return Object.keys(mod).filter((k) => !nodeMod || !(k in nodeMod) || nodeMod[k] !== mod[k])
}

for (const [sub, { file, node }] of Object.entries(ENTRIES)) {
  t.test(`${sub === '.' ? "'tfo'" : `'tfo${sub.slice(1)}'`}: runtime exports = declared exports`, async (t) => {
    const mod = require(path.join(DIST, `${file}.js`))
    const nodeMod = node ? require(node) : null
    const d = declared(file)
    const own = runtimeOwn(mod, nodeMod)
    t.same(
      own.filter((k) => !d.own.values.has(k)),
      [],
      'every runtime export of its own is declared (typed)',
    )
    t.same(
      [...d.own.values.keys()].filter((k) => !(k in mod)),
      [],
      'every declared value exists at runtime',
    )
    t.same(
      d.node.filter((k) => !(k in (nodeMod ?? {}))),
      [],
      `the values it re-exports are ${node ?? 'nothing of Node'}'s`,
    )
    for (const k of d.node) if (k in mod && nodeMod && k in nodeMod) t.equal(mod[k], nodeMod[k], `${k} is ${node}'s own`)
    if (sub === '.') {
      t.match(d.sf.text, /^export \* from 'node:net';$/m, "the rest of node:net is a declared `export * from 'node:net'`")
      const missing = Object.keys(nodeMod).filter((k) => !(k in mod))
      t.same(missing, [], 'every export of the running node:net is there')
    }
    // Namespaces of tfo's own (tfo.sysctl, tfo.cookies): their runtime members are declared too.
    for (const [name, sym] of d.own.values) {
      if (!(sym.flags & ts.SymbolFlags.ValueModule) || !mod[name] || typeof mod[name] !== 'object') continue
      const members = checker
        .getExportsOfModule(sym)
        .filter((s) => resolve(s).flags & ts.SymbolFlags.Value)
        .map((s) => s.name)
      t.same(
        Object.keys(mod[name]).filter((k) => !members.includes(k)),
        [],
        `tfo.${name}: every runtime member is declared`,
      )
      t.same(
        members.filter((k) => !(k in mod[name])),
        [],
        `tfo.${name}: every declared member exists`,
      )
    }
  })
}

/** Every identifier in a node's subtree (names, type references; not comments). */
function identifiers(node, out = new Set()) {
  if (ts.isIdentifier(node) || ts.isPrivateIdentifier(node)) out.add(node.text)
  ts.forEachChild(node, (c) => identifiers(c, out))
  return out
}

/** lib/'s declarations marked @internal: exported names a user must not get. */
function internalNames() {
  const out = new Set()
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.name.endsWith('.ts')) {
        const src = fs.readFileSync(p, 'utf8')
        for (const m of src.matchAll(/\/\*\*[^]*?@internal[^]*?\*\/\s*export\s+(?:declare\s+)?(?:function|const|let|class|interface|type|enum)\s+(\w+)/g)) {
          // Only when the comment right before the declaration is the @internal one.
          if (!m[0].slice(m[0].lastIndexOf('/**')).includes('@internal')) continue
          out.add(m[1])
        }
      }
    }
  }
  walk(path.join(ROOT, 'lib'))
  return out
}

t.test('nothing internal in the public types or the runtime exports', async (t) => {
  const internal = internalNames()
  t.ok(internal.size > 10, `lib/ marks its internals (${internal.size} found: the check can see them)`)
  const files = program.getSourceFiles().filter((f) => f.fileName.startsWith(DIST + path.sep))
  for (const f of files) t.notMatch(f.text, /@internal/, `${path.relative(ROOT, f.fileName)}: no @internal declaration left (stripInternal)`)
  for (const [sub, { file, node }] of Object.entries(ENTRIES)) {
    const d = declared(file)
    const names = [...d.own.values.keys(), ...d.own.types]
    // (An @internal declaration cannot be in a .d.ts, checked above; names alone can repeat across modules.)
    t.same(
      names.filter((n) => FORBIDDEN.includes(n)),
      [],
      `${sub}: no internal name is exported`,
    )
    const used = new Set()
    for (const n of names) {
      const s = checker.getExportsOfModule(checker.getSymbolAtLocation(d.sf)).find((x) => x.name === n)
      for (const decl of resolve(s).declarations ?? []) if (ours(decl)) identifiers(decl, used)
    }
    t.same(
      FORBIDDEN.filter((n) => used.has(n)),
      [],
      `${sub}: the declarations of its exports name none of ${FORBIDDEN.join(', ')}`,
    )
    const mod = require(path.join(DIST, `${file}.js`))
    const undeclaredInternal = runtimeOwn(mod, node ? require(node) : null).filter((k) => !d.own.values.has(k) && (internal.has(k) || FORBIDDEN.includes(k)))
    t.same(undeclaredInternal, [], `${sub}: no internal name at runtime`)
  }
})

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
const API = README.slice(README.indexOf('\n## API\n'), README.indexOf('\n## Troubleshooting\n'))

/** tfo.<name>[.<name>] in code: README's API documentation (## API up to ## Troubleshooting: API, CLI, Fleets). */
function namesIn(code, names = new Set()) {
  for (const m of code.matchAll(/(?<![\w'"-])tfo\.([A-Za-z_$][\w$]*)(?:\.([A-Za-z_$][\w$]*))?/g)) names.add(m[2] ? `${m[1]}.${m[2]}` : m[1])
  return names
}
/** Inline code of the prose (what the reference text names). */
const inline = () => namesIn([...API.replace(/^```[^]*?^```$/gm, '').matchAll(/`([^`\n]+)`/g)].map((m) => m[1]).join('\n'))
/** The examples too (a name shown only in an example counts as documented). */
const examples = () => namesIn([...API.matchAll(/^```js\n([^]*?)^```$/gm)].map((m) => m[1]).join('\n'))

t.test("README's API section documents exactly what is exported", async (t) => {
  const documented = new Set([...inline(), ...examples()])
  t.ok(documented.size > 30, `README's API section names tfo's API (${documented.size} names: the check can see them)`)
  const top = new Set([...documented].map((n) => n.split('.')[0]))
  t.same(
    runtimeOwn(tfo, require('node:net')).filter((k) => !top.has(k)),
    [],
    "every export of 'tfo' of its own is documented as tfo.<name>",
  )
  for (const [sub, { file, node }] of Object.entries(ENTRIES)) {
    if (sub === '.') continue
    const name = sub.slice(2)
    const own = runtimeOwn(require(path.join(DIST, `${file}.js`)), node ? require(node) : null)
    t.same(
      own.filter((k) => !documented.has(`${name}.${k}`)),
      [],
      `every export of 'tfo/${name}' of its own is documented as tfo.${name}.<name>`,
    )
  }
  const wrong = []
  for (const n of inline()) {
    const [a, b] = n.split('.')
    if (!(a in tfo)) wrong.push(n)
    else if (b && tfo[a] !== null && typeof tfo[a] === 'object' && !(b in tfo[a])) wrong.push(n)
  }
  t.same(wrong, [], 'every tfo.<name> the README documents exists')
})
