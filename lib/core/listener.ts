// TFO for listening sockets: `enableFastOpen(server)` works on any net.Server
// (http, https, http2, tls, express, fastify, tfo.Server), listening or not.
// It sets TCP_FASTOPEN on the listening fd, checks the namespace's sysctl and
// says so (a 'warning') when the kernel will not use TFO, and tags each
// accepted socket with its TFO outcome read once from TCP_INFO.
import * as net from 'node:net';

import {
  errnoException,
  errnoName,
  invalidArgType,
  invalidArgValue,
  tfoError,
  validateBoolean,
  validateInteger,
  validateObject,
} from '../base/errors';
import {
  ListenerKeys,
  normalizeOwnKey,
  normalizeRotation,
  type FastOpenKeyOption,
  type KeyRotationOptions,
  type KeySource,
  type ListenerKeyState,
} from './keys';
import {
  acceptingServerOf,
  checkAcceptingServer,
  fdOf,
  fdOfHandle,
  handleOf,
  privatesMissing,
  SERVER_PARTS,
  tlsParentOf,
  type FdHolder,
} from '../base/internals';
import { native } from '../base/native';
import { live as stats } from '../observe/stats';
import * as sysctl from '../system/sysctl';
import { readTcpInfo, synDataAccepted } from '../system/tcpinfo';
import { serverAccepted } from './diagnostics';
import { packServerOutcome, unpackServerOutcome } from './outcome';
import { noteSynData } from './saved';
import type { FastOpenInfo } from './outcome';

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
  /**
   * This listener's own key (`TCP_FASTOPEN_KEY`) instead of the namespace's:
   * 16 bytes (primary), 32 bytes (primary then backup), or the text form
   * `'k1[,k2]'`. Servers with the same key accept each other's cookies.
   */
  key?: FastOpenKeyOption;
  /**
   * Keys derived from a shared secret and the clock, rotating every
   * `periodMs` (default one day): every server with the same secret and
   * period accepts every other's cookies. Exclusive with `key`.
   */
  keyRotation?: KeyRotationOptions;
}

/** Validated server options (not part of the public API). */
export interface NormalizedServerOptions {
  queueLength: number;
  noCookie: boolean;
  /** undefined: leave the key as it is. */
  keys: KeySource | undefined;
}

/** What tfo knows about TFO on one server; live (updated on each listen). */
export interface ServerFastOpenState {
  /** TFO was asked for (not `fastOpen: false`). */
  requested: boolean;
  /** `TCP_FASTOPEN` is set on the listening socket. */
  enabled: boolean;
  /**
   * Enabled and the namespace's `net.ipv4.tcp_fastopen` was read and has the
   * server bit: SYN data will be accepted. False, with `reason`, when the
   * sysctl says otherwise or cannot be read (then tfo does not know, and says
   * so rather than claim TFO).
   */
  active: boolean;
  /** The TFO queue length asked for (`queueLength` option). */
  queueLength: number;
  /**
   * The queue length the kernel applies, read back from the listening socket
   * (`getsockopt(TCP_FASTOPEN)`): `queueLength` capped at `net.core.somaxconn`
   * as it was at `listen()`. Null until `TCP_FASTOPEN` is set.
   */
  effectiveQueueLength: number | null;
  /** SYN data without a cookie is accepted (`noCookie` asked for and set on the socket). */
  noCookie: boolean;
  /**
   * Why TFO is not active, or why an option asked for is not in effect
   * (`noCookie` refused by the kernel), with the fix; null when everything
   * asked for is in effect.
   */
  reason: string | null;
  /** Which key issues and checks this listener's cookies (never the key itself). */
  key: ListenerKeyState;
}

const kState = Symbol('tfo.serverState');
const kApplied = Symbol('tfo.appliedHandle');
const kKeys = Symbol('tfo.keys');

type TaggedServer = net.Server & {
  [kState]?: ServerFastOpenState;
  [kApplied]?: FdHolder | null;
  [kKeys]?: ListenerKeys;
};
const kOutcome = Symbol('tfo.outcome');
type TaggedSocket = net.Socket & { [kOutcome]?: number };

// Accepted sockets keep their outcome as one small integer (./outcome) and
// share this getter (an accessor with the same function on every socket
// adds nothing per socket); `fastOpen` builds the plain object when read.
function acceptedFastOpen(this: TaggedSocket): FastOpenInfo | null {
  const v = this[kOutcome];
  return v === undefined || v < 0 ? null : unpackServerOutcome(v);
}

