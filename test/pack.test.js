'use strict'
// The package as users get it: `npm pack`, check what is (and is not) in the
// tarball, install it into an empty project without install scripts (so nothing
// can compile and the addon must come from prebuilds/), and run
// scripts/smoke.js there: CommonJS, ESM, the TypeScript declarations, real TCP
// Fast Open in a private network namespace, and the plain-TCP fallback with
// TFO_DISABLE_NATIVE=1. The prebuilds are (re)built first with
// `npm run build:prebuilds` when missing or older than src/, binding.gyp or
// scripts/prebuild.js. Every temp dir is removed at the end.
const t = require('tap')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const pkg = require(path.join(root, 'package.json'))
const platform = process.platform
const hostArch = process.arch

if (platform !== 'linux') {
  t.plan(0, `skip: the shipped prebuilds and this test are Linux-only (this is ${platform})`)
  return
}

// npm sets these for scripts run by `npm test`; a nested npm must not inherit
// the outer project (local prefix, package and lifecycle variables).
function cleanEnv(extra = {}) {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_(package_|lifecycle_|config_local_prefix$|config_prefix$|command$)/i.test(k) || k === 'INIT_CWD') continue
    if (k === 'TFO_DISABLE_NATIVE' || k === 'PREBUILDS_ONLY' || k === 'TFO_PREBUILD') continue
    env[k] = v
  }
  return Object.assign(env, extra)
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: 90_000,
    maxBuffer: 64 * 1024 * 1024,
    ...opts,
    env: opts.env || cleanEnv(),
  })
  r.output_ =
    `$ ${cmd} ${args.join(' ')}\n[exit ${r.status}${r.signal ? ' ' + r.signal : ''}${r.error ? ' ' + r.error.message : ''}]\n${r.stdout || ''}${r.stderr || ''}`.slice(
      -8000,
    )
  return r
}

function which(cmd) {
  return (process.env.PATH || '').split(path.delimiter).some((d) => {
    try {
      fs.accessSync(path.join(d, cmd), fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]))
}

const ELF_MACHINE = { x64: 0x3e, arm64: 0xb7 }
function elfMachine(file) {
  const b = fs.readFileSync(file).subarray(0, 20)
  if (b.readUInt32BE(0) !== 0x7f454c46) return null
  return b[5] === 2 ? b.readUInt16BE(18) : b.readUInt16LE(18)
}

// Which prebuilds this machine can and must produce: the host arch always; arm64
// (from x64) when Debian's cross-compiler is installed, as .ci/run does.
const arches = [hostArch]
const crossSkipped = {}
if (hostArch === 'x64') {
  if (which('aarch64-linux-gnu-g++') && which('aarch64-linux-gnu-strip')) arches.push('arm64')
  else crossSkipped.arm64 = 'aarch64-linux-gnu-g++ is not installed (apt-get install g++-aarch64-linux-gnu binutils-aarch64-linux-gnu)'
}
const prebuildFiles = (arch) => {
  const dir = path.join(root, 'prebuilds', `${platform}-${arch}`)
  return fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.node'))
        .map((f) => path.join(dir, f))
    : []
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-pack-test-'))
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))
const proj = path.join(tmp, 'consumer')
const installed = path.join(proj, 'node_modules', 'tfo')
let tarball = null
let tarFiles = null
let installOk = false

