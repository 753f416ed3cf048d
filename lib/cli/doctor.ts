// `tfo doctor`: will TCP Fast Open be used here, per role, and if not, why
// and what to run. Reads the namespace's sysctls, tries the socket options on
// scratch sockets (through tfo's public API), and prints a plain verdict with
// the exact fix.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';

import * as tfo from '../index';
import { capNetAdmin as hasCapNetAdmin, initialNetnsInode } from '../system/host';
import { privateNetnsAvailability, type PrivateNetnsAvailability } from './netns';
import { bold, CliError, dim, green, printJson, red, yellow } from './output';

export const doctorHelp = `Usage: tfo doctor [--role client|server|both] [--json]

Checks whether TCP Fast Open will be used in this network namespace, for
clients (outgoing connections) and servers (listeners): decodes
net.ipv4.tcp_fastopen, tries the TFO socket options on scratch sockets, checks
the related settings (net.core.somaxconn, tcp_syncookies, the blackhole
detector, the TFO key), permissions, the namespace and the kernel version, and
prints per role "will use TFO" or "will NOT use TFO because ...", with the
exact command that fixes it.

Exit status 0 when the asked role(s) will use TFO, 1 otherwise.

Options:
  --role ROLE  client, server or both (default both)
  --json       machine-readable output
  -h, --help   this help`;

export type Role = 'client' | 'server' | 'both';
export type CheckStatus = 'ok' | 'info' | 'warn' | 'fail';

export interface Check {
  /** A short stable identifier, e.g. `somaxconn`. */
  id: string;
  status: CheckStatus;
  /** What was found, in words. */
  detail: string;
  /** A command (or action) that fixes it, when something should change. */
  fix?: string;
}

export interface Verdict {
  role: 'client' | 'server';
  ok: boolean;
  /** "will use TFO" or "will NOT use TFO because ...". */
  verdict: string;
  reasons: string[];
  fixes: string[];
}

// ---- facts ----

export interface KernelInfo {
  release: string;
  major: number | null;
  minor: number | null;
  /** TCP_FASTOPEN_CONNECT exists (>= 4.11); null when the version is unparsable. */
  fastOpenConnect: boolean | null;
}

export function kernelInfo(): KernelInfo {
  const release = os.release();
  const m = /^(\d+)\.(\d+)/.exec(release);
  const major = m ? Number(m[1]) : null;
  const minor = m ? Number(m[2]) : null;
  const fastOpenConnect = major === null || minor === null ? null : major > 4 || (major === 4 && minor >= 11);
  return { release, major, minor, fastOpenConnect };
}

function kernelAtLeast(k: KernelInfo, major: number, minor: number): boolean {
  return k.major !== null && k.minor !== null && (k.major > major || (k.major === major && k.minor >= minor));
}

export interface NamespaceInfo {
  /** Inode of /proc/self/ns/net, or null when unreadable. */
  inode: number | null;
  /** Inode of /proc/1/ns/net, or null when unreadable (needs ptrace rights on PID 1). */
  pid1Inode: number | null;
  /** This is the initial (host) network namespace; null when it cannot be told. */
  initial: boolean | null;
  /** Container markers (/.dockerenv, /run/.containerenv, $container, Kubernetes) are present. */
  containerMarkers: boolean;
  detail: string;
}

function nsInode(file: string): number | null {
  try {
    return fs.statSync(file).ino;
  } catch {
    return null;
  }
}

const PER_CONTAINER =
  'it started at net.ipv4.tcp_fastopen=1 like every new namespace/container; set it per container: ' +
  'docker run --sysctl net.ipv4.tcp_fastopen=3';