/** Its property descriptor, one for all sockets (no object per accept). */
const ACCEPTED_FAST_OPEN: PropertyDescriptor = Object.freeze({ get: acceptedFastOpen, configurable: true, enumerable: false });

/** Validates server-side `fastOpen` options. */
export function normalizeServerOptions(value: unknown, name = 'options.fastOpen'): NormalizedServerOptions | false {
  if (value === false) return false;
  if (value === undefined || value === true) return { queueLength: DEFAULT_QUEUE_LENGTH, noCookie: false, keys: undefined };
  validateObject(value, name);
  const { queueLength = DEFAULT_QUEUE_LENGTH, noCookie = false, key, keyRotation } = value as ServerFastOpenOptions;
  validateInteger(queueLength, `${name}.queueLength`, 1, 2 ** 31 - 1);
  validateBoolean(noCookie, `${name}.noCookie`);
  if (key !== undefined && keyRotation !== undefined)
    throw invalidArgValue(`${name}.keyRotation`, '[not shown]', `cannot be combined with ${name}.key`);
  let keys: KeySource | undefined;
  if (key !== undefined) keys = normalizeOwnKey(key, undefined, `${name}.key`);
  else if (keyRotation !== undefined) keys = normalizeRotation(keyRotation, `${name}.keyRotation`);
  return { queueLength, noCookie, keys };
}

function warn(server: net.Server, message: string, fix: string, code = 'TFO_SERVER_INACTIVE'): void {
  const w = tfoError(code, message, { fix });
  w.name = 'TFOWarning';
  if (server.listenerCount('warning') > 0) server.emit('warning', w);
  else process.emitWarning(w);
}

