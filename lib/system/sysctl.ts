// The TCP Fast Open sysctls, read and written synchronously through /proc/sys
// (tiny files; a read or write is one system call). This is a "system" module:
// it knows files, not sockets.
//
// Every value here belongs to the network namespace of the calling process:
// /proc/sys/net/* shows the namespace the process is in when it opens the file.
// A new namespace (every container) starts with net.ipv4.tcp_fastopen=1
// (client only), whatever the host says.
import * as fs from 'node:fs';
import {
  errnoException,
  invalidArgType,
  invalidArgValue,
  tfoError,
  validateBoolean,
  validateInteger,
  type SystemError,
} from '../base/errors';

const PROC_SYS = '/proc/sys';

/** Shown instead of key material in error messages (util.inspect honours this symbol). */
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * The bits of `net.ipv4.tcp_fastopen`, by name.
 *
 * These are sysctl bits, not C header constants; their source is the kernel's
 * Documentation/networking/ip-sysctl.rst (`tcp_fastopen`), and
 * include/net/tcp.h (`TFO_CLIENT_ENABLE`, ...) in the kernel sources.
 *
 * - `client` (0x1): clients may send data in the SYN (the default).
 * - `server` (0x2): listeners that set `TCP_FASTOPEN` accept data in the SYN.
 * - `clientNoCookie` (0x4): clients send SYN data without a cookie.
 * - `serverNoCookie` (0x200): listeners accept SYN data without a cookie.
 * - `serverWithoutSockopt` (0x400): every listener uses TFO, without `TCP_FASTOPEN`.
 */
export const FASTOPEN_FLAGS = Object.freeze({
  client: 0x1,
  server: 0x2,
  clientNoCookie: 0x4,
  serverNoCookie: 0x200,
  serverWithoutSockopt: 0x400,
} as const);

/** The name of one `net.ipv4.tcp_fastopen` bit (a key of {@link FASTOPEN_FLAGS}). */
export type FastOpenFlag = keyof typeof FASTOPEN_FLAGS;

const FLAG_NAMES = Object.keys(FASTOPEN_FLAGS) as FastOpenFlag[];
const KNOWN_BITS = FLAG_NAMES.reduce((bits, name) => bits | FASTOPEN_FLAGS[name], 0);

/** `net.ipv4.tcp_fastopen` decoded into its named bits. */
export interface FastOpenSysctl {
  /** The raw value, as the kernel shows it. */
  value: number;
  /** 0x1: clients may send data in the SYN. */
  client: boolean;
  /** 0x2: listeners that set `TCP_FASTOPEN` accept data in the SYN. */
  server: boolean;
  /** 0x4: clients send SYN data without a cookie. */
  clientNoCookie: boolean;
  /** 0x200: listeners accept SYN data without a cookie. */
  serverNoCookie: boolean;
  /** 0x400: every listener uses TFO, with no `TCP_FASTOPEN` socket option. */
  serverWithoutSockopt: boolean;
  /** The bits set in `value` that are none of the above, as an unsigned 32-bit mask (0 normally). */
  unknownBits: number;
}

/** The current TFO key(s) of the network namespace, as raw bytes. */
export interface FastOpenKeys {
  /**
   * The primary key (16 bytes): it issues and validates cookies. All zeros
   * when no key exists yet (see {@link key}).
   */
  primary: Buffer;
  /** The backup key (16 bytes), which only validates cookies; `null` when there is none. */
  backup: Buffer | null;
}

/** A TFO key: 16 raw bytes, or the kernel's text form (32 hex digits, dashes optional). */
export type FastOpenKeyInput = Buffer | Uint8Array | string;

// ---- generic access ----

/**
 * The /proc/sys file of a sysctl: `'net.ipv4.tcp_fastopen'` →
 * `'/proc/sys/net/ipv4/tcp_fastopen'`. A name written with slashes
 * (`'net/ipv4/tcp_fastopen'`) is taken as is, as sysctl(8) does.
 *
 * @throws `ERR_INVALID_ARG_TYPE` if `name` is not a string; `ERR_INVALID_ARG_VALUE`
 * if it is empty or leaves /proc/sys.
 */
export function path(name: string): string {
  if (typeof name !== 'string') throw invalidArgType('name', 'string', name);
  const rel = name.includes('/') ? name : name.replace(/\./g, '/');
  const parts = rel.split('/');
  if (rel.length === 0 || parts.some((p) => p === '' || p === '.' || p === '..'))
    throw invalidArgValue('name', name, 'is not a sysctl name');
  return `${PROC_SYS}/${rel}`;
}