/** Whether this process runs in the host's network namespace or in a new one (a container's). */
export function networkNamespace(kernel: KernelInfo = kernelInfo()): NamespaceInfo {
  const inode = nsInode('/proc/self/ns/net');
  const pid1Inode = nsInode('/proc/1/ns/net');
  const containerMarkers =
    fs.existsSync('/.dockerenv') ||
    fs.existsSync('/run/.containerenv') ||
    Boolean(process.env.container) ||
    Boolean(process.env.KUBERNETES_SERVICE_HOST);
  let initial: boolean | null = null;
  let detail: string;
  const id = inode === null ? '' : ` (net:[${inode}])`;
  if (inode === null) {
    detail = 'cannot tell which network namespace this is (/proc/self/ns/net is unreadable)';
  } else if (initialNetnsInode !== null && inode === initialNetnsInode) {
    initial = true;
    detail = `the initial (host) network namespace${id}`;
  } else if (initialNetnsInode !== null && kernelAtLeast(kernel, 6, 18)) {
    // The initial namespace has a fixed inode on these kernels: any other is a new namespace.
    initial = false;
    detail = `not the initial network namespace${id}: ${PER_CONTAINER}`;
  } else if (pid1Inode !== null && pid1Inode !== inode) {
    initial = false;
    detail = `not the initial network namespace${id}, PID 1 is in net:[${pid1Inode}]: ${PER_CONTAINER}`;
  } else if (pid1Inode !== null && !containerMarkers) {
    initial = true;
    detail = `the same network namespace as PID 1${id}: presumably the host's`;
  } else if (containerMarkers) {
    detail = `this looks like a container${id}; unless it shares the host's network (--network host), ` + `${PER_CONTAINER}`;
  } else {
    detail = `cannot tell whether this is the initial network namespace${id} (/proc/1/ns/net is unreadable)`;
  }
  return { inode, pid1Inode, initial, containerMarkers, detail };
}

export interface Privileges {
  root: boolean;
  /** CAP_NET_ADMIN in the effective set (from /proc/self/status); null when unknown. */
  capNetAdmin: boolean | null;
  /** /proc/sys/net/ipv4/tcp_fastopen can be written by this process. */
  sysctlWritable: boolean;
  /** Why not (EACCES, EROFS, ...), or null. */
  sysctlWriteError: string | null;
}

export function privileges(): Privileges {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const capNetAdmin = hasCapNetAdmin();
  let sysctlWritable = false;
  let sysctlWriteError: string | null = null;
  try {
    fs.accessSync(tfo.sysctl.path('net.ipv4.tcp_fastopen'), fs.constants.W_OK);
    sysctlWritable = true;
  } catch (e) {
    sysctlWriteError = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  }
  return { root, capNetAdmin, sysctlWritable, sysctlWriteError };
}

/** How to run a sysctl write here: as is (we may), with sudo, or at container start. */
export function sysctlCommand(name: string, value: number, priv: Privileges, ns: NamespaceInfo): string {
  const cmd = `sysctl -w ${name}=${value}`;
  if (priv.sysctlWritable) return cmd;
  if (priv.sysctlWriteError === 'EROFS') return `docker run --sysctl ${name}=${value} (at container start: /proc/sys is read-only here)`;
  if (ns.initial === false && priv.root) return `docker run --sysctl ${name}=${value} (at container start: no CAP_NET_ADMIN here)`;
  return `sudo ${cmd}`;
}

const FLAG_WORDS: Record<tfo.sysctl.FastOpenFlag, string> = {
  client: 'clients may send data in the SYN',
  server: 'listeners (with TCP_FASTOPEN) accept data in the SYN',
  clientNoCookie: 'clients send SYN data without a cookie',
  serverNoCookie: 'listeners accept SYN data without a cookie',
  serverWithoutSockopt: 'every listener uses TFO, no TCP_FASTOPEN needed',
};

export interface DecodedFlag {
  name: tfo.sysctl.FastOpenFlag;
  bit: string;
  on: boolean;
  meaning: string;
}