/** Sets TCP_FASTOPEN on the server's listening fd (if it has one) and records the result. */
function apply(server: TaggedServer, opts: { queueLength: number; noCookie: boolean }, force = false): void {
  const state = server[kState]!;
  const handle = handleOf(server);
  const current = fdOfHandle(handle);
  // listen() applies at once and 'listening' again: once per listening fd (unless options changed).
  // (The handle, not the fd number: a server closed and listening again may get the same number.)
  if (!force && current >= 0 && server[kApplied] === handle) return;
  server[kApplied] = handle;
  state.enabled = false;
  state.active = false;
  state.effectiveQueueLength = null;
  const b = native.binding;
  const keys = server[kKeys];
  if (!b) {
    state.reason = native.error;
    if (keys?.configured) keys.state.reason = native.error;
    return;
  }
  const missing = privatesMissing(SERVER_PARTS);
  if (missing) {
    state.reason = missing;
    if (keys?.configured) keys.state.reason = missing;
    return;
  }
  const fd = current;
  if (fd < 0) {
    const addr = server.address();
    state.reason =
      typeof addr === 'string'
        ? 'not a TCP server (IPC path)'
        : 'this process has no listening fd: a cluster round-robin worker, whose listening socket belongs to the ' +
          'primary process. TFO on it is set in the primary, with tfo.enableClusterFastOpen() before cluster.fork(), ' +
          'and cannot be seen from here (accepted sockets still report synData); or use cluster.SCHED_NONE';
    if (keys?.configured) keys.state.reason = 'the listening socket belongs to the cluster primary';
    return;
  }
  const c = b.constants;
  // The key goes on first, so no cookie is ever issued under the namespace key.
  if (keys?.configured && keys.apply(handle) < 0)
    warn(
      server,
      `This server's own TCP Fast Open key could not be set: ${keys.state.reason}. ` +
        'Its cookies will not be accepted by the other servers of its fleet.',
      'a kernel with TCP_FASTOPEN_KEY (per-listener keys)',
      'TFO_KEY_NOT_SET',
    );
  const r = b.setsockoptInt(fd, c.IPPROTO_TCP, c.TCP_FASTOPEN, opts.queueLength);
  if (r < 0) {
    state.reason = `setsockopt(TCP_FASTOPEN) failed (${errnoName(r)})`;
    return;
  }
  const q = b.getsockoptInt(fd, c.IPPROTO_TCP, c.TCP_FASTOPEN);
  state.effectiveQueueLength = q >= 0 ? q : null;
  let noCookieReason: string | null = null;
  if (opts.noCookie) {
    if (c.TCP_FASTOPEN_NO_COOKIE === undefined)
      noCookieReason = 'noCookie is not in effect: the addon was built without TCP_FASTOPEN_NO_COOKIE (kernel headers older than 4.15)';
    else {
      const r2 = b.setsockoptInt(fd, c.IPPROTO_TCP, c.TCP_FASTOPEN_NO_COOKIE, 1);
      if (r2 < 0)
        noCookieReason = `noCookie is not in effect: setsockopt(TCP_FASTOPEN_NO_COOKIE) failed (${errnoName(r2)}; Linux >= 4.15 has it)`;
    }
    if (noCookieReason) {
      state.noCookie = false;
      warn(
        server,
        `This server asked for SYN data without cookies, but ${noCookieReason}. Clients need a cookie, as usual.`,
        'a kernel with TCP_FASTOPEN_NO_COOKIE (Linux >= 4.15), or net.ipv4.tcp_fastopen bit 0x200 (serverNoCookie)',
        'TFO_NO_COOKIE_NOT_SET',
      );
    }
  }
  state.enabled = true;
  let bits: sysctl.FastOpenSysctl;
  try {
    bits = sysctl.fastOpen();
  } catch (e) {
    // Unknown is not active: say so, without a warning (TFO may well work).
    state.reason =
      `net.ipv4.tcp_fastopen could not be read (${(e as Error).message.split('\n')[0]}): whether this network ` +
      'namespace lets listeners accept SYN data is unknown; accepted sockets still report synData';
    return;
  }
  if (!bits.server) {
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
  state.reason = noCookieReason;
}

function tagConnection(server: TaggedServer, socket: TaggedSocket): void {
  const state = server[kState];
  const b = native.binding;
  const fd = fdOf(socket);
  checkAcceptingServer(socket, server); // first use of a part fastOpenInfo relies on
  let packed = -1;
  let synData = false;
  if (b && fd >= 0) {
    const ti = readTcpInfo(b, fd);
    if (typeof ti !== 'number') {
      synData = synDataAccepted(ti);
      packed = packServerOutcome(state?.enabled ?? false, synData, ti.rtt);
      if (synData && state?.enabled) noteSynData(socket, ti); // the time it saved (./saved)
    }
  }
  // The outcome is fixed at accept: read-only, computed when read.
  socket[kOutcome] = packed;
  Object.defineProperty(socket, 'fastOpen', ACCEPTED_FAST_OPEN);
  if (state?.enabled) {
    stats.server.accepted++;
    if (synData) stats.server.synData++;
  }
  serverAccepted(socket, server, packed);
}

/**
 * @internal tfo's part of a server's events, run before the listeners (so a
 * program sees no listener of tfo's): TFO on the listening socket at
 * 'listening', the TFO outcome on each accepted socket at 'connection'
 * (before any 'connection' listener reads `socket.fastOpen`), the key
 * rotation stopped at 'close'. tfo.Server calls it from its emit(); other
 * servers given to enableFastOpen get an emit() of their own that does.
 */
export function onServerEvent(server: net.Server, event: string | symbol, arg: unknown): void {
  const s = server as TaggedServer;
  const state = s[kState];
  if (state === undefined) return;
  if (event === 'connection') tagConnection(s, arg as TaggedSocket);
  else if (event === 'listening') {
    if (state.requested) apply(s, { queueLength: state.queueLength, noCookie: state.noCookie });
  } else if (event === 'close') s[kKeys]?.stop();
}

// A server of any class: its own emit() (non-enumerable) runs tfo's part,
// then the emit it had. Servers are few; sockets never get one.
function hookEmit(server: net.Server): void {
  const inner = server.emit as (this: net.Server, ...a: unknown[]) => boolean;
  Object.defineProperty(server, 'emit', {
    configurable: true,
    enumerable: false,
    writable: true,
    value: function emit(this: net.Server, event: string | symbol, ...args: unknown[]): boolean {
      onServerEvent(this, event, args[0]);
      return inner.call(this, event, ...args);
    },
  });
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
  return install(server, opts);
}

/**
 * @internal used by tfo.Server (which also accepts `fastOpen: false`, and
 * calls onServerEvent from its own emit: `ownEmit`).
 */
export function install(server: TaggedServer, opts: NormalizedServerOptions | false, ownEmit = false): ServerFastOpenState {
  const first = !server[kState];
  const keys = (server[kKeys] ??= new ListenerKeys(server));
  const state: ServerFastOpenState = server[kState] ?? {
    requested: false,
    enabled: false,
    active: false,
    queueLength: DEFAULT_QUEUE_LENGTH,
    effectiveQueueLength: null,
    noCookie: false,
    reason: null,
    key: keys.state,
  };
  server[kState] = state;
  if (first) {
    if (!ownEmit) hookEmit(server);
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
  if (opts.keys) keys.configure(opts.keys);
  if (server.listening) apply(server, opts, true);
  return state;
}

/**
 * Replaces the TFO key of a server's listening socket, now and on every later
 * `listen()`: `primary` (16 bytes, or the text form) with an optional
 * `backup`, or a 32-byte Buffer holding both; or, given `{ secret, periodMs,
 * clock }`, keys derived from a shared secret and rotated on a timer (see
 * {@link KeyRotationOptions}). The server must have TFO from
 * `tfo.createServer` or `enableFastOpen`.
 *
 * A listener keeps a key of its own until it closes; there is no going back
 * to the namespace's key on the same socket.
 *
 * @returns the server's live TFO state (`state.key` says which key is used).
 * @throws `ERR_INVALID_ARG_*` for bad keys (never showing them); a system
 * error (`syscall: 'setsockopt'`) when the kernel refuses the key.
 */
export function setFastOpenKey(server: net.Server, primary: FastOpenKeyOption, backup?: FastOpenKeyOption | null): ServerFastOpenState;
export function setFastOpenKey(server: net.Server, rotation: KeyRotationOptions): ServerFastOpenState;
export function setFastOpenKey(
  server: net.Server,
  primary: FastOpenKeyOption | KeyRotationOptions,
  backup?: FastOpenKeyOption | null,
): ServerFastOpenState {
  if (!(server instanceof net.Server)) throw invalidArgType('server', 'net.Server', server);
  const s = server as TaggedServer;
  const state = s[kState];
  if (!state?.requested)
    throw invalidArgValue(
      'server',
      '[net.Server without TFO]',
      'has no TCP Fast Open: make it with tfo.createServer() or call tfo.enableFastOpen(server) first',
    );
  const source =
    primary !== null && typeof primary === 'object' && !(primary instanceof Uint8Array)
      ? normalizeRotation(primary, 'rotation')
      : normalizeOwnKey(primary, backup, 'primary');
  const keys = s[kKeys]!;
  keys.configure(source);
  const fd = fdOf(s);
  if (fd >= 0) {
    const r = keys.apply(handleOf(s));
    if (r < 0) throw errnoException(r, 'setsockopt', 'TCP_FASTOPEN_KEY');
  } else if (s.listening) {
    keys.state.reason = 'the listening socket belongs to the cluster primary';
  }
  return state;
}

/** @internal applies TFO right after listen() when the handle already exists (no window without TFO). */
export function applyNow(server: net.Server): void {
  const s = server as TaggedServer;
  const state = s[kState];
  if (state?.requested && fdOf(s) >= 0) apply(s, { queueLength: state.queueLength, noCookie: state.noCookie });
}

/** @internal whether tfo manages TFO on this server (tfo.Server or enableFastOpen). */
export function isManaged(server: net.Server): boolean {
  return (server as TaggedServer)[kState] !== undefined;
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
 * through to its TCP socket; an HTTP/2 session's `socket` (Node's proxy over
 * the session) to the session's socket, and null once the session has let
 * go of it.
 */
export function fastOpenInfo(socket: net.Socket): FastOpenInfo | null {
  if (socket === null || (typeof socket !== 'object' && typeof socket !== 'function')) throw invalidArgType('socket', 'net.Socket', socket);
  try {
    return infoOf(socket);
  } catch (err) {
    // http2's socket proxy once its session has let go of the socket: nothing to read.
    if ((err as { code?: unknown } | null)?.code === 'ERR_HTTP2_SOCKET_UNBOUND') return null;
    throw err;
  }
}

function infoOf(socket: net.Socket): FastOpenInfo | null {
  // Read the property, never `in`: an HTTP/2 session's `socket` is a Proxy whose reads reach the socket
  // but whose `in` tests the session (a client session has `fastOpen` of its own, a server session none).
  const own = (socket as { fastOpen?: FastOpenInfo | null }).fastOpen;
  const parent = tlsParentOf(socket);
  // tfo client sockets (a getter), accepted sockets and tfo TLS sockets (own properties).
  if (own !== undefined && !(parent && own === null)) return own;
  if (parent) return infoOf(parent);
  const b = native.binding;
  const fd = fdOf(socket);
  if (!b || fd < 0) return null;
  const ti = readTcpInfo(b, fd);
  if (typeof ti === 'number') return null;
  const role = acceptingServerOf(socket) ? 'server' : 'client';
  return { role, attempted: false, synData: synDataAccepted(ti), rttMs: ti.rtt / 1000 };
}
