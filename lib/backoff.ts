// Per-destination TFO backoff. Kernel 6.18 keeps sending SYN data to a path
// that drops it (every such connection waits for the 1 s SYN retransmission;
// see TFO-FACTS.md). When a connection reports that its SYN was
// retransmitted, tfo stops attempting TFO to that destination for a while,
// doubling the pause on each repeat up to a bound, and forgets the penalty
// after a connection whose SYN data was acknowledged.
import { validateBoolean, validateInteger, validateObject } from './errors';
import type { FastOpenInfo } from './socket';

/** Backoff settings (all durations in milliseconds). */
export interface BackoffOptions {
  /** Turn the per-destination backoff on or off. Default true. */
  enabled?: boolean;
  /** First pause after a failure. Default 60 000 (1 min). */
  initialMs?: number;
  /** Longest pause. Default 3 600 000 (1 h). */
  maxMs?: number;
  /** Destinations remembered at most (oldest forgotten first). Default 4096. */
  maxEntries?: number;
}

/** One destination currently paused. */
export interface BackoffEntry {
  destination: string;
  /** Epoch ms until which TFO is not attempted. */
  until: number;
  /** Consecutive failures that led here. */
  failures: number;
  /** The failure that set the pause. */
  cause: string;
}

interface State {
  until: number;
  failures: number;
  notAcked: number;
  cause: string;
}

class Backoff {
  enabled = true;
  initialMs = 60_000;
  maxMs = 3_600_000;
  maxEntries = 4096;
  readonly #map = new Map<string, State>();

  configure(options: BackoffOptions): void {
    validateObject(options, 'options');
    const { enabled, initialMs, maxMs, maxEntries } = options;
    if (enabled !== undefined) validateBoolean(enabled, 'options.enabled');
    if (initialMs !== undefined) validateInteger(initialMs, 'options.initialMs', 0, 2 ** 31 - 1);
    if (maxMs !== undefined) validateInteger(maxMs, 'options.maxMs', 0, 2 ** 31 - 1);
    if (maxEntries !== undefined) validateInteger(maxEntries, 'options.maxEntries', 1, 2 ** 31 - 1);
    if (enabled !== undefined) this.enabled = enabled;
    if (initialMs !== undefined) this.initialMs = initialMs;
    if (maxMs !== undefined) this.maxMs = maxMs;
    if (maxEntries !== undefined) this.maxEntries = maxEntries;
  }

  /** Null when TFO may be attempted to address:port, else the reason it is paused. */
  blockedReason(address: string, port: number, now = Date.now()): string | null {
    if (!this.enabled || this.#map.size === 0) return null;
    const s = this.#map.get(`${address}|${port}`);
    if (!s || s.until <= now) return null;
    return `backoff: TFO to ${address}:${port} paused for ${Math.ceil((s.until - now) / 1000)} s after ${s.cause}`;
  }

  /** Learns from a finished connect. */
  report(address: string, port: number, info: FastOpenInfo, now = Date.now()): void {
    if (!this.enabled || !info.attempted) return;
    const key = `${address}|${port}`;
    if (info.synData) {
      this.#map.delete(key);
      return;
    }
    const s = this.#map.get(key) ?? { until: 0, failures: 0, notAcked: 0, cause: '' };
    let cause: string | null = null;
    if (info.failure === 'syn-retransmitted') {
      cause = 'a retransmitted SYN (the path may drop SYNs that carry data)';
    } else if (info.failure === 'data-not-acked' && info.cookie === 'sent') {
      // Once is normal (server key rotated, server lost TFO); twice in a row is a pattern.
      s.notAcked++;
      if (s.notAcked >= 2) cause = 'SYN data not acknowledged twice in a row';
    }
    if (!cause) {
      if (s.notAcked > 0) this.#set(key, s);
      return;
    }
    s.failures++;
    s.notAcked = 0;
    s.cause = cause;
    s.until = now + Math.min(this.maxMs, this.initialMs * 2 ** Math.min(s.failures - 1, 30));
    this.#set(key, s);
  }

  #set(key: string, s: State): void {
    this.#map.delete(key);
    this.#map.set(key, s);
    while (this.#map.size > this.maxEntries) {
      const oldest = this.#map.keys().next().value as string;
      this.#map.delete(oldest);
    }
  }

  entries(now = Date.now()): BackoffEntry[] {
    const out: BackoffEntry[] = [];
    for (const [k, s] of this.#map) {
      if (s.until > now) out.push({ destination: k.replace('|', ':'), until: s.until, failures: s.failures, cause: s.cause });
    }
    return out;
  }

  clear(): void {
    this.#map.clear();
  }
}

/** @internal the process-wide backoff table. */
export const backoff = new Backoff();

/** Configures the per-destination TFO backoff. */
export function configureBackoff(options: BackoffOptions): void {
  backoff.configure(options);
}

/** Destinations to which TFO is currently paused. */
export function backoffEntries(): BackoffEntry[] {
  return backoff.entries();
}

/** Forgets every paused destination. */
export function clearBackoff(): void {
  backoff.clear();
}
