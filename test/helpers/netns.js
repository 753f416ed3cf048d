'use strict'
// Runs a test file inside a private network namespace where TCP Fast Open is
// fully on (net.ipv4.tcp_fastopen=3 by default), so tests never touch the
// host's sysctls. Usage, first lines of a test file:
//
//   const { enterNetns } = require('./helpers/netns')
//   if (enterNetns(__filename)) return
//
// As root the file re-runs under `unshare --net`; otherwise it tries an
// unprivileged user+net namespace (`unshare --user --map-root-user --net`);
// if neither is possible the whole file is skipped with the reason.
const { spawnSync } = require('node:child_process')

const INSIDE = 'TFO_TEST_NETNS'

function insideNetns() {
  return process.env[INSIDE] === '1'
}

function setupScript(tcpFastopen) {
  return ['set -e', 'ip link set lo up', `echo ${tcpFastopen} > /proc/sys/net/ipv4/tcp_fastopen`, 'exec "$@"'].join('\n')
}

function tryNamespace(unshareArgs, file, tcpFastopen, extraEnv) {
  const args = [...unshareArgs, 'sh', '-c', setupScript(tcpFastopen), 'netns-setup', process.execPath, ...process.execArgv, file]
  return spawnSync('unshare', args, {
    stdio: 'inherit',
    env: { ...process.env, ...extraEnv, [INSIDE]: '1' },
  })
}

/** Why a private namespace cannot be had here, or null when it can. */
function netnsUnavailableReason() {
  const probe = (args) => spawnSync('unshare', [...args, 'sh', '-c', 'ip link set lo up && test -w /proc/sys/net/ipv4/tcp_fastopen'], { stdio: 'ignore' })
  if (process.getuid && process.getuid() === 0) {
    const r = probe(['--net'])
    return r.status === 0 ? null : 'unshare --net failed although running as root (no CAP_SYS_ADMIN? is iproute2 installed?)'
  }
  const r = probe(['--user', '--map-root-user', '--net'])
  return r.status === 0
    ? null
    : 'needs root (or unprivileged user namespaces) to create a private network namespace with net.ipv4.tcp_fastopen=3; run the suite as root, as CI does'
}

/**
 * Returns true when the caller must stop: the file already ran in a child
 * (inside the namespace) or was skipped. Returns false inside the namespace.
 */
function enterNetns(file, { tcpFastopen = 3, env = {} } = {}) {
  if (insideNetns()) return false
  const reason = netnsUnavailableReason()
  if (reason) {
    const t = require('tap')
    t.plan(0, `skip: ${reason}`)
    return true
  }
  const root = process.getuid && process.getuid() === 0
  const r = tryNamespace(root ? ['--net'] : ['--user', '--map-root-user', '--net'], file, tcpFastopen, env)
  process.exitCode = r.status === null ? 1 : r.status
  return true
}

/** Sets net.ipv4.tcp_fastopen inside the private namespace (never on the host). */
function setTcpFastopen(value) {
  if (!insideNetns()) throw new Error('refusing to change net.ipv4.tcp_fastopen outside a private test namespace')
  require('node:fs').writeFileSync('/proc/sys/net/ipv4/tcp_fastopen', `${value}\n`)
}

module.exports = { enterNetns, insideNetns, setTcpFastopen, netnsUnavailableReason }
