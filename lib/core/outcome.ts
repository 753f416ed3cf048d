// The TFO outcome of a connection, kept compact. A connection lives for long
// and may be one of tens of thousands; its outcome is read rarely. So each
// socket keeps small integers (V8 Smis, stored inline in the socket) and
// `socket.fastOpen` builds the documented plain object when it is read.
// Measured at 10k idle connections: an outcome object per socket cost
// ~110 B/conn on the client and ~60 B on the server, 4-6% of what a whole
// net.Socket costs (bench/README.md, memory scenario).
import { CLIENT_FAIL_BITS, clientFailCode, decodeClientFail, type FastOpenFailure } from '../system/tcpinfo';
import type { Cohort } from './rollout';

/** What TCP Fast Open did for one connection. */
export interface FastOpenInfo {
  /** Which end of the connection this socket is. */
  role: 'client' | 'server';
  /**
   * Client: TFO was on for the connect (a cookie was sent or requested).
   * Server: the listener had TFO enabled through tfo.
   */
  attempted: boolean;
  /**
   * The SYN carried data that the other end accepted (TCP_INFO
   * `TCPI_OPT_SYN_DATA`): on a client, the server acknowledged it; on a
   * server, it arrived in the SYN. This is the saved round trip.
   */
  synData: boolean;
  /** Client: `'sent'` the kernel had a cookie and used it, `'requested'` it asked for one, `'none'` no TFO. */
  cookie?: 'sent' | 'requested' | 'none';
  /** Client: bytes the kernel took into the SYN (0 when none; null when libuv wrote them, as for TLS). */
  synDataBytes?: number | null;
  /** Client: data was ready but the `synData` option (replay guard) kept it out of the SYN. */
  synDataWithheld?: boolean;
  /** Client: the kernel's reason TFO did not carry data (`tcpi_fastopen_client_fail`), or null. */
  failure?: FastOpenFailure | null;
  /**
   * Client: why TFO was not attempted (sysctl, option, platform, backoff); or, when it was attempted, an
   * option asked for that is not in effect (`noCookie` refused by the kernel). Null when all is as asked.
   */
  reason?: string | null;
  /** Smoothed RTT the kernel had measured when the connection was established, in milliseconds. */
  rttMs: number;
  /**
   * Client: the connection's cohort, decided when it was asked for (the
   * `rollout` option): `'tfo'`, TFO was meant to be used (every connection
   * without a rollout; `attempted` says whether it was); `'control'`, plain
   * TCP on purpose (outside the rollout's sample or host group, or
   * `fastOpen: false`), with `reason` saying which. Compare cohorts, not
   * `attempted`, for an A/B of TFO.
   */
  cohort?: Cohort;
}

// ---- client: one integer (flags + SYN data bytes), the RTT and the reason ----

/** The low bits of a client's packed word belong to the socket (its own state flags). */
const CLIENT_OWNER_BITS = 2;
const RECORDED = 1 << 2;
const ATTEMPTED = 1 << 3;
const SYN_DATA = 1 << 4;
const WITHHELD = 1 << 5;
const COOKIE_SHIFT = 6; // 2 bits
/**
 * The kernel's `tcpi_fastopen_client_fail` code itself (system/tcpinfo maps
 * it to and from tfo's names), in a field as wide as the kernel's bit-field:
 * both come from the addon, so no value of the kernel's enum is written here.
 */
const FAILURE_SHIFT = 8;
const FAILURE_MASK = (1 << CLIENT_FAIL_BITS) - 1;
/** The connection is in the rollout's control cohort. */
const CONTROL = 1 << (FAILURE_SHIFT + CLIENT_FAIL_BITS);
const BYTES_NULL = 1 << (FAILURE_SHIFT + CLIENT_FAIL_BITS + 1);
const BYTES_SHIFT = FAILURE_SHIFT + CLIENT_FAIL_BITS + 2;
/** SYN data is at most one segment (64 KiB on loopback); the bits left below bit 31 keep the word a Smi. */
const BYTES_MAX = 2 ** (31 - BYTES_SHIFT) - 1;

const COOKIES: readonly ('none' | 'sent' | 'requested')[] = ['none', 'sent', 'requested'];

/** Packs a client outcome (all but `rttMs` and `reason`) into the bits above the owner's. */
export function packClientOutcome(o: FastOpenInfo): number {
  let v = RECORDED;
  if (o.attempted) v |= ATTEMPTED;
  if (o.synData) v |= SYN_DATA;
  if (o.synDataWithheld) v |= WITHHELD;
  if (o.cohort === 'control') v |= CONTROL;
  v |= Math.max(0, COOKIES.indexOf(o.cookie ?? 'none')) << COOKIE_SHIFT;
  v |= (clientFailCode(o.failure) & FAILURE_MASK) << FAILURE_SHIFT;
  const bytes = o.synDataBytes;
  if (bytes === null || bytes === undefined) v |= BYTES_NULL;
  else v |= Math.min(Math.max(0, bytes), BYTES_MAX) << BYTES_SHIFT;
  return v;
}

/** SYN data bytes of a packed outcome (0 when none or null). */
export function packedSynDataBytes(v: number): number {
  return (v & RECORDED) === 0 || (v & BYTES_NULL) !== 0 ? 0 : v >>> BYTES_SHIFT;
}

/** A packed word without its outcome (the owner's bits kept). */
export function clearClientOutcome(v: number): number {
  return v & ((1 << CLIENT_OWNER_BITS) - 1);
}

/** The documented object, built fresh from a packed word. */
export function unpackClientOutcome(v: number, rttUs: number, reason: string | null): FastOpenInfo | null {
  if ((v & RECORDED) === 0) return null;
  return {
    role: 'client',
    attempted: (v & ATTEMPTED) !== 0,
    synData: (v & SYN_DATA) !== 0,
    cookie: COOKIES[(v >>> COOKIE_SHIFT) & 3] ?? 'none',
    synDataBytes: (v & BYTES_NULL) !== 0 ? null : v >>> BYTES_SHIFT,
    synDataWithheld: (v & WITHHELD) !== 0,
    failure: decodeClientFail((v >>> FAILURE_SHIFT) & FAILURE_MASK),
    reason,
    rttMs: rttUs / 1000,
    cohort: (v & CONTROL) !== 0 ? 'control' : 'tfo',
  };
}

/**
 * The time-to-first-byte series of a packed client outcome (observe/ttfb:
 * `(control ? 2 : 0) | (synData ? 1 : 0)`), or -1 before the outcome is recorded.
 */
export function ttfbSeriesOf(v: number): number {
  if ((v & RECORDED) === 0) return -1;
  return ((v & CONTROL) !== 0 ? 2 : 0) | ((v & SYN_DATA) !== 0 ? 1 : 0);
}

// ---- server: one integer (RTT in µs, attempted, SYN data) ----

/** RTTs above this (~537 s) are clamped so the word stays a Smi. */
const RTT_US_MAX = (1 << 29) - 1;

/** Packs an accepted connection's outcome. */
export function packServerOutcome(attempted: boolean, synData: boolean, rttUs: number): number {
  const rtt = Math.min(Math.max(0, Math.round(rttUs)), RTT_US_MAX);
  return rtt * 4 + (attempted ? 2 : 0) + (synData ? 1 : 0);
}

/** The documented object, built fresh from a packed server word. */
export function unpackServerOutcome(v: number): FastOpenInfo {
  return { role: 'server', attempted: (v & 2) !== 0, synData: (v & 1) !== 0, rttMs: Math.floor(v / 4) / 1000 };
}
