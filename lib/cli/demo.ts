// `tfo demo`: the project's job in one command. A tfo server and client on
// loopback; a first connection (gets a cookie) and returning ones (carry the
// request in the SYN); per connection what happened, the kernel counters
// before and after, and a verdict.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

import * as tfo from '../index';
import { bold, CliError, dim, green, integerOption, printJson, red, table, yellow } from './output';
import { insidePrivateNetns, rerunInPrivateNetns, type PrivateNetnsKind } from './netns';

export const demoHelp = `Usage: tfo demo [--count N] [--no-netns] [--json]

Starts a tfo server and client on loopback and makes one first connection
(which asks the server for a TFO cookie) and N returning connections (which
should carry their request in the SYN). Prints, per connection, whether the
request rode in the SYN, the kernel's TFO counters before and after, and a
verdict.

It runs inside a private network namespace with net.ipv4.tcp_fastopen=3, so
the host's settings are neither needed nor touched: as root a network
namespace (unshare --net); as a normal user a user and network namespace
(unshare --user --map-root-user --net), where the kernel allows unprivileged
user namespaces. Where neither can be had it says why, and runs with this
namespace's settings, saying what is missing.

Options:
  --count N    returning connections, 1 to 1000 (default 4)
  --no-netns   use the current namespace
  --json       machine-readable output
  -h, --help   this help`;

/** Where the demo ran: a private namespace made for it, or the current one (and why). */
export interface DemoNamespace {
  private: boolean;
  /** `'net'` (root) or `'user+net'` (a normal user); null in the current namespace. */
  kind: PrivateNetnsKind | null;
  /** Why the current namespace was used (`--no-netns`, or why no private one could be had); null in a private one. */
  reason: string | null;
}

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
  const [err] = await Promise.race([once(socket, 'end').then(() => [null]), once(socket, 'error').then(([e]) => [e as Error])]);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  socket.destroy();
  if (err) throw new CliError(`connection failed: ${err.message}`);
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
  const count = integerOption('count', values.count, 1, 1000);

  const inside = insidePrivateNetns();
  let namespace: DemoNamespace;
  if (inside) {
    namespace = { private: true, kind: inside, reason: null };
  } else if (values['no-netns']) {
    namespace = { private: false, kind: null, reason: 'asked for with --no-netns' };
  } else {
    const r = rerunInPrivateNetns();
    if (typeof r === 'number') return r;
    namespace = { private: false, kind: null, reason: r.reason };
  }
  const where = namespace.private
    ? `a private ${namespace.kind === 'net' ? 'network namespace' : 'user and network namespace'} with ` +
      'net.ipv4.tcp_fastopen=3 (host settings untouched)'
    : `the current network namespace (${namespace.reason})`;

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
      : (server.fastOpen.reason ?? rows.find((r) => r.reason)?.reason ?? rows.find((r) => r.failure)?.failure ?? null);
  const verdict = ok
    ? `TCP Fast Open works: ${rode} of ${returning.length} returning requests rode in the SYN (one round trip saved each).`
    : `TCP Fast Open did not happen for ${returning.length - rode} of ${returning.length} returning requests${why ? `: ${why}` : '.'}`;

  if (values.json) {
    printJson({
      where,
      namespace,
      support,
      server: server.fastOpen,
      connections: rows,
      counters: { before, after, delta },
      stats: tfo.stats(),
      ok,
      verdict,
    });
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
      names.map((k) => [
        tfo.COUNTER_NAMES[k],
        String(before[k] ?? 'n/a'),
        String(after[k] ?? 'n/a'),
        delta[k] === null ? 'n/a' : `+${delta[k]}`,
      ]),
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