export function describeFlags(bits: tfo.sysctl.FastOpenSysctl): DecodedFlag[] {
  return (Object.keys(tfo.sysctl.FASTOPEN_FLAGS) as tfo.sysctl.FastOpenFlag[]).map((name) => ({
    name,
    bit: `0x${tfo.sysctl.FASTOPEN_FLAGS[name].toString(16)}`,
    on: bits[name],
    meaning: FLAG_WORDS[name],
  }));
}

interface ScratchServer {
  tried: boolean;
  error: string | null;
  enabled: boolean;
  active: boolean;
  noCookie: boolean;
  reason: string | null;
}

/** A real tfo server on 127.0.0.1:0 (TCP_FASTOPEN + TCP_FASTOPEN_NO_COOKIE on the listener), closed at once. */
async function scratchServer(): Promise<ScratchServer> {
  if (!tfo.supported) return { tried: false, error: null, enabled: false, active: false, noCookie: false, reason: tfo.unsupportedReason };
  const server = tfo.createServer({ fastOpen: { noCookie: true } });
  server.on('warning', () => {}); // reported through server.fastOpen
  try {
    server.listen(0, '127.0.0.1');
    await Promise.race([
      once(server, 'listening'),
      new Promise((_, reject) => setTimeout(() => reject(new Error('listen timed out')), 5000).unref()),
    ]);
    const s = server.fastOpen;
    return { tried: true, error: null, enabled: s.enabled, active: s.active, noCookie: s.enabled && s.noCookie, reason: s.reason };
  } catch (e) {
    return { tried: true, error: (e as Error).message, enabled: false, active: false, noCookie: false, reason: null };
  } finally {
    if (server.listening) {
      server.close();
      await once(server, 'close');
    }
  }
}

function tryRead<T>(read: () => T): { value: T | null; error: NodeJS.ErrnoException | null } {
  try {
    return { value: read(), error: null };
  } catch (e) {
    return { value: null, error: e as NodeJS.ErrnoException };
  }
}

const FASTOPEN = 'net.ipv4.tcp_fastopen';

export interface DoctorReport {
  role: Role;
  ok: boolean;
  kernel: KernelInfo;
  native: { supported: boolean; unsupportedReason: string | null };
  sysctl: { value: number; flags: DecodedFlag[]; unknownBits: number } | null;
  sysctlError: string | null;
  socketOptions: Record<string, { ok: boolean | null; detail: string }>;
  settings: {
    somaxconn: number | null;
    syncookies: number | null;
    blackholeTimeoutSec: number | null;
    key: 'present' | 'none-yet' | 'unreadable' | null;
  };
  privileges: Privileges;
  namespace: NamespaceInfo;
  /** Whether `tfo demo` can run in a private namespace with TFO on here (a user and network namespace for non-root users), or why not. */
  privateNamespace: PrivateNetnsAvailability;
  checks: Check[];
  verdicts: Verdict[];
}

