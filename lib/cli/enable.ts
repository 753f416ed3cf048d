// `tfo enable client|server|both`: sets the TCP Fast Open bits of
// net.ipv4.tcp_fastopen in this network namespace, keeping the other bits,
// and with --persist writes a sysctl.d drop-in so it survives a reboot.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import * as tfo from '../index';
import { networkNamespace } from './doctor';
import { bold, CliError, dim, green, printJson, yellow } from './output';

export const DEFAULT_DROP_IN = '/etc/sysctl.d/60-tfo.conf';

export const enableHelp = `Usage: tfo enable client|server|both [--persist [--file PATH]] [--json]

Turns TCP Fast Open on in this network namespace by setting bits of
net.ipv4.tcp_fastopen, keeping the others: the client bit (0x1) always, and
the server bit (0x2) for server and both. Prints the value before and after.
Needs root (CAP_NET_ADMIN) in the namespace, unless the bits are already set.

The setting is per network namespace: every new namespace (every container)
starts at 1, client only. In a container, set it when the container starts
(docker run --sysctl net.ipv4.tcp_fastopen=3).

Options:
  --persist    also write a sysctl.d drop-in with the new value, so it is
               applied again at boot (default file ${DEFAULT_DROP_IN})
  --file PATH  the drop-in file to write (with --persist): a *.conf file, new
               or written by tfo enable before (others are not replaced)
  --json       machine-readable output
  -h, --help   this help`;

type Role = 'client' | 'server' | 'both';

function flagsText(bits: tfo.sysctl.FastOpenSysctl): string {
  const on = (Object.keys(tfo.sysctl.FASTOPEN_FLAGS) as tfo.sysctl.FastOpenFlag[]).filter((f) => bits[f]);
  return `${bits.value} (${on.length ? on.join(', ') : 'all off'})`;
}

/** The first words of every drop-in tfo writes: an existing file without them is not tfo's to replace. */
const MARKER = '# TCP Fast Open (written by `tfo enable';

/**
 * Checks the drop-in path before anything is changed: systemd-sysctl and
 * `sysctl --system` read only `*.conf` files, so another name would be
 * written and silently never applied; and an existing file that tfo did not
 * write (such as /etc/sysctl.conf) would be replaced whole.
 */
function checkDropIn(file: string): void {
  if (!file.endsWith('.conf'))
    throw new CliError(`--file must end in .conf: sysctl --system and systemd-sysctl read only *.conf files (got ${file})`, 2);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return; // missing (or unreadable: the write will say why)
  }
  if (!text.startsWith(MARKER))
    throw new CliError(`${file} exists and was not written by tfo enable: not replacing it (choose another --file)`, 1);
}

/** Writes the drop-in atomically (temp file + rename); throws a one-line CliError. */
function writeDropIn(file: string, role: Role, value: number): string {
  const { client, server } = tfo.sysctl.FASTOPEN_FLAGS;
  const line = `net.ipv4.tcp_fastopen = ${value}`;
  const text =
    `${MARKER} ${role} --persist\`): 0x${client.toString(16)} client, 0x${server.toString(16)} server.\n` +
    `# Applied at boot by systemd-sysctl, or now with \`sysctl --system\`.\n${line}\n`;
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, text, { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // nothing to clean up
    }
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'EACCES' || err.code === 'EPERM' || err.code === 'EROFS' ? ' (needs root)' : '';
    throw new CliError(`cannot write ${file}: ${err.code ?? err.message}${why}; ${tfo.sysctl.path('net.ipv4.tcp_fastopen')} was set`);
  }
  return line;
}

// eslint-disable-next-line @typescript-eslint/require-await -- a command (main.ts) returns a Promise; async turns this one's throws into its rejections
export async function enableCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      persist: { type: 'boolean', default: false },
      file: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${enableHelp}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError('expected one of client, server, both (see tfo enable --help)', 2);
  const role = positionals[0] as Role;
  if (role !== 'client' && role !== 'server' && role !== 'both')
    throw new CliError(`expected client, server or both, not '${positionals[0]}'`, 2);
  if (values.file !== undefined && !values.persist) throw new CliError('--file needs --persist', 2);
  if (values.file === '') throw new CliError('--file needs a path', 2);
  const file = path.resolve(values.file ?? DEFAULT_DROP_IN);
  if (values.persist) checkDropIn(file);

  const before = tfo.sysctl.fastOpen();
  const want = { client: true, ...(role === 'client' ? {} : { server: true }) };
  const missing = (Object.keys(want) as (keyof typeof want)[]).some((f) => !before[f]);
  let after = before;
  if (missing) {
    try {
      after = tfo.sysctl.setFastOpen(want);
    } catch (e) {
      // The sysctl module's message names the file and says root / CAP_NET_ADMIN is needed.
      throw new CliError((e as Error).message.split('\n')[0], 1);
    }
  }
  const persisted = values.persist ? { file, line: writeDropIn(file, role, after.value) } : null;
  const ns = networkNamespace();

  if (values.json) {
    printJson({ role, changed: after.value !== before.value, before, after, persisted, namespace: ns });
    return 0;
  }
  const out: string[] = [];
  const name = 'net.ipv4.tcp_fastopen';
  out.push(
    after.value !== before.value
      ? `${bold(name)}: ${flagsText(before)} → ${green(flagsText(after))}`
      : `${bold(name)}: already ${green(flagsText(after))}, nothing to change`,
  );
  if (persisted) out.push(`persisted: ${persisted.file}: ${persisted.line} ${dim('(applied at boot, or now with `sysctl --system`)')}`);
  if (after.unknownBits)
    out.push(
      yellow(
        `note: net.ipv4.tcp_fastopen also has bits tfo does not know (0x${after.unknownBits.toString(16)}): kept` +
          (persisted ? ', and persisted as they are' : ''),
      ),
    );
  if (ns.initial === false)
    out.push(
      yellow(
        'note: this is not the initial network namespace: the value holds for this namespace only' +
          (persisted
            ? `; a container applies a sysctl.d file only if something in it runs \`sysctl --system\`: prefer docker run --sysctl net.ipv4.tcp_fastopen=${after.value}`
            : ''),
      ),
    );
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
