// The connect attempt: what tfo adds to one TCP connection attempt that net
// (or tls) makes. It is a layer of its own, used by tfo.Socket and by
// tfo.tls.connect alike, through four steps:
//
//   startAttempt()   on 'connectionAttempt', before libuv's connect(): give
//                    the handle a socket with TCP_FASTOPEN_CONNECT on, or
//                    record why TFO is not used (platform, option, backoff,
//                    sysctl);
//   readCookieState() on the next tick, after connect(): did the kernel defer
//                    the connect (a cookie is cached: the next send carries
//                    the SYN) or send a SYN asking for a cookie?
//   sendInSyn()      the one send() whose bytes ride in a deferred SYN;
//   finishAttempt()  once established: the outcome from TCP_INFO, counted in
//                    the stats, published (./diagnostics) and reported to the backoff.
import { errnoName, invalidArgType, validateBoolean, validateObject } from '../base/errors';
import { CLIENT_PARTS, privatesMissing, type PrivateName, type TcpHandle } from '../base/internals';
import { native } from '../base/native';
import { CONTROL_COHORT, TFO_COHORT, live as stats } from '../observe/stats';
import { holdTtfb, settleTtfb, ttfbElapsedUs as elapsedUs, ttfbStart as startTicks } from '../observe/ttfb';
import { clientOptionFailure } from '../system/support';
import { decodeClientFail, readTcpInfo, synDataAccepted, type FastOpenFailure } from '../system/tcpinfo';
import { backoff } from './backoff';
import { clientConnected } from './diagnostics';
import type { FastOpenInfo } from './outcome';
import { normalizeRollout, type Rollout, type RolloutOption } from './rollout';

/** @internal observe/ttfb's clock, for the http layer (which may not import observe): when a connection was asked for. */
export const ttfbStart: () => number = startTicks;
/** @internal The µs since a `ttfbStart()`. */
export const ttfbElapsedUs: (t0: number) => number = elapsedUs;

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
  /**
   * Staged rollout: which new connections use TFO, decided per connection
   * when it is asked for. A fraction (`0.1`: one connection in ten, at
   * random), a predicate on the origin (`({ host, port }) => boolean`: host
   * groups, feature flags), or `{ sample, include, random }`. The others are
   * the control cohort: plain TCP, without even `TCP_FASTOPEN_CONNECT`
   * (`socket.fastOpen.cohort`). Default: every connection uses TFO.
   */
  rollout?: RolloutOption;
}

/** `true` (default) or options: connect with TFO; `false`: plain TCP. */
export type FastOpenOption = boolean | ClientFastOpenOptions;

/** @internal One connection attempt, from 'connectionAttempt' to established. */
export interface Attempt {
  handle: TcpHandle;
  /** The socket making the attempt (tfo.Socket, the TLSSocket of tfo.tls, the net.Socket of tfo.http2). */
  socket: object;
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
  /** The connection is in the control cohort (a rollout's decision, or `fastOpen: false`). */
  control: boolean;
}

const DEFAULT_OPTIONS: ClientFastOpenOptions = Object.freeze({});

/** @internal Validates the `fastOpen` option as given to a socket, connect() or tls.connect(). */
export function normalizeFastOpenOption(value: unknown, name = 'options.fastOpen'): ClientFastOpenOptions | false {
  if (value === undefined || value === true) return DEFAULT_OPTIONS; // shared: nothing per socket
  if (value === false) return false;
  if (value === null || typeof value !== 'object') throw invalidArgType(name, ['boolean', 'Object'], value);
  // A frozen options object (what the agents hand every connection) is normalized once.
  const frozen = Object.isFrozen(value);
  const known = frozen ? NORMALIZED.get(value) : undefined;
  if (known !== undefined) return known;
  const out = normalizeObject(value, name);
  if (frozen) NORMALIZED.set(value, out);
  return out;
}

const NORMALIZED = new WeakMap<object, ClientFastOpenOptions>();

function normalizeObject(value: object, name: string): ClientFastOpenOptions {
  validateObject(value, name);
  const { noCookie, synData, rollout } = value as ClientFastOpenOptions;
  if (noCookie !== undefined) validateBoolean(noCookie, `${name}.noCookie`);
  if (synData !== undefined && typeof synData !== 'boolean' && typeof synData !== 'function')
    throw invalidArgType(`${name}.synData`, ['boolean', 'Function'], synData);
  const r = normalizeRollout(rollout, `${name}.rollout`);
  const out: ClientFastOpenOptions = { noCookie: noCookie === true, synData: synData ?? true };
  if (r !== null) out.rollout = r;
  return out;
}

/**
 * @internal The cohort of a new connection to `host:port` with these
 * options: null for 'tfo', else why it is control (a rollout's decision).
 * `fastOpen: false` is control too, with its own reason, from startAttempt.
 */
