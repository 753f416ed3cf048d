// `tfo demo`: the project's job in one command. A tfo server and client on
// loopback; a first connection (gets a cookie) and returning ones (carry the
// request in the SYN); per connection what happened, the kernel counters
// before and after, and a verdict.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

import * as tfo from '../index';
import { bold, CliError, dim, green, printJson, red, table, yellow } from './output';
import { insidePrivateNetns, rerunInPrivateNetns } from './netns';

export const demoHelp = `Usage: tfo demo [--count N] [--no-netns] [--json]

Starts a tfo server and client on loopback and makes one first connection
(which asks the server for a TFO cookie) and N returning connections (which
should carry their request in the SYN). Prints, per connection, whether the
request rode in the SYN, the kernel's TFO counters before and after, and a
verdict.

As root it runs inside a private network namespace with
net.ipv4.tcp_fastopen=3 (the host's settings are not touched). Otherwise it
uses this namespace's settings and says what is missing.

Options:
  --count N    returning connections (default 4)
  --no-netns   use the current namespace even as root
  --json       machine-readable output
  -h, --help   this help`;

interface Row {
  n: number;
  kind: 'first' | 'returning';
  cookie: string;
  synDataBytes: number;
  synDataAcked: boolean;
  serverSawSynData: boolean;
  failure: string | null;
  reason: string | null;
  ms: number;
}

const REQUEST = 'GET /hello HTTP/1.1\r\nHost: tfo.demo\r\nConnection: close\r\n\r\n';

async function oneConnection(port: number, serverSeen: boolean[]): Promise<Omit<Row, 'n' | 'kind'>> {
  const started = process.hrtime.bigint();
  const socket = tfo.connect({ port, host: '127.0.0.1' });
  socket.write(REQUEST);
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  const [err] = await Promise.race([
    once(socket, 'end').then(() => [null]),
    once(socket, 'error').then(([e]) => [e as Error]),
  ]);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  socket.destroy();
  if (err) throw new CliError(`connection failed: ${(err as Error).message}`);
  const info = socket.fastOpen;
  return {
    cookie: info?.cookie ?? 'none',
    synDataBytes: info?.synDataBytes ?? 0,
    synDataAcked: info?.synData ?? false,
    serverSawSynData: serverSeen.shift() ?? false,
    failure: info?.failure ?? null,
    reason: info?.reason ?? null,
    ms,
  };
}

export async function demo(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string', default: '4' },
      'no-netns': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${demoHelp}\n`);
    return 0;
  }
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1 || count > 1000) throw new CliError('--count must be an integer from 1 to 1000', 2);

  let where = 'the current network namespace';
  if (!insidePrivateNetns() && !values['no-netns']) {
    const r = rerunInPrivateNetns();
    if (typeof r === 'number') return r;
    where = `the current network namespace (${r})`;
  } else if (insidePrivateNetns()) {
    where = 'a private network namespace with net.ipv4.tcp_fastopen=3 (host settings untouched)';
  }

  const support = tfo.support();
  const serverSeen: boolean[] = [];
  const server = tfo.createServer((s) => {
    serverSeen.push(Boolean((s as { fastOpen?: tfo.FastOpenInfo }).fastOpen?.synData));
    s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n'));
    s.on('error', () => {});
  });
  server.on('warning', () => {}); // reported below through server.fastOpen
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  tfo.resetStats();
  const before = tfo.counters();
  const rows: Row[] = [];
  try {
    for (let n = 0; n <= count; n++) {
      const r = await oneConnection(port, serverSeen);
      rows.push({ n: n + 1, kind: n === 0 ? 'first' : 'returning', ...r });
    }
  } finally {
    server.close();
  }
  const after = tfo.counters();
  const delta = tfo.diffCounters(before, after);
  const returning = rows.filter((r) => r.kind === 'returning');
  const rode = returning.filter((r) => r.synDataAcked && r.serverSawSynData).length;
  const ok = rode === returning.length;
  const why = !support.client
    ? support.clientReason
    : !support.server
      ? support.serverReason
      : server.fastOpen.reason ?? rows.find((r) => r.reason)?.reason ?? rows.find((r) => r.failure)?.failure ?? null;
  const verdict = ok
    ? `TCP Fast Open works: ${rode} of ${returning.length} returning requests rode in the SYN (one round trip saved each).`
    : `TCP Fast Open did not happen for ${returning.length - rode} of ${returning.length} returning requests${why ? `: ${why}` : '.'}`;

  if (values.json) {
    printJson({ where, support, server: server.fastOpen, connections: rows, counters: { before, after, delta }, stats: tfo.stats(), ok, verdict });
    return ok ? 0 : 1;
  }
  const out: string[] = [];
  out.push(bold('tfo demo') + dim(` — server and client on 127.0.0.1:${port}, in ${where}`));
  if (!support.client) out.push(yellow(`client: ${support.clientReason}`));
  if (!support.server) out.push(yellow(`server: ${support.serverReason}`));
  out.push('');
  out.push(
    table(
      ['#', 'connection', 'cookie', 'SYN data', 'acked', 'server saw SYN data', 'time'],
      rows.map((r) => [
        r.n,
        r.kind,
        r.cookie,
        r.synDataBytes ? `${r.synDataBytes} B` : '-',
        r.synDataAcked ? green('yes') : r.kind === 'first' ? 'no' : red('no'),
        r.serverSawSynData ? green('yes') : 'no',
        `${r.ms.toFixed(2)} ms`,
      ]),
    ),
  );
  out.push('');
  const names = Object.keys(tfo.COUNTER_NAMES) as tfo.CounterName[];
  out.push(
    table(
      ['kernel counter (TcpExt)', 'before', 'after', 'change'],
      names.map((k) => [tfo.COUNTER_NAMES[k], String(before[k] ?? 'n/a'), String(after[k] ?? 'n/a'), delta[k] === null ? 'n/a' : `+${delta[k]}`]),
    ),
  );
  out.push('');
  const st = tfo.stats();
  out.push(
    `library counts (tfo.stats()): client ${st.client.connections} connections, ${st.client.attempted} with TFO, ` +
      `${st.client.cookieRequested} cookie requests, ${st.client.synDataAcked} with SYN data acknowledged; ` +
      `server ${st.server.synData} of ${st.server.accepted} accepted connections opened with SYN data`,
  );
  out.push('');
  out.push(ok ? green(verdict) : red(verdict));
  process.stdout.write(`${out.join('\n')}\n`);
  return ok ? 0 : 1;
}
