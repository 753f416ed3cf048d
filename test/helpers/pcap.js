'use strict'
// tcpdump on `lo` for tests that check what a SYN carried: capture while some
// traffic runs, then the IPv4 TCP packets decoded (flags, ports, TFO option,
// payload). tcpdump is required (CI installs it); a missing tcpdump fails.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { once } = require('node:events')

const TFO_OPTION = 34 // TCP option kind for Fast Open (RFC 7413)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function haveTcpdump(t) {
  const r = spawnSync('tcpdump', ['--version'], { stdio: 'ignore' })
  if (r.error || r.status !== 0) {
    t.fail(`tcpdump is required and is missing here (${r.error ? r.error.code : `exit ${r.status}`}); install tcpdump (CI does)`)
    return false
  }
  return true
}

/** Captures `tcp port <port>` on lo while `traffic()` runs; resolves to the decoded packets. */
async function capture(t, port, traffic) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-pcap-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const pcap = path.join(dir, 'cap.pcap')
  // -U and --immediate-mode: each packet reaches the file at once (a quick
  // SIGTERM loses nothing); -s/-B: room for bursts on lo.
  const td = spawn('tcpdump', ['-i', 'lo', '-nn', '-U', '--immediate-mode', '-s', '4096', '-B', '16384', '-w', pcap, `tcp port ${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  td.stderr.on('data', (d) => {
    stderr += d
  })
  const closed = once(td, 'close')
  t.teardown(async () => {
    if (td.exitCode === null && td.signalCode === null) td.kill('SIGTERM')
    await closed
  })
  await new Promise((resolve, reject) => {
    td.stderr.on('data', () => {
      if (stderr.includes('listening on')) resolve()
    })
    td.on('close', (code) => reject(new Error(`tcpdump exited (${code}): ${stderr}`)))
  })
  await traffic()
  let size = -1
  for (let i = 0; i < 100; i++) {
    // until the file stops growing
    await sleep(30)
    const now = fs.existsSync(pcap) ? fs.statSync(pcap).size : 0
    if (now === size) break
    size = now
  }
  td.kill('SIGTERM')
  await closed
  const m = /(\d+) packets? dropped by kernel/.exec(stderr)
  t.equal(m && Number(m[1]), 0, 'tcpdump: no packet dropped by the kernel')
  const r = spawnSync('tcpdump', ['-nn', '-r', pcap, '-v', '-x'], { encoding: 'utf8' })
  t.equal(r.status, 0, `tcpdump -r ${r.stderr}`)
  return parse(r.stdout)
}

/** Decodes `tcpdump -nn -v -x` output (IPv4): one entry per packet. */
function parse(out) {
  const packets = []
  let cur = null
  for (const line of out.split('\n')) {
    if (/^\d{2}:\d{2}:\d{2}\.\d+ /.test(line)) {
      cur = { text: line, hex: '' }
      packets.push(cur)
    } else if (cur) {
      const h = /^\s+0x[0-9a-f]+:\s+([0-9a-f ]+)$/.exec(line)
      if (h) cur.hex += h[1].replace(/\s+/g, '')
      else cur.text += ` ${line.trim()}`
    }
  }
  return packets.map(({ text, hex }) => {
    const ip = Buffer.from(hex, 'hex')
    const ihl = (ip[0] & 0x0f) * 4
    const tcp = ip.subarray(ihl, ip.readUInt16BE(2))
    const doff = (tcp[12] >> 4) * 4
    const options = []
    for (let i = 20; i < doff;) {
      const kind = tcp[i]
      if (kind === 0) break
      if (kind === 1) {
        i++
        continue
      }
      options.push({ kind, data: tcp.subarray(i + 2, i + tcp[i + 1]) })
      i += tcp[i + 1]
    }
    const flags = tcp[13]
    return {
      text,
      sport: tcp.readUInt16BE(0),
      dport: tcp.readUInt16BE(2),
      syn: (flags & 0x02) !== 0,
      ackFlag: (flags & 0x10) !== 0,
      tfo: options.find((o) => o.kind === TFO_OPTION) ?? null,
      payload: tcp.subarray(doff),
    }
  })
}

/** The client SYNs (no ACK flag) to `port`, in order. */
const synsTo = (packets, port) => packets.filter((p) => p.syn && !p.ackFlag && p.dport === port)

module.exports = { haveTcpdump, capture, parse, synsTo }
