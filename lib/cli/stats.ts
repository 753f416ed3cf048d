// `tfo stats`: the network namespace's TCP Fast Open counters (TcpExt in
// /proc/net/netstat), once as a table, or with --watch as per-interval deltas;
// with --metrics URL, a running service's cohorts side by side (./cohorts).
import { parseArgs } from 'node:util';

import * as tfo from '../index';
import { diffSnapshots, formatCohorts, scrape, snapshotJson, type Snapshot } from './cohorts';
import { bold, CliError, dim, green, integerOption, printJson, table } from './output';

export const statsHelp = `Usage: tfo stats [--watch SECONDS [--count N]] [--json]
       tfo stats --metrics URL [--prefix PREFIX] [--watch SECONDS [--count N]] [--json]

Prints this network namespace's TCP Fast Open counters (the kernel's TcpExt
counters, as \`nstat -az | grep FastOpen\` shows them) as a table. Counters
are per network namespace: in a container you see the container's.

With --watch, prints every SECONDS a row of the changes during that interval,
until Ctrl-C or, with --count, after N intervals. With --json, one JSON
object (a snapshot); with --watch, one JSON object per line (NDJSON) per
interval: the changes, with "at" (ms since the epoch) and "intervalMs".

With --metrics URL, reads a running service's Prometheus endpoint (what
tfo.metricsText() or tfo.registerPromClient() serves there) and shows its
connections per cohort side by side, for a staged rollout (the fastOpen
rollout option): 'tfo' (TFO meant to be used) and 'control' (plain TCP on
purpose). Per cohort: connections requested and their share, errors before
the first byte (the error rate), TFO attempts, SYN data acknowledged (the
early-data hit rate), time to first byte (p50, p90, mean, from the
histogram), why connections did not use TFO; then the server's time saved.
Once: the totals since the service started (or reset its stats); with
--watch, the same for each interval (what changed), so a rollout can be
watched as it widens.

Options:
  --watch SECONDS  print per-interval changes every SECONDS (e.g. 1, 0.5)
  --count N        stop after N intervals (with --watch)
  --metrics URL    an http(s) URL serving tfo's metrics (Prometheus text format)
  --prefix PREFIX  the metric name prefix the service uses (default tfo_)
  --json           machine-readable output
  -h, --help       this help`;

const MEANING: Record<tfo.CounterName, string> = {
  active: 'client SYN data acknowledged (a round trip saved)',
  activeFail: 'client SYN data not acknowledged, SYN timed out, or blackhole',
  passive: 'server accepted a TFO request (data in the SYN)',
  passiveFail: 'server refused a TFO request (bad cookie) or child failed',
  listenOverflow: "a listener's TFO queue was full",
  cookieReqd: 'server received a SYN asking for a cookie',
  blackhole: 'client TFO disabled after suspected SYN-data drops',
  passiveAltKey: 'cookie validated with the backup key',
};

const NAMES = Object.keys(tfo.COUNTER_NAMES) as tfo.CounterName[];

const show = (n: number | null) => (n === null ? 'n/a' : String(n));

function snapshotTable(c: tfo.FastOpenCounters): string {
  return table(
    ['counter', 'kernel name (TcpExt)', 'value', 'meaning'],
    NAMES.map((k) => [k, tfo.COUNTER_NAMES[k], show(c[k]), MEANING[k]]),
  );
}

function clock(at: number): string {
  return new Date(at).toTimeString().slice(0, 8);
}

/** Seconds between rows: a decimal number from 0.01 (10 ms) to one day. */
function parseSeconds(text: string): number {
  const n = /^(\d+(\.\d*)?|\.\d+)$/.test(text) ? Number(text) : NaN;
  if (!(n >= 0.01 && n <= 86400)) throw new CliError(`--watch must be a number of seconds from 0.01 to 86400, not '${text}'`, 2);
  return n;
}

