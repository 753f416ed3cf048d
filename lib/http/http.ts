// HTTP(S) agents whose new connections use TCP Fast Open, with a replay guard.
//
// Data in a SYN can, rarely, be delivered twice (RFC 7413 §6). By default a
// request's bytes ride in the SYN only when its method is idempotent (RFC 9110
// §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE) and it is not a retry —
// here: not the first connection to an origin after a connection to it failed
// before any response (within `retryWindowMs`). Other requests still use TFO
// (the cookie is sent and refreshed) but send their bytes after the handshake.
// For HTTPS the SYN carries the TLS ClientHello, which is always safe to
// replay; the request itself is sent only after the TLS handshake anyway.
import * as http from 'node:http';
import type { Duplex } from 'node:stream';

import { invalidArgType, invalidArgValue, validateInteger, validateObject, validateBoolean } from '../base/errors';
import { connect as tfoConnect, type FastOpenOption } from '../core/socket';

/** Which requests may put their bytes in the SYN. */
export type ReplayPolicy = 'idempotent' | 'all' | 'none' | ((request: ReplayInfo) => boolean);

/** What a replay predicate is told about a request. */
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
}

/** `http.AgentOptions` plus `fastOpen` (`false`: plain TCP). */
export interface AgentOptions extends http.AgentOptions {
  fastOpen?: AgentFastOpenOptions | false;
}

/** RFC 9110 §9.2.2 idempotent methods. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** @internal */
export interface Policy {
  replay: ReplayPolicy;
  retryWindowMs: number;
  noCookie: boolean;
}

/** @internal */
export function normalizeAgentOptions(value: unknown): Policy | false {
  if (value === false) return false;
  if (value === undefined || value === true) return { replay: 'idempotent', retryWindowMs: 30_000, noCookie: false };
  validateObject(value, 'options.fastOpen');
  const { replay = 'idempotent', retryWindowMs = 30_000, noCookie = false } = value as AgentFastOpenOptions;
  if (typeof replay !== 'function' && !['idempotent', 'all', 'none'].includes(replay as string)) {
    if (typeof replay === 'string') throw invalidArgValue('options.fastOpen.replay', replay, "must be 'idempotent', 'all', 'none' or a function");
    throw invalidArgType('options.fastOpen.replay', ['string', 'Function'], replay);
  }
  validateInteger(retryWindowMs, 'options.fastOpen.retryWindowMs', 0, 2 ** 31 - 1);
  validateBoolean(noCookie, 'options.fastOpen.noCookie');
  return { replay, retryWindowMs, noCookie };
}