t.test('prebuilds are built and current', async (t) => {
  const sources = [path.join(root, 'binding.gyp'), path.join(root, 'scripts', 'prebuild.js'), ...walk(path.join(root, 'src'))]
  const newest = Math.max(...sources.map((f) => fs.statSync(f).mtimeMs))
  const stale = arches.filter((a) => {
    const files = prebuildFiles(a)
    return files.length === 0 || files.some((f) => fs.statSync(f).mtimeMs < newest)
  })
  if (stale.length) {
    t.comment(`prebuilds missing or older than the sources for ${stale.join(', ')}: npm run build:prebuilds`)
    const r = run('npm', ['run', 'build:prebuilds'], { cwd: root, timeout: 600_000 })
    t.equal(r.status, 0, 'npm run build:prebuilds succeeds', { output: r.output_ })
    for (const line of `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.startsWith('prebuild:'))) t.comment(line)
  } else {
    t.comment(`prebuilds for ${arches.join(', ')} are newer than the sources`)
  }
  for (const arch of arches) {
    const files = prebuildFiles(arch)
    t.equal(files.length, 1, `one prebuild in prebuilds/${platform}-${arch}`, { files })
    for (const f of files) {
      t.match(path.basename(f), /^tfo(\.[a-z0-9]+)*\.node$/, `${path.basename(f)} is named for node-gyp-build`)
      t.equal(elfMachine(f), ELF_MACHINE[arch], `prebuilds/${platform}-${arch}/${path.basename(f)} is an ELF for ${arch}`)
      t.ok(fs.statSync(f).mtimeMs >= newest, `prebuilds/${platform}-${arch} is newer than the sources`)
    }
  }
  for (const [arch, why] of Object.entries(crossSkipped)) {
    t.skip(`prebuilds/${platform}-${arch}: not built here: ${why}`)
  }
  // node-gyp-build itself, pointed at the repo with PREBUILDS_ONLY=1, must pick the host prebuild.
  const r = run(process.execPath, ['-p', 'require("node-gyp-build").path(process.argv[1])', root], {
    cwd: root,
    env: cleanEnv({ PREBUILDS_ONLY: '1' }),
  })
  t.equal((r.stdout || '').trim(), prebuildFiles(hostArch)[0], 'node-gyp-build (PREBUILDS_ONLY=1) resolves the repo to the host prebuild', {
    output: r.output_,
  })
})

t.test('npm pack: what the tarball holds', async (t) => {
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
    t.comment('dist/ is missing: npm run build:ts')
    const r = run('npm', ['run', 'build:ts'], { cwd: root, timeout: 300_000 })
    t.equal(r.status, 0, 'npm run build:ts succeeds', { output: r.output_ })
  }
  // --ignore-scripts: prepack would rebuild everything; this suite already built it.
  const r = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: root })
  if (!t.equal(r.status, 0, 'npm pack succeeds', { output: r.output_ })) return
  const info = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))[0]
  tarball = path.join(tmp, info.filename)
  t.ok(fs.existsSync(tarball), `tarball ${info.filename} written`)
  const tr = run('tar', ['-tzf', tarball])
  t.equal(tr.status, 0, 'tar can list it', { output: tr.output_ })
  tarFiles = new Set(
    tr.stdout
      .split('\n')
      .filter(Boolean)
      .map((f) => f.replace(/^package\//, ''))
      .filter((f) => !f.endsWith('/')),
  )
  t.same(new Set(info.files.map((f) => f.path)), tarFiles, "npm's file list matches the tarball")
  t.comment(`${info.filename}: ${tarFiles.size} files, ${info.size} bytes packed, ${info.unpackedSize} unpacked`)

  const has = (f, why = '') => t.ok(tarFiles.has(f), `tarball has ${f}${why}`)
  for (const f of ['package.json', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts', 'binding.gyp']) has(f)
  for (const f of walk(path.join(root, 'src'))) has(path.relative(root, f).split(path.sep).join('/'))
  t.ok(
    [...tarFiles].some((f) => /^src\/.+\.cc$/.test(f)),
    'tarball has src/*.cc',
  )
  for (const arch of arches) {
    const want = prebuildFiles(arch).map((f) => path.relative(root, f).split(path.sep).join('/'))
    t.ok(want.length > 0, `a ${arch} prebuild exists to ship`)
    for (const f of want) has(f)
  }
  for (const [arch, why] of Object.entries(crossSkipped)) t.skip(`tarball has prebuilds/${platform}-${arch}: not built here: ${why}`)
  for (const doc of ['README.md', 'CHANGELOG.md']) {
    if (fs.existsSync(path.join(root, doc))) has(doc)
    else t.skip(`tarball has ${doc}: ${doc} does not exist in the repo yet`)
  }
  // Every file package.json points at must ship.
  const targets = new Set([pkg.main, pkg.types])
  const collect = (v) => {
    if (typeof v === 'string') targets.add(v)
    else if (v && typeof v === 'object') Object.values(v).forEach(collect)
  }
  collect(pkg.exports)
  collect(typeof pkg.bin === 'string' ? { bin: pkg.bin } : pkg.bin)
  for (const f of targets) if (f) has(f.replace(/^\.\//, ''), ' (named in package.json)')
  // And nothing of the repo's own.
  for (const dir of ['test/', 'bench/', 'build/', 'node_modules/', '.ci/', '.tap/', 'scripts/']) {
    const found = [...tarFiles].filter((f) => f.startsWith(dir))
    t.same(found, [], `tarball has nothing under ${dir}`)
  }
  t.same(
    [...tarFiles].filter((f) => f.endsWith('.tgz')),
    [],
    'tarball holds no tarball',
  )
})

t.test('install the tarball into an empty project, without scripts', async (t) => {
  if (!tarball) return t.skip('no tarball (npm pack failed)')
  fs.mkdirSync(proj, { recursive: true })
  fs.writeFileSync(path.join(proj, 'package.json'), JSON.stringify({ name: 'tfo-pack-consumer', version: '1.0.0', private: true }, null, 2))
  const args = ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock', tarball]
  let r = run('npm', [...args.slice(0, 1), '--offline', ...args.slice(1)], { cwd: proj })
  if (r.status !== 0) {
    t.comment(`npm install --offline failed (dependencies not in the npm cache?); retrying online\n${r.output_}`)
    r = run('npm', args, { cwd: proj, timeout: 300_000 })
  }
  installOk = t.equal(r.status, 0, 'npm install <tarball> succeeds', { output: r.output_ })
  t.ok(fs.existsSync(path.join(installed, 'package.json')), 'node_modules/tfo is installed')
  t.equal(require(path.join(installed, 'package.json')).version, pkg.version, 'the installed version is this one')
  for (const dep of Object.keys(pkg.dependencies || {}))
    t.ok(fs.existsSync(path.join(proj, 'node_modules', dep, 'package.json')), `dependency ${dep} is installed`)
  t.notOk(fs.existsSync(path.join(installed, 'build')), 'nothing was compiled: no node_modules/tfo/build')
  fs.copyFileSync(path.join(root, 'scripts', 'smoke.js'), path.join(proj, 'smoke.js'))
})

function smoke(t, args, env = {}, wrap = null) {
  const cmd = wrap ? wrap.cmd : process.execPath
  const argv = wrap ? [...wrap.args, process.execPath, 'smoke.js', ...args] : ['smoke.js', ...args]
  const r = run(cmd, argv, { cwd: proj, env: cleanEnv(env), timeout: 60_000 })
  const last = (r.stdout || '').trim().split('\n').pop()
  let found = null
  try {
    found = JSON.parse(last)
  } catch {}
  t.equal(r.status, 0, `node smoke.js ${args.join(' ')} passes`, { output: r.output_ })
  t.ok(found, 'smoke.js reports its findings', { output: r.output_ })
  return found || {}
}

t.test('CommonJS: require("tfo") loads the addon from the prebuild and round-trips', async (t) => {
  if (!installOk) return t.skip('not installed')
  const f = smoke(t, ['native'])
  t.equal(f.supported, true, 'tfo.supported === true')
  t.equal(f.hasBuildDir, false, 'the installed package has no build/')
  t.match(f.addons, [new RegExp(`/node_modules/tfo/prebuilds/${platform}-${hostArch}/[^/]+\\.node$`)], 'the addon came from prebuilds/')
  t.equal(f.clients && f.clients.length, 2, 'two echo round trips through tfo.createServer + tfo.connect')
})

// A private network namespace with net.ipv4.tcp_fastopen=3, so real TFO is
// exercised without touching the host's sysctls.
const NETNS_SETUP = 'ip link set lo up && echo 3 > /proc/sys/net/ipv4/tcp_fastopen && exec "$@"'
function netnsSkipReason() {
  if (!(process.getuid && process.getuid() === 0)) return 'needs root for `unshare --net` (CI runs as root)'
  if (!which('unshare') || !which('ip')) return 'needs unshare (util-linux) and ip (iproute2)'
  const r = spawnSync('unshare', ['--net', 'sh', '-c', 'ip link set lo up && test -w /proc/sys/net/ipv4/tcp_fastopen'], { stdio: 'ignore' })
  return r.status === 0 ? null : '`unshare --net` failed although running as root'
}
const netnsSkip = netnsSkipReason()

t.test('CommonJS: real TCP Fast Open with the prebuild (private netns, tcp_fastopen=3)', { skip: netnsSkip || false }, async (t) => {
  if (!installOk) return t.skip('not installed')
  const f = smoke(t, ['native', '--tfo'], {}, { cmd: 'unshare', args: ['--net', 'sh', '-c', NETNS_SETUP, 'netns'] })
  t.equal(f.server && f.server.active, true, 'server.fastOpen.active')
  const later = (f.clients || []).slice(1)
  t.ok(
    later.length >= 1 && later.every((c) => c.fastOpen && c.fastOpen.synData === true && c.fastOpen.cookie === 'sent'),
    'connections after the first carry their data in the SYN',
    { clients: f.clients },
  )
  t.ok(f.stats && f.stats.server && f.stats.server.synData >= 1, 'the server counted SYN data', { stats: f.stats })
})

t.test('ESM: import tfo, { createServer, connect, supported } from "tfo"', async (t) => {
  if (!installOk) return t.skip('not installed')
  const code = `
import tfo, { createServer, connect, supported } from 'tfo';
import * as ns from 'tfo';
const fails = [];
const resolved = import.meta.resolve ? import.meta.resolve('tfo') : null;
if (supported !== true) fails.push('supported is ' + supported + ': ' + tfo.unsupportedReason);
if (tfo.createServer !== createServer || tfo.connect !== connect) fails.push('named exports are not the default export\\'s');
// The integrations load on first use: getters of the default export, and entry points of their own.
const LAZY = ${JSON.stringify(require('../scripts/entries.js').lazy)};
const missing = Object.keys(tfo).filter((k) => /^[A-Za-z_$][\\w$]*$/.test(k) && !LAZY.includes(k) && !(k in ns));
if (missing.length) fails.push('not exported by name: ' + missing.join(', '));
for (const k of LAZY) {
  if (k in ns) fails.push(k + ' is a named export: it would load node:' + k + ' with tfo');
  const sub = await import('tfo/' + k);
  if (sub.default !== tfo[k]) fails.push("import('tfo/" + k + "') is not tfo." + k);
  if (typeof sub.default !== 'object') fails.push('tfo.' + k + ' is not a namespace');
}
const { Agent } = await import('tfo/http');
if (Agent !== tfo.http.Agent) fails.push("named export Agent of 'tfo/http'");
const server = createServer((s) => s.pipe(s));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const payload = Buffer.from('esm round trip '.repeat(8));
const echoed = await new Promise((resolve, reject) => {
  const c = connect(server.address().port, '127.0.0.1');
  const chunks = [];
  c.on('data', (d) => { chunks.push(d); if (Buffer.concat(chunks).length >= payload.length) c.end(); });
  c.on('error', reject);
  c.on('close', () => resolve(Buffer.concat(chunks)));
  c.write(payload);
});
if (!echoed.equals(payload)) fails.push('echoed ' + echoed.length + ' bytes, not ' + payload.length);
await new Promise((r) => server.close(r));
console.log(JSON.stringify({ resolved, fails }));
process.exitCode = fails.length ? 1 : 0;
`
  const r = run(process.execPath, ['--input-type=module', '-e', code], { cwd: proj, timeout: 30_000 })
  t.equal(r.status, 0, 'the ESM import works and round-trips', { output: r.output_ })
  let f = {}
  try {
    f = JSON.parse(r.stdout.trim().split('\n').pop())
  } catch {}
  t.same(f.fails, [], 'no ESM failures')
  if (f.resolved) t.match(f.resolved, /\/node_modules\/tfo\/dist\/index\.mjs$/, "'tfo' resolves to dist/index.mjs for import")
})

t.test('fallback: TFO_DISABLE_NATIVE=1 loads, says why, and still round-trips over plain TCP', async (t) => {
  if (!installOk) return t.skip('not installed')
  const f = smoke(t, ['fallback'], { TFO_DISABLE_NATIVE: '1' })
  t.equal(f.supported, false, 'tfo.supported === false')
  t.match(f.unsupportedReason, /TFO_DISABLE_NATIVE/, 'tfo.unsupportedReason says why')
  t.same(f.addons, [], 'no addon loaded')
  t.equal(f.clients && f.clients.length, 2, 'two echo round trips over plain TCP')
})

t.test('TypeScript: the shipped declarations type-check a consumer (CJS and ESM)', async (t) => {
  if (!installOk) return t.skip('not installed')
  const tsc = require.resolve('typescript/bin/tsc', { paths: [root] })
  fs.writeFileSync(
    path.join(proj, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'node16',
          moduleResolution: 'node16',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          // @types/node from the repo: the consumer project has none of its own.
          typeRoots: [path.join(root, 'node_modules', '@types')],
          types: ['node'],
        },
        files: ['consumer.ts', 'consumer.mts'],
      },
      null,
      2,
    ),
  )
  fs.writeFileSync(
    path.join(proj, 'consumer.ts'),
    `// CommonJS consumer: resolves through exports.require -> dist/index.d.ts
import * as tfo from 'tfo';
import { createServer, connect, createConnection, Socket, Server, enableFastOpen, supported, unsupportedReason, support, sysctl, counters, stats, isIP } from 'tfo';
import type { FastOpenInfo, ServerFastOpenState, FastOpenSupport, FastOpenStats, FastOpenCounters } from 'tfo';
import * as net from 'node:net';

const server = createServer({ fastOpen: { queueLength: 16 } }, (sock) => sock.end());
const state: ServerFastOpenState = server.fastOpen;
const active: boolean = state.active;
const queue: number = server.fastOpen.queueLength;
const reason: string | null = server.fastOpen.reason;
server.listen(0, '127.0.0.1');
const port: number = (server.address() as net.AddressInfo).port;

const sock = connect({ port, host: '127.0.0.1' });
const info: FastOpenInfo | null = sock.fastOpen;
// @ts-expect-error fastOpen is null before 'connect'
const bad: boolean = sock.fastOpen.synData;
sock.on('connect', () => {
  const fo = sock.fastOpen;
  if (fo) {
    const role: 'client' | 'server' = fo.role;
    const flags: boolean[] = [fo.attempted, fo.synData];
    const rtt: number = fo.rttMs;
    void [role, flags, rtt];
  }
});
const sock2: net.Socket = createConnection(port, '127.0.0.1');
const s3 = new Socket();
const isSocket: boolean = sock instanceof Socket && s3 instanceof net.Socket;
const srv2 = new Server();
const enabled: ServerFastOpenState = enableFastOpen(new net.Server());
const ok: boolean = supported;
// @ts-expect-error supported is a boolean, not any
const notAString: string = supported;
const why: string | null = unsupportedReason;
const sup: FastOpenSupport = support();
const st: FastOpenStats = stats();
const ct: FastOpenCounters = counters();
const ns: typeof sysctl = tfo.sysctl;
const family: number = isIP('::1');
const v4: boolean = tfo.isIPv4('127.0.0.1');
void [state, active, queue, reason, info, bad, sock2, isSocket, srv2, enabled, ok, notAString, why, sup, st, ct, ns, family, v4];
`,
  )
  fs.writeFileSync(
    path.join(proj, 'consumer.mts'),
    `// ESM consumer: resolves through exports.import -> dist/index.d.mts
import tfo, { createServer, connect, supported } from 'tfo';
import type { FastOpenInfo } from 'tfo';

const same: typeof createServer = tfo.createServer;
const server = createServer((s) => s.pipe(s));
const active: boolean = server.fastOpen.active;
const c = connect(1, '127.0.0.1');
const info: FastOpenInfo | null = c.fastOpen;
const ok: boolean = supported && tfo.supported;
// @ts-expect-error no such export
tfo.noSuchExport();
void [same, active, info, ok];
`,
  )
  const r = run(process.execPath, [tsc, '-p', proj, '--pretty', 'false'], { cwd: proj, timeout: 120_000 })
  t.equal(r.status, 0, 'tsc --noEmit passes on consumer.ts and consumer.mts', { output: r.output_ })
  const trace = run(process.execPath, [tsc, '-p', proj, '--listFiles'], { cwd: proj, timeout: 120_000 })
  const listed = (trace.stdout || '').split('\n')
  t.ok(
    listed.some((f) => /node_modules\/tfo\/dist\/index\.d\.ts$/.test(f)),
    'the CJS consumer used dist/index.d.ts',
  )
  t.ok(
    listed.some((f) => /node_modules\/tfo\/dist\/index\.d\.mts$/.test(f)),
    'the ESM consumer used dist/index.d.mts',
  )
})

t.test("the package's install script accepts the prebuild (no compile)", async (t) => {
  if (!installOk) return t.skip('not installed')
  // `npm rebuild tfo` runs the install script (`node-gyp-build`), which tests the
  // prebuild by loading it and compiles only when that fails.
  const r = run('npm', ['rebuild', 'tfo', '--foreground-scripts'], { cwd: proj, timeout: 300_000 })
  t.equal(r.status, 0, 'npm rebuild tfo succeeds', { output: r.output_ })
  t.notOk(fs.existsSync(path.join(installed, 'build')), 'node-gyp-build used the prebuild: no build/ was made', { output: r.output_ })
})