export function controlReason(options: ClientFastOpenOptions | false, host: string, port: number): string | null {
  if (options === false) return null;
  const rollout = options.rollout;
  return rollout === undefined ? null : (rollout as Rollout).decide(host, port);
}

/**
 * @internal Notes a connection's time to first byte (µs since its
 * `ttfbStart()`), in the series of its outcome (outcome.ttfbSeriesOf, or
 * from the outcome object), to be recorded at the next
 * {@link settleFirstByte} (or when the stats are read): the first read's
 * bytes reach the program's handlers in between.
 */
export function holdFirstByte(series: number, elapsedUs: number): void {
  if (series >= 0) holdTtfb(series, elapsedUs);
}

/** @internal Records what {@link holdFirstByte} noted. */
export const settleFirstByte: () => void = settleTtfb;

/** @internal A connection was asked for (connect()), in the control cohort or not. */
export function countRequested(control: boolean): void {
  stats.cohorts[control ? CONTROL_COHORT : TFO_COHORT].requested++;
}

/** @internal A connection ended with `error` before its first byte was read. */
export function countError(control: boolean, error: unknown): void {
  const code = (error as { code?: unknown } | null)?.code;
  // Error codes are a bounded set (they become metric labels); anything else is 'unknown'.
  const key = typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : 'unknown';
  const errors = stats.cohorts[control ? CONTROL_COHORT : TFO_COHORT].errors;
  errors[key] = (errors[key] ?? 0) + 1;
}

/** @internal The TTFB series of an outcome object (see outcome.ttfbSeriesOf). */
export function ttfbSeriesOfInfo(info: FastOpenInfo): number {
  return (info.cohort === 'control' ? 2 : 0) | (info.synData ? 1 : 0);
}

/**
 * @internal Starts an attempt on a handle about to connect: gives it a socket
 * with `TCP_FASTOPEN_CONNECT` on (libuv makes its socket lazily, so tfo makes
 * it), or records why TFO is not used. `needs`: the Node private parts the
 * caller's TFO path relies on (lib/base/internals.ts); without one, plain TCP.
 */
export function startAttempt(
  handle: TcpHandle,
  address: string,
  port: number,
  family: number,
  options: ClientFastOpenOptions | false,
  socket: object,
  needs: readonly PrivateName[] = CLIENT_PARTS,
  control: string | null = null,
): Attempt {
  const attempt: Attempt = {
    handle,
    socket,
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
    control: control !== null || options === false,
  };
  // A control connection never reaches the addon: libuv makes its socket, as net's.
  attempt.reason = control !== null ? control : prepare(attempt, options, needs);
  attempt.tfo = attempt.reason === null;
  if (attempt.tfo && options && options.noCookie) attempt.reason = setNoCookie(attempt);
  return attempt;
}

/** Null when the handle's socket now has TCP_FASTOPEN_CONNECT on, else why not. */
function prepare(attempt: Attempt, options: ClientFastOpenOptions | false, needs: readonly PrivateName[]): string | null {
  const b = native.binding;
  if (!b) return native.error;
  if (options === false) return 'disabled by the fastOpen: false option';
  const missing = privatesMissing(needs);
  if (missing) return missing;
  const paused = backoff.blockedReason(attempt.address, attempt.port);
  if (paused) return paused;
  const c = b.constants;
  if (c.TCP_FASTOPEN_CONNECT === undefined) return 'the addon was built without TCP_FASTOPEN_CONNECT (old kernel headers)';
  if (attempt.fd < 0) {
    const fd = b.socket(attempt.family === 6 ? c.AF_INET6 : c.AF_INET);
    if (fd < 0) return `socket() failed (${errnoName(fd)}); plain TCP is used`;
    const r = attempt.handle.open(fd);
    if (r !== 0) {
      b.close(fd);
      return `the handle could not adopt the socket (${errnoName(r)}); plain TCP is used`;
    }
    b.release(fd);
    attempt.fd = fd;
  }
  const r = b.setsockoptInt(attempt.fd, c.IPPROTO_TCP, c.TCP_FASTOPEN_CONNECT, 1);
  if (r < 0) return clientOptionFailure(r);
  return null;
}

/**
 * Sets TCP_FASTOPEN_NO_COOKIE for the `noCookie` option. Null when set, else
 * why not: TFO is still attempted, with a cookie, and the outcome's `reason`
 * says that noCookie is not in effect.
 */
