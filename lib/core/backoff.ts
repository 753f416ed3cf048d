// Per-destination TFO backoff. Kernel 6.18 keeps sending SYN data to a path
// that drops it, and every such connection waits for the 1 s SYN
// retransmission: tcp_fastopen_cookie_check() (net/ipv4/tcp_fastopen.c) has
// no per-destination pause any more (old kernels skipped the cookie after
// repeated "FO SYN losses"), only the namespace-wide blackhole detector, which
// is off by default (net.ipv4.tcp_fastopen_blackhole_timeout_sec = 0) and
// would not fire here anyway (the plain retransmitted SYN gets through). The
// kernel records the loss (tcp_metrics fo_syn_drops) and keeps the cookie:
// test/cookies.test.js ('SYN drops') and test/fallback-matrix.test.js (case 4)
// show it on the emulated WAN.
//
// When two connections in a row to the same address:port report that their
// SYN was retransmitted, tfo stops attempting TFO to that destination for a
// while; once paused, a single retransmitted SYN after the pause pauses it
// again, doubling the pause up to a bound. A connection whose SYN data was
// acknowledged forgets it all.
//
// Why two and not one: on a lossy path (mobile, 1-3% random loss) about one
// TFO connection in 100 loses its SYN by chance, and then costs exactly what a
// plain connection that loses its SYN costs (measured: bench, firstsyn row).
// Pausing on one would turn TFO off for minutes after each such accident
// (measured at 1% loss: most connections of a busy client went without TFO).
// Two in a row by chance happens to ~P² of connections (1 in 10,000 at 1%,
// 1 in 1,100 at 3%); on a path that drops every SYN carrying data it costs one
// more slow connection before the first pause (the kernel's own TFO client
// used the same "more than one SYN loss in a row" rule before it was removed).
//
// SYN data that is not acknowledged pauses TFO only when it happens twice in a
// row to the same address:port: once is normal after a server key rotation
// (the SYN-ACK brings a fresh cookie). It also shows that SYN data gets
// through, so it ends a run of retransmitted SYNs.
//
// Only news counts. Connections already under way when a destination is
// paused (a burst of parallel requests all started with TFO on) report the
// same failure one after another; those reports neither escalate the pause
// nor count as "in a row". Without that, a burst of N parallel connections
// over a bad path would double the pause N times at once (straight to maxMs).
import { outOfRange, validateBoolean, validateInteger, validateObject } from '../base/errors';
import { backoffCounted, backoffEnded, backoffForgotten, backoffStarted, type BackoffEndReason } from './diagnostics';
import type { FastOpenInfo } from './outcome';

/** Backoff settings (all durations in milliseconds). */
export interface BackoffOptions {
  /** Turn the per-destination backoff on or off. Default true. */
  enabled?: boolean;
  /** First pause after a failure, at least 1. Default 60 000 (1 min). */
  initialMs?: number;
  /** Longest pause, at least `initialMs`. Default 3 600 000 (1 h). */
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
  /** `addr:port` as shown to users. */
  destination: string;
  address: string;
  port: number;
  until: number;
  failures: number;
  notAcked: number;
  /** Retransmitted SYNs in a row (no success, no other failure in between) not yet acted on. */
  retransmitted: number;
  cause: string;
  /** When the current pause was set (0: never). */
  pausedAt: number;
  /** When the last not-acknowledged report was counted (0: none). */
  notAckedAt: number;
  /** A pause was set and its end not yet published (./diagnostics: every start has one end). */
  open: boolean;
  /** When the last retransmitted-SYN report was counted (0: none). */
  retransmittedAt: number;
}