export async function statsCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      watch: { type: 'string' },
      count: { type: 'string' },
      metrics: { type: 'string' },
      prefix: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${statsHelp}\n`);
    return 0;
  }
  if (values.count !== undefined && values.watch === undefined) throw new CliError('--count needs --watch', 2);
  const seconds = values.watch === undefined ? null : parseSeconds(values.watch);
  const count = values.count === undefined ? null : integerOption('count', values.count, 1, 2 ** 31 - 1);
  if (values.prefix !== undefined && values.metrics === undefined) throw new CliError('--prefix needs --metrics', 2);
  if (values.metrics !== undefined) return metricsCommand(values.metrics, values.prefix ?? 'tfo_', seconds, count, values.json === true);

  let first: tfo.FastOpenCounters;
  try {
    first = tfo.counters();
  } catch (e) {
    throw new CliError((e as Error).message, 1);
  }
  if (seconds === null) {
    if (values.json) printJson(first);
    else
      process.stdout.write(
        `${bold('TCP Fast Open counters')}${dim(` of this network namespace, ${new Date(first.at).toISOString()}`)}\n\n${snapshotTable(first)}\n`,
      );
    return 0;
  }

  // --watch: one row (or NDJSON line) of deltas per interval, on a steady beat.
  const header = ['time', ...NAMES];
  const widths = header.map((h) => Math.max(h.length, 8));
  const row = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  if (!values.json) {
    process.stdout.write(
      `${bold('TCP Fast Open counters')}${dim(`: change every ${seconds} s in this network namespace${count === null ? ' (Ctrl-C to stop)' : ''}`)}\n`,
    );
    process.stdout.write(`${bold(row(header))}\n`);
  }

  let interrupted = false;
  let wake: (() => void) | null = null;
  let timer: NodeJS.Timeout | null = null;
  const onSigint = () => {
    interrupted = true;
    if (timer) clearTimeout(timer);
    wake?.();
  };
  process.on('SIGINT', onSigint);
  try {
    let before = first;
    const start = Date.now();
    for (let n = 1; count === null || n <= count; n++) {
      const due = start + n * seconds * 1000;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, Math.max(0, due - Date.now()));
      });
      wake = null;
      if (interrupted) break;
      const after = tfo.counters();
      const d = tfo.diffCounters(before, after);
      before = after;
      if (values.json) process.stdout.write(`${JSON.stringify(d)}\n`);
      else
        process.stdout.write(
          `${row([clock(d.at), ...NAMES.map((k) => (d[k] === null ? 'n/a' : d[k] === 0 ? '0' : `+${d[k]}`))]).replace(/\+\d+/g, (m) => green(m))}\n`,
        );
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    if (timer) clearTimeout(timer);
  }
  return 0;
}

/** Waits until `due` (epoch ms); resolves false when Ctrl-C came first. */
function waitUntil(
  due: number,
  state: { interrupted: boolean; wake: (() => void) | null; timer: NodeJS.Timeout | null },
): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    state.wake = () => resolve(false);
    state.timer = setTimeout(() => resolve(!state.interrupted), Math.max(0, due - Date.now()));
  });
}

/** `tfo stats --metrics URL`: a service's cohorts side by side, once or per interval. */
async function metricsCommand(text: string, prefix: string, seconds: number | null, count: number | null, json: boolean): Promise<number> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(`--metrics must be an http or https URL, not '${text}'`, 2);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`--metrics must be an http or https URL, not '${text}'`, 2);
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(prefix)) throw new CliError(`--prefix must be a metric name prefix, not '${prefix}'`, 2);
  const timeoutMs = Math.max(1000, Math.min(10_000, (seconds ?? 10) * 1000));
  let before: Snapshot = await scrape(url, prefix, timeoutMs);
  if (seconds === null) {
    if (json) printJson(snapshotJson(url, before, null));
    else
      process.stdout.write(
        `${formatCohorts(before, `TCP Fast Open cohorts of ${url.href}${dim(' (totals since the service started)')}`)}\n`,
      );
    return 0;
  }
  if (!json)
    process.stdout.write(
      `${bold('TCP Fast Open cohorts')}${dim(` of ${url.href}: what changed every ${seconds} s${count === null ? ' (Ctrl-C to stop)' : ''}`)}\n`,
    );
  const state: { interrupted: boolean; wake: (() => void) | null; timer: NodeJS.Timeout | null } = {
    interrupted: false,
    wake: null,
    timer: null,
  };
  const onSigint = () => {
    state.interrupted = true;
    if (state.timer) clearTimeout(state.timer);
    state.wake?.();
  };
  process.on('SIGINT', onSigint);
  try {
    const start = Date.now();
    for (let n = 1; count === null || n <= count; n++) {
      if (!(await waitUntil(start + n * seconds * 1000, state))) break;
      const after = await scrape(url, prefix, timeoutMs);
      const d = diffSnapshots(before, after);
      const intervalMs = after.at - before.at;
      before = after;
      if (json) process.stdout.write(`${JSON.stringify(snapshotJson(url, d, intervalMs))}\n`);
      else
        process.stdout.write(
          `\n${formatCohorts(d, `${new Date(d.at).toTimeString().slice(0, 8)}${dim(` (the last ${(intervalMs / 1000).toFixed(1)} s)`)}`)}\n`,
        );
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    if (state.timer) clearTimeout(state.timer);
  }
  return 0;
}
