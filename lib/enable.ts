// TFO for listening sockets: `enableFastOpen(server)` works on any net.Server
// (http, https, http2, tls, express, fastify, tfo.Server), listening or not.
// It sets TCP_FASTOPEN on the listening fd, checks the namespace's sysctl and
// says so (a 'warning') when the kernel will not use TFO, and tags each
// accepted socket with its TFO outcome read once from TCP_INFO.
import * as net from 'node:net';

import { invalidArgType, tfoError, validateBoolean, validateInteger, validateObject } from './errors';
import { native } from './native';
import { live as stats } from './stats';
import * as sysctl from './sysctl';
import { readTcpInfo, synDataAccepted } from './tcpinfo';
import type { FastOpenInfo } from './socket';

/** Default TFO queue length (pending TFO requests) for listeners; nginx/HAProxy users use 256–1024. */
export const DEFAULT_QUEUE_LENGTH = 256;

/** TFO options for a listening socket. */
export interface ServerFastOpenOptions {
  /**
   * Maximum number of pending TFO requests (`TCP_FASTOPEN` queue length); the
   * kernel caps it at `net.core.somaxconn`. Beyond it, SYNs with data fall
   * back to a normal handshake (TCPFastOpenListenOverflow). Default 256.
   */
  queueLength?: number;
  /** Accept SYN data without a cookie (`TCP_FASTOPEN_NO_COOKIE`). Trusted networks only. Default false. */
  noCookie?: boolean;
}

/** What tfo knows about TFO on one server; live (updated on each listen). */
export interface ServerFastOpenState {
  /** TFO was asked for (not `fastOpen: false`). */
  requested: boolean;
  /** `TCP_FASTOPEN` is set on the listening socket. */
  enabled: boolean;
  /** Enabled and the namespace's `net.ipv4.tcp_fastopen` has the server bit: SYN data will be accepted. */
  active: boolean;
  queueLength: number;
  noCookie: boolean;
  /** Why TFO is not active, with the fix; null when active. */
  reason: string | null;
}

interface ListenHandle {
  fd?: number;
}
const kState = Symbol('tfo.serverState');
const kInfo = Symbol('tfo.fastOpenInfo');
const kAppliedFd = Symbol('tfo.appliedFd');

type TaggedServer = net.Server & {
  [kState]?: ServerFastOpenState;
  [kAppliedFd]?: number;
  _handle?: ListenHandle | null;
};
type TaggedSocket = net.Socket & { [kInfo]?: FastOpenInfo | null; _handle?: ListenHandle | null };

/** Validates server-side `fastOpen` options. */
export function normalizeServerOptions(value: unknown, name = 'options.fastOpen'): Required<ServerFastOpenOptions> | false {
  if (value === false) return false;
  if (value === undefined || value === true) return { queueLength: DEFAULT_QUEUE_LENGTH, noCookie: false };
  validateObject(value, name);
  const { queueLength = DEFAULT_QUEUE_LENGTH, noCookie = false } = value as ServerFastOpenOptions;
  validateInteger(queueLength, `${name}.queueLength`, 1, 2 ** 31 - 1);
  validateBoolean(noCookie, `${name}.noCookie`);
  return { queueLength, noCookie };
}

function fdOf(handle: ListenHandle | null | undefined): number {
  return handle && typeof handle.fd === 'number' ? handle.fd : -1;
}

function warn(server: net.Server, message: string, fix: string): void {
  const w = tfoError('TFO_SERVER_INACTIVE', message, { fix });
  w.name = 'TFOWarning';
  if (server.listenerCount('warning') > 0) server.emit('warning', w);
  else process.emitWarning(w);
}

/** Sets TCP_FASTOPEN on the server's listening fd (if it has one) and records the result. */
function apply(server: TaggedServer, opts: Required<ServerFastOpenOptions>, force = false): void {
  const state = server[kState]!;
  const current = fdOf(server._handle);
  // listen() applies at once and 'listening' again: once per listening fd (unless options changed).
  if (!force && current >= 0 && server[kAppliedFd] === current) return;
  server[kAppliedFd] = current;
  state.enabled = false;
  state.active = false;
  const b = native.binding;
  if (!b) {
    state.reason = native.error;
    return;
  }
  const fd = fdOf(server._handle);
  if (fd < 0) {
    const addr = server.address();
    state.reason =
      typeof addr === 'string'
        ? 'not a TCP server (IPC path)'
        : 'this process has no listening fd (a cluster round-robin worker: the primary owns the socket)';
    return;
  }
  const c = b.constants;
  const r = b.setsockoptInt(fd, c.IPPROTO_TCP, c.TCP_FASTOPEN, opts.queueLength);
  if (r < 0) {
    state.reason = `setsockopt(TCP_FASTOPEN) failed (errno ${r})`;
    return;
  }
  if (opts.noCookie && c.TCP_FASTOPEN_NO_COOKIE !== undefined) {
    const r2 = b.setsockoptInt(fd, c.IPPROTO_TCP, c.TCP_FASTOPEN_NO_COOKIE, 1);
    if (r2 < 0) state.noCookie = false;
  }
  state.enabled = true;
  let bits: sysctl.FastOpenSysctl | null = null;
  try {
    bits = sysctl.fastOpen();
  } catch {
    bits = null;
  }
  if (bits && !bits.server) {
    state.reason =
      `net.ipv4.tcp_fastopen is ${bits.value} in this network namespace: the server bit (0x2) is off, ` +
      'so the kernel ignores SYN data and every connection uses a normal handshake';
    warn(
      server,
      `TCP Fast Open is not active for this server: ${state.reason}. ` +
        'Fix: `sysctl -w net.ipv4.tcp_fastopen=3` or `npx tfo enable server` (root / CAP_NET_ADMIN; containers start at 1).',
      'sysctl -w net.ipv4.tcp_fastopen=3',
    );
    return;
  }
  state.active = true;
  state.reason = null;
}