/** `addr:port`, with IPv6 addresses in brackets as in URLs. */
function formatDestination(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
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
    // A pause of 0 ms, or a bound below the first pause, would quietly turn the
    // backoff off or make every pause maxMs: `enabled: false` is the switch.
    if (initialMs !== undefined) validateInteger(initialMs, 'options.initialMs', 1, 2 ** 31 - 1);
    if (maxMs !== undefined) validateInteger(maxMs, 'options.maxMs', 1, 2 ** 31 - 1);
    if (maxEntries !== undefined) validateInteger(maxEntries, 'options.maxEntries', 1, 2 ** 31 - 1);
    const first = initialMs ?? this.initialMs;
    const bound = maxMs ?? this.maxMs;
    if (bound < first)
      throw maxMs !== undefined
        ? outOfRange('options.maxMs', `>= options.initialMs (${first})`, bound)
        : outOfRange('options.initialMs', `<= options.maxMs (${bound})`, first);
    const was = this.enabled;
    if (enabled !== undefined) this.enabled = enabled;
    if (initialMs !== undefined) this.initialMs = initialMs;
    if (maxMs !== undefined) this.maxMs = maxMs;
    if (maxEntries !== undefined) this.maxEntries = maxEntries;
    this.#trim();
    if (was !== this.enabled) this.#switched(Date.now());
  }

  /** Off: every pause ends ('disabled'); on again: the pauses still running start again. */
  #switched(now: number): void {
    for (const s of this.#map.values()) {
      if (!this.enabled && s.open) this.#close(s, 'disabled', now);
      else if (this.enabled && s.until > now) {
        s.open = true;
        backoffStarted(s, now);
      }
    }
  }

  /** A pause is over: published once (as 'expired' when it had run out anyway). */
  #close(s: State, reason: BackoffEndReason, now: number): void {
    s.open = false;
    backoffEnded(s, s.until <= now ? 'expired' : reason);
  }

  /** Null when TFO may be attempted to address:port, else the reason it is paused. */
  blockedReason(address: string, port: number, at?: number): string | null {
    // Before every client connect, on its cold path: nothing more than this test when no destination is known.
    if (!this.enabled || this.#map.size === 0) return null;
    const s = this.#map.get(`${address}|${port}`);
    if (!s) return null;
    const now = at ?? Date.now();
    if (s.until <= now) {
      if (s.open) this.#close(s, 'expired', now);
      return null;
    }
    return `backoff: TFO to ${formatDestination(address, port)} paused for ${Math.ceil((s.until - now) / 1000)} s after ${s.cause}`;
  }

  /**
   * Learns from a finished connect. `startedAt` is when that connection's
   * attempt began (default `now`): a connection started before the last
   * report about this destination carries no news (it was part of the same
   * burst) and neither escalates the pause nor counts as a repeat.
   */
  report(address: string, port: number, info: FastOpenInfo, now = Date.now(), startedAt = now): void {
    if (!this.enabled || !info.attempted) return;
    const key = `${address}|${port}`;
    if (info.synData) {
      const known = this.#map.size === 0 ? undefined : this.#map.get(key);
      if (known) {
        this.#map.delete(key);
        if (known.open) this.#close(known, 'recovered', now);
        else backoffForgotten(known);
      }
      return;
    }
    const retransmitted = info.failure === 'syn-retransmitted';
    const notAcked = info.failure === 'data-not-acked' && info.cookie === 'sent';
    if (!retransmitted && !notAcked) return;
    const s = this.#map.get(key) ?? {
      destination: formatDestination(address, port),
      address,
      port,
      until: 0,
      failures: 0,
      notAcked: 0,
      retransmitted: 0,
      cause: '',
      pausedAt: 0,
      notAckedAt: 0,
      open: false,
      retransmittedAt: 0,
    };
    // Already paused, or started before the pause was set: the same failure seen again.
    if (s.until > now || startedAt < s.pausedAt) return;
    let cause: string | null = null;
    if (retransmitted) {
      if (s.failures > 0) {
        // Paused before, and no success since: the path is still bad.
        cause = 'a retransmitted SYN again (the path may drop SYNs that carry data)';
      } else {
        // Once happens on any lossy path; twice in a row is a pattern.
        // A connection started before the previous one reported is not "in a row".
        if (s.retransmitted > 0 && startedAt < s.retransmittedAt) return;
        s.retransmitted++;
        s.retransmittedAt = now;
        if (s.retransmitted >= 2) cause = 'two retransmitted SYNs in a row (the path may drop SYNs that carry data)';
      }
    } else {
      // Once is normal (server key rotated, server lost TFO); twice in a row is a pattern.
      // A connection started before the previous one reported is not "in a row".
      if (s.notAcked > 0 && startedAt < s.notAckedAt) return;
      s.notAcked++;
      s.notAckedAt = now;
      s.retransmitted = 0; // its SYN data got through: not a run of dropped SYNs
      s.retransmittedAt = 0;
      if (s.notAcked >= 2) cause = 'SYN data not acknowledged twice in a row';
    }
    if (!cause) {
      this.#set(key, s, now);
      if (retransmitted) backoffCounted(s, 'syn-retransmitted', s.retransmitted, 2);
      else backoffCounted(s, 'data-not-acked', s.notAcked, 2);
      return;
    }
    if (s.open) this.#close(s, 'expired', now);
    s.failures++;
    s.notAcked = 0;
    s.notAckedAt = 0;
    s.retransmitted = 0;
    s.retransmittedAt = 0;
    s.cause = cause;
    s.pausedAt = now;
    s.until = now + Math.min(this.maxMs, this.initialMs * 2 ** Math.min(s.failures - 1, 30));
    s.open = true;
    this.#set(key, s, now);
    backoffStarted(s, now);
  }

  #set(key: string, s: State, now: number): void {
    this.#map.delete(key);
    this.#map.set(key, s);
    this.#trim(now);
  }

  #trim(now = Date.now()): void {
    while (this.#map.size > this.maxEntries) {
      const [oldest, s] = this.#map.entries().next().value as [string, State];
      this.#map.delete(oldest);
      if (s.open) this.#close(s, 'evicted', now);
    }
  }

  entries(now = Date.now()): BackoffEntry[] {
    const out: BackoffEntry[] = [];
    if (!this.enabled) return out; // nothing is paused while the backoff is off
    for (const s of this.#map.values()) {
      if (s.until > now) out.push({ destination: s.destination, until: s.until, failures: s.failures, cause: s.cause });
    }
    return out;
  }

  clear(): void {
    const now = Date.now();
    for (const s of this.#map.values()) if (s.open) this.#close(s, 'cleared', now);
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
