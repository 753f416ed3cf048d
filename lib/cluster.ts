// Scale-out: TFO on the sockets of Node's cluster module, and SO_REUSEPORT
// listeners (several processes on one port, each its own socket).
//
// Cluster, round-robin (the default on Linux): the primary process owns the
// listening socket and hands accepted connections to workers; a worker's
// server._handle is a stand-in without an fd, so TFO can only be set in the
// primary. `enableClusterFastOpen()` there watches for the listening sockets
// the cluster module opens on the workers' behalf (Node's documented
// `net.server.listen` diagnostics channel, or, where Node lacks it, the
// `_listen2` step Node keeps for wrappers) and applies TFO and keys to them.
// Cluster with SCHED_NONE, or `exclusive: true`: each worker holds a real fd
// and tfo.createServer / enableFastOpen in the worker do everything.
import type { Cluster } from 'node:cluster';
import * as dc from 'node:diagnostics_channel';
import * as dns from 'node:dns';
import * as net from 'node:net';

import {
  applyNow,
  install,
  isManaged,
  normalizeServerOptions,
  type NormalizedServerOptions,
  type ServerFastOpenOptions,
  type ServerFastOpenState,
} from './enable';
import { exceptionWithHostPort, socketBadPort } from './errors';
import { native } from './native';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const cluster = require('node:cluster') as Cluster;

/** One listening socket a cluster primary opened for its round-robin workers. */
export interface ClusterListener {
  address: string;
  port: number;
  family: string;
  /** TFO on that socket, as `server.fastOpen` reports it for a server (including `key`). */
  fastOpen: ServerFastOpenState;
}

/** What `enableClusterFastOpen()` does in this process. Live. */
export interface ClusterFastOpenState {
  /** This process is the cluster primary: the only place where TFO on round-robin sockets can be set. */
  primary: boolean;
  /** How the primary sees the sockets the cluster module opens: Node's diagnostics channel, or the `_listen2` step. */
  hook: 'diagnostics_channel' | '_listen2' | null;
  /** The round-robin listening sockets opened since, still open, each with its TFO state. */
  readonly listeners: ClusterListener[];
  /** Why nothing will be done here (not the primary, no addon), or null. */
  reason: string | null;
}

interface FdHolder {
  fd?: number;
}
type ServerWithHandle = net.Server & { _handle?: FdHolder | null; _listen2?: (...args: unknown[]) => unknown };

const entries: { handle: FdHolder; listener: ClusterListener }[] = [];
let options: NormalizedServerOptions | null = null;
let clusterState: ClusterFastOpenState | null = null;

function fdOf(handle: FdHolder | null | undefined): number {
  return handle && typeof handle.fd === 'number' ? handle.fd : -1;
}

/**
 * The server a cluster primary makes for a round-robin handle: a plain
 * net.Server whose only 'connection' listener is Node's internal assertion
 * (`net.createServer(assert.fail)` in lib/internal/cluster/round_robin_handle.js).
 */
function isRoundRobinServer(server: net.Server): boolean {
  if (!cluster.isPrimary || isManaged(server)) return false;
  const listeners = server.listeners('connection');
  if (listeners.length !== 1) return false;
  const fn = listeners[0] as Function;
  return fn.name === 'fail' && Function.prototype.toString.call(fn).includes('ERR_INTERNAL_ASSERTION');
}

function onListened(server: net.Server): void {
  if (!options || !(server instanceof net.Server) || !isRoundRobinServer(server)) return;
  const s = server as ServerWithHandle;
  const handle = s._handle;
  if (fdOf(handle) < 0) return;
  const fastOpen = install(s, options);
  applyNow(s);
  const addr = s.address();
  const listener: ClusterListener =
    addr && typeof addr === 'object'
      ? { address: addr.address, port: addr.port, family: addr.family, fastOpen }
      : { address: String(addr), port: -1, family: 'pipe', fastOpen };
  entries.push({ handle: handle!, listener });
}

function installHook(): 'diagnostics_channel' | '_listen2' {
  const listen = Function.prototype.toString.call(net.Server.prototype.listen);
  if (typeof dc.tracingChannel === 'function' && listen.includes('netServerListen')) {
    // Published synchronously once the socket listens, before 'listening' and
    // before the primary answers the worker: no connection is accepted without TFO.
    dc.subscribe('tracing:net.server.listen:asyncEnd', (message) => {
      onListened((message as { server: net.Server }).server);
    });
    return 'diagnostics_channel';
  }
  // Older Node: the primary's listen goes through server._listen2 (kept by Node for wrappers).
  const proto = net.Server.prototype as ServerWithHandle;
  const original = proto._listen2!;
  proto._listen2 = function (this: net.Server, ...args: unknown[]) {
    const r = original.apply(this, args);
    onListened(this);
    return r;
  };
  return '_listen2';
}

