// tfo.Socket: a net.Socket whose connect() opens the connection with TCP Fast
// Open. Everything that net already does well (argument checks, DNS, happy
// eyeballs, timeouts, AbortSignal, 'connect' and error events) stays net's;
// tfo adds three things at the edges of each connection attempt:
//
//  1. On 'connectionAttempt' (emitted by net right before it calls the
//     handle's connect()), the handle gets a socket with TCP_FASTOPEN_CONNECT
//     on, so libuv's own connect() either defers (a cookie is cached) or sends
//     a SYN that asks for a cookie.
//  2. On the next tick (after connect(), before libuv polls), the bytes
//     written so far go to the kernel in one send(): with a cookie they ride
//     in the SYN; a deferred connect with nothing to send is kicked with an
//     empty send so the SYN leaves now and 'connect' keeps net's meaning
//     (established), never "deferred".
//  3. On 'connect' (libuv saw the handshake complete), the TFO outcome is read
//     once from TCP_INFO, and what did not fit in the SYN is written through
//     libuv. From then on the socket is a plain net.Socket on libuv's fast
//     path: the write interception is removed.
import * as net from 'node:net';
import { constants as osConstants } from 'node:os';

import { callable } from './callable';
import { invalidArgType, socketClosedBeforeConnection, validateObject, validateBoolean } from './errors';
import { native } from './native';
import { live as stats } from './stats';
import { decodeClientFail, readTcpInfo, synDataAccepted, type FastOpenFailure } from './tcpinfo';
import { backoff } from './backoff';
import {
  clearClientOutcome,
  packClientOutcome,
  packedSynDataBytes,
  unpackClientOutcome,
} from './outcome';

const { EOPNOTSUPP, ENOPROTOOPT } = osConstants.errno;

/** Per-connection TFO options for clients. */
export interface ClientFastOpenOptions {
  /**
   * Send data in the SYN without a cookie (`TCP_FASTOPEN_NO_COOKIE`). Only for
   * servers known to accept it (`net.ipv4.tcp_fastopen` bit 0x200 or the
   * socket option on their side), e.g. inside a data centre. Default false.
   */
  noCookie?: boolean;
  /**
   * Whether the first bytes may ride in the SYN (default true). `false`, or a
   * function of those bytes returning false, keeps TFO for the connection
   * (the cookie is still sent and refreshed) but sends the data after the
   * handshake: the replay guard for requests that must not be delivered twice
   * (RFC 7413 §6), e.g. HTTP POST.
   */
  synData?: boolean | ((firstBytes: Buffer) => boolean);
}

/** `true` (default) or options: connect with TFO; `false`: plain TCP. */
export type FastOpenOption = boolean | ClientFastOpenOptions;

/** `net.SocketConstructorOpts` plus `fastOpen`. */
export interface SocketConstructorOpts extends net.SocketConstructorOpts {
  fastOpen?: FastOpenOption;
}

/** What TCP Fast Open did for one connection. */
export interface FastOpenInfo {
  /** Which end of the connection this socket is. */
  role: 'client' | 'server';
  /**
   * Client: TFO was on for the connect (a cookie was sent or requested).
   * Server: the listener had TFO enabled through tfo.
   */
  attempted: boolean;
  /**
   * The SYN carried data that the other end accepted (TCP_INFO
   * `TCPI_OPT_SYN_DATA`): on a client, the server acknowledged it; on a
   * server, it arrived in the SYN. This is the saved round trip.
   */
  synData: boolean;
  /** Client: `'sent'` the kernel had a cookie and used it, `'requested'` it asked for one, `'none'` no TFO. */
  cookie?: 'sent' | 'requested' | 'none';
  /** Client: bytes the kernel took into the SYN (0 when none; null when libuv wrote them, as for TLS). */
  synDataBytes?: number | null;
  /** Client: data was ready but the `synData` option (replay guard) kept it out of the SYN. */
  synDataWithheld?: boolean;
  /** Client: the kernel's reason TFO did not carry data (`tcpi_fastopen_client_fail`), or null. */
  failure?: FastOpenFailure | null;
  /** Client: why TFO was not attempted (sysctl, option, platform, backoff), or null when it was. */
  reason?: string | null;
  /** Smoothed RTT the kernel had measured when the connection was established, in milliseconds. */
  rttMs: number;
}

