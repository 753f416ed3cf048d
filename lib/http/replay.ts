// The replay guard: which HTTP requests may put their bytes in a SYN.
//
// Data in a SYN can, rarely, be delivered twice (RFC 7413 §6). By default a
// request's bytes ride in the SYN only when its method is idempotent (RFC 9110
// §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE) and it is not a retry —
// here: not a connection to an origin after a connection to it failed before
// any response (within `retryWindowMs`). Other requests still use TFO (the
// cookie is sent and refreshed) but send their bytes after the handshake.
//
// The decision is made from the bytes themselves: the request line that the
// HTTP client writes first (method and target), when the socket is about to
// send its SYN. tfo.http.Agent and tfo.undici.connector share this one
// decision (`mayRide`), and so do not need to see the request object. For
// HTTPS the SYN carries the TLS ClientHello, which is always safe to replay:
// the policy does not apply there.
import { invalidArgType, invalidArgValue, validateBoolean, validateInteger, validateObject } from '../base/errors';
import type { FastOpenOption } from '../core/socket';
import { normalizeRollout, type Rollout, type RolloutOption } from '../core/rollout';

/** Which requests may put their bytes in the SYN. */
export type ReplayPolicy = 'idempotent' | 'all' | 'none' | ((request: ReplayInfo) => boolean);

/** What a replay predicate is told about a request (method and path as on the request line). */
export interface ReplayInfo {
  method: string;
  host: string;
  port: number;
  path: string;
  /** tfo's judgement: a connection to this origin failed before a response within `retryWindowMs`. */
  retry: boolean;
}

/** TFO options for an agent. */
export interface AgentFastOpenOptions {
  /** Default `'idempotent'` (idempotent methods on a first attempt); `'all'`; `'none'`; or a predicate. */
  replay?: ReplayPolicy;
  /** How long after a failed connection the next one to that origin counts as a retry. Default 30 000 ms. */
  retryWindowMs?: number;
  /** Send SYN data without a cookie (`TCP_FASTOPEN_NO_COOKIE`): trusted networks only. */
  noCookie?: boolean;
  /**
   * Staged rollout: which new connections use TFO (a fraction, a predicate on
   * `{ host, port }`, or `{ sample, include, random }`), decided per
   * connection when the agent asks for it; the others are plain TCP, the
   * control cohort. As for `tfo.connect`.
   */
  rollout?: RolloutOption;
}

/** RFC 9110 §9.2.2 idempotent methods. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** @internal A validated `fastOpen` option of an agent or connector. */
export interface Policy {
  readonly replay: ReplayPolicy;
  readonly retryWindowMs: number;
  readonly noCookie: boolean;
  readonly rollout: Rollout | null;
  /** The per-connection socket options this policy hands out, made once (see httpFastOpen). */
  readonly sockets: SocketOptions;
}

/** @internal Validates an agent's or connector's `fastOpen` option. */
export function normalizePolicy(value: unknown): Policy | false {
  if (value === false) return false;
  if (value === undefined || value === true) return DEFAULT_POLICY;
  validateObject(value, 'options.fastOpen');
  const { replay = 'idempotent', retryWindowMs = 30_000, noCookie = false, rollout } = value as AgentFastOpenOptions;
  if (typeof replay !== 'function' && !['idempotent', 'all', 'none'].includes(replay)) {
    if (typeof replay === 'string')
      throw invalidArgValue('options.fastOpen.replay', replay, "must be 'idempotent', 'all', 'none' or a function");
    throw invalidArgType('options.fastOpen.replay', ['string', 'Function'], replay);
  }
  validateInteger(retryWindowMs, 'options.fastOpen.retryWindowMs', 0, 2 ** 31 - 1);
  validateBoolean(noCookie, 'options.fastOpen.noCookie');
  const r = normalizeRollout(rollout, 'options.fastOpen.rollout');
  return { replay, retryWindowMs, noCookie, rollout: r, sockets: socketOptions(noCookie, r) };
}

/** @internal Whether the policy needs to know about retries (only 'idempotent' and predicates look). */
export function watchesRetries(policy: Policy | false): policy is Policy {
  return policy !== false && policy.replay !== 'all' && policy.replay !== 'none';
}

/** THE replay decision: may this request's bytes ride in the SYN? @internal (also tfo.http2's, for h2c requests) */
export function mayRide(policy: Policy, request: ReplayInfo): boolean {
  const { replay } = policy;
  if (replay === 'all') return true;
  if (replay === 'none') return false;
  if (replay === 'idempotent') return !request.retry && IDEMPOTENT_METHODS.has(request.method);
  try {
    return replay(request) === true;
  } catch {
    return false; // a throwing predicate never lets a request into the SYN
  }
}