/**
 * Call in the cluster primary, before `cluster.fork()`: every listening socket
 * the cluster module opens for round-robin workers (the default scheduling on
 * Linux) gets TCP Fast Open with `options` — the same options as a server's
 * `fastOpen` (`queueLength`, `noCookie`, `key`, `keyRotation`); key rotation
 * timers run in the primary. Calling it again changes the options for sockets
 * opened afterwards.
 *
 * In the workers, `server.fastOpen.enabled` stays `false` (the worker has no
 * listening fd and cannot see the primary's socket); accepted sockets still
 * report `synData`. With `cluster.SCHED_NONE` or `exclusive: true` the
 * workers own real fds and enable TFO themselves; this call is not needed.
 *
 * In a process that is not the cluster primary it does nothing and says why.
 */
export function enableClusterFastOpen(opts?: ServerFastOpenOptions): ClusterFastOpenState {
  const normalized = normalizeServerOptions(opts === undefined ? {} : opts, 'options');
  if (!clusterState) {
    clusterState = {
      primary: cluster.isPrimary,
      hook: null,
      get listeners() {
        return entries.filter((e) => fdOf(e.handle) >= 0).map((e) => e.listener);
      },
      reason: null,
    };
  }
  if (!cluster.isPrimary) {
    clusterState.reason =
      'not the cluster primary: round-robin listening sockets belong to the primary; call enableClusterFastOpen() there';
    return clusterState;
  }
  if (!native.binding) {
    clusterState.reason = native.error;
    return clusterState;
  }
  options = normalized === false ? null : normalized;
  clusterState.reason = options ? null : 'disabled by fastOpen: false';
  if (!clusterState.hook) clusterState.hook = installHook();
  return clusterState;
}

// ---- SO_REUSEPORT listeners ----

type ReusePortOptions = net.ListenOptions & { reusePort?: boolean };

function toPort(value: unknown): number {
  if (value === undefined || value === null) return 0;
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) throw socketBadPort('options.port', value);
  return n;
}

/**
 * @internal `server.listen({ port, host, reusePort: true })` for Node versions
 * without the option: the socket is made here (SO_REUSEADDR, SO_REUSEPORT,
 * bind, listen) and given to `net.Server.listen({ fd })`. Returns false when
 * the call is not of that form, or Node should handle it (no addon; a
 * cluster worker, where `listen({ fd })` would go to the primary).
 */
export function listenReusePort(server: net.Server, args: unknown[], after: () => void): boolean {
  const o = args[0] as ReusePortOptions | null;
  if (o === null || typeof o !== 'object' || o.reusePort !== true) return false;
  const b = native.binding;
  if (!b || cluster.isWorker) return false;
  if (!('port' in o) || 'fd' in o || 'handle' in o || '_handle' in o || o.path !== undefined) return false;
  if ((server as ServerWithHandle)._handle) return false; // let net throw ERR_SERVER_ALREADY_LISTEN
  const cb = args.slice(1).find((a) => typeof a === 'function') as (() => void) | undefined;
  const port = toPort(o.port);
  const backlog = typeof o.backlog === 'number' ? o.backlog : 511;
  const c = b.constants;

  const fail = (errno: number, address: string): void => {
    const err = exceptionWithHostPort(errno, 'listen', address, port);
    process.nextTick(() => server.emit('error', err));
  };
  const open = (address: string, family: 4 | 6): void => {
    const fd = b.socket(family === 6 ? c.AF_INET6 : c.AF_INET);
    if (fd < 0) return fail(fd, address);
    let r = b.setsockoptInt(fd, c.SOL_SOCKET, c.SO_REUSEADDR, 1);
    if (r === 0) r = b.setsockoptInt(fd, c.SOL_SOCKET, c.SO_REUSEPORT, 1);
    if (r === 0 && family === 6 && o.ipv6Only) r = b.setsockoptInt(fd, c.IPPROTO_IPV6, c.IPV6_V6ONLY, 1);
    if (r === 0) r = b.bind(fd, family === 6 ? c.AF_INET6 : c.AF_INET, address, port);
    if (r === 0) r = b.listen(fd, backlog);
    if (r < 0) {
      b.close(fd);
      return fail(r, address);
    }
    const listenOptions: { fd: number; backlog: number; signal?: AbortSignal } = { fd, backlog };
    if (o.signal) listenOptions.signal = o.signal;
    try {
      (net.Server.prototype.listen as (...a: unknown[]) => unknown).call(server, listenOptions, cb);
    } catch (e) {
      b.close(fd);
      throw e;
    }
    if (fdOf((server as ServerWithHandle)._handle) === fd) b.release(fd);
    else b.close(fd);
    after();
  };

  const host = o.host;
  if (!host) {
    // As net does: the IPv6 unspecified address (dual stack), else IPv4's.
    const probe = b.socket(c.AF_INET6);
    if (probe >= 0) b.close(probe);
    open(probe >= 0 ? '::' : '0.0.0.0', probe >= 0 ? 6 : 4);
  } else if (net.isIP(host)) {
    open(host, net.isIP(host) as 4 | 6);
  } else {
    dns.lookup(host, (err, address, family) => {
      if (err) return void server.emit('error', err);
      open(address, family === 6 ? 6 : 4);
    });
  }
  return true;
}
