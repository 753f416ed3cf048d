// Scale-out: TFO on the listening sockets of Node's cluster module.
//
// Cluster, round-robin (the default on Linux): the primary process owns the
// listening socket and hands accepted connections to workers; a worker's
// server._handle is a stand-in without an fd, so TFO can only be set in the
// primary. `enableClusterFastOpen()` there watches for the listening sockets
// the cluster module opens on the workers' behalf (Node's documented
// `net.server.listen` tracing channel, on every supported Node: 20.12+) and
// applies TFO and keys to them.
// Cluster with SCHED_NONE, or `exclusive: true`: each worker holds a real fd
// and tfo.createServer / enableFastOpen in the worker do everything.
import type { Cluster } from 'node:cluster';
import * as dc from 'node:diagnostics_channel';
import * as net from 'node:net';

import {
  applyNow,
  install,
  isManaged,
  normalizeServerOptions,
  type NormalizedServerOptions,
  type ServerFastOpenOptions,
  type ServerFastOpenState,
} from '../core/listener';
import { fdOfHandle, handleOf, isRoundRobinServer, type FdHolder } from '../base/internals';
import { native } from '../base/native';

// node:cluster is loaded when enableClusterFastOpen() is first called, not with tfo.
let clusterModule: Cluster | null = null;
function clusterApi(): Cluster {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred: only cluster users load it
  return (clusterModule ??= require('node:cluster') as Cluster);
}

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
  /** How the primary sees the sockets the cluster module opens: Node's `net.server.listen` tracing channel (null until set up). */
  hook: 'diagnostics_channel' | null;
  /** The round-robin listening sockets opened since, still open, each with its TFO state. */
  readonly listeners: ClusterListener[];
  /** Why nothing will be done here (not the primary, no addon), or null. */
  reason: string | null;
}

const entries: { handle: FdHolder; listener: ClusterListener }[] = [];
let options: NormalizedServerOptions | null = null;
let clusterState: ClusterFastOpenState | null = null;

function onListened(server: net.Server): void {
  if (!options || !(server instanceof net.Server)) return;
  // The server a cluster primary makes for a round-robin handle (lib/base/internals.ts says how it is recognised).
  if (!clusterApi().isPrimary || isManaged(server) || !isRoundRobinServer(server)) return;
  const handle = handleOf(server);
  if (fdOfHandle(handle) < 0) return;
  const fastOpen = install(server, options);
  applyNow(server);
  const addr = server.address();
  const listener: ClusterListener =
    addr && typeof addr === 'object'
      ? { address: addr.address, port: addr.port, family: addr.family, fastOpen }
      : { address: String(addr), port: -1, family: 'pipe', fastOpen };
  entries.push({ handle: handle!, listener });
}

function installHook(): 'diagnostics_channel' {
  // Published synchronously once the socket listens, before 'listening' and
  // before the primary answers the worker: no connection is accepted without TFO.
  dc.subscribe('tracing:net.server.listen:asyncEnd', (message) => {
    onListened((message as { server: net.Server }).server);
  });
  return 'diagnostics_channel';
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
      primary: clusterApi().isPrimary,
      hook: null,
      get listeners() {
        return entries.filter((e) => fdOfHandle(e.handle) >= 0).map((e) => e.listener);
      },
      reason: null,
    };
  }
  if (!clusterApi().isPrimary) {
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
