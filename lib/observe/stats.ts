// The library's own per-process counts of what TFO did, as opposed to the
// kernel's per-namespace counters (lib/counters.ts). Cheap increments only.
//
// Client counts are kept per cohort (lib/core/rollout.ts): 'tfo' (TFO meant
// to be used: every connection when there is no rollout) and 'control' (plain
// TCP on purpose: outside a rollout's sample or host group, or
// `fastOpen: false`). The client totals are their sums.
import type { FastOpenFailure } from '../system/tcpinfo';
import { resetTtfb, ttfbSummary, type TtfbSummary } from './ttfb';

export type { TtfbSummary } from './ttfb';

/** Counts of client connections (all of them, or one cohort's). */
export interface ClientCounts {
  /**
   * Connections asked for: `connect()` calls of tfo sockets,
   * `tfo.tls.connect()` calls and `tfo.http2.connect()` sessions (TCP, not
   * IPC), whatever became of them. The denominator of the error rate.
   */
  requested: number;
  /** Connections established by tfo sockets (TCP, not IPC). */
  connections: number;
  /**
   * Connections that ended with an error before their first byte was read
   * (refused, reset, timed out, unreachable, a DNS failure, or destroyed
   * with an error by the application), by the error's `code` (`'unknown'`
   * without one). `errors / requested` is the error rate to compare between cohorts.
   */
  errors: Record<string, number>;
  /** Of those, connections opened with TFO on (cookie sent or requested). */
  attempted: number;
  /** The kernel had a cookie and the SYN carried it (with or without data). */
  cookieSent: number;
  /** No cookie yet: the SYN asked the server for one (normal handshake). */
  cookieRequested: number;
  /** The server acknowledged data carried in the SYN: one round trip saved. */
  synDataAcked: number;
  /** Kernel-reported reasons TFO did not carry data (tcpi_fastopen_client_fail). */
  failures: Record<FastOpenFailure, number>;
  /**
   * Connections made without TFO, by reason: in the 'tfo' cohort what kept
   * TFO off (sysctl, no addon, backoff), in the 'control' cohort why the
   * connection is control (`rollout: not sampled`, `rollout: origin not
   * included`, `rollout: include() threw`, `disabled by the fastOpen: false option`).
   */
  notAttempted: Record<string, number>;
}

/** One cohort's counts and its time to first byte. */
export interface CohortStats extends ClientCounts {
  /**
   * Time to first byte, in milliseconds, by whether the server acknowledged
   * data in the connection's SYN (`synData`: the saved round trip) or not
   * (`noSynData`: first contact, no TFO, control). From `connect()` (for the
   * agents: from when the agent asks for the connection) to the first byte
   * read: for TCP the first byte of the response, for TLS the first byte of
   * application data after the handshake (HTTP/2 sessions have no sample:
   * Node's session reads the socket natively). p50/p90 from a sketch within 0.5%.
   * `all` is both together: the cohort's own figure, for an A/B.
   */
  ttfbMs: { all: TtfbSummary; synData: TtfbSummary; noSynData: TtfbSummary };
}

/** Per-process counts of TFO outcomes, for clients and servers. */
export interface FastOpenStats {
  client: ClientCounts & {
    /** The same counts per cohort ('tfo' + 'control' = the totals above), with time to first byte. */
    cohorts: { tfo: CohortStats; control: CohortStats };
  };
  server: {
    /** Connections accepted by servers with TFO enabled through tfo. */
    accepted: number;
    /** Of those, connections whose SYN carried data the server accepted. */
    synData: number;
    /**
     * The time the SYN data saved: each such request arrived one round trip
     * earlier than it would have without TFO. One RTT per connection, read
     * once after its first read (see README, "time saved").
     */
    timeSaved: {
      /** Sum of the per-connection estimates, in seconds. */
      seconds: number;
      /** Connections with an estimate (`seconds / connections`: the mean saving per connection). */
      connections: number;
      /** Where the estimates came from: the connection's own RTT (TCP_INFO), or the kernel's cached RTT for the client (tcp_metrics). */
      bySource: { tcpInfo: number; tcpMetrics: number };
      /** SYN-data connections for which no RTT was known (closed before, and no cached RTT). */
      unestimated: number;
    };
  };
}

/** @internal Index of a cohort in `live.cohorts` (and bit 1 of a TTFB series). */
export const TFO_COHORT = 0;
/** @internal */
export const CONTROL_COHORT = 1;

function freshCounts(): ClientCounts {
  return {
    requested: 0,
    connections: 0,
    errors: {},
    attempted: 0,
    cookieSent: 0,
    cookieRequested: 0,
    synDataAcked: 0,
    failures: { 'cookie-unavailable': 0, 'data-not-acked': 0, 'syn-retransmitted': 0 },
    notAttempted: {},
  };
}

function freshServer(): FastOpenStats['server'] {
  return {
    accepted: 0,
    synData: 0,
    timeSaved: { seconds: 0, connections: 0, bySource: { tcpInfo: 0, tcpMetrics: 0 }, unestimated: 0 },
  };
}

/** @internal The live counts; core code increments them. */
export const live: { cohorts: [ClientCounts, ClientCounts]; server: FastOpenStats['server'] } = {
  cohorts: [freshCounts(), freshCounts()],
  server: freshServer(),
};

function merge(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

function sum(a: ClientCounts, b: ClientCounts): ClientCounts {
  const failures = { ...a.failures };
  for (const k of Object.keys(failures) as FastOpenFailure[]) failures[k] += b.failures[k];
  return {
    requested: a.requested + b.requested,
    connections: a.connections + b.connections,
    errors: merge(a.errors, b.errors),
    attempted: a.attempted + b.attempted,
    cookieSent: a.cookieSent + b.cookieSent,
    cookieRequested: a.cookieRequested + b.cookieRequested,
    synDataAcked: a.synDataAcked + b.synDataAcked,
    failures,
    notAttempted: merge(a.notAttempted, b.notAttempted),
  };
}

function cohort(index: number): CohortStats {
  const c = structuredClone(live.cohorts[index]);
  const base = index === CONTROL_COHORT ? 2 : 0;
  return { ...c, ttfbMs: { all: ttfbSummary(base | 1, base), synData: ttfbSummary(base | 1), noSynData: ttfbSummary(base) } };
}

/** Work that must be counted before the counts are read (core/saved: estimates still waiting for their timer). */
let beforeRead: (() => void) | null = null;

/** @internal Registers the work to run before every read or reset of the counts. */
export function onStatsRead(fn: () => void): void {
  beforeRead = fn;
}

/** A copy of this process's TFO counts since start (or the last `resetStats()`). */
export function stats(): FastOpenStats {
  beforeRead?.();
  const [t, c] = live.cohorts;
  return {
    client: { ...sum(t, c), cohorts: { tfo: cohort(TFO_COHORT), control: cohort(CONTROL_COHORT) } },
    server: structuredClone(live.server),
  };
}

/** Sets this process's TFO counts (and time-to-first-byte observations) back to zero. */
export function resetStats(): void {
  beforeRead?.(); // what happened before the reset is counted before it
  live.cohorts = [freshCounts(), freshCounts()];
  live.server = freshServer();
  resetTtfb();
}
