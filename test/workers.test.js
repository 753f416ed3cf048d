'use strict'
// The addon is context-aware: it loads in worker threads (several at once),
// again in the same thread (a second path, a fresh require after deleting the
// require cache: each load is its own instance with its own owned fds), and
// unloads cleanly: a worker's leftover addon sockets are closed when the
// worker ends, and a process whose workers are terminated in the middle of a
// connect exits 0, without a crash or a hang. In a private network namespace
// (helpers/netns.js); workers share it (same process).
const { isMainThread, Worker, workerData, parentPort } = require('node:worker_threads')
const path = require('node:path')
const ROOT = path.join(__dirname, '..')

// ---- worker side: one tfo server + client exchange with SYN data ----
if (!isMainThread && workerData && workerData.role === 'exchange') {
  const tfo = require(ROOT)
  const b = require('./helpers/binding')
  const { host, leak } = workerData
  const server = tfo.createServer((s) => {
    const chunks = []
    s.on('data', (d) => chunks.push(d))
    s.on('end', () => s.end(`${s.fastOpen.synData} ${Buffer.concat(chunks).length}`))
  })
  const exchange = (port, payload) =>
    new Promise((resolve, reject) => {
      const s = tfo.connect(port, host)
      const chunks = []
      s.on('data', (d) => chunks.push(d))
      s.on('error', reject)
      s.on('close', () => resolve({ reply: Buffer.concat(chunks).toString(), info: s.fastOpen }))
      s.end(payload)
    })
  server.listen(0, host, async () => {
    const { port } = server.address()
    const first = await exchange(port, 'cookie please')
    const second = await exchange(port, `worker ${workerData.id} rides the SYN`)
    // Addon sockets left open on purpose: the addon closes them when this thread's environment ends.
    const leaked = []
    for (let i = 0; i < leak; i++) leaked.push(b.socket(b.constants.AF_INET))
    server.close(() => parentPort.postMessage({ supported: tfo.supported, first, second, leaked }))
  })
  return
}

// ---- worker side: start a connect and report each step (the main thread terminates us somewhere) ----
if (!isMainThread && workerData && workerData.role === 'connect') {
  const tfo = require(ROOT)
  const { host, port } = workerData
  for (let i = 0; i < 4; i++) {
    const s = tfo.connect(port, host)
    s.on('error', () => {})
    s.on('connectionAttempt', () => parentPort.postMessage('attempt'))
    s.write('a request that never gets an answer')
  }
  parentPort.postMessage('connecting')
  return
}

// ---- child process for the exit test (see the last test) ----
if (isMainThread && process.argv[2] === '--exit-child') {
  runExitChild()
  return
}

const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const fs = require('node:fs')
const os = require('node:os')
const { once } = require('node:events')
const { spawnSync } = require('node:child_process')

