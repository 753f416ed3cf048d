// `tfo cookies`: the TCP Fast Open cookies this machine's clients hold (the
// kernel's tcp_metrics cache of this network namespace), listed, or flushed
// with --flush [HOST...].
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';

// The CLI uses the public API only (ARCHITECTURE.md, "Layers"): `tfo.cookies`.
import { cookies } from '../index';
import { CliError, dim, green, printJson, table, yellow } from './output';

export const cookiesHelp = `Usage: tfo cookies [--json]
       tfo cookies --flush [HOST...] [--json]

Lists the TCP Fast Open cookies the kernel holds for this machine's clients,
per server address, in the current network namespace: what
\`ip tcp_metrics show\` prints as fo_cookie, fo_mss and fo_syn_drops. A server
with an MSS but no cookie was asked for one and gave none (it has no TFO).
SYN drops count SYNs with data to that server that were lost.

With --flush, deletes the cached entries: all of them, or those of each HOST
(an IP address, or a name: all its addresses). The next connection to such a
server asks for a new cookie. The kernel's other metrics for those servers
(RTT, cwnd) go too, as with \`ip tcp_metrics flush\`.

Listing needs no privilege. Flushing needs root (CAP_NET_ADMIN in the initial
user namespace: root inside a rootless container is refused).

Options:
  --flush      delete every entry, or those of HOST...
  --json       machine-readable output (cookies in hex)
  -h, --help   this help`;

/** A duration in ms, short: 850 ms, 12.3 s, 5.2 min, 3.1 h, 2.0 d. */
function ago(ms: number | undefined): string {
  if (ms === undefined) return '-';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

function byAddress(a: cookies.CookieEntry, b: cookies.CookieEntry): number {
  return (
    a.family - b.family ||
    a.address.localeCompare(b.address, 'en', { numeric: true }) ||
    (a.source ?? '').localeCompare(b.source ?? '', 'en', { numeric: true })
  );
}

function listCommand(json: boolean): number {
  const entries = cookies.list().sort(byAddress);
  if (json) {
    printJson({ entries });
    return 0;
  }
  if (entries.length === 0) {
    process.stdout.write(`${dim('no TCP Fast Open cookies cached in this network namespace')}\n`);
    return 0;
  }
  const rows = entries.map((e) => [
    e.address,
    e.source ?? '-',
    e.cookie ? green(e.cookie.toString('hex')) : dim('none'),
    e.mss ?? '-',
    e.synDrops ? yellow(`${e.synDrops} (last ${ago(e.synDropAgeMs)} ago)`) : '0',
    ago(e.ageMs),
  ]);
  const withCookie = entries.filter((e) => e.cookie).length;
  process.stdout.write(
    `${table(['destination', 'source', 'cookie', 'mss', 'SYN drops', 'age'], rows)}\n` +
      `${dim(`${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}, ${withCookie} with a cookie`)}\n`,
  );
  return 0;
}

/** A host's addresses: itself if it is an IP literal, else all its DNS addresses. */
async function addressesOf(host: string): Promise<string[]> {
  if (isIP(host.replace(/%.*$/, ''))) return [host];
  try {
    const found = await lookup(host, { all: true, verbatim: true });
    return [...new Set(found.map((a) => a.address))];
  } catch (e) {
    throw new CliError(`cannot resolve ${host}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

const entriesWord = (n: number) => `${n} ${n === 1 ? 'entry' : 'entries'}`;

async function flushCommand(hosts: string[], json: boolean): Promise<number> {
  if (hosts.length === 0) {
    const flushed = cookies.flush();
    if (json) printJson({ flushed, all: true });
    else process.stdout.write(`flushed ${entriesWord(flushed)} (every destination)\n`);
    return 0;
  }
  const targets: { host: string; addresses: { address: string; flushed: number }[] }[] = [];
  for (const host of hosts) targets.push({ host, addresses: (await addressesOf(host)).map((address) => ({ address, flushed: 0 })) });
  for (const t of targets) for (const a of t.addresses) a.flushed = cookies.flush(a.address);
  const flushed = targets.reduce((n, t) => n + t.addresses.reduce((m, a) => m + a.flushed, 0), 0);
  if (json) {
    printJson({ flushed, targets });
    return 0;
  }
  const lines = targets.map((t) => {
    const n = t.addresses.reduce((m, a) => m + a.flushed, 0);
    const where =
      t.addresses.length === 1 && t.addresses[0].address === t.host
        ? t.host
        : `${t.host} (${t.addresses.map((a) => a.address).join(', ')})`;
    return n > 0 ? `flushed ${entriesWord(n)} for ${where}` : dim(`no entry for ${where}`);
  });
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

export async function cookiesCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      flush: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${cookiesHelp}\n`);
    return 0;
  }
  if (!values.flush && positionals.length > 0)
    throw new CliError(`unexpected argument '${positionals[0]}' (to flush one host: tfo cookies --flush HOST)`, 2);
  return values.flush ? flushCommand(positionals, values.json) : listCommand(values.json);
}