// ---- Node internals used (stable since Node 0.x; typed here, in one place) ----
/** @internal */
export interface TcpHandle {
  fd?: number;
  open(fd: number): number;
  connect(req: unknown, address: string, port: number): number;
  connect6(req: unknown, address: string, port: number): number;
}
interface NetSocketInternals {
  _handle: TcpHandle | null;
  _peername: { address: string; port: number; family: string } | null;
  _pendingData: unknown;
}
interface NetWrite {
  _write(chunk: unknown, encoding: BufferEncoding, cb: (err?: Error | null) => void): void;
  _writev(chunks: { chunk: unknown; encoding: BufferEncoding }[], cb: (err?: Error | null) => void): void;
}
const internals = (s: net.Socket) => s as unknown as NetSocketInternals;

// 'connectionAttempt' arrived in Node 20.12 / 21.6. Older versions: wrap the
// handle's connect methods on the instance instead (first attempt only).
const HAS_ATTEMPT_EVENT = (() => {
  if (process.env.TFO_INTERNAL_LEGACY_HOOK === '1') return false;
  const [major, minor] = process.versions.node.split('.').map(Number);
  return major > 21 || (major === 21 && minor >= 6) || (major === 20 && minor >= 12);
})();

/** @internal */
export interface Attempt {
  handle: TcpHandle;
  fd: number;
  address: string;
  port: number;
  family: 4 | 6;
  tfo: boolean;
  reason: string | null;
  cookie: 'sent' | 'requested' | 'none';
  synDataBytes: number | null;
  synDataWithheld: boolean;
  /** Epoch ms when the attempt began (the backoff ignores reports older than its last verdict). */
  startedAt: number;
}

interface Held {
  data: Buffer;
  cb: (err?: Error | null) => void;
}

const EMPTY = Buffer.alloc(0);

// TfoSocket's own bits in its packed #state: the CLIENT_OWNER_BITS (2) low
// bits; the outcome sits above them.
const INTERCEPTING = 1;
const CORKED = 2;

function toBuffer(chunk: unknown, encoding: BufferEncoding | 'buffer'): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding === 'buffer' ? 'utf8' : encoding);
  const view = chunk as ArrayBufferView;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

/** Validates the `fastOpen` option as given to a socket or connect(). */
const DEFAULT_OPTIONS: ClientFastOpenOptions = Object.freeze({});

export function normalizeFastOpenOption(value: unknown, name = 'options.fastOpen'): ClientFastOpenOptions | false {
  if (value === undefined || value === true) return DEFAULT_OPTIONS; // shared: nothing per socket
  if (value === false) return false;
  if (value === null || typeof value !== 'object') throw invalidArgType(name, ['boolean', 'Object'], value);
  validateObject(value, name);
  const { noCookie, synData } = value as ClientFastOpenOptions;
  if (noCookie !== undefined) validateBoolean(noCookie, `${name}.noCookie`);
  if (synData !== undefined && typeof synData !== 'boolean' && typeof synData !== 'function')
    throw invalidArgType(`${name}.synData`, ['boolean', 'Function'], synData);
  return { noCookie: noCookie === true, synData: synData ?? true };
}

/** Explains a failed TCP_FASTOPEN_CONNECT setsockopt in words an operator can act on. */
function clientOptionFailure(errno: number): string {
  if (errno === -EOPNOTSUPP)
    return 'net.ipv4.tcp_fastopen lacks the client bit (0x1) in this network namespace (fix: sysctl -w net.ipv4.tcp_fastopen=1, or `tfo enable client`)';
  if (errno === -ENOPROTOOPT)
    return 'the kernel has no TCP_FASTOPEN_CONNECT (Linux >= 4.11 is needed); plain TCP is used';
  return `setsockopt(TCP_FASTOPEN_CONNECT) failed with errno ${errno}`;
}


/**
 * @internal After connect() with TCP_FASTOPEN_CONNECT: `'sent'` when the kernel
 * deferred the connect (a cookie is cached: SYN_SENT with no segment out yet,
 * so the next send carries the SYN), else `'requested'` (a SYN asking for a
 * cookie has left; on loopback the handshake may even be complete).
 */
