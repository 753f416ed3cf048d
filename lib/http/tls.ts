// tfo.tls.connect: tls.connect whose ClientHello rides in the SYN on returning
// connections (one round trip saved: HTTPS time to first byte 2 RTT, not 3).
//
// tls.connect keeps doing everything (DNS, happy eyeballs, session
// resumption, certificate checks, 'connect', errors). tfo adds, per
// connection attempt:
//
//  1. On 'connectionAttempt' (net emits it right before the handle's
//     connect()), the TCP handle gets a socket with TCP_FASTOPEN_CONNECT on,
//     and tfo takes the connect request net is about to hand to libuv.
//  2. With a cookie cached the kernel defers the connect and libuv reports it
//     complete at once, before any packet left. tfo keeps that report from
//     net: it starts the TLS handshake itself (TLSSocket#_start, as net's
//     'connect' would), so libuv writes the ClientHello into the deferred
//     socket and it leaves in the SYN.
//  3. net learns of the connection when the kernel does: at the SYN-ACK (a
//     zero-length write on a duplicate descriptor completes when the kernel
//     reports the socket established, or fails with the connection's error).
//     Then net's own completion runs with that status, so 'connect', 'ready',
//     reading and `connect ECONNREFUSED host:port` are net's, at net's
//     moments. Without a cookie (the SYN asks for one) nothing is held back.
//
// The outcome is read from TCP_INFO when the connection is established,
// before 'connect'.
import * as tls from 'node:tls';

import {
  attemptHandleOf,
  captureNextConnect,
  checkTlsSocket,
  fdOfHandle,
  P,
  privateOk,
  probeGroup,
  startTlsHandshakeNow,
  TLS_PARTS,
  type ConnectRequest,
} from '../base/internals';
import {
  afterSynWrite,
  controlReason,
  countError,
  countRequested,
  finishAttempt,
  normalizeFastOpenOption,
  readCookieState,
  holdFirstByte,
  settleFirstByte,
  startAttempt,
  SYN_PENDING,
  ttfbElapsedUs,
  ttfbSeriesOfInfo,
  ttfbStart,
  type Attempt,
  type ClientFastOpenOptions,
  type FastOpenOption,
} from '../core/attempt';
import type { FastOpenInfo } from '../core/outcome';

import { waitEstablished } from './established';

/** `tls.ConnectionOptions` plus `fastOpen` (`false`: plain TCP; `{ noCookie }` as for tfo.connect). */
export type ConnectionOptions = tls.ConnectionOptions & { fastOpen?: FastOpenOption };

/** A TLSSocket opened through tfo: its `fastOpen` says what TFO did (null until 'connect'). */
export type FastOpenTLSSocket = tls.TLSSocket & { readonly fastOpen: FastOpenInfo | null };

probeGroup('tls'); // the Node private parts tfo.tls relies on, checked now that node:tls is loaded

interface State {
  options: ClientFastOpenOptions | false;
  /** Why the connection is in the control cohort (the rollout's decision), or null. */
  control: string | null;
  /** When tls.connect() was called (observe/ttfb's ticks) until the first byte of application data, then -1. */
  t0: number;
  info: FastOpenInfo | null;
  attempt: Attempt | null;
  /** Stops the wait for the SYN-ACK of the current attempt (null when not waiting). */
  stopWaiting: (() => void) | null;
}

function stopWaiting(state: State): void {
  const stop = state.stopWaiting;
  state.stopWaiting = null;
  if (stop) stop();
}

/**
 * Takes the completion of one attempt's connect request: net's own
 * completion (afterConnect / afterConnectMultiple) runs when the kernel
 * reports the connection established or failed, never earlier.
 */
function hookCompletion(socket: tls.TLSSocket, state: State, attempt: Attempt, req: ConnectRequest): void {
  const netComplete = req.oncomplete;
  if (typeof netComplete !== 'function') return;
  const complete = netComplete;
  const established = () => {
    // libuv made the socket itself when tfo did not (fastOpen: false, no addon, backoff).
    state.info = finishAttempt(attempt, fdOfHandle(attempt.handle) >= 0 ? fdOfHandle(attempt.handle) : attempt.fd);
  };
  function hooked(this: ConnectRequest, ...args: unknown[]): unknown {
    const current = state.attempt === attempt && !socket.destroyed;
    if (current && args[0] === 0) {
      // Deferred connect (a cookie is cached): libuv called it complete, but no packet has left.
      if (attempt.tfo && readCookieState(attempt) === 'sent' && startTlsHandshakeNow(socket)) {
        // The ClientHello has been written: it went out in the SYN.
        const progress = afterSynWrite(attempt);
        if (progress === SYN_PENDING) {
          const onTimeout = () => stopWaiting(state);
          socket.once('connectionAttemptTimeout', onTimeout); // net gives up on this attempt (happy eyeballs)
          state.stopWaiting = waitEstablished(attempt.fd, (status) => {
            state.stopWaiting = null;
            socket.off('connectionAttemptTimeout', onTimeout);
            // net may have given up on the attempt meanwhile (its timeout clears req.oncomplete).
            if (req.oncomplete !== hooked || state.attempt !== attempt || socket.destroyed) return;
            if (status === 0) established();
            args[0] = status;
            Reflect.apply(complete, this, args);
          });
          return undefined;
        }
        args[0] = progress;
      }
      if (args[0] === 0) established();
    }
    return Reflect.apply(complete, this, args);
  }
  req.oncomplete = hooked;
}

/**
 * Time to first byte: from tls.connect() to the first byte of application
 * data (decrypted, after the handshake). TLSSocket is Node's own class, so
 * the hook is on the instance: its own `push` (and `destroy`) until the
 * first byte, then the prototype's functions again (the properties stay, so
 * the socket keeps its shape); no 'data', 'readable' or 'close' listener.
 */