const openFds = () => fs.readdirSync('/proc/self/fd').length
const fdTable = () =>
  fs.readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd} ${fs.readlinkSync(`/proc/self/fd/${fd}`)}`
    } catch {
      return fd
    }
  })
const { sleep } = require('./helpers/util')

t.test('tfo in 4 worker threads at once, and in the main thread, each with SYN data', async (t) => {
  const tfo = require('..')
  t.equal(tfo.supported, true, 'main thread: the addon loaded')
  // The main thread's server listens first: libuv keeps a reserve fd (/dev/null,
  // for EMFILE) from a loop's first listen() on, which is not a leak.
  const server = tfo.createServer((s) => {
    s.on('data', () => {})
    s.on('end', () => s.end(String(s.fastOpen.synData)))
  })
  await new Promise((resolve) => server.listen(0, '127.0.4.50', resolve))
  // Warm-up: worker machinery's own fds exist before the baseline.
  const warm = new Worker(__filename, { workerData: { role: 'exchange', id: 0, host: '127.0.4.100', leak: 0 } })
  await once(warm, 'exit')
  await sleep(50)
  const before = openFds()
  const beforeTable = fdTable()

  const workers = [1, 2, 3, 4].map((id) => new Worker(__filename, { workerData: { role: 'exchange', id, host: `127.0.4.${id}`, leak: 3 } }))
  const results = workers.map(
    (w) =>
      new Promise((resolve, reject) => {
        let msg = null
        w.on('message', (m) => {
          msg = m
        })
        w.on('error', reject)
        w.on('exit', (code) => resolve({ code, msg }))
      }),
  )

  // The main thread exchanges at the same time.
  const { port } = server.address()
  const mainOutcomes = []
  for (let i = 0; i < 2; i++) {
    const s = tfo.connect(port, '127.0.4.50')
    s.end(`main ${i}`)
    let reply = ''
    s.on('data', (d) => {
      reply += d
    })
    await once(s, 'close')
    mainOutcomes.push({ reply, synData: s.fastOpen.synData })
  }
  t.same(
    mainOutcomes,
    [
      { reply: 'false', synData: false },
      { reply: 'true', synData: true },
    ],
    'main thread: the second request rode in the SYN',
  )

  const done = await Promise.all(results)
  done.forEach(({ code, msg }, i) => {
    t.equal(code, 0, `worker ${i + 1} exited 0`)
    t.equal(msg && msg.supported, true, `worker ${i + 1}: the addon loaded`)
    t.match(msg && msg.first, { info: { cookie: 'requested', synData: false } }, `worker ${i + 1}: first contact asks for a cookie`)
    t.match(
      msg && msg.second,
      { reply: `true ${`worker ${i + 1} rides the SYN`.length}`, info: { cookie: 'sent', synData: true } },
      `worker ${i + 1}: the second request rode in the SYN (both ends say so)`,
    )
    t.ok(msg && msg.leaked.every((fd) => fd > 2), `worker ${i + 1} left ${msg && msg.leaked.length} addon sockets open`)
  })
  // A worker's own loop fds may be released a moment after its 'exit' event.
  for (let i = 0; i < 100 && openFds() !== before; i++) await sleep(20)
  t.equal(openFds(), before, "every worker's leftover addon sockets were closed when it ended; nothing else leaked", { before: beforeTable, after: fdTable() })
  await new Promise((resolve) => server.close(resolve))
})

t.test('the addon loads again in the same thread: another path, a fresh require; each load owns its own fds', async (t) => {
  const gyp = require('node-gyp-build')
  const first = gyp(ROOT)
  const file = gyp.path(ROOT)
  t.equal(require(file), first, 'the same path: the module cache gives the same instance')

  // A fresh load of the same file after deleting the require cache.
  delete require.cache[file]
  const second = require(file)
  t.not(second, first, 'a new instance after deleting the require cache')

  // The same library through another path (a copy in a temp dir: a second dlopen).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-addon-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const copy = path.join(dir, 'tfo.node')
  fs.copyFileSync(file, copy)
  const third = require(copy)
  t.not(third, first)
  t.not(third, second)

  const before = openFds()
  for (const [name, bnd] of [
    ['first', first],
    ['second', second],
    ['copy', third],
  ]) {
    t.same(Object.keys(bnd).sort(), Object.keys(first).sort(), `${name}: the same exports`)
    t.same(bnd.constants, first.constants, `${name}: the same constants`)
  }
  const fds = [first, second, third].map((bnd) => bnd.socket(bnd.constants.AF_INET))
  t.ok(
    fds.every((fd) => fd > 2),
    'each instance makes sockets',
  )
  t.equal(second.close(fds[0]), -os.constants.errno.EBADF, "an instance refuses to close another instance's fd")
  t.equal(third.close(fds[1]), -os.constants.errno.EBADF)
  t.equal(first.close(fds[2]), -os.constants.errno.EBADF)
  t.same(
    fds.map((fd, i) => [first, second, third][i].close(fd)),
    [0, 0, 0],
    'each closes its own',
  )
  t.equal(openFds(), before, 'no fd leaked')

  // tfo itself still works after all that.
  const tfo = require('..')
  const server = tfo.createServer((s) => s.end('ok'))
  await new Promise((resolve) => server.listen(0, '127.0.4.60', resolve))
  const s = tfo.connect(server.address().port, '127.0.4.60')
  s.resume()
  await once(s, 'close')
  t.equal(s.fastOpen.attempted, true)
  await new Promise((resolve) => server.close(resolve))
})

t.test('a process whose workers are terminated in the middle of a connect exits cleanly', async (t) => {
  for (let run = 0; run < 3; run++) {
    const r = spawnSync(process.execPath, [__filename, '--exit-child'], { encoding: 'utf8', timeout: 60_000, env: process.env })
    t.equal(r.error, undefined, `run ${run}: no spawn error / no timeout (no hang)`)
    t.equal(r.signal, null, `run ${run}: not killed by a signal (no crash)`)
    t.equal(r.status, 0, `run ${run}: exit code 0`)
    t.equal(r.stderr, '', `run ${run}: nothing on stderr`)
    const report = (() => {
      try {
        return JSON.parse(r.stdout.trim().split('\n').pop())
      } catch {
        return null
      }
    })()
    t.ok(report, `run ${run}: the child reported`, { stdout: r.stdout })
    if (report) {
      t.equal(report.terminated, report.workers, `run ${run}: ${report.workers} workers terminated mid-connect`)
      t.ok(report.attemptsSeen > 0, `run ${run}: some were terminated after their connect attempt had started`)
      t.equal(report.fdsAfter, report.fdsBefore, `run ${run}: fds back to the baseline after the terminations`)
    }
  }
})

// The child: main thread with tfo and a SYN-dropping listener (connects to it
// stay in SYN_SENT; with a cookie, deferred and then dropped with their data);
// workers connect to it and to an answering server and are terminated at
// various moments: at once, after 'connecting', after the first attempt, and
// after a delay. Then it leaves its own addon sockets open and ends without
// process.exit(): the event loop must drain and the process exit 0.
async function runExitChild() {
  const fs = require('node:fs')
  const net = require('node:net')
  const tfo = require(ROOT)
  const b = require('./helpers/binding')
  const c = b.constants
  const openFds = () => fs.readdirSync('/proc/self/fd').length
  const { sleep } = require('./helpers/util')
  const host = '127.0.5.1'

  // An answering tfo server, and a cookie for host.
  const server = tfo.createServer((s) => {
    s.resume()
    s.on('end', () => s.end('ok'))
  })
  await new Promise((resolve) => server.listen(0, host, resolve))
  await new Promise((resolve) => {
    const s = tfo.connect(server.address().port, host)
    s.end('cookie')
    s.resume()
    s.on('close', resolve)
  })

  // The SYN-dropping listener.
  const probe = net.createServer()
  await new Promise((resolve) => probe.listen(0, host, resolve))
  const dropPort = probe.address().port
  await new Promise((resolve) => probe.close(resolve))
  const lfd = b.socket(c.AF_INET)
  b.setsockoptInt(lfd, c.SOL_SOCKET, c.SO_REUSEADDR, 1)
  if (b.bind(lfd, c.AF_INET, host, dropPort) !== 0 || b.listen(lfd, 0) !== 0) throw new Error('dropper')
  const filler = net.connect(dropPort, host)
  await new Promise((resolve) => filler.on('connect', resolve))

  // Warm-up worker, then the baseline.
  const w0 = new Worker(__filename, { workerData: { role: 'connect', host, port: server.address().port } })
  await new Promise((resolve) =>
    w0.on('message', (m) => {
      if (m === 'connecting') resolve()
    }),
  )
  await w0.terminate()
  await sleep(50)
  const fdsBefore = openFds()

  const plans = [
    { port: dropPort, when: 'now' },
    { port: dropPort, when: 'connecting' },
    { port: dropPort, when: 'attempt' },
    { port: dropPort, when: 'delay' },
    { port: server.address().port, when: 'connecting' },
    { port: server.address().port, when: 'attempt' },
    { port: server.address().port, when: 'delay' },
    { port: dropPort, when: 'attempt' },
  ]
  let terminated = 0
  let attemptsSeen = 0
  await Promise.all(
    plans.map(async (plan) => {
      const w = new Worker(__filename, { workerData: { role: 'connect', host, port: plan.port } })
      w.on('error', (e) => {
        process.stderr.write(`worker error: ${e.stack}\n`)
      })
      if (plan.when !== 'now') {
        await new Promise((resolve) => {
          w.on('message', (m) => {
            if (m === 'attempt') attemptsSeen++
            if (plan.when === 'delay' && m === 'connecting') setTimeout(resolve, 20)
            else if (m === plan.when) resolve()
          })
          w.on('exit', resolve)
        })
      }
      await w.terminate()
      terminated++
    }),
  )
  await sleep(100)
  const fdsAfter = openFds()

  filler.destroy()
  b.close(lfd)
  await new Promise((resolve) => server.close(resolve))
  // Addon sockets still open at exit: the addon's own cleanup closes them.
  b.socket(c.AF_INET)
  b.genlSocket()
  process.stdout.write(`${JSON.stringify({ workers: plans.length, terminated, attemptsSeen, fdsBefore, fdsAfter })}\n`)
}
