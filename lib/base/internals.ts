// The one home for Node's private parts. Every use tfo makes of something
// Node does not document goes through this module, so that a Node upgrade that
// changes one of them shows up here, by name (test/internals.test.js lists
// them all and checks each on the running Node).
import * as net from 'node:net';

/** A libuv TCP handle as Node's TCPWrap exposes it (net.Socket#_handle). */
export interface TcpHandle {
  /** The socket's fd, or -1 / undefined before libuv made one. */
  fd?: number;
  /** uv_tcp_open(): adopt an fd. Returns 0 or a negative errno. */
  open(fd: number): number;
}

/** What tfo touches on a net.Socket. */
interface SocketInternals {
  _handle: (TcpHandle & { _parent?: TcpHandle }) | null;
  _pendingData: unknown;
}

interface NetWrite {
  _write(chunk: unknown, encoding: BufferEncoding, cb: (err?: Error | null) => void): void;
  _writev(chunks: { chunk: unknown; encoding: BufferEncoding }[], cb: (err?: Error | null) => void): void;
}

/**
 * The socket's TCP handle: `socket._handle`, or for a TLS socket the TCP
 * handle its TLS wrap sits on (`_handle._parent`). Null when there is none.
 */
export function tcpHandleOf(socket: net.Socket): TcpHandle | null {
  const h = (socket as unknown as SocketInternals)._handle;
  if (!h) return null;
  return h._parent ?? h;
}

/** Anything with a libuv fd: a TCP handle, a server's listening handle. */
export interface FdHolder {
  fd?: number;
}

/** The fd of a handle, or -1 (no handle, or libuv has not made the socket yet). */
export function fdOfHandle(handle: FdHolder | null | undefined): number {
  return handle && typeof handle.fd === 'number' ? handle.fd : -1;
}

/** The handle of a net.Socket or net.Server (`_handle`), or null. */
export function handleOf(holder: net.Socket | net.Server): FdHolder | null {
  return (holder as unknown as { _handle?: FdHolder | null })._handle ?? null;
}

/** The fd of a net.Socket or net.Server (its `_handle.fd`), or -1. */
export function fdOf(holder: net.Socket | net.Server): number {
  return fdOfHandle(handleOf(holder));
}

/** The socket a TLS socket was made over (`tlsSocket._parent`: server side, or `tls.connect({ socket })`), or null. */
export function tlsParentOf(socket: net.Socket): net.Socket | null {
  const p = (socket as unknown as { _parent?: net.Socket | null })._parent;
  return p && p !== socket ? p : null;
}

/** The server that accepted a socket (`socket.server`), or null for a client socket. */
export function acceptingServerOf(socket: net.Socket): net.Server | null {
  return (socket as unknown as { server?: net.Server | null }).server ?? null;
}

/** Node's `owner_symbol` (a symbol of its own, not in the global registry), found on the first handle asked about. */
let ownerSymbol: symbol | undefined;

/**
 * The socket that owns a libuv handle (`handle[owner_symbol]`, set by net and
 * by tls on the TCP handle it wraps: the net.Socket or the TLSSocket), or
 * null. tfo's diagnostics hand subscribers the socket of a connect attempt,
 * which knows only its handle.
 */
export function ownerOf(handle: object): object | null {
  ownerSymbol ??= Object.getOwnPropertySymbols(handle).find((s) => s.description === 'owner_symbol');
  const owner = ownerSymbol === undefined ? undefined : (handle as Record<symbol, unknown>)[ownerSymbol];
  return owner !== null && typeof owner === 'object' ? owner : null;
}

/** net.Socket's own `_write` / `_writev`: what a subclass calls to hand bytes to libuv. */
export const netWrite: NetWrite = net.Socket.prototype as unknown as NetWrite;

/**
 * Sets the data net counts in `bytesWritten` as pending while connecting
 * (`socket._pendingData`), for bytes tfo holds for the SYN.
 */
