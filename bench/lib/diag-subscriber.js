'use strict'
// Preloaded into every Node child by `bench/run.js --diag-subscribers`: a
// subscriber on each of tfo's diagnostics_channel channels doing what a
// metrics subscriber does (count by outcome), so the rows show what
// publishing costs when someone listens. The names are written out, not read
// from tfo, so a build without diagnostics (TFO_BENCH_LIB) loads this too.
const dc = require('node:diagnostics_channel')

const counts = Object.create(null)
const count = (key) => {
  counts[key] = (counts[key] || 0) + 1
}

dc.subscribe('tfo:client:connect', (m) => count(`client ${m.fastOpen.attempted} ${m.fastOpen.synData} ${m.fastOpen.failure}`))
dc.subscribe('tfo:server:accept', (m) => count(`server ${m.fastOpen ? m.fastOpen.synData : null}`))
dc.subscribe('tfo:backoff:start', (m) => count(`backoff start ${m.failures}`))
dc.subscribe('tfo:backoff:end', (m) => count(`backoff end ${m.reason}`))
dc.subscribe('tfo:keys:rotate', (m) => count(`keys ${m.target} ${m.source}`))

module.exports = { counts }
