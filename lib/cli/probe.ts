// `tfo probe HOST:PORT`: does TFO work toward this server, end to end?
// A first connection (to get a cookie), then returning ones; per connection
// what the kernel did, and a verdict: works / the server does not offer TFO /
// something on the path drops or strips SYN data.
import { parseArgs } from 'node:util';

import * as tfo from '../index';
import { bold, CliError, dim, green, integerOption, printJson, red, table, yellow } from './output';

export const probeHelp = `Usage: tfo probe HOST:PORT [--count N] [--data TEXT] [--timeout MS] [--json]

Connects to HOST:PORT (IPv6 as [addr]:port) COUNT times with TCP Fast Open:
the first connection asks the server for a cookie, the returning ones send
their first bytes in the SYN. Reports whether a cookie came back, whether SYN
data was acknowledged, per-connection timing, and a verdict:

  works                 returning connections carried data in the SYN
  no-tfo-on-server      no cookie was ever offered (server TFO off, or the
                        option is stripped on the path)
  syn-data-dropped      SYNs with data were lost and retransmitted (~1 s each):
                        something on the path drops them
  syn-data-not-acked    the server never accepted SYN data (TFO off for this
                        port, a key mismatch, or a middlebox strips SYN data)

By default the bytes sent are an HTTP HEAD request for "/".

Options:
  --count N      connections, 2 to 100 (default 4)
  --data TEXT    bytes to send first (default: HTTP HEAD /)
  --timeout MS   per-connection timeout, 1 to 2147483647 (default 5000)
  --json         machine-readable output
  -h, --help     this help`;

export type ProbeVerdict = 'works' | 'no-tfo-on-server' | 'syn-data-dropped' | 'syn-data-not-acked' | 'client-tfo-off';

interface ProbeRow {
  n: number;
  cookie: string;
  synDataBytes: number;
  synDataAcked: boolean;
  failure: string | null;
  reason: string | null;
  connectMs: number;
  firstByteMs: number | null;
  error: string | null;
}

function parseTarget(s: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m) throw new CliError(`target must be HOST:PORT or [IPv6]:PORT, got '${s}'`, 2);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new CliError(`port must be 1-65535, got ${m[2]}`, 2);
  return { host: m[1], port };
}

function once(host: string, port: number, data: Buffer, timeoutMs: number): Promise<Omit<ProbeRow, 'n'>> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
    const socket = tfo.connect({ host, port, timeout: timeoutMs });
    socket.write(data);
    let connectMs = 0;
    let firstByteMs: number | null = null;
    let error: string | null = null;
    socket.on('connect', () => {
      connectMs = ms();
    });
    socket.once('data', () => {
      firstByteMs = ms();
      socket.destroy();
    });
    socket.on('timeout', () => {
      if (!connectMs) error = `no connection within ${timeoutMs} ms`;
      socket.destroy();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error = e.message;
    });
    socket.on('end', () => socket.destroy());
    socket.on('close', () => {
      const info = socket.fastOpen;
      resolve({
        cookie: info?.cookie ?? 'none',
        synDataBytes: info?.synDataBytes ?? 0,
        synDataAcked: info?.synData ?? false,
        failure: info?.failure ?? null,
        reason: info?.reason ?? null,
        connectMs,
        firstByteMs,
        error,
      });
    });
  });
}

/** The verdict from the returning connections (all but the first). */
export function verdictOf(rows: ProbeRow[]): { verdict: ProbeVerdict; explanation: string } {
  const returning = rows.slice(1).filter((r) => !r.error);
  if (rows.some((r) => r.reason && r.cookie === 'none'))
    return { verdict: 'client-tfo-off', explanation: `TFO is off on this side: ${rows.find((r) => r.reason)!.reason}` };
  if (returning.some((r) => r.synDataAcked))
    return { verdict: 'works', explanation: 'returning connections carried their first bytes in the SYN: one round trip saved each' };
  if (returning.length > 0 && returning.every((r) => r.cookie === 'requested'))
    return {
      verdict: 'no-tfo-on-server',
      explanation: 'the server never offered a cookie: TFO is off on the server (or its TFO option is stripped on the path)',
    };
  if (returning.some((r) => r.failure === 'syn-retransmitted'))
    return {
      verdict: 'syn-data-dropped',
      explanation: 'SYNs carrying data were lost and retransmitted without data: something on the path drops them (each costs ~1 s)',
    };
  return {
    verdict: 'syn-data-not-acked',
    explanation:
      'a cookie is cached but the server did not accept SYN data: TFO off for this port, a key mismatch, or a middlebox strips SYN data',
  };
}

export async function probeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      count: { type: 'string', default: '4' },
      data: { type: 'string' },
      timeout: { type: 'string', default: '5000' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${probeHelp}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError('expected one target, HOST:PORT', 2);
  const { host, port } = parseTarget(positionals[0]);
  const count = integerOption('count', values.count, 2, 100);
  // Node's timers take at most 2^31-1 ms (a longer timeout would fire after 1 ms, with a warning).
  const timeoutMs = integerOption('timeout', values.timeout, 1, 2 ** 31 - 1);
  const hostHeader = host.includes(':') ? `[${host}]` : host;
  const data = Buffer.from(values.data ?? `HEAD / HTTP/1.1\r\nHost: ${hostHeader}\r\nConnection: close\r\n\r\n`);

  // The probe wants to see every failure, not tfo's protective backoff.
  tfo.configureBackoff({ enabled: false });
  const rows: ProbeRow[] = [];
  for (let n = 1; n <= count; n++) rows.push({ n, ...(await once(host, port, data, timeoutMs)) });
  if (rows.every((r) => r.error)) throw new CliError(`cannot connect to ${positionals[0]}: ${rows[0].error}`);
  const { verdict, explanation } = verdictOf(rows);

  if (values.json) {
    printJson({ target: { host, port }, connections: rows, verdict, explanation });
    return verdict === 'works' ? 0 : 1;
  }
  const out: string[] = [bold(`tfo probe ${host}:${port}`) + dim(` — ${count} connections, ${data.length} bytes each`), ''];
  out.push(
    table(
      ['#', 'cookie', 'SYN data', 'acked', 'kernel says', 'connect', 'first byte'],
      rows.map((r) => [
        r.n,
        r.cookie,
        r.synDataBytes ? `${r.synDataBytes} B` : '-',
        r.synDataAcked ? green('yes') : 'no',
        r.error ? red(r.error) : (r.failure ?? '-'),
        `${r.connectMs.toFixed(1)} ms`,
        r.firstByteMs === null ? '-' : `${r.firstByteMs.toFixed(1)} ms`,
      ]),
    ),
  );
  out.push('');
  const colour = verdict === 'works' ? green : verdict === 'no-tfo-on-server' ? yellow : red;
  out.push(colour(`verdict: ${verdict} — ${explanation}`));
  process.stdout.write(`${out.join('\n')}\n`);
  return verdict === 'works' ? 0 : 1;
}
