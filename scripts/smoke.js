#!/usr/bin/env node
// Smoke test of an *installed* tfo package, run by test/pack.test.js from a
// scratch project that has `npm install`ed the packed tarball (copy this file
// there and run it with node: `require('tfo')` must resolve to the install).
//
//   node smoke.js native     the addon must load, from the package's prebuilds/
//   node smoke.js fallback   (with TFO_DISABLE_NATIVE=1) tfo must load without it
//   node smoke.js native --tfo
//                            also require real TCP Fast Open: the second connection's
//                            data must ride in the SYN (run it in a network namespace
//                            with net.ipv4.tcp_fastopen=3)
//
// Either way an echo server made by tfo.createServer on 127.0.0.1:0 and clients
// made by tfo.connect exchange bytes. Prints one JSON line (the findings) and exits
// 0, or prints `smoke: FAIL: ...` lines and exits 1.
'use strict'
const fs = require('node:fs')
const path = require('node:path')

const mode = process.argv[2]
const wantTfo = process.argv.includes('--tfo')
if (mode !== 'native' && mode !== 'fallback') {
  console.error('usage: node smoke.js native|fallback [--tfo]')
  process.exit(2)
}

const failures = []
function check(ok, what) {
  if (!ok) failures.push(what)
  return ok
}

const tfo = require('tfo')
const pkgDir = path.dirname(require.resolve('tfo/package.json'))
const found = {
  mode,
  pkgDir,
  version: require('tfo/package.json').version,
  supported: tfo.supported,
  unsupportedReason: tfo.unsupportedReason,
}

// ---- where the addon came from ----
// Native modules loaded with require() are in require.cache under their file
// name; /proc/self/maps shows what the dynamic linker actually mapped.
const cachedAddons = Object.keys(require.cache).filter((f) => f.endsWith('.node'))
let mappedAddons = []
try {
  mappedAddons = [
    ...new Set(
      fs
        .readFileSync('/proc/self/maps', 'utf8')
        .split('\n')
        .map((l) => l.split(/\s+/).slice(5).join(' '))
        .filter((f) => f.endsWith('.node')),
    ),
  ]
} catch {}
found.addons = cachedAddons
found.mapped = mappedAddons
found.hasBuildDir = fs.existsSync(path.join(pkgDir, 'build'))
const prebuildDir = path.join(fs.realpathSync(pkgDir), 'prebuilds', `${process.platform}-${process.arch}`) + path.sep

if (mode === 'native') {
  check(tfo.supported === true, `tfo.supported is ${tfo.supported} (reason: ${tfo.unsupportedReason})`)
  check(tfo.unsupportedReason === null, `tfo.unsupportedReason is ${JSON.stringify(tfo.unsupportedReason)}`)
  check(!found.hasBuildDir, `the installed package has a build/ directory: ${path.join(pkgDir, 'build')}`)
  check(cachedAddons.length === 1, `expected one addon in require.cache, found ${JSON.stringify(cachedAddons)}`)
  for (const f of cachedAddons) {
    check(fs.realpathSync(f).startsWith(prebuildDir), `addon ${f} is not from ${prebuildDir}`)
  }
  if (mappedAddons.length) {
    check(
      mappedAddons.every((f) => f.startsWith(prebuildDir)),
      `mapped addons ${JSON.stringify(mappedAddons)} are not all from ${prebuildDir}`,
    )
  }
} else {
  check(tfo.supported === false, `tfo.supported is ${tfo.supported} with TFO_DISABLE_NATIVE=${process.env.TFO_DISABLE_NATIVE}`)
  check(
    typeof tfo.unsupportedReason === 'string' && /TFO_DISABLE_NATIVE/.test(tfo.unsupportedReason),
    `tfo.unsupportedReason does not say why: ${JSON.stringify(tfo.unsupportedReason)}`,
  )
  check(cachedAddons.length === 0 && mappedAddons.length === 0, `an addon was loaded anyway: ${JSON.stringify([...cachedAddons, ...mappedAddons])}`)
}

// ---- the public API is there ----
for (const fn of [
  'createServer',
  'connect',
  'createConnection',
  'Socket',
  'Server',
  'enableFastOpen',
  'support',
  'counters',
  'stats',
  'isIP',
  'isIPv4',
  'isIPv6',
]) {
  check(typeof tfo[fn] === 'function', `tfo.${fn} is ${typeof tfo[fn]}, not a function`)
}
check(tfo.sysctl !== null && typeof tfo.sysctl === 'object', `tfo.sysctl is ${typeof tfo.sysctl}`)
check(tfo.isIP('127.0.0.1') === 4, 'tfo.isIP("127.0.0.1") !== 4')
const support = tfo.support()
found.support = support
check(support.native === (mode === 'native'), `support().native is ${support.native}`)
if (wantTfo) {
  check(
    support.client && support.server,
    `--tfo: support() says client=${support.client} (${support.clientReason}) server=${support.server} (${support.serverReason})`,
  )
}
const INFO_KEYS = ['role', 'attempted', 'synData', 'cookie', 'synDataBytes', 'failure', 'reason', 'rttMs']
const SERVER_KEYS = ['requested', 'enabled', 'active', 'queueLength', 'noCookie', 'reason']

