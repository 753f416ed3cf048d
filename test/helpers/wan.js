'use strict'
// What the emulated-WAN tests (test/wan-*.test.js) share: they need root
// (network namespaces and TUN devices for bench/lib/wan.js); CI runs as root.

/** Plans no test and says why when this process cannot build a WAN; true then (the caller returns). */
function skipWithoutWanRoot(t) {
  if (process.getuid && process.getuid() === 0) return false
  t.plan(0, 'skip: the emulated WAN needs root (network namespaces and TUN devices); CI runs as root')
  return true
}

module.exports = { skipWithoutWanRoot }
