#!/usr/bin/env node
// Builds the N-API prebuilds that ship in the npm package:
//
//   prebuilds/linux-x64/tfo.glibc.node     always (on an x64 Linux host)
//   prebuilds/linux-arm64/tfo.glibc.node   when aarch64-linux-gnu-g++ is installed
//                                          (Debian: g++-aarch64-linux-gnu binutils-aarch64-linux-gnu)
//
// Each one is `prebuildify --napi --strip --tag-libc`, built in a scratch copy of
// package.json + binding.gyp + src/ so that the repo's own build/ (which tests and
// other work use) is never touched, then checked (ELF machine, stripped, and for
// the host arch: that it loads) before it replaces the old file in prebuilds/.
//
// The file name is prebuildify's: <package name>[.<tags>].node. For --napi builds
// prebuildify 6 adds no abi tag; --tag-libc adds "glibc", which node-gyp-build
// matches against the running system (so a musl/Alpine install does not pick a
// glibc binary and compiles from src/ instead). node-gyp-build looks in
// build/Release first and prebuilds/<platform>-<arch>/ second; PREBUILDS_ONLY=1
// skips build/.
//
// Usage: node scripts/prebuild.js [arch ...]   (default: the host arch and every
// arch whose cross-compiler is installed). An arch whose cross-compiler is missing
// is skipped with a line saying so; a build that starts and fails exits non-zero.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const platform = os.platform()
const hostArch = os.arch()

// GNU triplet per Node arch, and the ELF e_machine value its binaries carry.
const ARCHES = {
  x64: { triplet: 'x86_64-linux-gnu', machine: 0x3e, fileWord: 'x86-64' },
  arm64: { triplet: 'aarch64-linux-gnu', machine: 0xb7, fileWord: 'aarch64' },
}

function log(msg) {
  console.log(`prebuild: ${msg}`)
}

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue
    const p = path.join(dir, cmd)
    try {
      fs.accessSync(p, fs.constants.X_OK)
      return p
    } catch {}
  }
  return null
}

// node-gyp needs Node's headers. npm on this machine is configured with
// nodedir=/usr (passed on as npm_config_nodedir); when run outside npm, find the
// headers beside the running node so nothing has to be downloaded.
function nodeDirEnv() {
  if (process.env.npm_config_nodedir) return {}
  for (const dir of [path.resolve(process.execPath, '..', '..'), '/usr', '/usr/local']) {
    try {
      const h = fs.readFileSync(path.join(dir, 'include', 'node', 'node_version.h'), 'utf8')
      const v = ['MAJOR', 'MINOR', 'PATCH'].map((k) => h.match(new RegExp(`#define NODE_${k}_VERSION (\\d+)`))[1]).join('.')
      if (v === process.versions.node) return { npm_config_nodedir: dir }
    } catch {}
  }
  return {}
}

function elfMachine(file) {
  const fd = fs.openSync(file, 'r')
  try {
    const b = Buffer.alloc(20)
    fs.readSync(fd, b, 0, 20, 0)
    if (b.readUInt32BE(0) !== 0x7f454c46) return null
    return b[5] === 2 ? b.readUInt16BE(18) : b.readUInt16LE(18)
  } finally {
    fs.closeSync(fd)
  }
}

function plan() {
  const wanted = process.argv.slice(2)
  for (const a of wanted) {
    if (!ARCHES[a]) {
      console.error(`prebuild: unknown arch ${a} (known: ${Object.keys(ARCHES).join(', ')})`)
      process.exit(2)
    }
  }
  const builds = []
  const skipped = []
  if (platform !== 'linux') {
    if (wanted.length && !(wanted.length === 1 && wanted[0] === hostArch)) {
      console.error(`prebuild: cross-compiling is only set up on Linux hosts (this is ${platform})`)
      process.exit(2)
    }
    builds.push({ arch: hostArch, cross: null })
    return { builds, skipped }
  }
  const arches = wanted.length ? wanted : [hostArch, ...Object.keys(ARCHES).filter((a) => a !== hostArch)]
  for (const arch of arches) {
    if (arch === hostArch) {
      builds.push({ arch, cross: null })
      continue
    }
    const t = ARCHES[arch].triplet
    const missing = [`${t}-gcc`, `${t}-g++`, `${t}-strip`, `${t}-ar`].filter((c) => !which(c))
    if (missing.length) {
      const debArch = arch === 'arm64' ? 'aarch64' : 'x86-64'
      const why = `cross-compiler not installed (${missing.join(', ')} not on PATH; Debian: apt-get install g++-${debArch}-linux-gnu binutils-${debArch}-linux-gnu)`
      if (wanted.includes(arch)) {
        console.error(`prebuild: ${platform}-${arch} requested but ${why}`)
        process.exit(1)
      }
      skipped.push({ arch, why })
      continue
    }
    builds.push({ arch, cross: t })
  }
  return { builds, skipped }
}

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]))
}

// What a prebuild is made from (test/pack.test.js uses the same list to decide staleness).
function newestSource() {
  const files = [path.join(root, 'binding.gyp'), __filename, ...walk(path.join(root, 'src'))]
  return Math.max(...files.map((f) => fs.statSync(f).mtimeMs))
}