function watchFirstByte(socket: tls.TLSSocket, state: State, isControl: boolean): void {
  const push = socket.push;
  const destroy = socket.destroy;
  // An error before the first byte of application data (refused, reset, a
  // failed handshake: tls and net end them all with destroy(err)) is counted
  // per cohort (the error rate of an A/B); the same instance-level pattern.
  Object.defineProperty(socket, 'destroy', {
    configurable: true,
    enumerable: false,
    writable: true,
    value: function destroyBeforeFirstByte(this: tls.TLSSocket, error?: Error): tls.TLSSocket {
      this.destroy = destroy;
      if (error && state.t0 >= 0 && !this.destroyed) {
        state.t0 = -1;
        countError(isControl, error);
      }
      return destroy.call(this, error);
    },
  });
  Object.defineProperty(socket, 'push', {
    configurable: true,
    enumerable: false,
    writable: true,
    value: function firstByte(this: tls.TLSSocket, chunk: unknown, encoding?: BufferEncoding): boolean {
      if (chunk !== null && chunk !== undefined) {
        this.push = push;
        this.destroy = destroy;
        const t0 = state.t0;
        state.t0 = -1;
        if (state.info && t0 >= 0) {
          // As tfo.Socket's push: the clock now, the recording after the program's handlers.
          holdFirstByte(ttfbSeriesOfInfo(state.info), ttfbElapsedUs(t0));
          try {
            return push.call(this, chunk, encoding);
          } finally {
            settleFirstByte();
          }
        }
      }
      return push.call(this, chunk, encoding);
    },
  });
}

function attach(socket: tls.TLSSocket, options: ClientFastOpenOptions | false, control: string | null, t0: number): void {
  const state: State = { options, control, t0, info: null, attempt: null, stopWaiting: null };
  const isControl = options === false || control !== null;
  countRequested(isControl);
  watchFirstByte(socket, state, isControl);
  Object.defineProperty(socket, 'fastOpen', { configurable: true, enumerable: false, get: () => state.info });

  checkTlsSocket(socket); // first use: the TLS wrap's parts tfo.tls relies on (TLS_PARTS)
  const onAttempt = (address: string, port: number, family: number) => {
    stopWaiting(state);
    // The TLSSocket's handle is the TLS wrap; the TCP handle is its parent.
    const attempt = startAttempt(attemptHandleOf(socket), address, port, family, state.options, socket, TLS_PARTS, state.control);
    state.attempt = attempt;
    if (privateOk(P.tlsWrapConnect)) captureNextConnect(socket, (req) => hookCompletion(socket, state, attempt, req));
  };
  // tfo's listeners live only while connecting: once connected (or closed)
  // the socket carries none of them, as a socket from tls.connect.
  const onClose = () => {
    socket.off('connectionAttempt', onAttempt);
    socket.off('connect', onConnect);
    stopWaiting(state);
  };
  const onConnect = () => {
    socket.off('connectionAttempt', onAttempt);
    socket.off('close', onClose);
    // Where the connect request could not be taken (TLS_PARTS missing), the outcome is read here.
    const attempt = state.attempt;
    if (state.info === null && attempt)
      state.info = finishAttempt(attempt, fdOfHandle(attempt.handle) >= 0 ? fdOfHandle(attempt.handle) : attempt.fd);
  };
  socket.on('connectionAttempt', onAttempt);
  socket.once('connect', onConnect);
  socket.once('close', onClose);
}

/** The rollout's decision for a new connection (null: the 'tfo' cohort), from tls.connect's arguments. */
function decide(fastOpen: ClientFastOpenOptions | false, options: ConnectionOptions | undefined, args: unknown[]): string | null {
  if (fastOpen === false || fastOpen.rollout === undefined) return null;
  // As tls.connect: an options object's host and port win over the positional ones.
  const host = options?.host ?? (typeof args[1] === 'string' ? args[1] : undefined);
  const port = options?.port ?? (typeof args[0] === 'number' || typeof args[0] === 'string' ? args[0] : undefined);
  return controlReason(fastOpen, typeof host === 'string' && host !== '' ? host : 'localhost', Number(port));
}

/**
 * Drop-in for `tls.connect()`: every overload and option, plus `fastOpen`.
 * On returning connections the ClientHello rides in the SYN. With
 * `options.socket` (a socket you connected yourself) TLS runs over it as
 * given: pass a `tfo.Socket` there if you want TFO for it.
 *
 * Events keep tls.connect's order and moments: 'connect' and 'ready' when
 * the TCP connection is established (the SYN-ACK), then 'secureConnect';
 * connection errors keep its shape (`connect ECONNREFUSED`).
 */
export function connect(options: ConnectionOptions, secureConnectListener?: () => void): FastOpenTLSSocket;
export function connect(port: number, host?: string, options?: ConnectionOptions, secureConnectListener?: () => void): FastOpenTLSSocket;
export function connect(port: number, options?: ConnectionOptions, secureConnectListener?: () => void): FastOpenTLSSocket;
export function connect(...args: unknown[]): FastOpenTLSSocket {
  const t0 = ttfbStart();
  const options = args.find((a) => a !== null && typeof a === 'object') as ConnectionOptions | undefined;
  const { fastOpen, ...tlsOptions } = options ?? {};
  const fastOpenOptions = normalizeFastOpenOption(fastOpen); // validate before anything connects
  const rest = options ? args.map((a) => (a === options ? tlsOptions : a)) : args;
  const socket = (tls.connect as (...a: unknown[]) => tls.TLSSocket)(...rest);
  if (!options?.socket) attach(socket, fastOpenOptions, decide(fastOpenOptions, options, args), t0);
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
