// The TCP Fast Open sysctls, read and written synchronously through /proc/sys
// (tiny files; a read or write is one system call). This is a "system" module:
// it knows files, not sockets.
//
// Every value here belongs to the network namespace of the calling process:
// /proc/sys/net/* shows the namespace the process is in when it opens the file.
// A new namespace (every container) starts with net.ipv4.tcp_fastopen=1
// (client only), whatever the host says.
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';

import {
  errnoException,
  invalidArgType,
  invalidArgValue,
  outOfRange,
  tfoError,
  validateBoolean,
  validateInteger,
  validateObject,
  type SystemError,
} from '../base/errors';
import { formatKey, isKeyText, KEY_TEXT_FORM, parseKey, usableKey, type FastOpenKeyInput } from './keyformat';

export { formatKey, parseKey, type FastOpenKeyInput } from './keyformat';

const PROC_SYS = '/proc/sys';

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
const KNOWN_LIST = FLAG_NAMES.map((name) => `0x${FASTOPEN_FLAGS[name].toString(16)} (${name})`).join(', ');
const ROLE_BITS = FASTOPEN_FLAGS.client | FASTOPEN_FLAGS.server;

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
    if (n !== data.length) throw errnoException(-osConstants.errno.EIO, 'write');
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

/** Options of {@link setFastOpen}. */
export interface SetFastOpenOptions {
  /**
   * Write bits that are none of {@link FASTOPEN_FLAGS} (default false). The
   * kernel stores any integer, but a bit it does not know does nothing, and a
   * value without the client and the server bit turns TCP Fast Open off for
   * every socket in the namespace: `setFastOpen(65536)` is almost certainly a
   * mistake. Only for a kernel with bits newer than tfo (raw values).
   */
  allowUnknownBits?: boolean;
}

/**
 * Checks a whole `net.ipv4.tcp_fastopen` value before it is written; the
 * rules are documented on {@link setFastOpen}.
 */
function checkValue(value: number, name: string, allowUnknownBits: boolean): void {
  const unknown = (value & ~KNOWN_BITS) >>> 0;
  if (unknown !== 0) {
    if (!allowUnknownBits)
      throw outOfRange(
        name,
        `0 or a sum of the tcp_fastopen bits ${KNOWN_LIST}; 0x${unknown.toString(16)} is none of them ` +
          '(pass { allowUnknownBits: true } to write other bits)',
        value,
      );
    return; // bits tfo does not know may be a role of their own: not judged
  }
  if (value !== 0 && (value & ROLE_BITS) === 0)
    throw invalidArgValue(
      name,
      value,
      'has neither the client bit (0x1) nor the server bit (0x2): it would turn TCP Fast Open off for every ' +
        'socket in the namespace (the other bits only modify those two); write 0 to turn it off on purpose',
    );
}

/**
 * Sets `net.ipv4.tcp_fastopen` of the current network namespace and returns
 * the new reading.
 *
 * A number is the whole value, and is refused (nothing is written) when it
 * would silently switch TCP Fast Open off: bits outside {@link FASTOPEN_FLAGS}
 * (`ERR_OUT_OF_RANGE`, e.g. 65536: neither client nor server) unless
 * `options.allowUnknownBits`, and a non-zero value with only modifier bits
 * (`ERR_INVALID_ARG_VALUE`, e.g. 0x400 alone: `serverWithoutSockopt` does
 * nothing without `server`). 0 turns TFO off on purpose and is accepted.
 *
 * @param value - A number (the whole value, 0 to 2^31-1), or named bits to
 * change: the given flags are set (`true`) or cleared (`false`) in the current
 * value, the others (unknown bits included) are kept. Named changes are
 * explicit and are not judged.
 * @param options - `{ allowUnknownBits }` (see {@link SetFastOpenOptions}).
 * @example setFastOpen({ server: true }) // 1 → 3
 * @throws `ERR_INVALID_ARG_TYPE`, `ERR_OUT_OF_RANGE` or `ERR_INVALID_ARG_VALUE`
 * (an unknown flag name, a value as above) for bad arguments; a system error
 * (`EACCES`, `EROFS`) naming the file when the process lacks root
 * (CAP_NET_ADMIN) in this network namespace or /proc/sys is read-only.
 */
export function setFastOpen(value: number | Partial<Record<FastOpenFlag, boolean>>, options: SetFastOpenOptions = {}): FastOpenSysctl {
  validateObject(options, 'options');
  const { allowUnknownBits = false } = options;
  validateBoolean(allowUnknownBits, 'options.allowUnknownBits');
  let next: number;
  if (typeof value === 'number') {
    validateInteger(value, 'value', 0, 0x7fffffff);
    checkValue(value, 'value', allowUnknownBits);
    next = value;
  } else {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidArgType('value', ['number', 'object'], value);
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
  if (keys.length > 2 || !keys.every(isKeyText)) throw unexpected(KEY, `is not in the format ${KEY_TEXT_FORM}[,backup]`);
  return { primary: parseKey(keys[0]), backup: keys.length === 2 ? parseKey(keys[1]) : null };
}

/**
 * Sets `net.ipv4.tcp_fastopen_key` of the current network namespace and
 * returns the new reading. Setting only a primary key drops the backup key;
 * to rotate keys without invalidating cookies in use, pass the new key as
 * primary and the old one as backup. A backup equal to the primary is
 * accepted and changes nothing (the kernel tries the primary first).
 *
 * @param primary - 16 raw bytes, or the text form (see {@link parseKey}).
 * @param backup - Optional backup key in the same forms; `null`/omitted for none.
 * @throws `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` for bad keys, and
 * for a key of all zeros (which anyone could use to make valid cookies; it
 * also reads back as "no key yet"); the message never shows key material. A
 * system error (`EACCES`, `EROFS`) naming the file when the process lacks root
 * (CAP_NET_ADMIN) in this namespace.
 */
export function setKey(primary: FastOpenKeyInput, backup?: FastOpenKeyInput | null): FastOpenKeys {
  const keys = [formatKey(usableKey(primary, 'primary'))];
  if (backup !== undefined && backup !== null) keys.push(formatKey(usableKey(backup, 'backup')));
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
 * The longest blackhole timeout tfo writes, in seconds: 67108 (18.6 hours).
 * The kernel computes a pause as `2^min(n-1, 6) × sec × HZ` jiffies in 32-bit
 * unsigned arithmetic (tcp_fastopen_active_should_disable() in
 * net/ipv4/tcp_fastopen.c), and accepts any non-negative int; above
 * 2^32 / (64 × 1000) the product wraps on kernels with HZ=1000 (the largest
 * HZ x86 and arm64 kernels are built with) and a long pause can come out as
 * milliseconds. None of these numbers is in a kernel header.
 */
export const MAX_BLACKHOLE_TIMEOUT_SEC = Math.floor(0xffffffff / (2 ** 6 * 1000));

/**
 * Sets `net.ipv4.tcp_fastopen_blackhole_timeout_sec` (0 to
 * {@link MAX_BLACKHOLE_TIMEOUT_SEC} seconds; 0 turns blackhole detection off)
 * in the current network namespace.
 *
 * @throws `ERR_INVALID_ARG_TYPE` / `ERR_OUT_OF_RANGE` for bad values (a longer
 * timeout would overflow the kernel's arithmetic); a system error naming the
 * file without root (CAP_NET_ADMIN) in this namespace.
 */
export function setBlackholeTimeout(sec: number): number {
  validateInteger(sec, 'sec', 0, MAX_BLACKHOLE_TIMEOUT_SEC);
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