function setNoCookie(attempt: Attempt): string | null {
  const c = native.binding!.constants;
  if (c.TCP_FASTOPEN_NO_COOKIE === undefined)
    return 'noCookie is not in effect: the addon was built without TCP_FASTOPEN_NO_COOKIE (kernel headers older than 4.15)';
  const r = native.binding!.setsockoptInt(attempt.fd, c.IPPROTO_TCP, c.TCP_FASTOPEN_NO_COOKIE, 1);
  return r < 0 ? `noCookie is not in effect: setsockopt(TCP_FASTOPEN_NO_COOKIE) failed (${errnoName(r)}; Linux >= 4.15 has it)` : null;
}

/**
 * @internal After connect() with TCP_FASTOPEN_CONNECT (next tick, before the
 * loop polls): `'sent'` when the kernel deferred the connect (a cookie is
 * cached: SYN_SENT with no segment out yet, so the next send carries the
 * SYN), else `'requested'` (a SYN asking for a cookie has left; on loopback
 * the handshake may even be complete). Recorded on the attempt.
 */
export function readCookieState(attempt: Attempt): 'sent' | 'requested' {
  attempt.cookie = connectDeferred(attempt) ? 'sent' : 'requested';
  return attempt.cookie;
}

/**
 * @internal Whether the kernel still defers this attempt's connect: SYN_SENT
 * with no segment out yet, so the next send on the socket carries the SYN.
 */
export function connectDeferred(attempt: Attempt): boolean {
  const b = native.binding;
  const ti = b ? readTcpInfo(b, attempt.fd) : -1;
  return b !== null && typeof ti !== 'number' && ti.state === b.constants.tcpStates.TCP_SYN_SENT && ti.segsOut === 0;
}

/** @internal Whether the `synData` option lets these first bytes ride in the SYN. */
export function synDataAllowed(options: ClientFastOpenOptions | false, data: Buffer): boolean {
  if (options === false) return false;
  const rule = options.synData ?? true;
  if (typeof rule === 'boolean') return rule;
  try {
    return rule(data) === true;
  } catch {
    return false; // a throwing guard never lets data into the SYN
  }
}

/**
 * @internal The send() that carries `data` in a deferred SYN (an empty buffer
 * sends the SYN with the cookie alone). Records the bytes the kernel took.
 * Any errno (refused, unreachable) is left to the connect completion.
 */
export function sendInSyn(attempt: Attempt, data: Buffer): void {
  const b = native.binding;
  if (!b) return;
  const n = b.send(attempt.fd, data, 0);
  if (n > 0) attempt.synDataBytes = n;
}

/** @internal Builds the outcome from TCP_INFO once established, counts it, publishes it (diagnostics) and tells the backoff. */
export function finishAttempt(attempt: Attempt, fd: number): FastOpenInfo {
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
    cohort: attempt.control ? 'control' : 'tfo',
  };
  const c = stats.cohorts[attempt.control ? CONTROL_COHORT : TFO_COHORT];
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
  clientConnected(attempt, outcome);
  backoff.report(attempt.address, attempt.port, outcome, Date.now(), attempt.startedAt);
  return outcome;
}

/** @internal `afterSynWrite()`: the SYN (with data) has left and the handshake is still under way. */
export const SYN_PENDING = 1;

/**
 * @internal After someone else's write sent a deferred SYN (tfo.tls.connect:
 * libuv wrote the ClientHello): records the bytes that rode in the SYN and
 * says how far the handshake got, from TCP_INFO: 0 when already established
 * (loopback: the whole exchange happens inside the write), `SYN_PENDING`
 * while in SYN_SENT, or a negative errno when the connection already failed
 * (SO_ERROR: e.g. a refusal on loopback).
 */
export function afterSynWrite(attempt: Attempt): number {
  attempt.synDataBytes = null;
  const b = native.binding;
  if (!b) return SYN_PENDING;
  const info = readTcpInfo(b, attempt.fd);
  if (typeof info === 'number') return SYN_PENDING;
  const { TCP_SYN_SENT, TCP_CLOSE } = b.constants.tcpStates;
  if (info.state === TCP_SYN_SENT) {
    // Only the SYN has left: everything sent so far rode in it.
    if (info.segsOut === 0) {
      sendInSyn(attempt, Buffer.alloc(0)); // nothing was written: the SYN leaves with the cookie alone
      attempt.synDataBytes = 0;
    } else attempt.synDataBytes = info.bytesSent;
    return SYN_PENDING;
  }
  if (info.state === TCP_CLOSE) {
    const err = b.getsockoptInt(attempt.fd, b.constants.SOL_SOCKET, b.constants.SO_ERROR);
    return err > 0 ? -err : SYN_PENDING; // error already taken by someone else: the watcher reports what it finds
  }
  // Established: the count is exact when the SYN's data was acknowledged (nothing was resent).
  if (synDataAccepted(info)) attempt.synDataBytes = info.bytesSent;
  return 0;
}