export function setPendingData(socket: net.Socket, data: unknown): void {
  (socket as unknown as SocketInternals)._pendingData = data;
}

/** net's own `bytesWritten` getter (Socket.prototype), or undefined. */
export const netBytesWritten: ((this: net.Socket) => number | undefined) | undefined = Object.getOwnPropertyDescriptor(
  net.Socket.prototype,
  'bytesWritten',
)?.get as ((this: net.Socket) => number | undefined) | undefined;

// ---- node:http / node:https agents (used by lib/http/agent.ts) ----

/**
 * The key Node's `Agent#createSocket` gives the options it hands to
 * `createConnection` (`options._agentKey`, = `agent.getName(options)`):
 * https.Agent keys its TLS session cache with it.
 */
export function agentKeyOf(options: object): string | undefined {
  const key = (options as { _agentKey?: unknown })._agentKey;
  return typeof key === 'string' && key !== '' ? key : undefined;
}

interface HttpsSessionCache {
  _getSession(key: string): Buffer | undefined;
  _cacheSession(key: string, session: Buffer): void;
  _evictSession(key: string): void;
}

/** https.Agent's session cache (`agent._getSession(key)`): the TLS session to resume for a key. */
export function agentSession(agent: object, key: string): Buffer | undefined {
  return (agent as HttpsSessionCache)._getSession(key);
}

/** https.Agent's session cache (`agent._cacheSession(key, session)`), bounded by its `maxCachedSessions`. */
export function cacheAgentSession(agent: object, key: string, session: Buffer): void {
  (agent as HttpsSessionCache)._cacheSession(key, session);
}

/** https.Agent's session cache (`agent._evictSession(key)`): forgets a session after a connection closed with an error. */
export function evictAgentSession(agent: object, key: string): void {
  (agent as HttpsSessionCache)._evictSession(key);
}

/**
 * Node 22, 24, 26 (the releases tested here; not 20): https.request marks the options of a request that brings its
 * own `checkServerIdentity` with a module-private symbol ('per-request
 * checkServerIdentity'); https.Agent#createConnection then neither resumes a
 * cached session for it nor caches one, and marks the socket with the same
 * symbol so that `https.Agent#keepSocketAlive` never pools it. Returns that
 * symbol when `options` carries the mark, else undefined.
 */
export function perRequestIdentityMark(options: object): symbol | undefined {
  for (const s of Object.getOwnPropertySymbols(options)) {
    if (s.description === 'per-request checkServerIdentity' && (options as Record<symbol, unknown>)[s]) return s;
  }
  return undefined;
}

/** Puts that mark on a socket, as https.Agent#createConnection does (`socket[mark] = true`). */
export function markSocket(socket: object, mark: symbol): void {
  (socket as Record<symbol, unknown>)[mark] = true;
}

/**
 * Node 22, 24, 26 (the releases tested here; not 20): the proxy an agent was configured with (`agent[kProxyConfig]`,
 * from its `proxyEnv` option or NODE_USE_ENV_PROXY), or null. An agent with a
 * proxy has Node's own createConnection do the connecting (tunnels, NO_PROXY).
 */
export function agentProxyConfig(agent: object): object | null {
  for (const s of Object.getOwnPropertySymbols(agent)) {
    if (s.description === 'kProxyConfig') {
      const config = (agent as Record<symbol, unknown>)[s];
      return config !== null && typeof config === 'object' ? config : null;
    }
  }
  return null;
}

/**
 * @internal The connect request net hands to a handle's `connect()` / `connect6()` (a
 * TCPConnectWrap). libuv's completion calls its `oncomplete` (net's
 * afterConnect, or afterConnectMultiple bound to its attempt) with
 * `(status, handle, req, readable, writable)`.
 */
export interface ConnectRequest {
  oncomplete: ((this: ConnectRequest, ...args: unknown[]) => unknown) | undefined;
  address: string;
  port: number;
}

