'use strict'
// tfo against real TCP Fast Open peers that share nothing with it: curl
// (client), a Python server using TCP_FASTOPEN and TCP_INFO, nginx
// (`listen ... fastopen=256`), and a Python client using sendto(MSG_FASTOPEN)
// and TCP_FASTOPEN_CONNECT. Each peer runs as a child process inside this
// file's private network namespace (net.ipv4.tcp_fastopen=3), where the
// kernel's client cookie cache is shared by every process. Each test uses its
// own loopback address, so each first contact really is the first.
//
// curl, nginx and python3 are required: CI installs them (curl, nginx-light,
// python3). A missing tool fails the test; it is never skipped.
const { enterNetns } = require('./helpers/netns')
if (enterNetns(__filename)) return

const t = require('tap')
const fs = require('node:fs')
const os = require('node:os')
const net = require('node:net')
const http = require('node:http')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { once } = require('node:events')
const tfo = require('..')
const { listen, closeServer, collect, sinkServer, sha256 } = require('./helpers/util')

const { sleep } = require('./helpers/util')
const { nginxConf, nginxVersion } = require('./helpers/nginx')

// No proxy from the environment may get between the peers.
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/_proxy$/i.test(k)))

/** Fails the test (never skips) when a required tool is missing. */
function requireTool(t, cmd, args, pkg) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' })
  if (r.error || r.status !== 0) {
    t.fail(`${cmd} is required for this test and is missing or broken here (${r.error ? r.error.code : `exit ${r.status}`}); install ${pkg} (CI does)`)
    return false
  }
  return true
}

/**
 * Runs a child to completion; resolves after 'close' with { code, signal,
 * stdout, stderr }. Killed (and reported) if it outlives `ms`.
 */
function run(cmd, args, { ms = 15000, input } = {}) {
  const child = spawn(cmd, args, { env: ENV, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => {
    stdout += d
  })
  child.stderr.on('data', (d) => {
    stderr += d
  })
  child.stdin.end(input)
  const timer = setTimeout(() => child.kill('SIGKILL'), ms)
  return new Promise((resolve) => {
    child.on('error', (error) => {
      stderr += String(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** A child that prints one line when ready (e.g. its port); resolves with { child, line, exited }. */
async function startChild(t, cmd, args) {
  const child = spawn(cmd, args, { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => {
    stderr += d
  })
  const exited = once(child, 'close')
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  })
  let out = ''
  const line = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d
      const i = out.indexOf('\n')
      if (i >= 0) resolve(out.slice(0, i))
    })
    child.on('error', reject)
    child.on('close', (code) => reject(new Error(`${cmd} exited (${code}) before it was ready: ${stderr}`)))
  })
  return { child, line, exited, stderr: () => stderr }
}

/** A free port on host (listen on :0 with net, close, reuse the number). */
async function freePort(host) {
  const s = net.createServer()
  const { port } = await listen(s, 0, host)
  await closeServer(s)
  return port
}

t.test('curl --tcp-fastopen against an http server with enableFastOpen', async (t) => {
  if (!requireTool(t, 'curl', ['--version'], 'curl')) return
  const host = '127.0.0.20'
  const body = Buffer.from(Array.from({ length: 2000 }, (_, i) => `line ${i}\n`).join(''))
  const seen = []
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url, synData: req.socket.fastOpen?.synData, role: req.socket.fastOpen?.role })
    res.setHeader('content-type', 'text/plain')
    res.end(body)
  })
  t.teardown(() => closeServer(server))
  const state = tfo.enableFastOpen(server)
  const { port } = await listen(server, 0, host)
  t.match(state, { enabled: true, active: true })

  const before = tfo.counters()
  const results = []
  for (const p of ['/first', '/second']) {
    results.push(await run('curl', ['-sS', '--noproxy', '*', '--max-time', '10', '--tcp-fastopen', `http://${host}:${port}${p}`]))
  }
  const d = tfo.diffCounters(before, tfo.counters())
  for (const [i, r] of results.entries()) {
    t.equal(r.code, 0, `curl ${i} exited 0 ${r.stderr}`)
    t.equal(r.stdout.length, body.length, `curl ${i}: whole body`)
    t.equal(sha256(Buffer.from(r.stdout)), sha256(body), `curl ${i}: body intact`)
  }
  t.same(
    seen,
    [
      { url: '/first', synData: false, role: 'server' },
      { url: '/second', synData: true, role: 'server' },
    ],
    'first request: normal handshake; second: the request rode in the SYN',
  )
  t.equal(d.cookieReqd, 1, 'curl asked for a cookie once')
  t.equal(d.passive, 1, 'TCPFastOpenPassive +1')
  t.equal(d.active, 1, "curl's SYN data was acknowledged (TCPFastOpenActive +1)")
  t.equal(d.passiveFail, 0)
})

