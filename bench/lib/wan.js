'use strict'
// Emulated WAN testbed: two network namespaces (client, server) joined by a
// user-space delay line (bench/delayline.c) over two TUN devices. Every packet
// between them waits RTT/2 in each direction; optional seeded random loss, a
// TFO-hostile middlebox mode that drops TCP SYNs carrying data, and a mode
// that drops the first SYN of every connection once. Needs root (Linux only).
//
//   const { createWan } = require('./bench/lib/wan')
//   const wan = await createWan({ rttMs: 50 })
//   const srv = wan.spawn('server', process.execPath, ['server.js'])
//   ...
//   await wan.close()
//
// All traffic stays inside the two namespaces; host sysctls are never touched.
const { spawn, spawnSync, execFile } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const SRC = path.join(__dirname, '..', 'delayline.c')
const REPO = path.join(__dirname, '..', '..')
const IP = process.env.TFO_WAN_IP || 'ip'
const DEV = 'wan0'
const CFLAGS = ['-O2', '-Wall']
const ADDR = {
  client: { addr: '198.18.0.1', addr6: '2001:2::1' }, // RFC 2544 / RFC 5180 benchmarking ranges only
  server: { addr: '198.18.0.2', addr6: '2001:2::2' },
}
const NS_RE = /^tfo-[cs]-(\d+)-\d+$/

class WanError extends Error {
  constructor(code, message, extra) {
    super(message)
    this.name = 'WanError'
    this.code = code
    Object.assign(this, extra)
  }
}

const live = new Set() // open Wan instances, for emergency cleanup
let counter = 0
let buildPromise = null

// ---------------------------------------------------------------- helpers

function run(cmd, args, { input, timeout = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const what = `${cmd} ${args.join(' ')}`
        const e =
          err.code === 'ENOENT'
            ? new WanError(cmd === IP ? 'TFO_WAN_NO_IPROUTE2' : 'TFO_WAN_SPAWN_FAILED', `${cmd} not found (is ${cmd === IP ? 'iproute2' : cmd} installed?)`)
            : new WanError('TFO_WAN_COMMAND_FAILED', `${what} failed: ${String(stderr).trim() || err.message}`, { stderr: String(stderr) })
        return reject(e)
      }
      resolve(String(stdout))
    })
    if (input != null) child.stdin.end(input)
  })
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return e.code === 'EPERM'
  }
}

function killPid(pid, sig) {
  try {
    process.kill(pid, sig)
    return true
  } catch {
    return false
  }
}

function nsPidsSync(ns) {
  const r = spawnSync(IP, ['netns', 'pids', ns], { encoding: 'utf8' })
  return r.status === 0
    ? r.stdout
        .split(/\s+/)
        .filter(Boolean)
        .map(Number)
        .filter((p) => p > 0 && p !== process.pid)
    : []
}

function nsListSync() {
  const r = spawnSync(IP, ['netns', 'list'], { encoding: 'utf8' })
  return r.status === 0
    ? r.stdout
        .split('\n')
        .map((l) => l.split(' ')[0])
        .filter(Boolean)
    : []
}

/** Kills whatever still runs inside one of our namespaces and deletes it. */
function destroyNsSync(ns) {
  if (!NS_RE.test(ns)) throw new Error(`refusing to delete namespace ${ns}: not one of ours`)
  for (const pid of nsPidsSync(ns)) killPid(pid, 'SIGKILL')
  spawnSync(IP, ['netns', 'delete', ns], { stdio: 'ignore' })
}

/** Deletes namespaces left behind by runs whose process no longer exists (e.g. SIGKILLed). */
function cleanupStaleNamespaces() {
  const removed = []
  for (const ns of nsListSync()) {
    const m = NS_RE.exec(ns)
    if (!m) continue
    const pid = Number(m[1])
    if (pid === process.pid || pidAlive(pid)) continue
    destroyNsSync(ns)
    removed.push(ns)
  }
  return removed
}

