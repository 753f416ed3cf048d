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
//     path.
//
// None of it shows to the program: the hooks run from this class's emit()
// (no listeners of tfo's own; one bit test per event once connected), and a
// write made while connecting is kept the way net keeps it (the first one
// pending, with net's 'connect' and 'close' listeners, the others in the
// stream's buffer), so listener counts, writableCorked, bytesWritten and the
// callbacks' order and errors are net's.
import * as net from 'node:net';

import { callable } from '../base/callable';
import { socketClosedBeforeConnection } from '../base/errors';
import {
  attemptHandleOf,
  isNormalizedArgs,
  netBytesWritten,
  netWrite,
  netWritev,
  normalizeArgs,
  setPendingData,
  socketWritesOk,
  type NormalizedArgs,
  SOCKET_PARTS,
  tcpHandleOf,
  writableBufferOf,
} from '../base/internals';
import {
  controlReason,
  countError,
  countRequested,
  finishAttempt,
  normalizeFastOpenOption,
  holdFirstByte,
  settleFirstByte,
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
import { clearClientOutcome, packClientOutcome, packedSynDataBytes, ttfbSeriesOf, unpackClientOutcome, type FastOpenInfo } from './outcome';

export type { ClientFastOpenOptions, FastOpenOption } from './attempt';
export type { FastOpenInfo } from './outcome';

/** `net.SocketConstructorOpts` plus `fastOpen`. */
export interface SocketConstructorOpts extends net.SocketConstructorOpts {
  fastOpen?: FastOpenOption;
}

type WriteCb = (err?: Error | null) => void;

/** The write net would keep pending while connecting (the stream's first `_write`). */
interface Held {
  data: Buffer;
  cb: WriteCb;
}

const EMPTY = Buffer.alloc(0);
/**
 * Writes queued behind the pending one are offered to the SYN up to this
 * many bytes (the kernel takes at most one segment, 32 KiB from its page
 * fragment on 6.x); the rest is not copied.
 */
const SYN_OFFER_MAX = 64 * 1024;

// TfoSocket's own bits in its packed #state: the CLIENT_OWNER_BITS (2) low
// bits; the outcome sits above them.
/** Between connect() and 'connect' (or 'close'): emit() runs tfo's hooks. */
const INTERCEPTING = 1;
/** `_write`/`_writev` go through tfo: a write is held while connecting, or bytes that left in the SYN are still to be skipped. */
const WRITES = 2;

function toBuffer(chunk: unknown, encoding: BufferEncoding | 'buffer'): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding === 'buffer' ? 'utf8' : encoding);
  const view = chunk as ArrayBufferView;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

function concatChunks(chunks: readonly { chunk: unknown; encoding: BufferEncoding | 'buffer' }[]): Buffer {
  return chunks.length === 1
    ? toBuffer(chunks[0].chunk, chunks[0].encoding)
    : Buffer.concat(chunks.map((c) => toBuffer(c.chunk, c.encoding)));
}