// Python TFO server: TCP_FASTOPEN on the listener; for each connection reads
// to EOF and replies with what TCP_INFO says about the SYN and a hash of what arrived.
const PY_SERVER = `
import hashlib, json, socket, sys
host, count = sys.argv[1], int(sys.argv[2])
TCPI_OPT_SYN_DATA = 32
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_TCP, 23, 16)  # TCP_FASTOPEN, queue of 16
s.bind((host, 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
for _ in range(count):
    c, _ = s.accept()
    info = c.getsockopt(socket.IPPROTO_TCP, 11, 232)  # TCP_INFO
    options = info[5]  # tcpi_options: u8 state, ca_state, retransmits, probes, backoff, options
    data = b''
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    c.sendall(json.dumps({'synData': bool(options & TCPI_OPT_SYN_DATA), 'sha256': hashlib.sha256(data).hexdigest(), 'length': len(data)}).encode())
    c.close()
s.close()
`

t.test('tfo client against a Python TFO server', async (t) => {
  if (!requireTool(t, 'python3', ['-c', 'import socket'], 'python3')) return
  const host = '127.0.0.21'
  const py = await startChild(t, 'python3', ['-c', PY_SERVER, host, '3'])
  const port = Number(py.line)
  t.ok(port > 0, `python listens on ${port}`)

  const payloads = [Buffer.from('first contact\n'), require('node:crypto').randomBytes(3000), require('node:crypto').randomBytes(200000)]
  const before = tfo.counters()
  const out = []
  for (const payload of payloads) {
    const socket = tfo.connect(port, host)
    socket.end(payload)
    const r = await collect(socket)
    t.equal(r.error, null)
    out.push({ reply: JSON.parse(r.data.toString()), info: socket.fastOpen, written: socket.bytesWritten })
  }
  const d = tfo.diffCounters(before, tfo.counters())
  for (const [i, o] of out.entries()) {
    t.same(
      { sha256: o.reply.sha256, length: o.reply.length },
      { sha256: sha256(payloads[i]), length: payloads[i].length },
      `connection ${i}: python got every byte`,
    )
    t.equal(o.written, payloads[i].length)
  }
  t.equal(out[0].reply.synData, false, 'python: first SYN had no data')
  t.match(out[0].info, { attempted: true, synData: false, cookie: 'requested', synDataBytes: 0, failure: 'cookie-unavailable' })
  for (const i of [1, 2]) {
    t.equal(out[i].reply.synData, true, `python: connection ${i}'s SYN carried data (TCPI_OPT_SYN_DATA)`)
    t.match(out[i].info, { attempted: true, synData: true, cookie: 'sent', failure: null })
    t.ok(out[i].info.synDataBytes > 0 && out[i].info.synDataBytes <= payloads[i].length, `SYN took ${out[i].info.synDataBytes} bytes`)
  }
  t.match(d, { cookieReqd: 1, passive: 2, active: 2, activeFail: 0, passiveFail: 0 })
  const [code] = await py.exited
  t.equal(code, 0, `python server exited cleanly ${py.stderr()}`)
})