export function deferredCookie(fd: number): 'sent' | 'requested' {
  const b = native.binding;
  const ti = b ? readTcpInfo(b, fd) : -1;
  if (!b || typeof ti === 'number') return 'requested';
  return ti.state === b.constants.tcpStates.TCP_SYN_SENT && ti.segsOut === 0 ? 'sent' : 'requested';
}

function synDataAllowed(options: ClientFastOpenOptions | false, data: Buffer): boolean {
  if (options === false) return false;
  const rule = options.synData ?? true;
  if (typeof rule === 'boolean') return rule;
  try {
    return rule(data) === true;
  } catch {
    return false; // a throwing guard never lets data into the SYN
  }
}

/** @internal Builds the outcome from TCP_INFO once established, and counts it. */
export function recordClientOutcome(attempt: Attempt, fd: number): FastOpenInfo {
  const b = native.binding;
  let synData = false;
  let failure: FastOpenFailure | null = null;
  let rttMs = 0;
  if (b && fd >= 0) {
    const info = readTcpInfo(b, fd);
    if (typeof info !== 'number') {
      synData = synDataAccepted(info);
      failure = attempt.tfo ? decodeClientFail(info.fastopenClientFail) : null;
      rttMs = info.rtt / 1000;
    }
  }
  const outcome: FastOpenInfo = {
    role: 'client',
    attempted: attempt.tfo,
    synData,
    cookie: attempt.cookie,
    synDataBytes: attempt.synDataBytes,
    synDataWithheld: attempt.synDataWithheld,
    failure,
    reason: attempt.reason,
    rttMs,
  };
  const c = stats.client;
  c.connections++;
  if (attempt.tfo) {
    c.attempted++;
    if (attempt.cookie === 'sent') c.cookieSent++;
    else if (attempt.cookie === 'requested') c.cookieRequested++;
    if (synData) c.synDataAcked++;
    if (failure) c.failures[failure]++;
  } else if (attempt.reason) {
    // A bounded set of keys (they become metric labels): no addresses or durations.
    const key = attempt.reason.startsWith('backoff:') ? 'backoff' : attempt.reason.split(' (')[0];
    c.notAttempted[key] = (c.notAttempted[key] ?? 0) + 1;
  }
  backoff.report(attempt.address, attempt.port, outcome, Date.now(), attempt.startedAt);
  return outcome;
}

/** @internal A fresh attempt record for a handle about to connect. */
export function newAttempt(handle: TcpHandle, address: string, port: number, family: number): Attempt {
  return {
    handle,
    fd: typeof handle.fd === 'number' ? handle.fd : -1,
    address,
    port,
    family: family === 6 ? 6 : 4,
    tfo: false,
    reason: null,
    cookie: 'none',
    synDataBytes: 0,
    synDataWithheld: false,
    startedAt: Date.now(),
  };
}

/** @internal Gives an attempt's handle a socket with TCP_FASTOPEN_CONNECT on, or records why not. */
export function prepareAttempt(attempt: Attempt, options: ClientFastOpenOptions | false): void {
  const b = native.binding;
  if (!b) {
    attempt.reason = native.error;
    return;
  }
  if (options === false) {
    attempt.reason = 'disabled by the fastOpen: false option';
    return;
  }
  const paused = backoff.blockedReason(attempt.address, attempt.port);
  if (paused) {
    attempt.reason = paused;
    return;
  }
  const c = b.constants;
  if (c.TCP_FASTOPEN_CONNECT === undefined) {
    attempt.reason = 'the addon was built without TCP_FASTOPEN_CONNECT (old kernel headers)';
    return;
  }
  if (attempt.fd < 0) {
    // net made the handle but libuv creates its socket lazily: give it ours.
    const fd = b.socket(attempt.family === 6 ? c.AF_INET6 : c.AF_INET);
    if (fd < 0) {
      attempt.reason = `socket() failed with errno ${fd}; plain TCP is used`;
      return;
    }
    const r = attempt.handle.open(fd);
    if (r !== 0) {
      b.close(fd);
      attempt.reason = `the handle could not adopt the socket (errno ${r}); plain TCP is used`;
      return;
    }
    b.release(fd);
    attempt.fd = fd;
  }
  const r = b.setsockoptInt(attempt.fd, c.IPPROTO_TCP, c.TCP_FASTOPEN_CONNECT, 1);
  if (r < 0) {
    attempt.reason = clientOptionFailure(r);
    return;
  }
  if (options.noCookie && c.TCP_FASTOPEN_NO_COOKIE !== undefined) {
    b.setsockoptInt(attempt.fd, c.IPPROTO_TCP, c.TCP_FASTOPEN_NO_COOKIE, 1);
  }
  attempt.tfo = true;
}