// ---- a real round trip ----
function echoOnce(port, payload) {
  return new Promise((resolve, reject) => {
    const chunks = []
    const sock = tfo.connect({ port, host: '127.0.0.1' })
    const before = sock.fastOpen
    let atConnect
    sock.on('connect', () => {
      atConnect = sock.fastOpen
    })
    sock.on('data', (d) => {
      chunks.push(d)
      if (Buffer.concat(chunks).length >= payload.length) sock.end()
    })
    sock.on('error', reject)
    sock.on('close', () => resolve({ before, atConnect, echoed: Buffer.concat(chunks), isTfoSocket: sock instanceof tfo.Socket }))
    sock.setTimeout(10000, () => sock.destroy(new Error('client timed out')))
    sock.write(payload) // before 'connect': this is what can ride in the SYN
  })
}

async function main() {
  const server = tfo.createServer((s) => s.pipe(s))
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address()
  found.server = server.fastOpen
  check(server instanceof tfo.Server, 'createServer() did not return a tfo.Server')
  check(server.fastOpen && SERVER_KEYS.every((k) => k in server.fastOpen), `server.fastOpen lacks keys: ${JSON.stringify(server.fastOpen)}`)
  if (server.fastOpen) {
    check(server.fastOpen.requested === true, 'server.fastOpen.requested is not true')
    if (mode === 'native') check(server.fastOpen.enabled === true, `server.fastOpen.enabled is false: ${server.fastOpen.reason}`)
    else check(server.fastOpen.enabled === false && typeof server.fastOpen.reason === 'string', `fallback server.fastOpen: ${JSON.stringify(server.fastOpen)}`)
    if (wantTfo) check(server.fastOpen.active === true, `--tfo: server.fastOpen.active is false: ${server.fastOpen.reason}`)
  }

  found.clients = []
  const rounds = wantTfo ? 3 : 2
  try {
    for (let i = 0; i < rounds; i++) {
      const payload = Buffer.from(`tfo smoke ${mode} #${i} ${'x'.repeat(100 + i)}`)
      const r = await echoOnce(port, payload)
      found.clients.push({ echoedBytes: r.echoed.length, fastOpen: r.atConnect })
      check(r.isTfoSocket, 'tfo.connect() did not return a tfo.Socket')
      check(r.echoed.equals(payload), `round ${i}: echoed ${r.echoed.length} bytes, not the ${payload.length} sent`)
      check(r.before === null, `round ${i}: socket.fastOpen before 'connect' is ${JSON.stringify(r.before)}, not null`)
      const fo = r.atConnect
      if (!check(fo && INFO_KEYS.every((k) => k in fo), `round ${i}: socket.fastOpen at 'connect' lacks keys: ${JSON.stringify(fo)}`)) continue
      check(fo.role === 'client', `round ${i}: fastOpen.role is ${fo.role}`)
      if (mode === 'fallback') {
        check(fo.attempted === false && fo.synData === false, `round ${i}: fallback attempted TFO: ${JSON.stringify(fo)}`)
        check(typeof fo.reason === 'string' && /TFO_DISABLE_NATIVE/.test(fo.reason), `round ${i}: fallback reason: ${JSON.stringify(fo.reason)}`)
      }
      if (wantTfo) {
        check(fo.attempted === true, `round ${i}: --tfo: not attempted: ${fo.reason}`)
        // The first connection gets the cookie; the later ones send data with it.
        if (i > 0) {
          check(fo.cookie === 'sent' && fo.synData === true && fo.synDataBytes > 0, `round ${i}: --tfo: data did not ride in the SYN: ${JSON.stringify(fo)}`)
        }
      }
    }
  } finally {
    await new Promise((resolve) => server.close(resolve))
  }
  found.stats = tfo.stats()
  try {
    found.counters = tfo.counters()
  } catch (e) {
    found.counters = `threw: ${e.message}`
  }
}

main()
  .catch((e) => failures.push(`threw: ${(e && e.stack) || e}`))
  .finally(() => {
    console.log(JSON.stringify(found))
    for (const f of failures) console.error(`smoke: FAIL: ${f}`)
    if (failures.length === 0) console.error(`smoke: ok (${mode}${wantTfo ? ', real TFO' : ''})`)
    process.exitCode = failures.length ? 1 : 0
  })