t.test('tfo client against nginx with listen ... fastopen=256', async (t) => {
  if (!requireTool(t, 'nginx', ['-v'], 'nginx-light')) return
  const host = '127.0.0.22'
  const port = await freePort(host)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-nginx-'))
  const conf = path.join(dir, 'nginx.conf')
  fs.writeFileSync(conf, nginxConf(dir, [{ listen: `${host}:${port} fastopen=256`, location: 'return 200 "ok\\n";' }], { accessLog: true }))
  const errorLog = path.join(dir, 'error.log')
  const v = nginxVersion()
  const args = ['-c', conf, '-p', dir]
  if (v && (v[0] > 1 || v[1] > 19 || (v[1] === 19 && v[2] >= 5))) args.push('-e', errorLog) // no log outside dir, even at startup
  const nginx = spawn('nginx', args, { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  nginx.stdout.on('data', (d) => {
    output += d
  })
  nginx.stderr.on('data', (d) => {
    output += d
  })
  const exited = once(nginx, 'close')
  t.teardown(async () => {
    if (nginx.exitCode === null && nginx.signalCode === null) nginx.kill('SIGTERM')
    await exited
    if (!t.passing()) {
      t.comment(`nginx.conf:\n${fs.readFileSync(conf, 'utf8')}`)
      t.comment(`nginx output:\n${output}`)
      t.comment(`nginx error.log:\n${fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8') : '(none)'}`)
    }
    fs.rmSync(dir, { recursive: true, force: true })
  })

  // Wait until nginx accepts (plain net: no TFO option, the cookie cache stays empty).
  const end = Date.now() + 10000
  for (;;) {
    if (nginx.exitCode !== null) break
    const probe = net.connect(port, host)
    const r = await collect(probe.on('connect', () => probe.end()))
    if (!r.error) break
    if (Date.now() > end) break
    await sleep(20)
  }
  t.equal(nginx.exitCode, null, 'nginx is running')

  const request = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
  const results = []
  const before = tfo.counters()
  const counters = []
  for (let i = 0; i < 3; i++) {
    const c0 = tfo.counters()
    const socket = tfo.connect(port, host)
    socket.write(request) // before 'connect': rides in the SYN when a cookie is cached
    const r = await collect(socket)
    counters.push(tfo.diffCounters(c0, tfo.counters()))
    results.push({ text: r.data.toString(), error: r.error, info: socket.fastOpen })
  }
  for (const [i, r] of results.entries()) {
    t.equal(r.error, null, `request ${i}: no error`)
    t.match(r.text, /^HTTP\/1\.1 200 OK\r\n/, `request ${i}: 200`)
    t.ok(r.text.endsWith('\r\n\r\nok\n'), `request ${i}: body "ok\\n"`)
  }
  t.match(results[0].info, { attempted: true, synData: false, cookie: 'requested', failure: 'cookie-unavailable' })
  t.match(counters[0], { cookieReqd: 1, active: 0, passive: 0 })
  for (const i of [1, 2]) {
    t.match(
      results[i].info,
      { attempted: true, synData: true, cookie: 'sent', synDataBytes: request.length, failure: null },
      `request ${i}: nginx acked the request in the SYN`,
    )
    t.match(counters[i], { active: 1, passive: 1, activeFail: 0, passiveFail: 0, cookieReqd: 0 })
  }
  t.match(tfo.diffCounters(before, tfo.counters()), { active: 2, passive: 2 })

  nginx.kill('SIGQUIT') // graceful shutdown
  const [code, signal] = await exited
  t.ok(code === 0 || signal === 'SIGQUIT', `nginx stopped (code ${code}, signal ${signal})`)
  const log = fs.readFileSync(errorLog, 'utf8')
  t.notMatch(log, /\[(alert|emerg|crit)\]/, "no alerts in nginx's error log")
})

// Python client: one connection per run, by sendto(MSG_FASTOPEN) or
// TCP_FASTOPEN_CONNECT; prints the reply and its own TCP_INFO verdict.
const PY_CLIENT = `
import json, socket, sys
host, port, mode, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].encode()
MSG_FASTOPEN = getattr(socket, 'MSG_FASTOPEN', 0x20000000)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
if mode == 'sendto':
    sent = s.sendto(payload, MSG_FASTOPEN, (host, port))
    if sent < len(payload):
        s.sendall(payload[sent:])
else:
    s.setsockopt(socket.IPPROTO_TCP, 30, 1)  # TCP_FASTOPEN_CONNECT
    s.connect((host, port))
    s.sendall(payload)
s.shutdown(socket.SHUT_WR)
reply = b''
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    reply += chunk
info = s.getsockopt(socket.IPPROTO_TCP, 11, 232)
print(json.dumps({'reply': reply.decode(), 'synDataAcked': bool(info[5] & 32)}))
s.close()
`

t.test('Python client (sendto MSG_FASTOPEN, TCP_FASTOPEN_CONNECT) against a tfo server', async (t) => {
  if (!requireTool(t, 'python3', ['-c', 'import socket'], 'python3')) return
  const host = '127.0.0.23'
  const seen = []
  const server = tfo.createServer(
    sinkServer((s, data) => {
      seen.push({ synData: s.fastOpen?.synData, data: data.toString() })
      return `${s.fastOpen?.synData} ${sha256(data)}`
    }),
  )
  t.teardown(() => closeServer(server))
  const { port } = await listen(server, 0, host)

  const before = tfo.counters()
  const runs = []
  for (const [mode, payload] of [
    ['sendto', 'one'],
    ['sendto', 'two'],
    ['connect', 'three'],
  ]) {
    const r = await run('python3', ['-c', PY_CLIENT, host, String(port), mode, payload])
    t.equal(r.code, 0, `python ${mode} exited 0 ${r.stderr}`)
    runs.push({ payload, ...JSON.parse(r.stdout) })
  }
  const d = tfo.diffCounters(before, tfo.counters())
  t.same(
    seen,
    [
      { synData: false, data: 'one' },
      { synData: true, data: 'two' },
      { synData: true, data: 'three' },
    ],
    'tfo server: first SYN without data, then data in the SYN (sendto and TCP_FASTOPEN_CONNECT)',
  )
  for (const r of runs) {
    t.equal(r.reply, `${r.payload !== 'one'} ${sha256(Buffer.from(r.payload))}`, `${r.payload}: reply intact`)
  }
  t.same(
    runs.map((r) => r.synDataAcked),
    [false, true, true],
    "the Python client's TCP_INFO agrees",
  )
  t.match(d, { cookieReqd: 1, passive: 2, active: 2, passiveFail: 0 })
})