function tagConnection(this: TaggedServer, socket: TaggedSocket): void {
  const state = this[kState];
  const b = native.binding;
  const fd = fdOf(socket._handle);
  let info: FastOpenInfo | null = null;
  if (b && fd >= 0) {
    const ti = readTcpInfo(b, fd);
    if (typeof ti !== 'number') {
      info = { role: 'server', attempted: state?.enabled ?? false, synData: synDataAccepted(ti), rttMs: ti.rtt / 1000 };
    }
  }
  socket[kInfo] = info;
  if (!('fastOpen' in socket)) {
    Object.defineProperty(socket, 'fastOpen', {
      configurable: true,
      enumerable: false,
      get: () => socket[kInfo] ?? null,
    });
  }
  if (state?.enabled) {
    stats.server.accepted++;
    if (info?.synData) stats.server.synData++;
  }
}

/**
 * Turns TCP Fast Open on for any `net.Server` (http, https, http2, tls,
 * express's `app.listen()`, `fastify().server`, a tfo.Server), whether it is
 * listening already or not; applied again on every later `listen()`.
 *
 * Accepted sockets get a `fastOpen` property ({@link FastOpenInfo}, role
 * `'server'`) telling whether their SYN carried data. If the namespace's
 * `net.ipv4.tcp_fastopen` lacks the server bit the server still listens, the
 * returned state says why TFO is inactive, and a `TFOWarning` (code
 * `TFO_SERVER_INACTIVE`) is emitted as the server's `'warning'` event, or as a
 * process warning when nobody listens for it.
 *
 * @returns the live TFO state of the server (also `server.fastOpen`).
 */
export function enableFastOpen(server: net.Server, options?: ServerFastOpenOptions): ServerFastOpenState {
  if (!(server instanceof net.Server)) throw invalidArgType('server', 'net.Server', server);
  const opts = normalizeServerOptions(options === undefined ? {} : options, 'options');
  return install(server as TaggedServer, opts);
}

/** @internal used by tfo.Server (which also accepts `fastOpen: false`). */
export function install(server: TaggedServer, opts: Required<ServerFastOpenOptions> | false): ServerFastOpenState {
  const first = !server[kState];
  const state: ServerFastOpenState = server[kState] ?? {
    requested: false,
    enabled: false,
    active: false,
    queueLength: DEFAULT_QUEUE_LENGTH,
    noCookie: false,
    reason: null,
  };
  server[kState] = state;
  if (first) {
    server.prependListener('listening', () => {
      if (state.requested) apply(server, { queueLength: state.queueLength, noCookie: state.noCookie });
    });
    server.prependListener('connection', tagConnection);
    if (!('fastOpen' in server)) {
      Object.defineProperty(server, 'fastOpen', { configurable: true, enumerable: false, get: () => state });
    }
  }
  if (opts === false) {
    state.requested = false;
    state.reason = 'disabled by the fastOpen: false option';
    return state;
  }
  state.requested = true;
  state.queueLength = opts.queueLength;
  state.noCookie = opts.noCookie;
  if (server.listening) apply(server, opts, true);
  return state;
}

/** @internal applies TFO right after listen() when the handle already exists (no window without TFO). */
export function applyNow(server: net.Server): void {
  const s = server as TaggedServer;
  const state = s[kState];
  if (state?.requested && fdOf(s._handle) >= 0) apply(s, { queueLength: state.queueLength, noCookie: state.noCookie });
}

/** The TFO state of a server given to `enableFastOpen` or made by `tfo.createServer`, else null. */
export function serverFastOpenState(server: net.Server): ServerFastOpenState | null {
  return (server as TaggedServer)[kState] ?? null;
}

/**
 * The TFO outcome of any socket: a tfo client socket's `fastOpen`, or the
 * record made when a TFO-enabled server accepted it. For other sockets it is
 * read from TCP_INFO now (server side: did the SYN carry data). Null when
 * there is nothing to read (closed, IPC, no addon). A TLS socket is looked
 * through to its TCP socket.
 */
export function fastOpenInfo(socket: net.Socket): FastOpenInfo | null {
  const s = socket as TaggedSocket & { fastOpen?: FastOpenInfo | null; _parent?: net.Socket | null };
  if (s[kInfo] !== undefined) return s[kInfo] ?? null;
  const own = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(s), 'fastOpen');
  if (own?.get) return s.fastOpen ?? null;
  if (s._parent && s._parent !== socket) return fastOpenInfo(s._parent);
  const b = native.binding;
  const fd = fdOf(s._handle);
  if (!b || fd < 0) return null;
  const ti = readTcpInfo(b, fd);
  if (typeof ti === 'number') return null;
  const role = (s as { server?: unknown }).server ? 'server' : 'client';
  return { role, attempted: false, synData: synDataAccepted(ti), rttMs: ti.rtt / 1000 };
}