/** Per-agent memory of recent connection failures, by origin. */
/** @internal */
export class Failures {
  readonly #at = new Map<string, number>();
  isRetry(origin: string, windowMs: number, now = Date.now()): boolean {
    const t = this.#at.get(origin);
    return t !== undefined && now - t <= windowMs;
  }
  watch(socket: Duplex, origin: string): void {
    let answered = false;
    socket.once('data', () => {
      answered = true;
      this.#at.delete(origin);
    });
    socket.once('error', () => {
      if (!answered) this.#at.set(origin, Date.now());
      if (this.#at.size > 4096) this.#at.delete(this.#at.keys().next().value as string);
    });
  }
}

const kSynData = Symbol('tfo.synData');
/** Key under which the agent records a connection's origin in its options. */
export const kOrigin = Symbol('tfo.origin');

/** The options an agent hands to `createConnection` (Node's request options, plus tfo's replay decision). */
export type AgentInternalOptions = http.ClientRequestArgs & { [kSynData]?: boolean; [kOrigin]?: string; _agentKey?: string };
/** Node's `Agent#createSocket` signature. */
export type CreateSocket = (req: http.ClientRequest, options: AgentInternalOptions, cb: (err: Error | null, s?: Duplex) => void) => void;

/** Decides, for one request, whether its bytes may ride in the SYN. */
function allowSynData(policy: Policy, req: http.ClientRequest, options: AgentInternalOptions, retry: boolean): boolean {
  const { replay } = policy;
  if (replay === 'all') return true;
  if (replay === 'none') return false;
  const method = (req.method ?? 'GET').toUpperCase();
  if (replay === 'idempotent') return !retry && IDEMPOTENT_METHODS.has(method);
  const info: ReplayInfo = {
    method,
    host: String(options.host ?? options.hostname ?? 'localhost'),
    port: Number(options.port),
    path: req.path,
    retry,
  };
  try {
    return replay(info) === true;
  } catch {
    return false;
  }
}

// The four per-connection TFO settings an agent can ask for, made once: the
// common one (`true`) costs a connection no object at all.
const WITHHELD: FastOpenOption = Object.freeze({ synData: false });
const NO_COOKIE: FastOpenOption = Object.freeze({ noCookie: true });
const NO_COOKIE_WITHHELD: FastOpenOption = Object.freeze({ noCookie: true, synData: false });

/** @internal */
export function fastOpenFor(policy: Policy | false, options: AgentInternalOptions): FastOpenOption {
  if (policy === false) return false;
  const synData = options[kSynData] ?? true;
  if (policy.noCookie) return synData ? NO_COOKIE : NO_COOKIE_WITHHELD;
  return synData ? true : WITHHELD;
}

/**
 * @internal The options object to add tfo's keys to. Node's Agent hands
 * `createSocket` and `createConnection` a fresh null-prototype copy per
 * request and connection (`{ __proto__: null, ...options }`): that one is
 * used as is (a copy of ~25 keys per connection was measurable); anything
 * else, e.g. a caller's own object, is copied, never changed.
 */
export function ownCopy<T extends object>(options: T): T {
  return Object.getPrototypeOf(options) === null ? options : { ...options };
}

/** @internal */
export function createSocketWithGuard(
  base: CreateSocket,
  agent: http.Agent,
  policy: Policy | false,
  failures: Failures,
  req: http.ClientRequest,
  options: AgentInternalOptions,
  cb: (err: Error | null, s?: Duplex) => void,
): void {
  const origin = `${options.host ?? options.hostname}:${options.port}`;
  const retry = failures.isRetry(origin, policy ? policy.retryWindowMs : 0);
  const own = ownCopy(options);
  own[kSynData] = policy !== false && allowSynData(policy, req, options, retry);
  own[kOrigin] = origin;
  base.call(agent, req, own, cb);
}

/** `http.Agent` whose new connections use TCP Fast Open; keep-alive pooling unchanged. */
export class Agent extends http.Agent {
  readonly #policy: Policy | false;
  readonly #failures = new Failures();

  constructor(options?: AgentOptions) {
    const { fastOpen, ...rest } = options ?? {};
    const policy = normalizeAgentOptions(fastOpen);
    super(rest);
    this.#policy = policy;
  }

  /** @internal */
  createSocket(req: http.ClientRequest, options: AgentInternalOptions, cb: (err: Error | null, s?: Duplex) => void): void {
    const base = (http.Agent.prototype as unknown as { createSocket: CreateSocket }).createSocket;
    createSocketWithGuard(base, this, this.#policy, this.#failures, req, options, cb);
  }

  override createConnection(options: AgentInternalOptions, cb?: (err: Error | null, socket: Duplex) => void): Duplex {
    const own = ownCopy(options) as AgentInternalOptions & { fastOpen?: FastOpenOption };
    own.fastOpen = fastOpenFor(this.#policy, options);
    const socket = tfoConnect(own as never, cb as never);
    if (options[kOrigin]) this.#failures.watch(socket, options[kOrigin]);
    return socket;
  }
}

/** A shared agent configured like Node's `http.globalAgent` (keep-alive, LIFO, 5 s idle timeout), with TFO. */
export const globalAgent = new Agent({ keepAlive: true, scheduling: 'lifo', timeout: 5000 });