/** Gathers every fact and decides, per role. No output. */
export async function diagnose(role: Role): Promise<DoctorReport> {
  const kernel = kernelInfo();
  const ns = networkNamespace(kernel);
  const priv = privileges();
  const bitsR = tryRead(() => tfo.sysctl.fastOpen());
  const bits = bitsR.value;
  const keyR = tryRead(() => tfo.sysctl.key()); // before the scratch listener, which may create a key
  const somaxconnR = tryRead(() => tfo.sysctl.somaxconn());
  const syncookiesR = tryRead(() => tfo.sysctl.syncookies());
  const blackholeR = tryRead(() => tfo.sysctl.blackholeTimeout());
  const support = tfo.support(); // TCP_FASTOPEN_CONNECT on a scratch client socket
  const scratch = await scratchServer();

  const checks: Check[] = [];
  const add = (c: Check) => checks.push(c);

  // kernel and addon
  add({
    id: 'kernel',
    status: kernel.fastOpenConnect === false ? 'fail' : 'ok',
    detail:
      kernel.fastOpenConnect === false
        ? `Linux ${kernel.release}: older than 4.11, no TCP_FASTOPEN_CONNECT (clients use plain TCP)`
        : `Linux ${kernel.release} (TCP_FASTOPEN_CONNECT needs >= 4.11)`,
    ...(kernel.fastOpenConnect === false ? { fix: 'upgrade to Linux >= 4.11' } : {}),
  });
  add({
    id: 'native',
    status: tfo.supported ? 'ok' : 'fail',
    detail: tfo.supported ? 'native addon loaded (tfo.supported)' : `no native addon: ${tfo.unsupportedReason}`,
    ...(tfo.supported ? {} : { fix: nativeFix() }),
  });

  // net.ipv4.tcp_fastopen
  if (bits) {
    const on = describeFlags(bits)
      .filter((f) => f.on)
      .map((f) => f.name);
    add({ id: 'tcp_fastopen', status: 'info', detail: `${FASTOPEN} = ${bits.value} (${on.length ? on.join(', ') : 'all off'})` });
    if (bits.clientNoCookie || bits.serverNoCookie)
      add({
        id: 'no_cookie_bits',
        status: 'warn',
        detail: `${FASTOPEN} has ${[bits.clientNoCookie ? 'clientNoCookie (0x4)' : '', bits.serverNoCookie ? 'serverNoCookie (0x200)' : ''].filter(Boolean).join(' and ')}: SYN data without cookies, for trusted networks only`,
      });
    if (bits.unknownBits)
      add({ id: 'unknown_bits', status: 'warn', detail: `${FASTOPEN} has bits tfo does not know: 0x${bits.unknownBits.toString(16)}` });
    // Modifier bits do nothing without the role bit they modify (the kernel checks the role bit first).
    const inert = [
      bits.clientNoCookie && !bits.client ? 'clientNoCookie without client' : '',
      bits.serverNoCookie && !bits.server ? 'serverNoCookie without server' : '',
      bits.serverWithoutSockopt && !bits.server ? 'serverWithoutSockopt without server' : '',
    ].filter(Boolean);
    if (inert.length)
      add({
        id: 'inert_bits',
        status: 'warn',
        detail: `${FASTOPEN} has ${inert.join(' and ')}: those bits do nothing without the role bit`,
      });
  } else {
    add({ id: 'tcp_fastopen', status: 'fail', detail: `${FASTOPEN} cannot be read: ${bitsR.error?.message}` });
  }

  // socket options
  const socketOptions: DoctorReport['socketOptions'] = {};
  socketOptions.TCP_FASTOPEN_CONNECT = support.client
    ? { ok: true, detail: 'accepted on a scratch client socket' }
    : { ok: false, detail: support.clientReason ?? 'not accepted' };
  if (!scratch.tried) {
    socketOptions.TCP_FASTOPEN = { ok: false, detail: scratch.reason ?? 'not tried' };
    socketOptions.TCP_FASTOPEN_NO_COOKIE = { ok: false, detail: scratch.reason ?? 'not tried' };
  } else if (scratch.error) {
    socketOptions.TCP_FASTOPEN = { ok: null, detail: `untested: could not listen on 127.0.0.1 (${scratch.error})` };
    socketOptions.TCP_FASTOPEN_NO_COOKIE = { ok: null, detail: 'untested' };
  } else {
    socketOptions.TCP_FASTOPEN = scratch.enabled
      ? {
          ok: true,
          detail: scratch.active
            ? 'set on a listener on 127.0.0.1 (active)'
            : 'set on a listener on 127.0.0.1, but inactive: the sysctl server bit is off',
        }
      : { ok: false, detail: scratch.reason ?? 'not set' };
    socketOptions.TCP_FASTOPEN_NO_COOKIE = scratch.noCookie
      ? { ok: true, detail: 'accepted on the scratch listener (used only when asked for: noCookie)' }
      : { ok: false, detail: 'not accepted (Linux >= 4.15 has it); only needed for noCookie' };
  }
  const key = keyR.value;
  const keyState: DoctorReport['settings']['key'] = key
    ? key.primary.every((b) => b === 0)
      ? 'none-yet'
      : 'present'
    : keyR.error
      ? 'unreadable'
      : null;
  socketOptions.TCP_FASTOPEN_KEY = {
    ok: keyState === 'unreadable' ? null : true,
    detail:
      keyState === 'present'
        ? `net.ipv4.tcp_fastopen_key holds a key${key?.backup ? ' and a backup key' : ''} (not shown)`
        : keyState === 'none-yet'
          ? 'net.ipv4.tcp_fastopen_key is all zeros: no key generated yet, which is fine (the kernel makes one for the first TFO listener)'
          : `net.ipv4.tcp_fastopen_key is unreadable${keyR.error?.code === 'EACCES' ? ' without root' : ''}: ${keyR.error?.code ?? keyR.error?.message}`,
  };
  for (const [name, r] of Object.entries(socketOptions)) {
    let status: CheckStatus = r.ok === true ? 'ok' : r.ok === null || name === 'TCP_FASTOPEN_NO_COOKIE' ? 'info' : 'fail';
    if (name === 'TCP_FASTOPEN' && r.ok && !scratch.active) status = 'warn';
    add({ id: name, status, detail: r.detail });
  }

  // related settings
  const somaxconn = somaxconnR.value;
  if (somaxconn === null) add({ id: 'somaxconn', status: 'info', detail: `net.core.somaxconn unreadable: ${somaxconnR.error?.code}` });
  else if (somaxconn < tfo.DEFAULT_QUEUE_LENGTH)
    add({
      id: 'somaxconn',
      status: 'warn',
      detail: `net.core.somaxconn = ${somaxconn}: it caps every listener's TFO queue (tfo asks for ${tfo.DEFAULT_QUEUE_LENGTH}); beyond it SYN data falls back to a normal handshake`,
      fix: sysctlCommand('net.core.somaxconn', 4096, priv, ns),
    });
  else
    add({
      id: 'somaxconn',
      status: 'ok',
      detail: `net.core.somaxconn = ${somaxconn} (caps the TFO queue; >= ${tfo.DEFAULT_QUEUE_LENGTH})`,
    });

  const syncookies = syncookiesR.value;
  if (syncookies === null)
    add({ id: 'syncookies', status: 'info', detail: `net.ipv4.tcp_syncookies unreadable: ${syncookiesR.error?.code}` });
  else if (syncookies === 2)
    add({
      id: 'syncookies',
      status: 'fail',
      detail: 'net.ipv4.tcp_syncookies = 2 (always): every SYN gets a SYN cookie, which carries no TFO: TFO is effectively off for servers',
      fix: sysctlCommand('net.ipv4.tcp_syncookies', 1, priv, ns),
    });
  else
    add({
      id: 'syncookies',
      status: 'ok',
      detail: `net.ipv4.tcp_syncookies = ${syncookies}${syncookies === 1 ? ' (only when the SYN queue overflows)' : ' (off)'}`,
    });

  const blackhole = blackholeR.value;
  if (blackhole === null)
    add({ id: 'blackhole', status: 'info', detail: `net.ipv4.tcp_fastopen_blackhole_timeout_sec unreadable: ${blackholeR.error?.code}` });
  else if (blackhole === 0)
    add({
      id: 'blackhole',
      status: 'info',
      detail:
        "net.ipv4.tcp_fastopen_blackhole_timeout_sec = 0: the kernel's blackhole detection is off; tfo's own per-destination backoff covers paths that drop SYN data",
    });
  else
    add({
      id: 'blackhole',
      status: 'info',
      detail: `net.ipv4.tcp_fastopen_blackhole_timeout_sec = ${blackhole}: after suspected SYN-data drops the kernel stops client TFO for ${blackhole} s (doubling); tfo's per-destination backoff works too`,
    });

  // who may change things, and where we are
  add({
    id: 'privileges',
    status: priv.sysctlWritable ? 'ok' : 'info',
    detail: priv.sysctlWritable
      ? `${priv.root ? 'root' : 'not root'}: this process can write ${FASTOPEN}`
      : `${priv.root ? 'root' : 'not root'}${priv.capNetAdmin === false ? ', without CAP_NET_ADMIN' : ''}: this process cannot write ${FASTOPEN} (${priv.sysctlWriteError}); changing it needs root (CAP_NET_ADMIN) in this network namespace`,
  });
  // A new namespace matters when it is why the server bit is off: it started at 1.
  add({ id: 'namespace', status: ns.initial === false && bits && !bits.server ? 'warn' : 'info', detail: ns.detail });
  const privateNs = privateNetnsAvailability();
  add({
    id: 'private_namespace',
    status: 'info',
    detail: !privateNs.available
      ? `no private network namespace for trying TFO: ${privateNs.reason}; \`tfo demo\` runs in this namespace`
      : privateNs.kind === 'user+net'
        ? 'a private user and network namespace is available to this non-root user for trying TFO ' +
          '(unshare --user --map-root-user --net): `tfo demo` runs there with net.ipv4.tcp_fastopen=3, without root and without changing this namespace'
        : 'as root, `tfo demo` runs in a private network namespace (unshare --net) with net.ipv4.tcp_fastopen=3, without changing this one',
  });

  // verdicts
  const verdicts: Verdict[] = [];
  const wanted: ('client' | 'server')[] = role === 'both' ? ['client', 'server'] : [role];
  // The bits the asked role(s) need: what `tfo enable <role>` sets (the client bit always).
  const { client: CLIENT, server: SERVER } = tfo.sysctl.FASTOPEN_FLAGS;
  const needed = role === 'client' ? CLIENT : CLIENT | SERVER;
  for (const r of wanted) {
    const reasons: string[] = [];
    const fixes: string[] = [];
    if (!tfo.supported) {
      reasons.push(`${tfo.unsupportedReason}`);
      fixes.push(nativeFix());
    } else if (!bits) {
      reasons.push(`${FASTOPEN} cannot be read (${bitsR.error?.code ?? bitsR.error?.message})`);
    } else if (r === 'client') {
      if (!bits.client) {
        reasons.push(`${FASTOPEN}=${bits.value} lacks the client bit (0x1)`);
        fixes.push(...settingFixes(bits.value | needed, role, priv, ns));
      } else if (kernel.fastOpenConnect === false) {
        reasons.push(`Linux ${kernel.release} has no TCP_FASTOPEN_CONNECT (>= 4.11 is needed)`);
        fixes.push('upgrade to Linux >= 4.11');
      } else if (!support.client) {
        reasons.push(support.clientReason ?? 'TCP_FASTOPEN_CONNECT was refused');
      }
    } else {
      if (!bits.server) {
        reasons.push(`${FASTOPEN}=${bits.value} lacks the server bit (0x2): listeners ignore SYN data`);
        fixes.push(...settingFixes(bits.value | needed, role, priv, ns));
      } else if (scratch.tried && !scratch.error && !scratch.enabled) {
        reasons.push(scratch.reason ?? 'TCP_FASTOPEN was refused on a listening socket');
      }
      if (syncookies === 2) {
        reasons.push('net.ipv4.tcp_syncookies=2 answers every SYN with a SYN cookie, which carries no TFO');
        fixes.push(sysctlCommand('net.ipv4.tcp_syncookies', 1, priv, ns));
      }
    }
    const ok = reasons.length === 0;
    verdicts.push({
      role: r,
      ok,
      verdict: ok ? 'will use TFO' : `will NOT use TFO because ${reasons.join('; and ')}`,
      reasons,
      fixes,
    });
  }

  return {
    role,
    ok: verdicts.every((v) => v.ok),
    kernel,
    native: { supported: tfo.supported, unsupportedReason: tfo.unsupportedReason },
    sysctl: bits ? { value: bits.value, flags: describeFlags(bits), unknownBits: bits.unknownBits } : null,
    sysctlError: bitsR.error ? bitsR.error.message : null,
    socketOptions,
    settings: { somaxconn, syncookies, blackholeTimeoutSec: blackhole, key: keyState },
    privileges: priv,
    namespace: ns,
    privateNamespace: privateNs,
    checks,
    verdicts,
  };
}