function dotted(name: string): string {
  return name.includes('/') ? name.replace(/\//g, '.') : name;
}

/** Turns an fs error on a sysctl file into tfo's error, saying what is needed. */
function sysctlError(cause: unknown, name: string, file: string, writing: boolean): Error {
  const e = cause as NodeJS.ErrnoException;
  if (typeof e?.errno !== 'number') return cause as Error;
  const syscall = e.syscall ?? (writing ? 'write' : 'open');
  const verb = writing ? 'writing' : 'reading';
  let why: string;
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      why = `${verb} ${name} needs root (CAP_NET_ADMIN) in this network namespace`;
      break;
    case 'EROFS':
      why =
        `${verb} ${name} needs root (CAP_NET_ADMIN) in this network namespace and a writable ` +
        '/proc/sys, but /proc/sys is mounted read-only here (as in most containers): set it when ' +
        `the container starts (e.g. \`docker run --sysctl ${name}=...\`)`;
      break;
    case 'ENOENT':
    case 'ENOTDIR':
      why = `${name} does not exist (not Linux, or a kernel without this setting)`;
      break;
    case 'EINVAL':
      why = writing ? `the kernel rejected the value written to ${name}` : `cannot read ${name}`;
      break;
    default:
      why = `${verb} ${name} failed`;
  }
  const err: SystemError = errnoException(e.errno, syscall, `${file}: ${why}`);
  err.path = file;
  Error.captureStackTrace(err, sysctlError);
  return err;
}

/**
 * Reads a sysctl of the current network namespace and returns its text,
 * without the trailing newline. Some files (such as
 * `net.ipv4.tcp_fastopen_key`) can only be read by root.
 *
 * @param name - Dotted (`'net.core.somaxconn'`) or slashed name.
 * @throws A system error (`code`, negative `errno`, `syscall`, `path`) when the
 * file is missing (`ENOENT`) or not readable (`EACCES`).
 */
export function read(name: string): string {
  const file = path(name);
  try {
    return fs.readFileSync(file, 'latin1').replace(/\n$/, '');
  } catch (err) {
    throw sysctlError(err, dotted(name), file, false);
  }
}

function write(name: string, text: string): void {
  const file = path(name);
  let fd: number;
  try {
    // O_WRONLY only: no O_CREAT (a missing sysctl must say ENOENT) and no read permission needed.
    fd = fs.openSync(file, fs.constants.O_WRONLY);
  } catch (err) {
    throw sysctlError(err, name, file, true);
  }
  try {
    // The kernel parses one write() as the whole value: write it in one call.
    const data = Buffer.from(`${text}\n`, 'latin1');
    const n = fs.writeSync(fd, data, 0, data.length);
    if (n !== data.length) throw errnoException(-5 /* EIO */, 'write');
  } catch (err) {
    throw sysctlError(err, name, file, true);
  } finally {
    fs.closeSync(fd);
  }
}

function unexpected(name: string, what: string): Error {
  return tfoError('TFO_SYSCTL_UNEXPECTED', `${path(name)}: ${name} ${what}`, { path: path(name) });
}

function readInt(name: string): number {
  const text = read(name).trim();
  if (!/^-?\d+$/.test(text)) throw unexpected(name, `does not hold an integer: ${JSON.stringify(text)}`);
  return Number(text);
}

// ---- net.ipv4.tcp_fastopen ----

const FASTOPEN = 'net.ipv4.tcp_fastopen';

/**
 * Decodes a `net.ipv4.tcp_fastopen` value into its named bits. Pure: touches no file.
 *
 * @example decodeFastOpen(3) // { value: 3, client: true, server: true, ..., unknownBits: 0 }
 * @throws `ERR_INVALID_ARG_TYPE` / `ERR_OUT_OF_RANGE` unless `value` is a 32-bit integer.
 */
export function decodeFastOpen(value: number): FastOpenSysctl {
  validateInteger(value, 'value', -0x80000000, 0x7fffffff);
  return {
    value,
    client: (value & FASTOPEN_FLAGS.client) !== 0,
    server: (value & FASTOPEN_FLAGS.server) !== 0,
    clientNoCookie: (value & FASTOPEN_FLAGS.clientNoCookie) !== 0,
    serverNoCookie: (value & FASTOPEN_FLAGS.serverNoCookie) !== 0,
    serverWithoutSockopt: (value & FASTOPEN_FLAGS.serverWithoutSockopt) !== 0,
    unknownBits: (value & ~KNOWN_BITS) >>> 0,
  };
}

/**
 * Reads `net.ipv4.tcp_fastopen` of the current network namespace.
 *
 * Values are per network namespace; a new namespace (every container) starts
 * at 1 (client only), so a server inside a container needs the `server` bit
 * set there (e.g. `docker run --sysctl net.ipv4.tcp_fastopen=3`).
 *
 * @throws A system error with `path` if the file is missing (`ENOENT`: not Linux, or no TFO).
 */