type ConnectMethod = (this: object, req: ConnectRequest, ...rest: unknown[]) => number;

interface ConnectingHandle {
  connect?: ConnectMethod;
  connect6?: ConnectMethod;
}

/**
 * @internal Hands `onRequest` the connect request net passes next to the socket's handle
 * (`socket._handle.connect(req, ...)` / `connect6`; for a TLSSocket the TLS
 * wrap, which forwards to its TCP handle), before libuv sees it. net emits
 * 'connectionAttempt' right before that call: tfo shadows the two methods on
 * that one handle object for that one call (tfo.tls.connect needs the
 * request to decide when net learns that the connection is established).
 */
export function captureNextConnect(socket: net.Socket, onRequest: (req: ConnectRequest) => void): boolean {
  const handle = (socket as unknown as { _handle: ConnectingHandle | null })._handle;
  if (!handle || typeof handle.connect !== 'function' || typeof handle.connect6 !== 'function') return false;
  const { connect, connect6 } = handle; // the prototype's methods
  const restore = () => {
    delete handle.connect;
    delete handle.connect6;
  };
  const capture = (method: ConnectMethod): ConnectMethod =>
    function captured(this: object, req: ConnectRequest, ...rest: unknown[]): number {
      restore();
      if (req !== null && typeof req === 'object') onRequest(req);
      return method.call(this, req, ...rest);
    };
  handle.connect = capture(connect);
  handle.connect6 = capture(connect6);
  return true;
}

/** What tfo touches on a client TLSSocket to start its handshake early. */
interface TlsStartInternals {
  connecting: boolean;
  _start?: (this: net.Socket) => void;
  _handle: { start?: () => void } | null;
}

function alreadyStarted(): void {}

/**
 * @internal Starts a client TLSSocket's handshake now, while net still counts the socket
 * as connecting: runs TLSSocket#_start (OCSP request if asked for, then the TLS
 * wrap's start(), which writes the ClientHello) as net's 'connect' would, and
 * makes the call that 'connect' still makes later a no-op for this handle
 * (TLSWrap::Start CHECKs that it runs once per handle: a second call aborts
 * the process). A later handle (happy eyeballs' next attempt) starts normally.
 */
export function startTlsHandshakeNow(socket: net.Socket): boolean {
  const s = socket as unknown as TlsStartInternals;
  const handle = s._handle;
  if (!handle || typeof handle.start !== 'function' || typeof s._start !== 'function' || !s.connecting) return false;
  s.connecting = false; // _start() defers itself to 'connect' while connecting
  try {
    s._start.call(socket);
  } finally {
    s.connecting = true;
    handle.start = alreadyStarted; // own property: shadows TLSWrap.prototype.start on this handle only
  }
  return true;
}

/** A module whose `connect` makes sockets: node:net or node:tls. */
export interface SocketFactoryModule {
  connect: (...args: never[]) => net.Socket;
}

/**
 * Runs `call` with the `connect` of each of `modules` (node:net, node:tls)
 * wrapped for the duration of that synchronous call. Node's `http2.connect`
 * makes its socket with `net.connect({ port, host, ...options })` (`http:`)
 * or `tls.connect(port, host, options)` (`https:`), looked up on those
 * module objects when it runs (internal/http2/core, Node 20–26), after its
 * own option processing (ALPN, servername, validation). tfo.http2 gives that
 * one call its own socket: the first `connect` called inside `call` goes to
 * `make(module, original, args)` instead, with every original put back
 * before `make` runs; in any case all are back when this returns. Returns
 * what `call` returned (`made` is false when Node did not call either, e.g.
 * with the caller's own `createConnection`).
 */
