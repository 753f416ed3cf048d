'use strict'
// Helpers for the benchmark's child scripts: one JSON object per stdout line,
// control commands one per stdin line, and exit when stdin closes (the parent
// went away) or on SIGTERM, so no child outlives the run.
const path = require('node:path')

const ROOT = path.join(__dirname, '..', '..')

function send(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

/** Calls handler(line) for each stdin line (may be async; replies are sent in order). */
function onCommands(handler, onEnd = () => process.exit(0)) {
  let buf = ''
  let chain = Promise.resolve()
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim()
      buf = buf.slice(i + 1)
      if (!line) continue
      chain = chain.then(() => handler(line)).catch((e) => send({ error: String(e && e.stack ? e.stack : e) }))
    }
  })
  process.stdin.on('end', () => {
    chain.then(onEnd, onEnd)
  })
  process.stdin.on('error', onEnd)
  process.once('SIGTERM', () => process.exit(0))
}

/** Exits when the parent closes our stdin (for children that take no commands). */
function exitWithParent() {
  process.stdin.on('data', () => {})
  process.stdin.on('end', () => process.exit(0))
  process.stdin.on('error', () => process.exit(0))
  process.once('SIGTERM', () => process.exit(0))
}

/** The configuration object passed as the first argument (JSON). */
function config() {
  return JSON.parse(process.argv[2] || '{}')
}

/**
 * The library under test: the built package (dist/), or $TFO_BENCH_LIB
 * (another build, to compare); $TFO_BENCH_LIB_SERVER / $TFO_BENCH_LIB_CLIENT
 * override it for the server or the client children only (which side a
 * regression is on: one build as server, the other as client).
 */
function loadTfo() {
  return require(libFor(childSide()))
}

/** 'server' or 'client': the child's role (memory children) or its script's name (wan-server.js, lo-server.js). */
function childSide() {
  const role = config().role
  if (role === 'server' || role === 'client') return role
  return /-server\.js$/.test(process.argv[1] || '') ? 'server' : 'client'
}

/** The directory of the tfo build a side ('server', 'client', or none: $TFO_BENCH_LIB alone) loads (see loadTfo). */
function libFor(side, env = process.env) {
  const own = side === 'server' ? env.TFO_BENCH_LIB_SERVER : side === 'client' ? env.TFO_BENCH_LIB_CLIENT : undefined
  const lib = own || env.TFO_BENCH_LIB
  return lib ? path.resolve(lib) : ROOT
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

module.exports = { ROOT, send, onCommands, exitWithParent, config, loadTfo, libFor, nowMs, sleep }
