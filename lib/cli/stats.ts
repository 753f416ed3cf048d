// `tfo stats`: the network namespace's TCP Fast Open counters (TcpExt in
// /proc/net/netstat), once as a table, or with --watch as per-interval deltas.
import { parseArgs } from 'node:util';

import * as tfo from '../index';
import { bold, CliError, dim, green, integerOption, printJson, table } from './output';

export const statsHelp = `Usage: tfo stats [--watch SECONDS [--count N]] [--json]

Prints this network namespace's TCP Fast Open counters (the kernel's TcpExt
counters, as \`nstat -az | grep FastOpen\` shows them) as a table. Counters
are per network namespace: in a container you see the container's.

With --watch, prints every SECONDS a row of the changes during that interval,
until Ctrl-C or, with --count, after N intervals. With --json, one JSON
object (a snapshot); with --watch, one JSON object per line (NDJSON) per
interval: the changes, with "at" (ms since the epoch) and "intervalMs".

Options:
  --watch SECONDS  print per-interval changes every SECONDS (e.g. 1, 0.5)
  --count N        stop after N intervals (with --watch)
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
  if (!(n >= 0.01 && n <= 86400))
    throw new CliError(`--watch must be a number of seconds from 0.01 to 86400, not '${text}'`, 2);
  return n;
}

export async function statsCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      watch: { type: 'string' },
      count: { type: 'string' },
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