export function fastOpen(): FastOpenSysctl {
  const value = readInt(FASTOPEN);
  if (value < -0x80000000 || value > 0x7fffffff) throw unexpected(FASTOPEN, `is out of range: ${value}`);
  return decodeFastOpen(value);
}

/**
 * Sets `net.ipv4.tcp_fastopen` of the current network namespace and returns
 * the new reading.
 *
 * @param value - A number (the whole value, 0 to 2^31-1), or named bits to
 * change: the given flags are set (`true`) or cleared (`false`) in the current
 * value, the others (unknown bits included) are kept.
 * @example setFastOpen({ server: true }) // 1 → 3
 * @throws `ERR_INVALID_ARG_TYPE`, `ERR_OUT_OF_RANGE` or `ERR_INVALID_ARG_VALUE`
 * (an unknown flag name) for bad arguments; a system error (`EACCES`, `EROFS`)
 * naming the file when the process lacks root (CAP_NET_ADMIN) in this network
 * namespace or /proc/sys is read-only.
 */
export function setFastOpen(value: number | Partial<Record<FastOpenFlag, boolean>>): FastOpenSysctl {
  let next: number;
  if (typeof value === 'number') {
    validateInteger(value, 'value', 0, 0x7fffffff);
    next = value;
  } else {
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw invalidArgType('value', ['number', 'object'], value);
    const changes = Object.entries(value).filter(([, on]) => on !== undefined);
    for (const [flag, on] of changes) {
      if (!Object.prototype.hasOwnProperty.call(FASTOPEN_FLAGS, flag))
        throw invalidArgValue(`value.${flag}`, on, `is not a tcp_fastopen flag (${FLAG_NAMES.join(', ')})`);
      validateBoolean(on, `value.${flag}`);
    }
    next = fastOpen().value;
    for (const [flag, on] of changes) {
      const bit = FASTOPEN_FLAGS[flag as FastOpenFlag];
      next = on ? next | bit : next & ~bit;
    }
  }
  write(FASTOPEN, String(next));
  return fastOpen();
}

// ---- net.ipv4.tcp_fastopen_key ----

const KEY = 'net.ipv4.tcp_fastopen_key';
const KEY_TEXT = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/;

/**
 * The kernel's text form of a 16-byte TFO key, as `net.ipv4.tcp_fastopen_key`
 * shows it: four groups of 8 hex digits, each group the little-endian 32-bit
 * word of 4 key bytes. So the bytes `00 11 22 33 44 ...` print as
 * `33221100-77665544-...`: the text is not the bytes' hex dump.
 *
 * @throws `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` unless `key` is 16 bytes.
 */
export function formatKey(key: Buffer | Uint8Array): string {
  if (!(key instanceof Uint8Array)) throw invalidArgType('key', ['Buffer', 'Uint8Array'], key);
  if (key.length !== 16) throw badKey('key', key);
  const buf = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  const words: string[] = [];
  for (let i = 0; i < 16; i += 4) words.push(buf.readUInt32LE(i).toString(16).padStart(8, '0'));
  return words.join('-');
}

/**
 * Parses a TFO key into its 16 raw bytes (the bytes the `TCP_FASTOPEN_KEY`
 * socket option takes). A string is the kernel's text form (see
 * {@link formatKey}): `xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx`, or the same 32 hex
 * digits without the dashes; case does not matter. A Buffer or Uint8Array of
 * 16 bytes is copied.
 *
 * @throws `ERR_INVALID_ARG_TYPE` for other types; `ERR_INVALID_ARG_VALUE` for a
 * wrong length or format (the message never shows the key).
 */
export function parseKey(key: FastOpenKeyInput): Buffer {
  return keyBytes(key, 'key');
}

function keyBytes(key: FastOpenKeyInput, name: string): Buffer {
  if (key instanceof Uint8Array) {
    if (key.length !== 16) throw badKey(name, key);
    return Buffer.from(key);
  }
  if (typeof key !== 'string') throw invalidArgType(name, ['string', 'Buffer', 'Uint8Array'], key);
  let text = key.trim().toLowerCase();
  if (/^[0-9a-f]{32}$/.test(text)) text = text.replace(/(.{8})(?!$)/g, '$1-');
  if (!KEY_TEXT.test(text)) throw badKey(name, key);
  const buf = Buffer.alloc(16);
  text.split('-').forEach((word, i) => buf.writeUInt32LE(parseInt(word, 16), i * 4));
  return buf;
}