function nativeFix(): string {
  if (process.platform !== 'linux') return 'none: TCP Fast Open needs Linux (plain TCP is used)';
  if (process.env.TFO_DISABLE_NATIVE === '1') return 'unset TFO_DISABLE_NATIVE';
  return 'npm rebuild tfo (needs python3, make and a C++ compiler when no prebuilt addon fits)';
}

/** The fixes for missing tcp_fastopen bits: the sysctl now, then to keep it (tfo enable, or per container). */
function settingFixes(value: number, enableRole: Role, priv: Privileges, ns: NamespaceInfo): string[] {
  const first = sysctlCommand(FASTOPEN, value, priv, ns);
  const fixes = [first];
  if (first.startsWith('docker')) return fixes;
  const sudo = priv.sysctlWritable ? '' : 'sudo ';
  if (ns.initial !== false)
    fixes.push(`${sudo}npx tfo enable ${enableRole} --persist (sets it and writes /etc/sysctl.d/60-tfo.conf for the next boot)`);
  if (ns.initial !== true)
    fixes.push(`per container, at start: docker run --sysctl ${FASTOPEN}=${value} (every new namespace starts at 1)`);
  return fixes;
}

// ---- output ----

function mark(status: CheckStatus): string {
  switch (status) {
    case 'ok':
      return green('ok  ');
    case 'warn':
      return yellow('warn');
    case 'fail':
      return red('FAIL');
    default:
      return dim('info');
  }
}