class TfoSocket extends net.Socket {
  #options: ClientFastOpenOptions | false;
  #attempt: Attempt | null = null;
  #held: Held | null = null;
  /**
   * INTERCEPTING (writes are held for the SYN, between connect() and
   * 'connect') and CORKED, with the connection's TFO outcome packed above
   * them (./outcome): small integers cost a connection nothing extra, an
   * outcome object per socket cost 4% of a net.Socket.
   */
  #state = 0;
  #rttUs = 0;
  #reason: string | null = null;

  constructor(options?: SocketConstructorOpts) {
    super(options);
    this.#options = normalizeFastOpenOption(options?.fastOpen);
    // Permanent, shared listener functions (EventEmitter passes the socket as
    // `this`), idle unless a TCP connect is being intercepted: adding and
    // removing them per connect would push `_events` into V8's dictionary mode.
    this.on('connectionAttempt', TfoSocket.#attemptListener);
    this.prependListener('connect', TfoSocket.#connectListener);
  }

  /**
   * The TFO outcome of this connection, read once from TCP_INFO when it was
   * established; null before that (and for IPC sockets). Each read returns a
   * new plain object (the socket keeps a compact form); its values do not
   * change once the connection is established.
   */
  get fastOpen(): FastOpenInfo | null {
    return unpackClientOutcome(this.#state, this.#rttUs, this.#reason);
  }

  override connect(options: TcpSocketConnectOpts, connectionListener?: () => void): this;
  override connect(port: number, host: string, connectionListener?: () => void): this;
  override connect(port: number, connectionListener?: () => void): this;
  override connect(path: string, connectionListener?: () => void): this;
  override connect(...args: unknown[]): this {
    const first = args[0];
    const options = first !== null && typeof first === 'object' ? (first as TcpSocketConnectOpts) : null;
    // IPC (a path) is not TCP: net does it all.
    const isPipe = options
      ? typeof (options as { path?: unknown }).path === 'string' && (options as { path?: string }).path !== ''
      : typeof first === 'string' && !/^\s*\d+\s*$/.test(first);
    if (isPipe) return (super.connect as (...a: unknown[]) => this)(...args);
    if (options && 'fastOpen' in options) this.#options = normalizeFastOpenOption(options.fastOpen);

    this.#startInterception();
    try {
      (super.connect as (...a: unknown[]) => this)(...args);
    } catch (err) {
      this.#stopInterception();
      throw err;
    }
    if (!HAS_ATTEMPT_EVENT) this.#wrapHandle();
    // An IP literal is known now: report it as remoteAddress at once (net knows it only after connecting).
    const host = options ? options.host : typeof args[1] === 'string' ? args[1] : undefined;
    const port = Number(options ? options.port : first);
    const family = host ? net.isIP(host) : 0;
    if (family && this.connecting && !internals(this)._peername) {
      internals(this)._peername = { address: host!, port, family: family === 6 ? 'IPv6' : 'IPv4' };
    }
    return this;
  }

  override destroy(error?: Error): this {
    // Writes still corked for the SYN go to the pending slot first, so they
    // fail as net's do (ERR_SOCKET_CLOSED_BEFORE_CONNECTION), not as never written.
    // (`#state in this`: stream constructors may destroy() before our fields exist, e.g. an aborted signal.)
    if (#state in this && (this.#state & CORKED) !== 0 && !this.destroyed) {
      this.#state &= ~CORKED;
      this.uncork();
    }
    return super.destroy(error);
  }

  // ---- interception while connecting ----
  // Overridden on the class (one boolean test per write once connected):
  // swapping them on the instance would push every socket into V8's slow
  // dictionary mode (measured: twice net's memory per connection).

  override _write(chunk: unknown, encoding: BufferEncoding, cb: Held['cb']): void {
    if ((this.#state & INTERCEPTING) !== 0) this.#hold([toBuffer(chunk, encoding)], cb);
    else (net.Socket.prototype as unknown as NetWrite)._write.call(this, chunk, encoding, cb);
  }

  override _writev(chunks: { chunk: unknown; encoding: BufferEncoding }[], cb: Held['cb']): void {
    if ((this.#state & INTERCEPTING) !== 0) {
      this.#hold(
        chunks.map((c) => toBuffer(c.chunk, c.encoding)),
        cb,
      );
    } else (net.Socket.prototype as unknown as NetWrite)._writev.call(this, chunks, cb);
  }

  #startInterception(): void {
    this.#attempt = null;
    this.#state = clearClientOutcome(this.#state);
    this.#rttUs = 0;
    this.#reason = null;
    if ((this.#state & CORKED) === 0) {
      this.cork();
      this.#state |= CORKED;
    }
    this.#state |= INTERCEPTING;
  }

  #stopInterception(): void {
    this.#state &= ~INTERCEPTING;
    if ((this.#state & CORKED) !== 0) {
      this.#state &= ~CORKED;
      this.uncork();
    }
  }

  #hold(chunks: Buffer[], cb: Held['cb']): void {
    // Writable hands us one write at a time; while `cb` is pending it buffers the rest.
    const data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    this.#held = { data, cb };
    internals(this)._pendingData = data; // keeps bytesWritten right, as net does
    // As net: a write pending when the socket closes fails from a 'close'
    // listener added when the write was handed to the socket.
    if (!this.listeners('close').includes(TfoSocket.#closeListener)) this.on('close', TfoSocket.#closeListener);
  }

  // Legacy Node (no 'connectionAttempt'): see the attempt through the handle itself.
  #wrapHandle(): void {
    const handle = internals(this)._handle;
    if (!handle) return;
    const connect4 = handle.connect;
    const connect6 = handle.connect6;
    handle.connect = (req, address, port) => {
      this.#onAttempt(address, port, 4);
      return connect4.call(handle, req, address, port);
    };
    handle.connect6 = (req, address, port) => {
      this.#onAttempt(address, port, 6);
      return connect6.call(handle, req, address, port);
    };
  }

  static #attemptListener(this: TfoSocket, address: string, port: number, family: number): void {
    if ((this.#state & INTERCEPTING) !== 0) this.#onAttempt(address, port, family);
  }

  static #connectListener(this: TfoSocket): void {
    if ((this.#state & INTERCEPTING) !== 0) this.#onConnect();
  }

  static #closeListener(this: TfoSocket): void {
    if (this.#held || (this.#state & INTERCEPTING) !== 0) this.#onClose();
  }

  static #flushTick(socket: TfoSocket, attempt: Attempt): void {
    socket.#flush(attempt);
  }

  #onAttempt(address: string, port: number, family: number): void {
    const handle = internals(this)._handle;
    if (!handle) return;
    const fam: 4 | 6 = family === 6 ? 6 : 4;
    // getpeername() fails while the kernel defers the connect: remember the peer now.
    internals(this)._peername = { address, port, family: fam === 6 ? 'IPv6' : 'IPv4' };
    const attempt = newAttempt(handle, address, port, fam);
    this.#attempt = attempt;
    prepareAttempt(attempt, this.#options);
    process.nextTick(TfoSocket.#flushTick, this, attempt);
  }

  // Next tick after the attempt: connect() has been called, libuv has not polled yet.
  #flush(attempt: Attempt): void {
    if (this.#attempt !== attempt || !this.connecting || this.destroyed) return;
    if ((this.#state & CORKED) !== 0) {
      this.#state &= ~CORKED;
      this.uncork(); // hands everything written so far to #hold, in one piece
    }
    const b = native.binding;
    if (!attempt.tfo || !b) return;
    // Only a deferred connect (cookie cached, nothing sent yet: SYN_SENT with no
    // segment out) takes data into the SYN. Otherwise connect() already sent a
    // SYN asking for a cookie, or on loopback the handshake is even complete;
    // the data then goes through libuv after 'connect', like net.
    attempt.cookie = deferredCookie(attempt.fd);
    if (attempt.cookie !== 'sent') return;
    let data = this.#held ? this.#held.data : EMPTY;
    if (data.length > 0 && !synDataAllowed(this.#options, data)) {
      attempt.synDataWithheld = true;
      data = EMPTY; // the SYN leaves with the cookie alone; the data follows the handshake
    }
    const n = b.send(attempt.fd, data, 0);
    if (n > 0) attempt.synDataBytes = n;
    // n === -EINPROGRESS: nothing to send yet; the SYN left with the cookie alone.
    // Any other errno (refused, unreachable) is reported by the connect completion.
  }

  #onConnect(): void {
    const attempt = this.#attempt;
    this.#attempt = null; // the outcome is all that is kept
    // Established: net's getter asks the kernel (getpeername) from now on, as
    // for any net.Socket; the copy made for the deferred connect is dropped.
    internals(this)._peername = null;
    this.#stopInterception();
    if (attempt) this.#record(attempt);
    const held = this.#held;
    this.#held = null;
    internals(this)._pendingData = null;
    if (!held) return;
    const sent = Math.min(packedSynDataBytes(this.#state), held.data.length);
    // As net: writes pending at connect complete after the 'connect' listeners, before 'ready''s.
    this.prependOnceListener('ready', () => {
      const rest = sent > 0 ? held.data.subarray(sent) : held.data;
      if (rest.length === 0) held.cb();
      else (net.Socket.prototype as unknown as NetWrite)._write.call(this, rest, 'buffer' as BufferEncoding, held.cb);
    });
  }

  #onClose(): void {
    const held = this.#held;
    this.#stopInterception();
    this.#held = null;
    if (held) held.cb(socketClosedBeforeConnection());
  }

  #record(attempt: Attempt): void {
    const fd = internals(this)._handle?.fd ?? -1; // libuv may have made the socket itself (no TFO)
    const outcome = recordClientOutcome(attempt, fd);
    this.#state = clearClientOutcome(this.#state) | packClientOutcome(outcome);
    this.#rttUs = Math.round(outcome.rttMs * 1000);
    this.#reason = outcome.reason ?? null;
  }

  /** @internal bytes that left in the SYN, added to what libuv counted. */
  get _tfoSynDataWritten(): number {
    return packedSynDataBytes(this.#state);
  }
}

// bytesWritten must include the bytes that left in the SYN (they bypassed libuv).
const netBytesWritten = Object.getOwnPropertyDescriptor(net.Socket.prototype, 'bytesWritten');
if (netBytesWritten?.get) {
  const get = netBytesWritten.get;
  Object.defineProperty(TfoSocket.prototype, 'bytesWritten', {
    configurable: true,
    enumerable: false,
    get(this: TfoSocket) {
      const n = get.call(this) as number | undefined;
      return n === undefined ? n : n + this._tfoSynDataWritten;
    },
  });
}

/** `net.TcpSocketConnectOpts` plus `fastOpen`. */
export type TcpSocketConnectOpts = net.TcpSocketConnectOpts & { fastOpen?: FastOpenOption };
/** `net.NetConnectOpts` plus `fastOpen` (IPC paths are passed to net unchanged). */
export type NetConnectOpts = (net.TcpNetConnectOpts | net.IpcNetConnectOpts) & { fastOpen?: FastOpenOption };

/** A `net.Socket` that connects with TCP Fast Open. Callable with or without `new`. */
export const Socket = callable(TfoSocket);
/** A `net.Socket` that connects with TCP Fast Open. */
export type Socket = TfoSocket;
export { TfoSocket };

/**
 * Drop-in for `net.connect()` / `net.createConnection()`: every overload,
 * every option, plus `fastOpen`. Data written before `'connect'` rides in the
 * SYN when the kernel holds a cookie for the server.
 */
export function connect(options: NetConnectOpts, connectionListener?: () => void): TfoSocket;
export function connect(port: number, host?: string, connectionListener?: () => void): TfoSocket;
export function connect(path: string, connectionListener?: () => void): TfoSocket;
export function connect(...args: unknown[]): TfoSocket {
  const first = args[0];
  const options: NetConnectOpts | Record<string, never> =
    first !== null && typeof first === 'object' ? (first as NetConnectOpts) : {};
  const socket = new TfoSocket(options as SocketConstructorOpts);
  if (options.timeout) socket.setTimeout(options.timeout);
  return (socket.connect as (...a: unknown[]) => TfoSocket)(...args);
}

/** Alias of `connect`, as in net. */
export const createConnection = connect;