function camel(v) {
  if (Array.isArray(v)) return v.map(camel)
  if (!v || typeof v !== 'object') return v
  const ren = { a_to_b: 'clientToServer', b_to_a: 'serverToClient' }
  const o = {}
  for (const [k, x] of Object.entries(v)) o[ren[k] || k.replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = camel(x)
  return o
}

// ---------------------------------------------------------------- build

function buildDir() {
  if (process.env.TFO_WAN_BUILD_DIR) return process.env.TFO_WAN_BUILD_DIR
  const nm = path.join(REPO, 'node_modules')
  if (fs.existsSync(nm)) return path.join(nm, '.cache', 'tfo-delayline')
  return path.join(os.tmpdir(), `tfo-delayline-${process.getuid()}`)
}

function ensurePrivateDir(dir) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const st = fs.lstatSync(dir)
  if (!st.isDirectory() || st.uid !== process.getuid() || st.mode & 0o022) {
    throw new WanError('TFO_WAN_BUILD_FAILED', `build directory ${dir} is not a private directory owned by uid ${process.getuid()}; set TFO_WAN_BUILD_DIR`)
  }
}

/** Compiles bench/delayline.c once (cached by source hash); resolves to the binary's path. */
function buildDelayline() {
  if (!buildPromise) {
    buildPromise = (async () => {
      const src = fs.readFileSync(SRC)
      const cc = process.env.CC || 'cc'
      const hash = crypto
        .createHash('sha256')
        .update(src)
        .update(cc + CFLAGS.join(' ') + process.arch)
        .digest('hex')
        .slice(0, 16)
      const dir = buildDir()
      ensurePrivateDir(dir)
      const bin = path.join(dir, `delayline-${hash}`)
      try {
        fs.accessSync(bin, fs.constants.X_OK)
        return bin
      } catch {}
      const tmp = `${bin}.${process.pid}.tmp`
      try {
        await new Promise((resolve, reject) => {
          execFile(cc, [...CFLAGS, '-o', tmp, SRC], { timeout: 60000 }, (err, _o, stderr) => {
            if (!err) return resolve()
            if (err.code === 'ENOENT') {
              return reject(
                new WanError(
                  'TFO_WAN_NO_CC',
                  `no C compiler: the WAN testbed compiles bench/delayline.c with \`${cc}\`, which was not found; install one (e.g. apt-get install gcc) or set CC`,
                ),
              )
            }
            reject(new WanError('TFO_WAN_BUILD_FAILED', `compiling bench/delayline.c with ${cc} failed:\n${stderr}`))
          })
        })
        fs.renameSync(tmp, bin) // atomic: parallel runs may race, either result is fine
      } finally {
        try {
          fs.unlinkSync(tmp)
        } catch {}
      }
      return bin
    })()
    buildPromise.catch(() => {
      buildPromise = null
    })
  }
  return buildPromise
}

// ---------------------------------------------------------------- emergency cleanup

function cleanupAllSync() {
  for (const wan of [...live]) wan._closeSync()
}

const onExit = () => cleanupAllSync()
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP']
const sigHandlers = {}
for (const sig of SIGNALS) {
  sigHandlers[sig] = () => {
    // If the application handles this signal itself, it owns the shutdown (and
    // may call close()); the 'exit' hook still tears down whatever is left.
    // signal-exit (used by tap) only acts when it is the last listener, so its
    // listeners do not count as the application's.
    const se = globalThis[Symbol.for('signal-exit emitter')]
    const v3 = process.__signal_exit_emitter__
    const passive = (se && typeof se.count === 'number' ? se.count : 0) + (v3 && typeof v3.count === 'number' ? v3.count : 0)
    if (process.listenerCount(sig) - 1 > passive) return
    cleanupAllSync()
    uninstallHandlers()
    process.kill(process.pid, sig) // default action: die of the signal
  }
}
let installed = false

function installHandlers() {
  if (installed) return
  installed = true
  process.on('exit', onExit)
  for (const sig of SIGNALS) process.on(sig, sigHandlers[sig])
}

function uninstallHandlers() {
  if (!installed) return
  installed = false
  process.removeListener('exit', onExit)
  for (const sig of SIGNALS) process.removeListener(sig, sigHandlers[sig])
}

// ---------------------------------------------------------------- Wan