export function interceptSocketFactory<R>(
  modules: readonly SocketFactoryModule[],
  make: (module: SocketFactoryModule, original: SocketFactoryModule['connect'], args: unknown[]) => net.Socket,
  call: () => R,
): { result: R; made: boolean } {
  const originals = modules.map((m) => m.connect);
  const wrapped: number[] = [];
  let made = false;
  const restore = () => {
    for (const i of wrapped.splice(0)) modules[i].connect = originals[i];
  };
  try {
    modules.forEach((m, i) => {
      m.connect = function connect(...args: unknown[]): net.Socket {
        restore();
        made = true;
        return make(m, originals[i], args);
      } as SocketFactoryModule['connect'];
      wrapped.push(i);
    });
  } catch {
    restore(); // a frozen module: Node makes its own socket (no TFO)
  }
  try {
    return { result: call(), made };
  } finally {
    restore();
  }
}

/**
 * Sets net's cache of the peer address (`socket._peername`, what
 * `remoteAddress`/`remotePort`/`remoteFamily` read), for a socket whose
 * kernel still defers the connect: getpeername() fails with ENOTCONN until
 * the handshake completes, and net would report no peer meanwhile.
 */
export function setPeername(socket: net.Socket, peer: { address: string; family: 'IPv4' | 'IPv6'; port: number }): void {
  (socket as unknown as { _peername?: unknown })._peername = peer;
}

/** What `net._normalizeArgs` returns: `[options, callback | null]`, marked with net's private symbol. */
export type NormalizedArgs = [Record<string, unknown>, ((...a: unknown[]) => void) | null];

/**
 * `net._normalizeArgs`: how net.connect() turns its arguments into what it
 * passes to `socket.connect()`. tfo.connect passes the very same array, so
 * code that wraps `net.Socket.prototype.connect` (APM agents) sees what it
 * sees with net.
 */
export const normalizeArgs = (net as unknown as { _normalizeArgs: (args: unknown[]) => NormalizedArgs })._normalizeArgs;

/** net's private `normalizedArgsSymbol`, read off an array `_normalizeArgs` made (there is no other way to it). */
const normalizedArgsSymbol: symbol | undefined = Object.getOwnPropertySymbols(normalizeArgs([]))[0];

/** Whether `value` is an array made by `net._normalizeArgs` (net's Socket#connect takes it as is). */
export function isNormalizedArgs(value: unknown): value is NormalizedArgs {
  return (
    Array.isArray(value) &&
    normalizedArgsSymbol !== undefined &&
    (value as unknown as Record<symbol, unknown>)[normalizedArgsSymbol] === true
  );
}

/** One write waiting in a Writable's buffer. */
export interface BufferedWrite {
  chunk: unknown;
  encoding: BufferEncoding | 'buffer';
}

/**
 * The writes waiting in a socket's Writable buffer behind the one being
 * written (`writable.writableBuffer`, undocumented; net's own `bytesWritten`
 * reads it): tfo offers them to the SYN with the first one, without taking
 * them out of the buffer.
 */
export function writableBufferOf(socket: net.Socket): readonly BufferedWrite[] {
  return (socket as unknown as { writableBuffer?: BufferedWrite[] }).writableBuffer ?? [];
}

// ---- accepted sockets (used by lib/core/saved.ts) ----

const peerScratch: { address?: unknown } = {};

/**
 * The peer address of a connected TCP socket, from its handle's
 * `getpeername(out)` (TCPWrap: one getpeername() syscall, 0 on success),
 * without `socket.remoteAddress`'s caching of a `_peername` object on the
 * socket for its whole life (tfo needs the address once, for the server's
 * time-saved estimate). Undefined when the socket has no handle or the call fails.
 */
export function peerAddressOf(socket: net.Socket): string | undefined {
  const handle = (socket as unknown as { _handle: { getpeername?: (out: object) => number } | null })._handle;
  if (!handle || typeof handle.getpeername !== 'function') return undefined;
  peerScratch.address = undefined;
  if (handle.getpeername(peerScratch) !== 0) return undefined;
  return typeof peerScratch.address === 'string' ? peerScratch.address : undefined;
}