/** ERR_INVALID_ARG_VALUE for a key, showing its type and length but never its bytes. */
function badKey(name: string, key: Uint8Array | string): Error {
  const shape =
    typeof key === 'string' ? `a string of ${key.length} characters` : `${key.constructor.name} of ${key.length} bytes`;
  const redacted = { [INSPECT]: () => `[${shape}, not shown]` };
  return invalidArgValue(
    name,
    redacted,
    'must be 16 bytes, or 32 hex digits as xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx (dashes optional)',
  );
}

/**
 * Reads `net.ipv4.tcp_fastopen_key` of the current network namespace: the key
 * listeners use to issue and check cookies when they have no key of their own
 * (`TCP_FASTOPEN_KEY`).
 *
 * What the kernel shows (checked on Linux 6.18): the file is mode 0600, so
 * reading needs root (CAP_NET_ADMIN) in the namespace. It reads all zeros
 * (`00000000-00000000-00000000-00000000`) until a key exists; the kernel makes
 * a random one the first time a socket sets `TCP_FASTOPEN` (or a listener
 * starts with the `serverWithoutSockopt` bit), and from then on the file shows
 * it. A key explicitly set to zeros looks the same as no key. The backup key,
 * when there is one, follows a comma.
 *
 * The Buffers are the raw key bytes, as the `TCP_FASTOPEN_KEY` socket option
 * takes them (the file's text is little-endian words; see {@link formatKey}).
 *
 * @throws A system error with `path` (`EACCES` without root, `ENOENT` without TFO).
 */
export function key(): FastOpenKeys {
  const keys = read(KEY).trim().toLowerCase().split(',');
  if (keys.length > 2 || !keys.every((k) => KEY_TEXT.test(k)))
    throw unexpected(KEY, 'is not in the format xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx[,backup]');
  return { primary: parseKey(keys[0]!), backup: keys.length === 2 ? parseKey(keys[1]!) : null };
}

/**
 * Sets `net.ipv4.tcp_fastopen_key` of the current network namespace and
 * returns the new reading. Setting only a primary key drops the backup key;
 * to rotate keys without invalidating cookies in use, pass the new key as
 * primary and the old one as backup.
 *
 * @param primary - 16 raw bytes, or the text form (see {@link parseKey}).
 * @param backup - Optional backup key in the same forms; `null`/omitted for none.
 * @throws `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` for bad keys (the
 * message never shows key material); a system error (`EACCES`, `EROFS`) naming
 * the file when the process lacks root (CAP_NET_ADMIN) in this namespace.
 */
export function setKey(primary: FastOpenKeyInput, backup?: FastOpenKeyInput | null): FastOpenKeys {
  const keys = [formatKey(keyBytes(primary, 'primary'))];
  if (backup !== undefined && backup !== null) keys.push(formatKey(keyBytes(backup, 'backup')));
  write(KEY, keys.join(','));
  return key();
}

// ---- net.ipv4.tcp_fastopen_blackhole_timeout_sec ----

const BLACKHOLE = 'net.ipv4.tcp_fastopen_blackhole_timeout_sec';

/**
 * Reads `net.ipv4.tcp_fastopen_blackhole_timeout_sec`: the initial time, in
 * seconds, active TFO stays disabled in this namespace after the kernel
 * suspects a middlebox that drops SYN data (doubling on each repeat). 0 turns
 * the detector off, the default on recent kernels (6.18 here).
 */
export function blackholeTimeout(): number {
  return readInt(BLACKHOLE);
}

/**
 * Sets `net.ipv4.tcp_fastopen_blackhole_timeout_sec` (0 to 2^31-1 seconds;
 * 0 turns blackhole detection off) in the current network namespace.
 *
 * @throws `ERR_INVALID_ARG_TYPE` / `ERR_OUT_OF_RANGE` for bad values; a system
 * error naming the file without root (CAP_NET_ADMIN) in this namespace.
 */
export function setBlackholeTimeout(sec: number): number {
  validateInteger(sec, 'sec', 0, 0x7fffffff);
  write(BLACKHOLE, String(sec));
  return blackholeTimeout();
}

// ---- read-only helpers for diagnostics ----

/**
 * `net.core.somaxconn`: the cap on a listen backlog, and on a listener's TFO
 * queue length (`TCP_FASTOPEN`).
 */
export function somaxconn(): number {
  return readInt('net.core.somaxconn');
}

/**
 * `net.ipv4.tcp_syncookies`: 0 off, 1 when the SYN queue overflows, 2 always.
 * A SYN answered with a SYN cookie gets no TFO, so 2 disables TFO servers.
 */
export function syncookies(): number {
  return readInt('net.ipv4.tcp_syncookies');
}

/** `net.ipv4.tcp_max_syn_backlog`: the per-listener limit of half-open connections. */
export function maxSynBacklog(): number {
  return readInt('net.ipv4.tcp_max_syn_backlog');
}