class Wan {
  constructor({ n, rttMs, loss, seed, dropSynData, dropFirstSyn, tag, queue, mtu, rtPrio, spinUs }) {
    this.tag = tag
    this.config = { rttMs, loss, seed, dropSynData, dropFirstSyn, queue, mtu, rtPrio, spinUs }
    this.client = Object.freeze({ side: 'client', ns: `tfo-c-${process.pid}-${n}`, dev: DEV, ...ADDR.client })
    this.server = Object.freeze({ side: 'server', ns: `tfo-s-${process.pid}-${n}`, dev: DEV, ...ADDR.server })
    this._children = new Set()
    this._nsCreated = []
    this._dl = null
    this._pending = []
    this._final = null
    this._dead = null
    this._stderr = ''
    this._closing = null
  }

  async _setup(bin) {
    for (const side of [this.client, this.server]) {
      this._nsCreated.push(side.ns) // before the command, so a half-done add is cleaned too
      await run(IP, ['netns', 'add', side.ns])
    }
    const c = this.config
    const args = [
      '--ns-a',
      this.client.ns,
      '--ns-b',
      this.server.ns,
      '--dev-a',
      DEV,
      '--dev-b',
      DEV,
      '--rtt-ms',
      String(c.rttMs),
      '--loss',
      String(c.loss),
      '--seed',
      String(c.seed),
      '--queue',
      String(c.queue),
      '--rt-prio',
      String(c.rtPrio),
      '--spin-us',
      String(c.spinUs),
      '--control',
    ]
    if (c.dropSynData) args.push('--drop-syn-data')
    if (c.dropFirstSyn) args.push('--drop-first-syn')
    const dl = (this._dl = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] }))
    const ready = new Promise((resolve, reject) => {
      let buf = ''
      const timer = setTimeout(() => reject(new WanError('TFO_WAN_SETUP_FAILED', 'delay line did not become ready within 10 s')), 10000)
      dl.stdout.setEncoding('utf8')
      dl.stdout.on('data', (d) => {
        buf += d
        let i
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i)
          buf = buf.slice(i + 1)
          let msg
          try {
            msg = JSON.parse(line)
          } catch {
            continue
          }
          if (msg.ready) {
            clearTimeout(timer)
            resolve(msg)
          } else if (msg.final) this._final = camel(msg)
          else if (this._pending.length) this._pending.shift().resolve(msg)
        }
      })
      dl.stderr.setEncoding('utf8')
      dl.stderr.on('data', (d) => {
        this._stderr = (this._stderr + d).slice(-4096)
      })
      dl.stdin.on('error', () => {})
      dl.on('error', (e) => {
        clearTimeout(timer)
        this._died(e)
        reject(e)
      })
      dl.on('exit', (code, sig) => {
        clearTimeout(timer)
        const e = new WanError('TFO_WAN_DELAYLINE_EXITED', `delay line exited (${sig || code})${this._stderr ? ': ' + this._stderr.trim() : ''}`)
        this._died(e)
        reject(e)
      })
    })
    await ready
    // An idle delay line must not keep the process alive: a forgotten close()
    // then ends in the 'exit' handler, which tears everything down.
    dl.unref()
    dl.stdout.unref()
    dl.stderr.unref()
    dl.stdin.unref()
    // Inside each namespace: sysctls (never the host's), then lo, the TUN, addresses and routes.
    await Promise.all(
      [this.client, this.server].map(async (side) => {
        const sysctl = [
          'net/ipv4/tcp_fastopen=3',
          'net/ipv6/conf/all/accept_dad=0',
          'net/ipv6/conf/default/accept_dad=0',
          `net/ipv6/conf/${DEV}/accept_dad=0`,
          `net/ipv6/conf/${DEV}/router_solicitations=0`,
        ]
          .map((kv) => {
            const [k, v] = kv.split('=')
            return `echo ${v} > /proc/sys/${k}`
          })
          .join(' && ')
        await run(IP, ['netns', 'exec', side.ns, 'sh', '-c', sysctl])
        const batch =
          ['link set lo up', `link set ${DEV} mtu ${c.mtu} up`, `addr add ${side.addr}/24 dev ${DEV}`, `addr add ${side.addr6}/64 dev ${DEV} nodad`].join(
            '\n',
          ) + '\n'
        await run(IP, ['-n', side.ns, '-batch', '-'], { input: batch })
      }),
    )
  }

  /** pid of the delay-line process (null once it is gone). */
  get delaylinePid() {
    return this._dl && this._dl.exitCode === null && this._dl.signalCode === null ? this._dl.pid : null
  }

  _died(err) {
    if (!this._dead) this._dead = err
    for (const p of this._pending.splice(0)) p.reject(err)
  }

  _command(line) {
    if (this._closing) return Promise.reject(new WanError('TFO_WAN_CLOSED', 'wan is closed'))
    if (this._dead) return Promise.reject(this._dead)
    return new Promise((resolve, reject) => {
      this._pending.push({ resolve, reject })
      this._dl.stdout.ref() // keep the loop alive while an answer is due
      this._dl.stdin.write(line + '\n')
    })
      .finally(() => {
        if (!this._pending.length && this._dl.stdout) this._dl.stdout.unref()
      })
      .then((msg) => {
        if (!msg.ok) throw new WanError('TFO_WAN_COMMAND_FAILED', `delay line: ${msg.error}`)
        return camel(msg)
      })
  }

  _side(side) {
    if (side === 'client' || side === this.client.ns) return this.client
    if (side === 'server' || side === this.server.ns) return this.server
    throw new TypeError(`side must be 'client' or 'server', got ${side}`)
  }

  /** child_process.spawn(cmd, args, options) inside one namespace; killed by close(). */
  spawn(side, cmd, args = [], options = {}) {
    if (!Array.isArray(args)) {
      options = args || {}
      args = []
    }
    if (this._closing) throw new WanError('TFO_WAN_CLOSED', 'wan is closed')
    const child = spawn(IP, ['netns', 'exec', this._side(side).ns, cmd, ...args], options)
    this._children.add(child)
    child.on('exit', () => this._children.delete(child))
    child.on('error', () => this._children.delete(child))
    return child
  }

  /** Runs a command inside one namespace to completion: { code, signal, stdout, stderr }. */
  exec(side, cmd, args = [], { timeout = 30000, input, ...options } = {}) {
    return new Promise((resolve, reject) => {
      const child = this.spawn(side, cmd, args, { ...options, stdio: ['pipe', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.setEncoding('utf8').on('data', (d) => {
        stdout += d
      })
      child.stderr.setEncoding('utf8').on('data', (d) => {
        stderr += d
      })
      const timer = timeout ? setTimeout(() => child.kill('SIGKILL'), timeout) : null
      child.on('error', (e) => {
        clearTimeout(timer)
        reject(e)
      })
      child.on('close', (code, signal) => {
        clearTimeout(timer)
        resolve({ code, signal, stdout, stderr })
      })
      child.stdin.on('error', () => {})
      child.stdin.end(input)
    })
  }

  setDropSynData(on) {
    return this._command(`drop-syn-data ${on ? 1 : 0}`)
  }
  /** Drop the first SYN (without ACK) of every connection once; its retransmission (same addresses, ports, ISN) passes. */
  setDropFirstSyn(on) {
    return this._command(`drop-first-syn ${on ? 1 : 0}`)
  }
  setLoss(p) {
    if (!(p >= 0 && p <= 1)) return Promise.reject(new RangeError('loss must be within 0..1'))
    return this._command(`loss ${p}`)
  }

  /** Changes the RTT for packets entering the line from now on (queued ones keep their time; FIFO order is kept). */
  setRtt(ms) {
    if (!(ms >= 0)) return Promise.reject(new RangeError('rttMs must be >= 0'))
    return this._command(`rtt ${ms}`)
  }

  /**
   * Delay-line counters: { forwarded, dropped, lossDropped, synDataDropped, firstSynDropped,
   * firstSynDataDropped, queueDropped, lossSyn, lossSynData, lossSynack, clientToServer, serverToClient, ... }
   */
  stats() {
    if (this._final && this._closing) return Promise.resolve(this._final)
    return this._command('stats')
  }

  /** Kills everything spawned and the delay line, deletes both namespaces. Idempotent; resolves to the final counters. */
  close() {
    if (!this._closing) this._closing = this._close()
    return this._closing
  }

  async _close() {
    const waitExit = (child, ms, ev = 'exit') =>
      new Promise((resolve) => {
        if (ev === 'exit' && (child.exitCode !== null || child.signalCode !== null)) return resolve(true)
        const timer = setTimeout(() => resolve(false), ms)
        child.once(ev, () => {
          clearTimeout(timer)
          resolve(true)
        })
      })
    try {
      const kids = [...this._children]
      for (const k of kids) if (k.pid) killPid(k.pid, 'SIGTERM')
      const done = await Promise.all(kids.map((k) => waitExit(k, 1000)))
      kids.forEach((k, i) => {
        if (!done[i] && k.pid) killPid(k.pid, 'SIGKILL')
      })
      for (const ns of this._nsCreated) for (const pid of nsPidsSync(ns)) killPid(pid, 'SIGKILL')
      const dl = this._dl
      if (dl && dl.pid && dl.exitCode === null && dl.signalCode === null) {
        const closed = waitExit(dl, 3000, 'close') // 'close': stdout drained, final stats line read
        killPid(dl.pid, 'SIGTERM')
        if (!(await waitExit(dl, 2000))) killPid(dl.pid, 'SIGKILL')
        await closed
      }
    } finally {
      this._closeSync()
    }
    return this._final
  }

  /** Synchronous, best-effort teardown (exit and signal handlers, and the end of close()). */
  _closeSync() {
    if (!this._closing) this._closing = Promise.resolve(null)
    for (const k of this._children) if (k.pid) killPid(k.pid, 'SIGKILL')
    this._children.clear()
    if (this._dl && this._dl.pid && this._dl.exitCode === null && this._dl.signalCode === null) killPid(this._dl.pid, 'SIGKILL')
    for (const ns of this._nsCreated.splice(0)) destroyNsSync(ns)
    live.delete(this)
    if (live.size === 0) uninstallHandlers()
  }
}

/**
 * Creates the testbed. Options: rttMs (50, fractional ok), loss (0..1), seed (1),
 * dropSynData (false), dropFirstSyn (false), queue (10000 packets per direction), mtu (1500), tag (label).
 * Rejects with code TFO_WAN_NEEDS_ROOT when not root.
 */
async function createWan({
  rttMs = 50,
  loss = 0,
  seed = 1,
  dropSynData = false,
  dropFirstSyn = false,
  tag = '',
  queue = 10000,
  mtu = 1500,
  rtPrio = 10,
  spinUs = 0,
} = {}) {
  if (process.platform !== 'linux')
    throw new WanError('TFO_WAN_UNSUPPORTED', `the WAN testbed needs Linux (network namespaces, TUN); this is ${process.platform}`)
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new WanError(
      'TFO_WAN_NEEDS_ROOT',
      'the WAN testbed needs root: it creates network namespaces (ip netns add), TUN devices inside them and sets net.ipv4.tcp_fastopen there; run as root (CI does)',
    )
  }
  if (!(rttMs >= 0 && Number.isFinite(rttMs))) throw new RangeError('rttMs must be a finite number >= 0')
  if (!(loss >= 0 && loss <= 1)) throw new RangeError('loss must be within 0..1')
  if (!Number.isInteger(seed) || seed < 0) throw new RangeError('seed must be a non-negative integer')
  if (!Number.isInteger(queue) || queue < 1) throw new RangeError('queue must be a positive integer')
  if (!Number.isInteger(mtu) || mtu < 1280 || mtu > 65535) throw new RangeError('mtu must be an integer within 1280..65535')
  if (!fs.existsSync('/dev/net/tun')) throw new WanError('TFO_WAN_UNSUPPORTED', '/dev/net/tun is missing (modprobe tun)')
  const bin = await buildDelayline()
  cleanupStaleNamespaces()
  const wan = new Wan({ n: ++counter, rttMs, loss, seed, dropSynData: !!dropSynData, dropFirstSyn: !!dropFirstSyn, tag, queue, mtu, rtPrio, spinUs })
  live.add(wan)
  installHandlers()
  try {
    await wan._setup(bin)
  } catch (e) {
    await wan.close().catch(() => {})
    if (e instanceof WanError) e.message = `createWan${tag ? ` (${tag})` : ''}: ${e.message}`
    throw e
  }
  return wan
}

module.exports = { createWan, buildDelayline, cleanupStaleNamespaces, WanError, ADDR }
