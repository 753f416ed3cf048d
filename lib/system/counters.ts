// The kernel's TCP Fast Open counters (TcpExt section of /proc/net/netstat),
// as typed snapshots and differences. A "system" module: it reads one file and
// knows nothing of sockets.
import * as fs from 'node:fs';
import { errnoException, invalidArgType, tfoError, validateObject, type SystemError } from '../base/errors';

const NETSTAT = '/proc/net/netstat';

/**
 * The TFO counters by tfo's name → the kernel's name in the `TcpExt` section
 * of /proc/net/netstat (the names `nstat` shows). Meanings from the kernel
 * sources (net/ipv4/tcp_fastopen.c) and Documentation/networking/snmp_counter.rst:
 *
 * - `active` — TCPFastOpenActive: a client's SYN data was acknowledged.
 * - `activeFail` — TCPFastOpenActiveFail: a client's SYN data was not acknowledged, its SYN timed out, or blackhole detection stopped TFO.
 * - `passive` — TCPFastOpenPassive: a listener accepted a TFO request (data in the SYN with a valid cookie, or no cookie needed).
 * - `passiveFail` — TCPFastOpenPassiveFail: a TFO request was refused (bad cookie) or its child socket could not be made.
 * - `listenOverflow` — TCPFastOpenListenOverflow: a listener's TFO queue (`TCP_FASTOPEN` length) was full.
 * - `cookieReqd` — TCPFastOpenCookieReqd: a listener received a SYN asking for a cookie.
 * - `blackhole` — TCPFastOpenBlackhole: active TFO was disabled after suspected SYN-data drops.
 * - `passiveAltKey` — TCPFastOpenPassiveAltKey: a cookie was accepted by the backup key.
 */
export const COUNTER_NAMES = Object.freeze({
  active: 'TCPFastOpenActive',
  activeFail: 'TCPFastOpenActiveFail',
  passive: 'TCPFastOpenPassive',
  passiveFail: 'TCPFastOpenPassiveFail',
  listenOverflow: 'TCPFastOpenListenOverflow',
  cookieReqd: 'TCPFastOpenCookieReqd',
  blackhole: 'TCPFastOpenBlackhole',
  passiveAltKey: 'TCPFastOpenPassiveAltKey',
} as const);

/** One of tfo's counter names (a key of {@link COUNTER_NAMES}). */
export type CounterName = keyof typeof COUNTER_NAMES;

const KEYS = Object.keys(COUNTER_NAMES) as CounterName[];

/**
 * A snapshot of the TFO counters of one network namespace. Each counter is a
 * count since the namespace was created (for the host: since boot), or `null`
 * when this kernel does not have it (TCPFastOpenPassiveAltKey came later than
 * the others, with backup keys) — never a made-up 0.
 */
export type FastOpenCounters = { [K in CounterName]: number | null } & {
  /** When the snapshot was taken: milliseconds since the epoch (`Date.now()`). */
  at: number;
};

/**
 * The change between two snapshots: each counter is `after - before`, or `null`
 * when either snapshot lacks it. `at` is the later snapshot's time.
 */
export type FastOpenCountersDiff = FastOpenCounters & {
  /** Milliseconds between the two snapshots (`after.at - before.at`). */
  intervalMs: number;
};

/**
 * Extracts the TFO counters from the text of /proc/net/netstat. Pure: for
 * tests, and for text read from elsewhere (another namespace's
 * /proc/<pid>/net/netstat, a saved file).
 *
 * The file holds pairs of lines per section: `TcpExt: name name ...`, then
 * `TcpExt: value value ...`. Sections and counters may come in any order and
 * other sections are ignored; a counter absent from the text is `null`.
 *
 * @param text - The file's content.
 * @param at - The snapshot's time (default: `Date.now()`).
 * @throws `ERR_INVALID_ARG_TYPE` if `text` is not a string; a `TFO_NETSTAT_UNPARSABLE`
 * error if the TcpExt lines do not pair up into names and unsigned integers.
 */
export function parseNetstat(text: string, at: number = Date.now()): FastOpenCounters {
  if (typeof text !== 'string') throw invalidArgType('text', 'string', text);
  const tcpExt = new Map<string, number>();
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  for (let i = 0; i < lines.length; i++) {
    const names = lines[i].trim().split(/\s+/);
    if (names[0] !== 'TcpExt:') continue;
    const values = (lines[i + 1] ?? '').trim().split(/\s+/);
    if (values[0] !== 'TcpExt:' || values.length !== names.length || !values.slice(1).every((v) => /^\d+$/.test(v)))
      throw tfoError('TFO_NETSTAT_UNPARSABLE', 'the TcpExt lines of /proc/net/netstat do not pair names with values', {
        path: NETSTAT,
      });
    for (let j = 1; j < names.length; j++) tcpExt.set(names[j], Number(values[j]));
    i++; // the value line is consumed
  }
  const snapshot = { at } as FastOpenCounters;
  for (const k of KEYS) snapshot[k] = tcpExt.get(COUNTER_NAMES[k]) ?? null;
  return snapshot;
}

/**
 * A snapshot of the TFO counters of the current network namespace, from
 * /proc/net/netstat (section TcpExt). Counters are per network namespace: a
 * process in a container sees the container's counts, not the host's.
 * Missing counters (older kernels) are `null`.
 *
 * @example
 * const before = tfo.counters();
 * // ... traffic ...
 * const d = tfo.diffCounters(before, tfo.counters()); // d.active, d.cookieReqd, d.intervalMs
 * @throws A system error (`code`, negative `errno`, `syscall`, `path`) when the
 * file cannot be read (`ENOENT`: not Linux).
 */
export function counters(): FastOpenCounters {
  let text: string;
  try {
    text = fs.readFileSync(NETSTAT, 'latin1');
  } catch (cause) {
    const e = cause as NodeJS.ErrnoException;
    if (typeof e?.errno !== 'number') throw cause;
    const why = e.code === 'ENOENT' ? 'no TCP counters here (not Linux?)' : 'cannot read the TCP counters';
    const err: SystemError = errnoException(e.errno, e.syscall ?? 'open', `${NETSTAT}: ${why}`);
    err.path = NETSTAT;
    throw err;
  }
  return parseNetstat(text);
}

/**
 * The per-counter difference `after - before` between two snapshots from
 * {@link counters}, with the interval between them. A counter missing from
 * either snapshot is `null`.
 *
 * @throws `ERR_INVALID_ARG_TYPE` unless both arguments are snapshot objects.
 */
export function diffCounters(before: FastOpenCounters, after: FastOpenCounters): FastOpenCountersDiff {
  validateObject(before, 'before');
  validateObject(after, 'after');
  if (typeof before.at !== 'number') throw invalidArgType('before.at', 'number', before.at);
  if (typeof after.at !== 'number') throw invalidArgType('after.at', 'number', after.at);
  const diff = { at: after.at, intervalMs: after.at - before.at } as FastOpenCountersDiff;
  for (const k of KEYS) {
    const a = before[k];
    const b = after[k];
    diff[k] = typeof a === 'number' && typeof b === 'number' ? b - a : null;
  }
  return diff;
}