export function formatReport(r: DoctorReport): string {
  const out: string[] = [];
  out.push(
    bold('tfo doctor') +
      dim(` — TCP Fast Open in ${r.namespace.initial === false ? 'this (non-initial) network namespace' : 'this network namespace'}`),
  );
  out.push('');
  if (r.sysctl) {
    out.push(bold(`${FASTOPEN} = ${r.sysctl.value}`));
    for (const f of r.sysctl.flags) out.push(`  ${f.bit.padEnd(6)} ${f.name.padEnd(21)} ${f.on ? green('on ') : dim('off')}  ${f.meaning}`);
    if (r.sysctl.unknownBits) out.push(`  ${yellow(`0x${r.sysctl.unknownBits.toString(16)}`)} unknown bits`);
    out.push('');
  }
  out.push(bold('Checks'));
  for (const c of r.checks) {
    out.push(`  ${mark(c.status)}  ${c.id.padEnd(22)} ${c.detail}`);
    if (c.fix) out.push(`        ${''.padEnd(22)} fix: ${c.fix}`);
  }
  out.push('');
  out.push(bold('Verdict'));
  for (const v of r.verdicts) {
    const head = `  ${v.role}: `;
    out.push(head + (v.ok ? green(v.verdict) : red(v.verdict)));
    v.fixes.forEach((f, i) => out.push(`${' '.repeat(head.length)}${i === 0 ? 'fix: ' : 'or:  '}${f}`));
  }
  return out.join('\n');
}

export async function doctorCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      role: { type: 'string', default: 'both' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${doctorHelp}\n`);
    return 0;
  }
  const role = values.role;
  if (role !== 'client' && role !== 'server' && role !== 'both')
    throw new CliError(`--role must be client, server or both, not '${role}'`, 2);
  const report = await diagnose(role);
  if (values.json) printJson(report);
  else process.stdout.write(`${formatReport(report)}\n`);
  return report.ok ? 0 : 1;
}
