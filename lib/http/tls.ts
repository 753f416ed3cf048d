// tfo.tls.connect: tls.connect whose ClientHello rides in the SYN on returning
// connections (one round trip saved: HTTPS time to first byte 2 RTT, not 3).
//
// tls.connect keeps doing everything (DNS, happy eyeballs, session
// resumption, certificate checks, errors). tfo only gives each connection
// attempt's handle a socket with TCP_FASTOPEN_CONNECT on. With a cookie
// cached the kernel defers the connect; libuv sees the socket writable at
// once, TLS starts, and its first write — the ClientHello — is what sends the
// SYN. Without a cookie the SYN asks for one and the ClientHello follows the
// handshake, exactly as without tfo. The outcome is read from TCP_INFO at
// 'secureConnect', when the TCP connection is surely established.
import * as tls from 'node:tls';

import { exceptionWithHostPort } from '../base/errors';
import { tcpHandleOf } from '../base/internals';
import {
  finishAttempt,
  normalizeFastOpenOption,
  readCookieState,
  startAttempt,
  type Attempt,
  type ClientFastOpenOptions,
  type FastOpenOption,
} from '../core/attempt';
import type { FastOpenInfo } from '../core/outcome';

/** `tls.ConnectionOptions` plus `fastOpen` (`false`: plain TCP; `{ noCookie }` as for tfo.connect). */
export type ConnectionOptions = tls.ConnectionOptions & { fastOpen?: FastOpenOption };

/** A TLSSocket opened through tfo: its `fastOpen` says what TFO did (null until 'secureConnect'). */
export type FastOpenTLSSocket = tls.TLSSocket & { readonly fastOpen: FastOpenInfo | null };

const kInfo = Symbol('tfo.tlsFastOpen');


const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * With a deferred connect libuv reports the socket connected before the SYN
 * has even left (the kernel says "writable" so the ClientHello can go in the
 * SYN). TLS must start writing then, but the user-visible 'connect' and
 * 'ready' are held back until 'secureConnect' proves the connection is
 * established, and a refusal surfaces as tls.connect's own
 * `connect ECONNREFUSED host:port`, not as a read error.
 */
function holdConnectUntilSecure(socket: tls.TLSSocket, address: string, port: number): void {
  const start = (tls.TLSSocket.prototype as unknown as { _start: () => void })._start;
  const held: [string | symbol, unknown[]][] = [];
  const protoEmit = tls.TLSSocket.prototype.emit as (this: tls.TLSSocket, event: string | symbol, ...args: unknown[]) => boolean;
  const own = socket as unknown as { emit: tls.TLSSocket['emit']; _start: () => void; _read: (n: number) => void };
  const release = () => {
    delete (own as Partial<typeof own>).emit; // back to the prototype's emit: no cost afterwards
  };
  own.emit = function emit(this: tls.TLSSocket, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'connect' || event === 'ready') {
      if (event === 'connect') {
        // What must not wait: TLS writes its ClientHello (it is what sends the
        // SYN), and reading starts (net's own 'connect' listeners would start
        // it; they run again on release and find it started).
        if (socket.listeners('connect').includes(start)) {
          socket.removeListener('connect', start);
          own._start();
        }
        own._read(socket.readableHighWaterMark);
      }
      held.push([event, args]);
      return true;
    }
    if (event === 'secureConnect' || event === 'close') {
      release();
      if (event === 'secureConnect') for (const [e, a] of held) protoEmit.call(this, e, ...a);
    } else if (event === 'error') {
      const err = args[0] as (Error & { code?: string; errno?: number; syscall?: string }) | undefined;
      if (err && (err.syscall === 'read' || err.syscall === 'write') && CONNECT_ERRORS.has(err.code ?? '') && err.errno) {
        args[0] = exceptionWithHostPort(err.errno, 'connect', address, port);
      }
    }
    return protoEmit.call(this, event, ...args);
  } as tls.TLSSocket['emit'];
}

function attach(socket: tls.TLSSocket, options: ClientFastOpenOptions | false): void {
  const state: { info: FastOpenInfo | null; attempt: Attempt | null } = { info: null, attempt: null };
  (socket as unknown as Record<symbol, unknown>)[kInfo] = state;
  Object.defineProperty(socket, 'fastOpen', { configurable: true, enumerable: false, get: () => state.info });

  const onAttempt = (address: string, port: number, family: number) => {
    // The TLSSocket's handle is the TLS wrap; the TCP handle is its parent.
    const tcp = tcpHandleOf(socket);
    if (!tcp) return;
    const attempt = startAttempt(tcp, address, port, family, options);
    state.attempt = attempt;
    if (attempt.tfo) {
      // Before the loop polls: did the kernel defer (cookie cached) or send a cookie request?
      process.nextTick(() => {
        if (state.attempt !== attempt) return;
        if (readCookieState(attempt) === 'sent') holdConnectUntilSecure(socket, address, port);
      });
      attempt.synDataBytes = null; // libuv writes the ClientHello: the count is not ours to know
    }
  };
  socket.on('connectionAttempt', onAttempt);
  socket.once('secureConnect', () => {
    socket.off('connectionAttempt', onAttempt);
    const attempt = state.attempt;
    if (!attempt) return;
    const tcp = tcpHandleOf(socket);
    state.info = finishAttempt(attempt, typeof tcp?.fd === 'number' ? tcp.fd : attempt.fd);
  });
  socket.once('close', () => socket.off('connectionAttempt', onAttempt));
}

/**
 * Drop-in for `tls.connect()`: every overload and option, plus `fastOpen`.
 * On returning connections the ClientHello rides in the SYN. With
 * `options.socket` (a socket you connected yourself) TLS runs over it as
 * given: pass a `tfo.Socket` there if you want TFO for it.
 *
 * Events keep tls.connect's order and meaning ('connect', 'ready',
 * 'secureConnect'); connection errors keep its shape (`connect ECONNREFUSED`).
 */
export function connect(options: ConnectionOptions, secureConnectListener?: () => void): FastOpenTLSSocket;
export function connect(port: number, host?: string, options?: ConnectionOptions, secureConnectListener?: () => void): FastOpenTLSSocket;
export function connect(port: number, options?: ConnectionOptions, secureConnectListener?: () => void): FastOpenTLSSocket;
export function connect(...args: unknown[]): FastOpenTLSSocket {
  const options = args.find((a) => a !== null && typeof a === 'object') as ConnectionOptions | undefined;
  const { fastOpen, ...tlsOptions } = options ?? {};
  const fastOpenOptions = normalizeFastOpenOption(fastOpen); // validate before anything connects
  const rest = options ? args.map((a) => (a === options ? tlsOptions : a)) : args;
  const socket = (tls.connect as (...a: unknown[]) => tls.TLSSocket)(...rest);
  if (!options?.socket) attach(socket, fastOpenOptions);
  else Object.defineProperty(socket, 'fastOpen', { configurable: true, enumerable: false, get: () => null });
  return socket as FastOpenTLSSocket;
}

export {
  createServer,
  createSecureContext,
  checkServerIdentity,
  getCiphers,
  rootCertificates,
  DEFAULT_ECDH_CURVE,
  DEFAULT_MAX_VERSION,
  DEFAULT_MIN_VERSION,
  Server,
  TLSSocket,
} from 'node:tls';
