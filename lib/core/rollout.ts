// Staged rollout: which new connections use TCP Fast Open. The one place
// where the `rollout` option is validated and where a connection's cohort is
// decided, for every client entry point (tfo.connect / tfo.Socket,
// tfo.tls.connect, the http/https agents, the undici connector, and any
// integration that builds on them, e.g. HTTP/2).
//
// A connection is decided once, when it is asked for (`connect()`), before
// any socket exists:
//   'tfo'      TFO is meant to be used (it may still not be, for the usual
//              reasons: sysctl, backoff, no addon; `attempted` says);
//   'control'  plain TCP, chosen on purpose: the rollout kept the connection
//              out (not sampled, origin not included, a throwing predicate),
//              or `fastOpen: false`. A control connection never touches the
//              addon: libuv makes its socket, so not even TCP_FASTOPEN_CONNECT
//              is set, and its SYN carries no TFO option.
// Comparing cohorts is an intent-to-treat comparison: a 'tfo' connection that
// could not use TFO stays in the 'tfo' cohort.
import { invalidArgType, outOfRange, validateObject } from '../base/errors';

/** The origin a connection is for, as given to `connect()` (before DNS): what a rollout predicate sees. */
export interface RolloutOrigin {
  /** The host as the caller gave it (a name or an address literal); net's default `'localhost'` when none. */
  host: string;
  port: number;
}

/** Host groups, feature flags: `true` lets connections to this origin use TFO (then `sample` applies). */
export type RolloutPredicate = (origin: RolloutOrigin) => boolean;

/** Which new connections use TFO (the others are the control cohort: plain TCP). */
export interface RolloutOptions {
  /**
   * The fraction of new connections that use TFO, 0 to 1, decided per
   * connection with `random()`. Default 1 (every connection the predicate lets through).
   */
  sample?: number;
  /**
   * Only connections whose origin this returns `true` for use TFO (anything
   * else, or a throw, puts the connection in the control cohort). Runs once
   * per connection, synchronously, before `sample`. Default: every origin.
   */
  include?: RolloutPredicate;
  /**
   * The random numbers for `sample`, in [0, 1): a connection uses TFO when
   * `random() < sample`. Default `Math.random` (V8's xorshift128+, seeded
   * per isolate from the operating system's entropy: neither reproducible
   * nor cryptographic). Pass your own for deterministic cohorts in tests, or
   * e.g. a hash of a request id for sticky assignment.
   */
  random?: () => number;
}

/**
 * The `rollout` option: a fraction (`0.1` is `{ sample: 0.1 }`), a predicate
 * (`fn` is `{ include: fn }`), or both with an RNG as {@link RolloutOptions}.
 */
export type RolloutOption = number | RolloutPredicate | RolloutOptions;

/** A connection's cohort: `'tfo'` (TFO meant to be used) or `'control'` (plain TCP on purpose). */
export type Cohort = 'tfo' | 'control';

/** Why a connection is in the control cohort (`socket.fastOpen.reason`; the text before ' (' is the stats key). */
export const CONTROL_REASONS = Object.freeze({
  notSampled: 'rollout: not sampled',
  notIncluded: 'rollout: origin not included',
  includeThrew: 'rollout: include() threw',
  randomThrew: 'rollout: random() threw',
});

/**
 * @internal A validated rollout: immutable, shared by every connection made
 * with it (an agent's, a connector's, a socket's options).
 */
export class Rollout implements RolloutOptions {
  readonly sample: number;
  readonly include: RolloutPredicate | undefined;
  readonly random: () => number;
  /** `rollout: not sampled (sample 0.1)`: made once, not per connection. */
  readonly #notSampled: string;

  constructor(sample: number, include: RolloutPredicate | undefined, random: () => number) {
    this.sample = sample;
    this.include = include;
    this.random = random;
    this.#notSampled = `${CONTROL_REASONS.notSampled} (sample ${sample})`;
    Object.freeze(this);
  }

  /**
   * The cohort of one new connection to `host:port`: null for 'tfo', else
   * why it is in the control cohort. Never throws.
   */
  decide(host: string, port: number): string | null {
    const include = this.include;
    if (include !== undefined) {
      let ok: unknown;
      try {
        ok = include({ host, port });
      } catch {
        return CONTROL_REASONS.includeThrew;
      }
      if (ok !== true) return CONTROL_REASONS.notIncluded;
    }
    const sample = this.sample;
    if (sample >= 1) return null;
    if (sample <= 0) return this.#notSampled;
    let r: unknown;
    try {
      r = this.random();
    } catch {
      return CONTROL_REASONS.randomThrew;
    }
    return typeof r === 'number' && r < sample ? null : this.#notSampled;
  }
}

/**
 * @internal Validates a `rollout` option (`name` is how errors name it).
 * Null when every connection uses TFO (no option, or `sample: 1` with no
 * predicate); a {@link Rollout} is returned as it is.
 */
export function normalizeRollout(value: unknown, name = 'options.fastOpen.rollout'): Rollout | null {
  if (value === undefined) return null;
  if (value instanceof Rollout) return value;
  let sample: unknown = 1;
  let include: unknown;
  let random: unknown = Math.random;
  if (typeof value === 'number') sample = value;
  else if (typeof value === 'function') include = value;
  else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    validateObject(value, name);
    const o = value as RolloutOptions;
    if (o.sample !== undefined) sample = o.sample;
    include = o.include;
    if (o.random !== undefined) random = o.random;
  } else throw invalidArgType(name, ['number', 'Function', 'Object'], value);
  const sampleName = typeof value === 'number' ? name : `${name}.sample`;
  if (typeof sample !== 'number') throw invalidArgType(sampleName, 'number', sample);
  if (!(sample >= 0 && sample <= 1)) throw outOfRange(sampleName, '>= 0 && <= 1', sample);
  if (include !== undefined && typeof include !== 'function') throw invalidArgType(`${name}.include`, 'Function', include);
  if (typeof random !== 'function') throw invalidArgType(`${name}.random`, 'Function', random);
  if (sample === 1 && include === undefined) return null;
  return new Rollout(sample, include as RolloutPredicate | undefined, random as () => number);
}

/**
 * Decides the cohort of one new connection with a (validated) rollout:
 * `null` for the TFO cohort, else why the connection is control. For
 * integrations that open connections themselves (e.g. HTTP/2's
 * `createConnection`): most simply pass `fastOpen` on to `tfo.connect` /
 * `tfo.tls.connect`, which decide it.
 * @internal
 */
export function decideCohort(rollout: Rollout | null, host: string, port: number): string | null {
  return rollout === null ? null : rollout.decide(host, port);
}
