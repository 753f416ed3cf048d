// Re-running a command inside a private network namespace with TFO on, so a
// demo never changes the host's sysctls. Uses util-linux `unshare` and iproute2.
import { spawnSync } from 'node:child_process';

const MARK = 'TFO_CLI_NETNS';

/** True when this process is the re-run inside the private namespace. */
export function insidePrivateNetns(): boolean {
  return process.env[MARK] === '1';
}

/**
 * Re-runs this very command under `unshare --net` (root) with lo up and
 * net.ipv4.tcp_fastopen=3 inside; returns the child's exit status, or a
 * string saying why it could not.
 */
export function rerunInPrivateNetns(): number | string {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0)
    return 'not root: a private network namespace needs root (CAP_SYS_ADMIN)';
  const script = 'ip link set lo up && echo 3 > /proc/sys/net/ipv4/tcp_fastopen && exec "$@"';
  const r = spawnSync('unshare', ['--net', 'sh', '-c', script, 'tfo', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [MARK]: '1' },
  });
  if (r.error) return `unshare failed: ${r.error.message}`;
  if (r.status === null) return `unshare was killed by ${r.signal}`;
  return r.status;
}
