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

import { callable } from '../base/callable';
import { socketClosedBeforeConnection } from '../base/errors';
import { netBytesWritten, netWrite, setPendingData, tcpHandleOf } from '../base/internals';
import {
  controlReason,
  countError,
  countRequested,
  finishAttempt,
  normalizeFastOpenOption,
  recordFirstByte,
  ttfbElapsedUs,
  ttfbStart,
  readCookieState,
  sendInSyn,
  startAttempt,
  synDataAllowed,
  type Attempt,
  type ClientFastOpenOptions,
  type FastOpenOption,
} from './attempt';
import {
  clearClientOutcome,
  packClientOutcome,
  packedSynDataBytes,
  ttfbSeriesOf,
  unpackClientOutcome,
  type FastOpenInfo,
} from './outcome';

export type { ClientFastOpenOptions, FastOpenOption } from './attempt';
export type { FastOpenInfo } from './outcome';

/** `net.SocketConstructorOpts` plus `fastOpen`. */
export interface SocketConstructorOpts extends net.SocketConstructorOpts {
  fastOpen?: FastOpenOption;
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
  /**
   * Between connect() and 'connect': why the connection is in the control
   * cohort (the rollout's decision), or null; then the outcome's reason.
   */
  #reason: string | null = null;
  /**
   * When connect() was called (observe/ttfb's ticks, a small integer) until
   * the first byte is read, then -1: the time to first byte.
   */
  #t0 = -1;

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
    this.#t0 = ttfbStart();
    if (this.#options !== false && this.#options.rollout !== undefined) this.#decide(options, first, args[1]);
    try {
      (super.connect as (...a: unknown[]) => this)(...args);
    } catch (err) {
      this.#stopInterception();
      throw err;
    }
    countRequested(this.#control());
    return this;
  }

  /** The rollout's decision for this connection (lib/core/rollout.ts), kept in #reason until the attempt. */
  #decide(options: TcpSocketConnectOpts | null, first: unknown, second: unknown): void {
    const host = options ? options.host : second;
    const port = options ? options.port : first;
    this.#reason = controlReason(this.#options, typeof host === 'string' && host !== '' ? host : 'localhost', Number(port));
  }

  /**
   * Readable#push, through which net hands each read to the stream: the
   * first byte read ends the time to first byte. One integer test per read;
   * no 'data' or 'readable' listener (they would change the stream's mode).
   */
  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (this.#t0 >= 0 && chunk !== null && chunk !== undefined) this.#firstByte();
    return super.push(chunk, encoding);
  }

  /** Whether this connection is in the control cohort: from its outcome once recorded, else from the decision. */
  #control(): boolean {
    const series = ttfbSeriesOf(this.#state);
    return series >= 0 ? (series & 2) !== 0 : this.#options === false || this.#reason !== null;
  }

  #firstByte(): void {
    const elapsed = ttfbElapsedUs(this.#t0);
    this.#t0 = -1;
    recordFirstByte(ttfbSeriesOf(this.#state), elapsed);
  }

  override destroy(error?: Error): this {
    // Writes still corked for the SYN go to the pending slot first, so they
    // fail as net's do (ERR_SOCKET_CLOSED_BEFORE_CONNECTION), not as never written.
    // (`#state in this`: stream constructors may destroy() before our fields exist, e.g. an aborted signal.)
    if (#state in this && (this.#state & CORKED) !== 0 && !this.destroyed) {
      this.#state &= ~CORKED;
      this.uncork();
    }
    // An error before the first byte: counted per cohort (the error rate of an A/B).
    if (error && #t0 in this && this.#t0 >= 0 && !this.destroyed) {
      this.#t0 = -1;
      countError(this.#control(), error);
    }
    return super.destroy(error);
  }

  // ---- interception while connecting ----
  // Overridden on the class (one boolean test per write once connected):
  // swapping them on the instance would push every socket into V8's slow
  // dictionary mode (measured: twice net's memory per connection).

  override _write(chunk: unknown, encoding: BufferEncoding, cb: Held['cb']): void {
    if ((this.#state & INTERCEPTING) !== 0) this.#hold([toBuffer(chunk, encoding)], cb);
    else netWrite._write.call(this, chunk, encoding, cb);
  }

  override _writev(chunks: { chunk: unknown; encoding: BufferEncoding }[], cb: Held['cb']): void {
    if ((this.#state & INTERCEPTING) !== 0) {
      this.#hold(
        chunks.map((c) => toBuffer(c.chunk, c.encoding)),
        cb,
      );
    } else netWrite._writev.call(this, chunks, cb);
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
    setPendingData(this, data); // keeps bytesWritten right, as net does
    // As net: a write pending when the socket closes fails from a 'close'
    // listener added when the write was handed to the socket.
    if (!this.listeners('close').includes(TfoSocket.#closeListener)) this.on('close', TfoSocket.#closeListener);
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
    const handle = tcpHandleOf(this);
    if (!handle) return;
    const attempt = startAttempt(handle, address, port, family, this.#options, this.#reason);
    this.#attempt = attempt;
    process.nextTick(TfoSocket.#flushTick, this, attempt);
  }

  // Next tick after the attempt: connect() has been called, libuv has not polled yet.
  #flush(attempt: Attempt): void {
    if (this.#attempt !== attempt || !this.connecting || this.destroyed) return;
    if ((this.#state & CORKED) !== 0) {
      this.#state &= ~CORKED;
      this.uncork(); // hands everything written so far to #hold, in one piece
    }
    if (!attempt.tfo) return;
    // Only a deferred connect (cookie cached, nothing sent yet: SYN_SENT with no
    // segment out) takes data into the SYN. Otherwise connect() already sent a
    // SYN asking for a cookie, or on loopback the handshake is even complete;
    // the data then goes through libuv after 'connect', like net.
    if (readCookieState(attempt) !== 'sent') return;
    let data = this.#held ? this.#held.data : EMPTY;
    if (data.length > 0 && !synDataAllowed(this.#options, data)) {
      attempt.synDataWithheld = true;
      data = EMPTY; // the SYN leaves with the cookie alone; the data follows the handshake
    }
    sendInSyn(attempt, data);
  }

  #onConnect(): void {
    const attempt = this.#attempt;
    this.#attempt = null; // the outcome is all that is kept
    this.#stopInterception();
    if (attempt) this.#record(attempt);
    const held = this.#held;
    this.#held = null;
    setPendingData(this, null);
    if (!held) return;
    const sent = Math.min(packedSynDataBytes(this.#state), held.data.length);
    // As net: writes pending at connect complete after the 'connect' listeners, before 'ready''s.
    this.prependOnceListener('ready', () => {
      const rest = sent > 0 ? held.data.subarray(sent) : held.data;
      if (rest.length === 0) held.cb();
      else netWrite._write.call(this, rest, 'buffer' as BufferEncoding, held.cb);
    });
  }

  #onClose(): void {
    const held = this.#held;
    this.#stopInterception();
    this.#held = null;
    if (held) held.cb(socketClosedBeforeConnection());
  }

  #record(attempt: Attempt): void {
    const fd = tcpHandleOf(this)?.fd ?? -1; // libuv may have made the socket itself (no TFO)
    const outcome = finishAttempt(attempt, fd);
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
if (netBytesWritten) {
  const get = netBytesWritten;
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