class TfoSocket extends net.Socket {
  #options: ClientFastOpenOptions | false;
  #attempt: Attempt | null = null;
  /**
   * While connecting, the write net would keep pending; once connected, how
   * many bytes of the writes queued behind it already left in the SYN (they
   * are skipped when they reach `_write`); else null.
   */
  #held: Held | number | null = null;
  /**
   * INTERCEPTING and WRITES, with the connection's TFO outcome packed above
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
    // As net: an array from net._normalizeArgs (what net.connect and tfo.connect pass) is taken as is.
    const normalized = isNormalizedArgs(args[0]) ? args[0] : normalizeArgs(args);
    const options = normalized[0] as { path?: unknown; fastOpen?: unknown; host?: unknown; port?: unknown };
    // net hands exactly the arguments it was given on, so wrappers of
    // net.Socket.prototype.connect see what they see with net.
    const netConnect = super.connect as (...a: unknown[]) => this;
    // IPC (a path) is not TCP: net does it all.
    if (options.path) return netConnect.apply(this, args);
    if ('fastOpen' in options) this.#options = normalizeFastOpenOption(options.fastOpen);

    this.#startInterception();
    this.#t0 = ttfbStart();
    if (this.#options !== false && this.#options.rollout !== undefined) this.#decide(normalized[0]);
    try {
      netConnect.apply(this, args);
    } catch (err) {
      this.#stopInterception();
      throw err;
    }
    countRequested(this.#control());
    return this;
  }

  /** The rollout's decision for this connection (lib/core/rollout.ts), kept in #reason until the attempt. */
  #decide(options: { host?: unknown; port?: unknown }): void {
    const host = options.host;
    this.#reason = controlReason(this.#options, typeof host === 'string' && host !== '' ? host : 'localhost', Number(options.port));
  }

  /**
   * @internal tfo's hooks run here, before the listeners (so none of them is
   * a listener a program could see): one bit test per event once connected.
   */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if ((this.#state & INTERCEPTING) !== 0) this.#hook(event, args);
    return super.emit(event, ...args);
  }

  /**
   * Readable#push, through which net hands each read to the stream: the
   * first byte read ends the time to first byte. One integer test per read;
   * no 'data' or 'readable' listener (they would change the stream's mode).
   * The clock is read before the stream sees the bytes; the sample is
   * recorded after the program's 'data'/'response' handlers ran (a read of
   * the stats in between records it first): recording it before cost ~15 µs
   * cold, on the critical path of the response (measured inside the
   * benchmark's 50 ms HTTP row).
   */
  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (this.#t0 < 0 || chunk === null || chunk === undefined) return super.push(chunk, encoding);
    holdFirstByte(ttfbSeriesOf(this.#state), ttfbElapsedUs(this.#t0));
    this.#t0 = -1;
    try {
      return super.push(chunk, encoding);
    } finally {
      settleFirstByte();
    }
  }

  /** Whether this connection is in the control cohort: from its outcome once recorded, else from the decision. */
  #control(): boolean {
    const series = ttfbSeriesOf(this.#state);
    return series >= 0 ? (series & 2) !== 0 : this.#options === false || this.#reason !== null;
  }

  override destroy(error?: Error): this {
    // An error before the first byte: counted per cohort (the error rate of an A/B).
    // (`#t0 in this`: stream constructors may destroy() before our fields exist, e.g. an aborted signal.)
    if (error && #t0 in this && this.#t0 >= 0 && !this.destroyed) {
      this.#t0 = -1;
      countError(this.#control(), error);
    }
    return super.destroy(error);
  }

  // ---- writes while connecting ----
  // Overridden on the class (one bit test per write once connected):
  // swapping them on the instance would push every socket into V8's slow
  // dictionary mode (measured: twice net's memory per connection).

  /** @internal stream.Writable's hook, overridden (not part of tfo's API; the type is Writable's). */
  override _write(chunk: unknown, encoding: BufferEncoding, cb: WriteCb): void {
    if ((this.#state & WRITES) === 0) netWrite(this, chunk, encoding, cb);
    else this.#divert(toBuffer(chunk, encoding), cb);
  }

  /** @internal as `_write`. */
  override _writev(chunks: { chunk: unknown; encoding: BufferEncoding }[], cb: WriteCb): void {
    if ((this.#state & WRITES) === 0) netWritev(this, chunks, cb);
    else this.#divert(concatChunks(chunks), cb);
  }

  #divert(data: Buffer, cb: WriteCb): void {
    const held = this.#held;
    if (typeof held === 'number') this.#skip(held, data, cb);
    else if (held === null && this.connecting) this.#hold(data, cb);
    else netWrite(this, data, 'buffer' as BufferEncoding, cb);
  }

  #startInterception(): void {
    this.#attempt = null;
    if (typeof this.#held === 'number') this.#held = null;
    this.#state = clearClientOutcome(this.#state) | INTERCEPTING | WRITES;
    this.#rttUs = 0;
    this.#reason = null;
  }

  #stopInterception(): void {
    this.#attempt = null;
    this.#state &= ~INTERCEPTING;
    if (this.#held === null) this.#state &= ~WRITES;
  }

  #hook(event: string | symbol, args: unknown[]): void {
    if (event === 'connectionAttempt') this.#onAttempt(args[0] as string, args[1] as number, args[2] as number);
    else if (event === 'connect') this.#onConnect();
    else if (event === 'close') this.#stopInterception();
  }

  // The first write made while connecting, kept as net keeps it: pending
  // (counted in bytesWritten), completed from a 'connect' listener added now
  // (after the 'connect' listeners added before it, before those added after),
  // failed from a 'close' listener if the socket closes first. The writes made
  // after it wait in the stream's buffer, as with net.
  #hold(data: Buffer, cb: WriteCb): void {
    const held: Held = { data, cb };
    this.#held = held;
    setPendingData(this, data);
    const onClose = (): void => {
      if (this.#held === held) {
        this.#held = null;
        this.#state &= ~WRITES;
      }
      cb(socketClosedBeforeConnection());
    };
    this.once('connect', () => {
      this.off('close', onClose);
      this.#writeHeld(held);
    });
    this.once('close', onClose);
  }

  // Connected: what of the pending write did not ride in the SYN goes through libuv.
  #writeHeld(held: Held): void {
    if (this.#held !== held) return; // failed at 'close' before (net would write it again here)
    setPendingData(this, null);
    const synBytes = packedSynDataBytes(this.#state);
    const sent = Math.min(synBytes, held.data.length);
    const skip = synBytes - sent; // bytes of the queued writes that rode in the SYN too
    if (skip > 0) this.#held = skip;
    else {
      this.#held = null;
      this.#state &= ~WRITES;
    }
    if (sent === held.data.length) held.cb();
    else netWrite(this, sent > 0 ? held.data.subarray(sent) : held.data, 'buffer' as BufferEncoding, held.cb);
  }

  // A queued write reaching _write after 'connect': its first `skip` bytes left in the SYN.
  #skip(skip: number, data: Buffer, cb: WriteCb): void {
    const k = Math.min(skip, data.length);
    if (skip > k) this.#held = skip - k;
    else {
      this.#held = null;
      this.#state &= ~WRITES;
    }
    if (k === data.length) cb();
    else netWrite(this, k > 0 ? data.subarray(k) : data, 'buffer' as BufferEncoding, cb);
  }

  static #flushTick(socket: TfoSocket, attempt: Attempt): void {
    socket.#flush(attempt);
  }

  #onAttempt(address: string, port: number, family: number): void {
    const attempt = startAttempt(attemptHandleOf(this), address, port, family, this.#options, this, SOCKET_PARTS, this.#reason);
    this.#attempt = attempt;
    process.nextTick(TfoSocket.#flushTick, this, attempt);
  }

  // Next tick after the attempt: connect() has been called, libuv has not polled yet.
  #flush(attempt: Attempt): void {
    if (this.#attempt !== attempt || !this.connecting || this.destroyed || !attempt.tfo) return;
    // Only a deferred connect (cookie cached, nothing sent yet: SYN_SENT with no
    // segment out) takes data into the SYN. Otherwise connect() already sent a
    // SYN asking for a cookie, or on loopback the handshake is even complete;
    // the data then goes through libuv after 'connect', like net.
    if (readCookieState(attempt) !== 'sent') return;
    let data = this.#synPayload();
    if (data.length > 0 && !synDataAllowed(this.#options, data)) {
      attempt.synDataWithheld = true;
      data = EMPTY; // the SYN leaves with the cookie alone; the data follows the handshake
    }
    sendInSyn(attempt, data);
  }

  /** What has been written so far: the pending write and, unless the stream is corked, the writes queued behind it. */
  #synPayload(): Buffer {
    const held = this.#held;
    if (held === null || typeof held === 'number') return EMPTY;
    const queued = this.writableCorked === 0 ? writableBufferOf(this) : [];
    if (queued.length === 0) return held.data;
    const parts = [held.data];
    let total = held.data.length;
    for (let i = 0; i < queued.length && total < SYN_OFFER_MAX; i++) {
      const b = toBuffer(queued[i].chunk, queued[i].encoding);
      parts.push(b);
      total += b.length;
    }
    return Buffer.concat(parts, total);
  }

  #onConnect(): void {
    const attempt = this.#attempt;
    this.#attempt = null; // the outcome is all that is kept
    this.#state &= ~INTERCEPTING;
    if (attempt) this.#record(attempt);
    // A pending write completes from its own 'connect' listener, as net's does.
    if (this.#held === null) this.#state &= ~WRITES;
  }

  #record(attempt: Attempt): void {
    const fd = tcpHandleOf(this)?.fd ?? -1; // libuv may have made the socket itself (no TFO)
    const outcome = finishAttempt(attempt, fd);
    this.#state = clearClientOutcome(this.#state) | packClientOutcome(outcome);
    this.#rttUs = Math.round(outcome.rttMs * 1000);
    this.#reason = outcome.reason ?? null;
  }

  /**
   * @internal bytes that left in the SYN and that net's own count (libuv's
   * writes, the pending write, the stream's buffer) does not hold any more.
   */
  get _tfoSynDataWritten(): number {
    const held = this.#held;
    if (held !== null && typeof held === 'object') return 0; // still counted as pending, as net does
    const n = packedSynDataBytes(this.#state);
    return typeof held === 'number' ? n - held : n;
  }
}

// Where net's write path is not what tfo relies on (lib/base/internals.ts), tfo.Socket
// leaves writes to net (its connections use plain TCP, SOCKET_PARTS).
if (!socketWritesOk) {
  delete (TfoSocket.prototype as Partial<TfoSocket>)._write;
  delete (TfoSocket.prototype as Partial<TfoSocket>)._writev;
}

// bytesWritten must include the bytes that left in the SYN (they bypassed libuv).
if (netBytesWritten) {
  const get = netBytesWritten;
  Object.defineProperty(TfoSocket.prototype, 'bytesWritten', {
    configurable: true,
    enumerable: false,
    get(this: TfoSocket) {
      const n = get.call(this);
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
  // What net.connect does, so socket.connect() gets what it gets from net.
  const normalized = normalizeArgs(args);
  const options = normalized[0];
  // The constructor gets the caller's options object, as with net; for the
  // (port[, host]) and (path) forms the normalized `{ port, host }` /
  // `{ path }` hold nothing the constructor reads, and Node 20's V8 copies
  // such an object slowly in net.Socket's constructor (`{ ...options }` plus
  // four properties: ~10 µs per socket, measured; Node 22+ do not), so those
  // forms construct the socket as `new net.Socket()` would.
  const first = args[0];
  const socket = new TfoSocket(first !== null && typeof first === 'object' ? options : undefined);
  return connectAsNet(socket, normalized, args);
}

/**
 * @internal The end of what net.connect does, for tfo.connect and the HTTP
 * agent alike: the socket's timeout, then `socket.connect(normalized)`, so
 * that socket.connect() (and any wrapper of net.Socket.prototype.connect)
 * gets what it gets from net, and the arguments are read once. Without net's
 * argument reading (lib/base/internals.ts), the caller's own arguments.
 */
export function connectAsNet<S extends TfoSocket>(socket: S, normalized: NormalizedArgs, args: unknown[]): S {
  const options = normalized[0] as { timeout?: number };
  if (options.timeout) socket.setTimeout(options.timeout);
  const connect = socket.connect as (...a: unknown[]) => S;
  return isNormalizedArgs(normalized) ? connect.call(socket, normalized) : connect.apply(socket, args);
}

/** Alias of `connect`, as in net. */
export const createConnection = connect;