function stage() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-prebuild-'))
  fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'))
  fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(dir, 'binding.gyp'))
  fs.cpSync(path.join(root, 'src'), path.join(dir, 'src'), { recursive: true })
  // binding.gyp resolves node-addon-api with `node -p require(...)` from its own dir.
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir')
  return dir
}

function buildOne(stageDir, { arch, cross }) {
  const bin = require.resolve('prebuildify/bin.js')
  const nodeGyp = path.join(path.dirname(require.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js')
  const args = [
    bin,
    '--napi',
    '--strip',
    '--tag-libc',
    // N-API: one build serves every Node >= 18. Building "for" the running Node
    // means node-gyp uses its local headers instead of downloading the newest ones.
    '--target',
    process.versions.node,
    '--arch',
    arch,
    '--node-gyp',
    nodeGyp,
    '--cwd',
    stageDir,
    '--out',
    stageDir,
  ]
  const env = { ...process.env, ...nodeDirEnv(), JOBS: process.env.JOBS || String(Math.max(1, os.cpus().length)) }
  if (cross) {
    Object.assign(env, {
      CC: `${cross}-gcc`,
      CXX: `${cross}-g++`,
      LINK: `${cross}-g++`,
      AR: `${cross}-ar`,
      PREBUILD_STRIP_BIN: `${cross}-strip`,
    })
    args.push('--strip-bin', `${cross}-strip`)
  }
  log(`building ${platform}-${arch}${cross ? ` with ${cross}-g++` : ''} ...`)
  const t0 = Date.now()
  const r = spawnSync(process.execPath, args, { cwd: stageDir, env, stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0) {
    throw new Error(`prebuildify for ${platform}-${arch} failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''})`)
  }
  const outDir = path.join(stageDir, 'prebuilds', `${platform}-${arch}`)
  const files = fs.readdirSync(outDir).filter((f) => f.endsWith('.node'))
  if (files.length !== 1) throw new Error(`expected one .node in ${outDir}, found: ${files.join(', ') || 'none'}`)
  const file = path.join(outDir, files[0])
  verify(file, arch)
  log(`built ${platform}-${arch}/${files[0]} (${fs.statSync(file).size} bytes) in ${((Date.now() - t0) / 1000).toFixed(1)}s`)
  return file
}

function verify(file, arch) {
  if (platform === 'linux') {
    const m = elfMachine(file)
    if (m !== ARCHES[arch].machine) {
      throw new Error(`${file} is not an ELF for ${arch} (e_machine ${m === null ? 'none' : '0x' + m.toString(16)})`)
    }
    if (which('file')) {
      const out = spawnSync('file', ['-b', file], { encoding: 'utf8' }).stdout.trim()
      log(`  file: ${out}`)
      if (!out.includes(ARCHES[arch].fileWord)) throw new Error(`file(1) does not call ${file} ${ARCHES[arch].fileWord}`)
      if (!/\bstripped\b/.test(out) || /not stripped/.test(out)) throw new Error(`${file} is not stripped`)
    }
  }
  if (arch === hostArch) {
    // The host build must load in a fresh process (catches missing symbols).
    const r = spawnSync(
      process.execPath,
      ['-e', 'const b = require(process.argv[1]); if (typeof b.socket !== "function") throw new Error("no socket() export")', file],
      { encoding: 'utf8' },
    )
    if (r.status !== 0) throw new Error(`${file} does not load: ${(r.stderr || '').trim()}`)
    log('  loads in this node')
  }
}

function install(file, arch) {
  const dest = path.join(root, 'prebuilds', `${platform}-${arch}`)
  fs.rmSync(dest, { recursive: true, force: true })
  fs.mkdirSync(dest, { recursive: true })
  const target = path.join(dest, path.basename(file))
  fs.copyFileSync(file, target)
  fs.chmodSync(target, 0o755)
  log(`wrote ${path.relative(root, target)}`)
}

function main() {
  const { builds, skipped } = plan()
  const stageDir = stage()
  const built = []
  try {
    for (const b of builds) built.push([buildOne(stageDir, b), b.arch])
    // Only after every requested build succeeded: replace the shipped files.
    for (const [file, arch] of built) install(file, arch)
  } finally {
    fs.rmSync(stageDir, { recursive: true, force: true })
  }
  for (const { arch, why } of skipped) {
    // A prebuild left from older sources would ship stale code: remove it.
    const dir = path.join(root, 'prebuilds', `${platform}-${arch}`)
    const old = fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => path.join(dir, f)) : []
    let note = ''
    if (old.length && old.every((f) => fs.statSync(f).mtimeMs >= newestSource())) {
      note = `; kept prebuilds/${platform}-${arch}, which is newer than every source file`
    } else if (old.length) {
      fs.rmSync(dir, { recursive: true, force: true })
      note = `; removed prebuilds/${platform}-${arch}, which was older than the sources`
    }
    log(`SKIPPED ${platform}-${arch}: ${why}${note}`)
  }
  log(
    `done: built ${built.map(([, a]) => `${platform}-${a}`).join(', ')}${skipped.length ? `; skipped ${skipped.map((s) => `${platform}-${s.arch}`).join(', ')}` : ''}`,
  )
}

try {
  main()
} catch (e) {
  console.error(`prebuild: FAILED: ${e.message}`)
  process.exit(1)
}
