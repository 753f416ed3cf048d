'use strict'
// tcpdump on `lo` for the wire tests (wire, rollout, http2): capture
// the packets of one port while some traffic runs, and decode them (flags,
// seq/ack, TCP options, payload). tcpdump is required (CI installs it): when
// it is missing the calling test fails, it is not skipped.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { once } = require('node:events')

const { sleep } = require('./util')
const TFO_OPTION = 34 // TCP option kind for Fast Open (RFC 7413)

function haveTcpdump(t) {
  const r = spawnSync('tcpdump', ['--version'], { stdio: 'ignore' })
  if (r.error || r.status !== 0) {
    t.fail(`tcpdump is required and is missing here (${r.error ? r.error.code : `exit ${r.status}`}); install tcpdump (CI does)`)
    return false
  }
  return true
}

/**
 * Captures `tcp port <port>` on lo while `traffic()` runs; returns the parsed
 * packets (see parse()). tcpdump is stopped with SIGTERM and waited for.
 */
async function capture(t, port, traffic) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfo-wire-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const pcap = path.join(dir, 'cap.pcap')
  // -U: write each packet at once; --immediate-mode: hand each packet to
  // tcpdump at once (else libpcap batches for up to a second and a quick
  // SIGTERM loses them). Immediate mode gives each ring frame the snapshot
  // length: at the default 256 KiB only a few frames fit in the default
  // 2 MiB buffer and a burst on lo is dropped, hence -s and -B.
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
    const check = () => {
      if (stderr.includes('listening on')) resolve()
    }
    td.stderr.on('data', check)
    td.on('close', (code) => reject(new Error(`tcpdump exited (${code}): ${stderr}`)))
  })
  await traffic()
  // Let the last packets reach the file: wait until it stops growing.
  let size = -1
  for (let i = 0; i < 100; i++) {
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
  const packets = parse(r.stdout)
  t.teardown(() => {
    if (!t.passing())
      t.comment(
        `captured:\n${r.stdout
          .split('\n')
          .filter((l) => !/^\s+0x/.test(l))
          .join('\n')}`,
      )
  })
  return packets
}

/**
 * Parses `tcpdump -nn -v -x` output: one entry per packet with the text tcpdump
 * printed and the IPv4 packet bytes, decoded (flags, seq/ack, TCP options, payload).
 */
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
    const total = ip.readUInt16BE(2)
    const tcp = ip.subarray(ihl, total)
    const doff = (tcp[12] >> 4) * 4
    const options = []
    for (let i = 20; i < doff;) {
      const kind = tcp[i]
      if (kind === 0) break
      if (kind === 1) {
        i++
        continue
      }
      const len = tcp[i + 1]
      options.push({ kind, data: tcp.subarray(i + 2, i + len) })
      i += len
    }
    const flagBits = tcp[13]
    const addr = /(\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+):/.exec(text)
    const lengths = [...text.matchAll(/length (\d+)/g)]
    return {
      text,
      flags: /Flags \[([^\]]+)\]/.exec(text)[1],
      src: addr[1],
      sport: Number(addr[2]),
      dst: addr[3],
      dport: Number(addr[4]),
      length: Number(lengths[lengths.length - 1][1]), // tcpdump's TCP payload length
      syn: (flagBits & 0x02) !== 0,
      ackFlag: (flagBits & 0x10) !== 0,
      seq: tcp.readUInt32BE(4),
      ack: tcp.readUInt32BE(8),
      tfo: options.find((o) => o.kind === TFO_OPTION) ?? null,
      payload: tcp.subarray(doff),
    }
  })
}

/** The client SYNs (SYN without ACK) to `port`, in order. */
const synsTo = (packets, port) => packets.filter((p) => p.syn && !p.ackFlag && p.dport === port)
const synAckTo = (packets, syn) => packets.find((p) => p.flags === 'S.' && p.sport === syn.dport && p.dport === syn.sport)
const dataFrom = (packets, syn) => packets.filter((p) => !p.syn && p.sport === syn.sport && p.dport === syn.dport && p.payload.length > 0)

module.exports = { TFO_OPTION, haveTcpdump, capture, parse, synsTo, synAckTo, dataFrom }
