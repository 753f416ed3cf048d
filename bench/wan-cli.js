#!/usr/bin/env node
'use strict'
// Small CLI around bench/lib/wan.js (root only).
//
//   node bench/wan-cli.js up   [--rtt-ms 50] [--loss 0] [--seed 1] [--drop-syn-data]
//       create the testbed, print its namespaces and wait; SIGUSR1/SIGUSR2 turn
//       drop-syn-data on/off, Ctrl-C tears it down and prints the counters.
//       Use it with: ip netns exec <ns> <command>
//   node bench/wan-cli.js ping [--rtt-ms 10,50,100] [--count 200] [--interval 0.01]
//       measure the delay line's accuracy with ping (IPv4 and IPv6)
//   node bench/wan-cli.js clean
//       delete namespaces left behind by runs that were SIGKILLed
const { createWan, cleanupStaleNamespaces } = require('./lib/wan')

function parse(argv) {
  const o = { cmd: argv[0] || 'help', rtt: [50], loss: 0, seed: 1, dropSynData: false, count: 200, interval: 0.01 }
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]
    const v = argv[i + 1]
    if (a === '--drop-syn-data') o.dropSynData = true
    else if (a === '--rtt-ms') {
      o.rtt = v.split(',').map(Number)
      i++
    } else if (a === '--loss') {
      o.loss = Number(v)
      i++
    } else if (a === '--seed') {
      o.seed = Number(v)
      i++
    } else if (a === '--count') {
      o.count = Number(v)
      i++
    } else if (a === '--interval') {
      o.interval = Number(v)
      i++
    } else throw new Error(`unknown option ${a}`)
  }
  return o
}

async function main() {
  const o = parse(process.argv.slice(2))
  if (o.cmd === 'clean') return console.log(JSON.stringify({ removed: cleanupStaleNamespaces() }))
  if (o.cmd === 'up') {
    const wan = await createWan({ rttMs: o.rtt[0], loss: o.loss, seed: o.seed, dropSynData: o.dropSynData, tag: 'cli' })
    console.log(JSON.stringify({ client: wan.client, server: wan.server, delaylinePid: wan.delaylinePid }, null, 2))
    console.error('up; SIGUSR1/SIGUSR2: drop-syn-data on/off; Ctrl-C to tear down')
    process.on('SIGUSR1', () => wan.setDropSynData(true).then((r) => console.error('drop-syn-data on', r.dropSynData)))
    process.on('SIGUSR2', () => wan.setDropSynData(false).then((r) => console.error('drop-syn-data off', r.dropSynData)))
    const stop = async () => {
      console.log(JSON.stringify(await wan.close()))
      process.exit(0)
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    setInterval(() => {}, 1 << 30)
    return
  }
  if (o.cmd === 'ping') {
    for (const rttMs of o.rtt) {
      const wan = await createWan({ rttMs, tag: 'cli-ping' })
      try {
        for (const dst of [wan.server.addr, wan.server.addr6]) {
          const r = await wan.exec('client', 'ping', ['-q', '-n', '-c', String(o.count), '-i', String(o.interval), dst], { timeout: 600000 })
          if (r.code !== 0) throw new Error(`ping failed (is iputils-ping installed?): ${r.stderr || r.stdout}`)
          const [min, avg, max, mdev] = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(r.stdout).slice(1).map(Number)
          console.log(
            `rtt ${String(rttMs).padStart(6)} ms  ${dst.padEnd(10)}  min ${min.toFixed(3)}  avg ${avg.toFixed(3)}  max ${max.toFixed(3)}  mdev ${mdev.toFixed(3)}  avg error ${(avg - rttMs >= 0 ? '+' : '') + (avg - rttMs).toFixed(3)} ms`,
          )
        }
      } finally {
        await wan.close()
      }
    }
    return
  }
  console.log(
    require('node:fs')
      .readFileSync(__filename, 'utf8')
      .split('\n')
      .slice(2, 14)
      .map((l) => l.replace(/^\/\/ ?/, ''))
      .join('\n'),
  )
}

main().catch((e) => {
  console.error(`wan-cli: ${e.message}`)
  process.exit(e.code === 'TFO_WAN_NEEDS_ROOT' ? 77 : 1)
})
