// Re-running a command inside a private network namespace with TFO on, so a
// demo never changes the host's sysctls. As root a network namespace of its
// own (`unshare --net`); as a normal user a user namespace with a network
// namespace (`unshare --user --map-root-user --net`), where the kernel allows
// unprivileged user namespaces: root inside it may set net.ipv4.tcp_fastopen
// of that network namespace. Uses util-linux `unshare` and iproute2 `ip`.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';

const MARK = 'TFO_CLI_NETNS';

/** Which private namespace: a network namespace (root), or a user and a network namespace (anyone). */
export type PrivateNetnsKind = 'net' | 'user+net';

/** Whether a private namespace with TFO on can be had here, and how; or why not. */
export interface PrivateNetnsAvailability {
  available: boolean;
  /** How it is (or would be) made; null when not available. */
  kind: PrivateNetnsKind | null;
  /** Why it is not available, in words; null when it is. */
  reason: string | null;
}

/** The private namespace this process is the re-run in, or null. */
export function insidePrivateNetns(): PrivateNetnsKind | null {
  const v = process.env[MARK];
  return v === 'net' || v === 'user+net' ? v : null;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

const unshareArgs = (kind: PrivateNetnsKind) => (kind === 'net' ? ['--net'] : ['--user', '--map-root-user', '--net']);

// Inside the new namespaces: loopback up, TFO on for clients and servers,
// then the command. `ip` often lives in /usr/sbin, which a normal user's PATH may lack.
const SETUP = 'PATH="$PATH:/usr/sbin:/sbin"; ip link set lo up && echo 3 > /proc/sys/net/ipv4/tcp_fastopen';

function readSysctl(file: string): string | null {
  try {
    return fs.readFileSync(file, 'latin1').trim();
  } catch {
    return null;
  }
}

/** Whether this process's user ID is mapped in its user namespace (the kernel requires it to make a child one). */
function uidMapped(): boolean {
  const map = readSysctl('/proc/self/uid_map');
  if (map === null || typeof process.getuid !== 'function') return true; // cannot tell: let unshare say
  const uid = process.getuid();
  return map.split('\n').some((line) => {
    const [inside, , count] = line.trim().split(/\s+/).map(Number);
    return inside !== undefined && count !== undefined && uid >= inside && uid < inside + count;
  });
}

/** The settings that forbid unprivileged user namespaces, as the kernel shows them, or null. */
function userNamespacesForbidden(): string | null {
  if (!uidMapped())
    return (
      `this process's user ID (${process.getuid!()}) is not mapped in its user namespace ` +
      '(a user namespace without a uid_map), so it cannot create another one'
    );
  if (readSysctl('/proc/sys/user/max_user_namespaces') === '0') return 'user namespaces are disabled (user.max_user_namespaces = 0)';
  if (readSysctl('/proc/sys/kernel/unprivileged_userns_clone') === '0')
    return 'unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)';
  if (readSysctl('/proc/sys/kernel/apparmor_restrict_unprivileged_userns') === '1')
    return 'AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1)';
  return null;
}

/**
 * Tries, once, to make the namespace and set it up (then exits at once):
 * whether the re-run can work here, and if not, why, as precisely as the
 * settings and `unshare`'s own message allow.
 */
export function privateNetnsAvailability(): PrivateNetnsAvailability {
  const kind: PrivateNetnsKind = isRoot() ? 'net' : 'user+net';
  const command = `unshare ${unshareArgs(kind).join(' ')}`;
  const r = spawnSync('unshare', [...unshareArgs(kind), 'sh', '-c', SETUP], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 10_000,
  });
  if (!r.error && r.status === 0) return { available: true, kind, reason: null };
  const said = (r.stderr ?? '').trim().split('\n')[0] ?? '';
  let reason: string;
  const error: NodeJS.ErrnoException | undefined = r.error;
  if (error?.code === 'ENOENT') reason = 'there is no `unshare` command (util-linux) on PATH';
  else if (r.error) reason = `${command} could not run: ${r.error.message}`;
  else if (/\bip\b.*not found/.test(said)) reason = 'there is no `ip` command (iproute2) to bring up loopback in the namespace';
  else if (kind === 'net') reason = `${command} failed${said ? ` (${said})` : ''}: root without CAP_SYS_ADMIN, as in most containers?`;
  else
    reason =
      userNamespacesForbidden() ??
      `${command} failed${said ? ` (${said})` : ''}: user namespaces are not allowed here (a container's seccomp ` +
        'profile or a sandbox may forbid them)';
  return { available: false, kind: null, reason: kind === 'net' ? reason : `not root, and ${reason}` };
}

/**
 * Re-runs this very command in a private namespace (see
 * {@link privateNetnsAvailability}) with lo up and net.ipv4.tcp_fastopen=3
 * inside; returns the child's exit status, or, when no such namespace can be
 * had, the availability saying why (the caller then runs here).
 */
export function rerunInPrivateNetns(): number | PrivateNetnsAvailability {
  const availability = privateNetnsAvailability();
  if (!availability.available) return availability;
  const kind = availability.kind!;
  const r = spawnSync(
    'unshare',
    [...unshareArgs(kind), 'sh', '-c', `${SETUP} && exec "$@"`, 'tfo', process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, [MARK]: kind } },
  );
  if (r.error) return { available: false, kind: null, reason: `unshare failed: ${r.error.message}` };
  // Killed (Ctrl-C): exit as a shell reports it, 128 + the signal's number.
  if (r.status === null) return 128 + (osConstants.signals[r.signal!] ?? 0);
  return r.status;
}