// RFC 9110 §5.6.2 token characters (a method), by byte value.
const TOKEN_BYTES = new Uint8Array(256);
for (const ch of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN_BYTES[ch.charCodeAt(0)] = 1;
const MAX_LINE = 8192;
const CR = '\r'.charCodeAt(0);
const LF = '\n'.charCodeAt(0);
const SP = ' '.charCodeAt(0);
const ONE = '1'.charCodeAt(0);
const ZERO = '0'.charCodeAt(0);
/** 'HTTP/1.' then '1' or '0': the versions of an HTTP/1.x request line. */
const VERSION = Buffer.from('HTTP/1.', 'latin1');
const VERSION_LENGTH = VERSION.length + 1;

/**
 * Where the two spaces of an HTTP/1.x request line at the start of `first`
 * are (what an HTTP client writes first on a connection): a token, one
 * space, a target without spaces, one space, HTTP/1.1 or HTTP/1.0, CRLF
 * within the first 8 KiB. `sp2 * SPACE_SHIFT + sp1`, or -1 when `first`
 * does not start with such a line.
 *
 * One pass over the bytes, no string, no regular expression and no search
 * in C++: it runs between connect() and the SYN, on the critical path of
 * every request, and it runs cold (once per new connection, often after an
 * idle spell). Decoding the line, searching it and testing the method with a
 * regular expression took ~25 µs there (timed inside the benchmark's 50 ms
 * HTTP row); this scan and the idempotent check take ~10 µs.
 */
function scanRequestLine(first: Buffer): number {
  const n = Math.min(first.length - 1, MAX_LINE + 1); // the CR of the CRLF is at index <= MAX_LINE
  let sp1 = -1;
  let sp2 = -1;
  let end = -1;
  for (let i = 0; i < n; i++) {
    const c = first[i];
    if (c === SP) {
      if (sp1 < 0) sp1 = i;
      else if (sp2 < 0) sp2 = i;
      else return -1; // a third space: the target would contain one
    } else if (c === CR && first[i + 1] === LF) {
      end = i;
      break;
    } else if (sp1 < 0 && TOKEN_BYTES[c] === 0) return -1; // not a method token
  }
  if (end < 0 || sp1 <= 0 || sp2 <= sp1 + 1 || end - sp2 - 1 !== VERSION_LENGTH) return -1;
  for (let i = 0; i < VERSION.length; i++) if (first[sp2 + 1 + i] !== VERSION[i]) return -1;
  const minor = first[end - 1];
  return minor === ONE || minor === ZERO ? sp2 * SPACE_SHIFT + sp1 : -1;
}

/** sp1 < sp2 <= MAX_LINE < this: both fit in one Smi. */
const SPACE_SHIFT = 16384;

/**
 * @internal The method and target of an HTTP/1.x request line at the start of
 * `first` (what an HTTP client writes first on a connection), or null.
 */
export function parseRequestLine(first: Buffer): { method: string; path: string } | null {
  const spaces = scanRequestLine(first);
  if (spaces < 0) return null;
  const sp1 = spaces % SPACE_SHIFT;
  return { method: first.toString('latin1', 0, sp1), path: first.toString('latin1', sp1 + 1, (spaces - sp1) / SPACE_SHIFT) };
}

/**
 * IDEMPOTENT_METHODS as byte codes, by length: the built-in policy compares
 * the method's bytes in place. Making a string of it (a call into C++) cost
 * several µs on the cold path before the SYN. (The set is read-only: its
 * type is a ReadonlySet.)
 */
const IDEMPOTENT_CODES: number[][][] = [];
for (const m of IDEMPOTENT_METHODS) (IDEMPOTENT_CODES[m.length] ??= []).push(Array.from(m, (ch) => ch.charCodeAt(0)));

/** Whether the `length` bytes at the start of `first` are an idempotent method (case-sensitive, as RFC 9110 §9.1). */
function idempotentMethod(first: Buffer, length: number): boolean {
  const candidates = IDEMPOTENT_CODES[length];
  if (candidates === undefined) return false;
  for (let k = 0; k < candidates.length; k++) {
    const codes = candidates[k];
    let i = 0;
    while (i < length && first[i] === codes[i]) i++;
    if (i === length) return true;
  }
  return false;
}

/** The decision for the first bytes of a connection: no request line, no SYN data. */
function rideFor(policy: Policy, first: Buffer, host: string, port: number, retry: boolean): boolean {
  if (policy.replay === 'idempotent') return !retry && idempotentFirstTry(first);
  const line = parseRequestLine(first);
  return line !== null && mayRide(policy, { method: line.method, host, port, path: line.path, retry });
}

/** The built-in policy on a first try: a request line with an idempotent method (no object, no string). */
function idempotentFirstTry(first: Buffer): boolean {
  const spaces = scanRequestLine(first);
  return spaces >= 0 && idempotentMethod(first, spaces % SPACE_SHIFT);
}

/**
 * @internal The per-connection TFO settings an HTTP agent can ask for, made
 * once per policy (once per process without a rollout): the common ones cost
 * a connection no object at all. Only a predicate policy needs a closure per
 * connection (it is told the host, port and retry). The rollout rides along:
 * the socket decides each connection's cohort when it connects.
 */
interface SocketOptions {
  /** Every request may ride (`'all'`), and TLS (a ClientHello is always safe). */
  readonly ride: FastOpenOption;
  readonly withheld: FastOpenOption;
  readonly idempotent: FastOpenOption;
}

function makeSocketOptions(noCookie: boolean, rollout: Rollout | null): SocketOptions {
  const base: { noCookie?: true; rollout?: Rollout } = {};
  if (noCookie) base.noCookie = true;
  if (rollout) base.rollout = rollout;
  return {
    ride: noCookie || rollout ? Object.freeze({ ...base }) : true,
    withheld: Object.freeze({ ...base, synData: false }),
    idempotent: Object.freeze({ ...base, synData: idempotentFirstTry }),
  };
}

const SHARED = [makeSocketOptions(false, null), makeSocketOptions(true, null)] as const;

function socketOptions(noCookie: boolean, rollout: Rollout | null): SocketOptions {
  return rollout ? makeSocketOptions(noCookie, rollout) : SHARED[noCookie ? 1 : 0];
}

const DEFAULT_POLICY: Policy = Object.freeze({
  replay: 'idempotent',
  retryWindowMs: 30_000,
  noCookie: false,
  rollout: null,
  sockets: SHARED[0],
});

/**
 * @internal The `fastOpen` option for one plain-HTTP connection: the SYN
 * carries the request only when the policy lets its request line ride.
 */
export function httpFastOpen(policy: Policy | false, host: string, port: number, retry: boolean): FastOpenOption {
  if (policy === false) return false;
  const { replay, noCookie, sockets } = policy;
  if (replay === 'all') return sockets.ride;
  if (replay === 'none' || (replay === 'idempotent' && retry)) return sockets.withheld;
  if (replay === 'idempotent') return sockets.idempotent;
  const own: ClientOptions = { noCookie, synData: (first: Buffer) => rideFor(policy, first, host, port, retry) };
  if (policy.rollout) own.rollout = policy.rollout;
  return own;
}

type ClientOptions = Exclude<FastOpenOption, boolean>;

/** @internal The `fastOpen` option for one TLS connection: the ClientHello may always ride. */
export function tlsFastOpen(policy: Policy | false): FastOpenOption {
  if (policy === false) return false;
  return policy.sockets.ride;
}

/** What the failure memory needs to know of a connection. */
interface Probe {
  readonly bytesRead: number;
}

interface Failure {
  at: number;
  /** The latest connection opened to the origin since the failure: an answer on it ends the retry state. */
  probe: WeakRef<Probe> | null;
}

const MAX_ORIGINS = 4096;

/**
 * @internal Per-agent memory of recent connection failures, by origin. It
 * takes no listener slot on any socket: a connection reports how it ended
 * (`ended`, from the socket's own `_destroy`), and whether the latest
 * connection since a failure was answered is read from its `bytesRead`.
 */
export class Failures {
  readonly #by = new Map<string, Failure>();

  /** Whether a new connection to `origin` is a retry (a failure within `windowMs` not yet followed by an answer). */
  isRetry(origin: string, windowMs: number, now?: number): boolean {
    const f = this.#by.get(origin);
    if (f === undefined) return false;
    if ((now ?? Date.now()) - f.at > windowMs || (f.probe?.deref()?.bytesRead ?? 0) > 0) {
      this.#by.delete(origin);
      return false;
    }
    return true;
  }

  /** A connection opened as a retry: when it gets an answer, the origin is well again. */
  opened(origin: string, socket: Probe): void {
    const f = this.#by.get(origin);
    if (f !== undefined) f.probe = new WeakRef(socket);
  }

  /** A connection ended: with an error before any byte came back it is a failure; an answer to a retry clears the origin. */
  ended(origin: string, socket: Probe, error: unknown, now = Date.now()): void {
    if (socket.bytesRead > 0) {
      const f = this.#by.get(origin);
      if (f !== undefined && f.probe?.deref() === socket) this.#by.delete(origin);
      return;
    }
    if (!error) return;
    this.#by.delete(origin); // re-inserted last: the map is oldest-first
    this.#by.set(origin, { at: now, probe: null });
    if (this.#by.size > MAX_ORIGINS) this.#by.delete(this.#by.keys().next().value as string);
  }
}
