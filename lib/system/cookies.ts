// The kernel's TCP Fast Open client cookie cache: the fo_* data of the
// tcp_metrics table, read and flushed through generic netlink (what
// `ip tcp_metrics show` / `ip tcp_metrics flush` do), without running ip.
// A "system" module: it knows the kernel, not tfo's sockets.
//
// The addon gives three thin calls (open a NETLINK_GENERIC socket, send one
// message to the kernel, read one datagram); the messages are built and parsed
// here from the constants the addon takes from the C headers. Everything is
// synchronous and still never waits: the kernel answers a generic netlink
// request inside the sendto() call, and produces each further part of a dump
// inside the recvmsg() that makes room for it.
//
// Like the sysctls, the table belongs to the network namespace of the calling
// process (every container has its own).
import { constants as osConstants, endianness } from 'node:os';
import { isIP, SocketAddress } from 'node:net';

import { errnoException, invalidArgType, invalidArgValue, tfoError, type SystemError } from '../base/errors';
import { native, type NativeBinding } from '../base/native';

/** One destination in the kernel's TFO client cache (a tcp_metrics entry with TFO data). */
export interface CookieEntry {
  /** The server's address (IPv4-mapped IPv6 destinations are kept, and shown, as IPv4). */
  address: string;
  family: 4 | 6;
  /** The local address the entry is for (the kernel keys entries by source and destination). */
  source?: string;
  /**
   * The cookie the server gave (Linux servers give 8 bytes; RFC 7413 allows 4
   * to 16), or `null` when there is none: the client asked and the server sent
   * none (the server has no TFO), or only SYN drops are recorded. `JSON.stringify`
   * shows it as lowercase hex.
   */
  cookie: Buffer | null;
  /** The server's MSS, learnt with the cookie (the kernel sizes SYN data with it). */
  mss?: number;
  /** SYNs with data to this server that were lost (kernel `fo_syn_drops`). */
  synDrops?: number;
  /** Milliseconds since the last such loss (with `synDrops`). */
  synDropAgeMs?: number;
  /** Milliseconds since the entry was created or last updated. */
  ageMs?: number;
}

/** How the kernel answered: what the tcp_metrics entry holds, before any TFO filtering. */
interface MetricsEntry extends CookieEntry {
  /** The destination's address bytes, for matching (`family` 4: 4 bytes, 6: 16). */
  key: string;
}

type Binding = NativeBinding;
type Constants = NativeBinding['netlinkConstants'];

// Netlink headers and integer attributes are in host byte order; addresses in network order.
const LE = endianness() === 'LE';
const u16 = (b: Buffer, o: number) => (LE ? b.readUInt16LE(o) : b.readUInt16BE(o));
const u32 = (b: Buffer, o: number) => (LE ? b.readUInt32LE(o) : b.readUInt32BE(o));
const u64 = (b: Buffer, o: number) => Number(LE ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
const U8 = Uint8Array.BYTES_PER_ELEMENT;
const U16 = Uint16Array.BYTES_PER_ELEMENT;
const U32 = Uint32Array.BYTES_PER_ELEMENT;
const U64 = BigUint64Array.BYTES_PER_ELEMENT;

/** An unsigned host-order header field of `size` bytes (a sizeof from the addon) at `o`. */
function field(b: Buffer, o: number, size: number): number {
  if (size === U8) return b[o];
  if (size === U16) return u16(b, o);
  if (size === U32) return u32(b, o);
  throw tfoError('TFO_NETLINK', `a netlink header field of ${size} bytes is not supported`);
}

/** Writes an unsigned host-order header field of `size` bytes at `o`. */
function putField(b: Buffer, v: number, o: number, size: number): void {
  if (size === U8) b[o] = v;
  else if (size === U16) LE ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o);
  else if (size === U32) LE ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o);
  else throw tfoError('TFO_NETLINK', `a netlink header field of ${size} bytes is not supported`);
}

/** A signed host-order int of `size` bytes (nlmsgerr.error) at `o`. */
function signed(b: Buffer, o: number, size: number): number {
  const v = field(b, o, size);
  return v >= 2 ** (size * 8 - 1) ? v - 2 ** (size * 8) : v;
}

// Address sizes (IPv4 32 bits, IPv6 128 bits) and the IPv4-mapped IPv6 prefix
// ::ffff:0:0/96 (RFC 4291 §2.5.5.2): protocol facts, not kernel constants.
const IPV4_BYTES = 4;
const IPV6_BYTES = 16;
const MAPPED_PREFIX = Buffer.from('00000000000000000000ffff', 'hex');

const ERRNO = osConstants.errno;

// A dump part is at most 32 KiB (the kernel's cap); a bigger buffer is harmless.
const RECV_BUFFER = 64 * 1024;

function binding(): Binding {
  const b = native.binding;
  if (!b) throw tfoError('TFO_UNSUPPORTED', `the TCP Fast Open cookie cache is not available: ${native.error}`);
  if (typeof b.genlSocket !== 'function')
    throw tfoError(
      'TFO_UNSUPPORTED',
      'the TCP Fast Open cookie cache is not available: the native addon was built without netlink support (rebuild it)',
    );
  return b;
}

// ---- addresses ----

/** An IP literal as the bytes tcp_metrics keys on; IPv4-mapped IPv6 becomes IPv4, as in the kernel. */
function addressBytes(host: string): { family: 4 | 6; bytes: Buffer } | null {
  const zone = host.indexOf('%');
  const text = zone >= 0 ? host.slice(0, zone) : host; // tcp_metrics ignores scope ids
  const kind = isIP(text);
  if (kind === 4) return { family: 4, bytes: Buffer.from(text.split('.').map(Number)) };
  if (kind !== 6) return null;
  let s = text;
  const dot = s.indexOf('.');
  if (dot >= 0) {
    // Trailing dotted IPv4 (e.g. ::ffff:1.2.3.4): turn it into two hex groups.
    const at = s.lastIndexOf(':') + 1;
    const [a, b, c, d] = s.slice(at).split('.').map(Number) as [number, number, number, number];
    s = `${s.slice(0, at)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const groups = (p: string | undefined) => (p ? p.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(IPV6_BYTES / U16 - h.length - t.length).fill(0), ...t];
  const bytes = Buffer.alloc(IPV6_BYTES);
  all.forEach((g, i) => bytes.writeUInt16BE(g, i * U16));
  if (bytes.subarray(0, MAPPED_PREFIX.length).equals(MAPPED_PREFIX))
    return { family: 4, bytes: Buffer.from(bytes.subarray(MAPPED_PREFIX.length)) };
  return { family: 6, bytes };
}

/** Address bytes as text, as Node shows addresses (`socket.remoteAddress`). */
function formatAddress(bytes: Buffer): string {
  if (bytes.length === IPV4_BYTES) return Array.from(bytes).join('.');
  const groups: string[] = [];
  for (let i = 0; i < IPV6_BYTES; i += U16) groups.push(bytes.readUInt16BE(i).toString(16));
  return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

// ---- netlink framing ----

const align = (n: number, to: number) => (n + to - 1) & ~(to - 1);

function attribute(c: Constants, type: number, data: Buffer): Buffer {
  const out = Buffer.alloc(align(c.NLA_HDRLEN + data.length, c.NLA_ALIGNTO));
  putField(out, c.NLA_HDRLEN + data.length, c.NLA_LEN_OFFSET, c.NLA_LEN_SIZE);
  putField(out, type, c.NLA_TYPE_OFFSET, c.NLA_TYPE_SIZE);
  data.copy(out, c.NLA_HDRLEN);
  return out;
}

/** One generic netlink request: nlmsghdr + genlmsghdr + attributes. */
function genlRequest(c: Constants, type: number, flags: number, seq: number, cmd: number, version: number, attrs: Buffer[]): Buffer {
  const body = Buffer.concat(attrs);
  const msg = Buffer.alloc(c.NLMSG_HDRLEN + c.GENL_HDRLEN + body.length);
  putField(msg, msg.length, c.NLMSG_LEN_OFFSET, c.NLMSG_LEN_SIZE);
  putField(msg, type, c.NLMSG_TYPE_OFFSET, c.NLMSG_TYPE_SIZE); // the family id
  putField(msg, flags, c.NLMSG_FLAGS_OFFSET, c.NLMSG_FLAGS_SIZE);
  putField(msg, seq, c.NLMSG_SEQ_OFFSET, c.NLMSG_SEQ_SIZE);
  putField(msg, 0, c.NLMSG_PID_OFFSET, c.NLMSG_PID_SIZE); // the kernel fills in ours
  putField(msg, cmd, c.NLMSG_HDRLEN + c.GENL_CMD_OFFSET, c.GENL_CMD_SIZE);
  putField(msg, version, c.NLMSG_HDRLEN + c.GENL_VERSION_OFFSET, c.GENL_VERSION_SIZE); // reserved stays 0
  body.copy(msg, c.NLMSG_HDRLEN + c.GENL_HDRLEN);
  return msg;
}

interface Message {
  type: number;
  flags: number;
  seq: number;
  /** The payload after the netlink header (a copy: the receive buffer is reused). */
  payload: Buffer;
}

/** The netlink messages in one datagram; a malformed length ends the walk. */
function messages(c: Constants, buf: Buffer, n: number): Message[] {
  const out: Message[] = [];
  let off = 0;
  while (off + c.NLMSG_HDRLEN <= n) {
    const len = field(buf, off + c.NLMSG_LEN_OFFSET, c.NLMSG_LEN_SIZE);
    if (len < c.NLMSG_HDRLEN || off + len > n) break;
    out.push({
      type: field(buf, off + c.NLMSG_TYPE_OFFSET, c.NLMSG_TYPE_SIZE),
      flags: field(buf, off + c.NLMSG_FLAGS_OFFSET, c.NLMSG_FLAGS_SIZE),
      seq: field(buf, off + c.NLMSG_SEQ_OFFSET, c.NLMSG_SEQ_SIZE),
      payload: Buffer.from(buf.subarray(off + c.NLMSG_HDRLEN, off + len)),
    });
    off += align(len, c.NLMSG_ALIGNTO);
  }
  return out;
}

/** The attributes of a generic netlink message payload (after its genlmsghdr; or of a nested attribute, from 0), by type. */
function attributes(c: Constants, payload: Buffer, start = c.GENL_HDRLEN): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = start;
  while (off + c.NLA_HDRLEN <= payload.length) {
    const len = field(payload, off + c.NLA_LEN_OFFSET, c.NLA_LEN_SIZE);
    if (len < c.NLA_HDRLEN || off + len > payload.length) break;
    const type = field(payload, off + c.NLA_TYPE_OFFSET, c.NLA_TYPE_SIZE) & c.NLA_TYPE_MASK;
    out.set(type, payload.subarray(off + c.NLA_HDRLEN, off + len));
    off += align(len, c.NLA_ALIGNTO);
  }
  return out;
}

// ---- one netlink conversation (a socket, requests, replies) ----

/**
 * The error of an NLMSG_ERROR reply (struct nlmsgerr's `error`: 0 for an ack),
 * or of an NLMSG_DONE (whose payload is that same int); 0 when too short.
 */
function replyError(c: Constants, payload: Buffer): number {
  const end = c.NLMSGERR_ERROR_OFFSET + c.NLMSGERR_ERROR_SIZE;
  return payload.length >= end ? signed(payload, c.NLMSGERR_ERROR_OFFSET, c.NLMSGERR_ERROR_SIZE) : 0;
}

/** What a request is for, as error messages name it (`tcp_metrics flush`, `tcp_metrics delete 1.2.3.4`). */
type Operation = { op: 'family lookup' | 'dump' | 'flush' } | { op: 'delete'; address: string };

const NEEDS_ADMIN =
  'deleting cached TCP Fast Open cookies needs CAP_NET_ADMIN (root) in the initial user namespace; ' +
  'root inside a user namespace (a rootless container) is not enough';

/**
 * A Node-shaped error for a failed netlink step. `kernel`: the error came in
 * the kernel's NLMSG_ERROR/NLMSG_DONE answer (the request itself failed).
 */
function netlinkError(errno: number, syscall: string, what: Operation, kernel: boolean): SystemError {
  const name = what.op === 'delete' ? `tcp_metrics delete ${what.address}` : `tcp_metrics ${what.op}`;
  let why: string;
  if (kernel && errno === -ERRNO.EPERM && (what.op === 'delete' || what.op === 'flush')) why = NEEDS_ADMIN;
  else if (kernel && errno === -ERRNO.ENOENT && what.op === 'family lookup') why = 'this kernel has no tcp_metrics generic netlink family';
  else if (!kernel && errno === -ERRNO.EAGAIN) why = "the kernel's reply was not ready (unexpected: netlink answers within the request)";
  else if (kernel) why = 'the kernel refused the request';
  else why = syscall === 'sendto' ? 'could not send the request' : 'could not read the reply';
  const err = errnoException(errno, syscall, `${name}: ${why}`);
  if (what.op === 'delete') err.address = what.address;
  Error.captureStackTrace(err, netlinkError);
  return err;
}

class Conversation {
  private readonly b: Binding;
  readonly c: Constants;
  private readonly fd: number;
  private seq = 0;
  private readonly buf: Buffer;

  constructor(b: Binding, bufferSize = RECV_BUFFER) {
    this.buf = Buffer.alloc(bufferSize);
    this.b = b;
    this.c = b.netlinkConstants;
    const fd = b.genlSocket();
    if (fd < 0) {
      const err = errnoException(fd, 'socket', 'NETLINK_GENERIC: could not open a generic netlink socket');
      Error.captureStackTrace(err, Conversation);
      throw err;
    }
    this.fd = fd;
  }

  close(): void {
    this.b.close(this.fd);
  }

  /**
   * Sends one request and returns the payloads of its replies (for a dump, of
   * every part; for a request with NLM_F_ACK and no reply, none). A negative
   * error in NLMSG_ERROR or NLMSG_DONE throws, with `syscall: 'sendto'`: the
   * kernel ran the request inside that call and only reports through the reply.
   */
  request(type: number, flags: number, cmd: number, version: number, attrs: Buffer[], op: Operation): Buffer[] {
    const { c } = this;
    const seq = ++this.seq;
    const msg = genlRequest(c, type, flags | c.NLM_F_REQUEST, seq, cmd, version, attrs);
    const sent = this.b.genlSend(this.fd, msg);
    if (sent < 0) throw netlinkError(sent, 'sendto', op, false);
    const replies: Buffer[] = [];
    const dump = (flags & c.NLM_F_DUMP) === c.NLM_F_DUMP;
    for (;;) {
      const n = this.b.genlRecv(this.fd, this.buf);
      if (n < 0) throw netlinkError(n, 'recvmsg', op, false);
      for (const m of messages(c, this.buf, n)) {
        if (m.seq !== seq) continue; // not an answer to this request
        if (m.type === c.NLMSG_ERROR) {
          const errno = replyError(c, m.payload);
          if (errno < 0) throw netlinkError(errno, 'sendto', op, true);
          return replies; // an ack: the request is complete
        }
        if (m.type === c.NLMSG_DONE) {
          const errno = replyError(c, m.payload);
          if (errno < 0) throw netlinkError(errno, 'sendto', op, true);
          return replies;
        }
        if (m.type === c.NLMSG_NOOP || m.type === c.NLMSG_OVERRUN) continue; // not sent for requests like ours
        replies.push(m.payload);
        // A single reply ends the request unless a dump (NLMSG_DONE) or an ack follows.
        if (!dump && (m.flags & c.NLM_F_MULTI) === 0 && (flags & c.NLM_F_ACK) === 0) return replies;
      }
    }
  }

  /**
   * One request answered by one message (no dump, no ack), without building
   * errors: the reply's payload, or a negative errno (the kernel's, e.g.
   * -ESRCH for no such entry, or a syscall's).
   */
  ask(type: number, cmd: number, version: number, attrs: Buffer[]): Buffer | number {
    const { c } = this;
    const seq = ++this.seq;
    const sent = this.b.genlSend(this.fd, genlRequest(c, type, c.NLM_F_REQUEST, seq, cmd, version, attrs));
    if (sent < 0) return sent;
    for (;;) {
      const n = this.b.genlRecv(this.fd, this.buf);
      if (n < 0) return n;
      for (const m of messages(c, this.buf, n)) {
        if (m.seq !== seq) continue;
        if (m.type === c.NLMSG_ERROR || m.type === c.NLMSG_DONE) return Math.min(replyError(c, m.payload), -ERRNO.ENOENT);
        if (m.type === c.NLMSG_NOOP || m.type === c.NLMSG_OVERRUN) continue;
        return m.payload;
      }
    }
  }

  /** The tcp_metrics family id (generic netlink families get theirs when registered). */
  family(): number {
    const { c } = this;
    const name = Buffer.from(`${c.TCP_METRICS_GENL_NAME}\0`, 'latin1');
    const [reply] = this.request(c.GENL_ID_CTRL, 0, c.CTRL_CMD_GETFAMILY, 0, [attribute(c, c.CTRL_ATTR_FAMILY_NAME, name)], {
      op: 'family lookup',
    });
    const id = reply && attributes(c, reply).get(c.CTRL_ATTR_FAMILY_ID);
    if (!id || id.length < U16) throw tfoError('TFO_NETLINK', 'the kernel did not give the tcp_metrics family id');
    return u16(id, 0); // NLA_U16
  }

  /** Every tcp_metrics entry of this network namespace. */
  dump(family: number): MetricsEntry[] {
    const { c } = this;
    const replies = this.request(family, c.NLM_F_DUMP, c.TCP_METRICS_CMD_GET, c.TCP_METRICS_GENL_VERSION, [], { op: 'dump' });
    const out: MetricsEntry[] = [];
    for (const r of replies) {
      const e = decodeEntry(c, attributes(c, r));
      if (e) out.push(e);
    }
    return out;
  }
}

function decodeEntry(c: Constants, a: Map<number, Buffer>): MetricsEntry | null {
  const v4 = a.get(c.TCP_METRICS_ATTR_ADDR_IPV4);
  const v6 = a.get(c.TCP_METRICS_ATTR_ADDR_IPV6);
  let dst: Buffer;
  if (v4 && v4.length >= IPV4_BYTES) dst = Buffer.from(v4.subarray(0, IPV4_BYTES));
  else if (v6 && v6.length >= IPV6_BYTES) dst = Buffer.from(v6.subarray(0, IPV6_BYTES));
  else return null;
  const family: 4 | 6 = dst.length === IPV4_BYTES ? 4 : 6;
  const s4 = a.get(c.TCP_METRICS_ATTR_SADDR_IPV4);
  const s6 = a.get(c.TCP_METRICS_ATTR_SADDR_IPV6);
  const src =
    s4 && s4.length >= IPV4_BYTES ? s4.subarray(0, IPV4_BYTES) : s6 && s6.length >= IPV6_BYTES ? s6.subarray(0, IPV6_BYTES) : null;
  const cookie = a.get(c.TCP_METRICS_ATTR_FOPEN_COOKIE);
  const mss = a.get(c.TCP_METRICS_ATTR_FOPEN_MSS);
  const drops = a.get(c.TCP_METRICS_ATTR_FOPEN_SYN_DROPS);
  const dropTs = a.get(c.TCP_METRICS_ATTR_FOPEN_SYN_DROP_TS);
  const age = a.get(c.TCP_METRICS_ATTR_AGE);
  const e: MetricsEntry = {
    key: `${family}:${dst.toString('hex')}`,
    address: formatAddress(dst),
    family,
    ...(src ? { source: formatAddress(src) } : {}),
    cookie: cookie && cookie.length > 0 ? Buffer.from(cookie) : null,
  };
  // Attribute types as net/ipv4/tcp_metrics.c puts them: NLA_U16 for the MSS and
  // the drop count, NLA_MSECS (u64) for the ages.
  if (mss && mss.length >= U16) e.mss = u16(mss, 0);
  if (drops && drops.length >= U16) e.synDrops = u16(drops, 0);
  if (dropTs && dropTs.length >= U64) e.synDropAgeMs = u64(dropTs, 0);
  if (age && age.length >= U64) e.ageMs = u64(age, 0);
  return e;
}

/** The public shape: no matching key, and JSON with the cookie in hex. */
function publicEntry(m: MetricsEntry): CookieEntry {
  const { key: _key, ...entry } = m;
  void _key;
  Object.defineProperty(entry, 'toJSON', {
    value(this: CookieEntry) {
      return { ...this, cookie: this.cookie ? this.cookie.toString('hex') : null };
    },
    enumerable: false,
  });
  return entry;
}

function withConversation<T>(fn: (conv: Conversation) => T): T {
  const conv = new Conversation(binding());
  try {
    return fn(conv);
  } finally {
    conv.close();
  }
}

// ---- the RTT the kernel keeps per peer ----

const US_PER_MS = 1000;

/** A conversation kept open for RTT lookups (a small buffer: one entry per reply), with the family id. */
let rttChannel: { conv: Conversation; family: number } | null | undefined;

/**
 * The smoothed RTT, in µs, that the kernel keeps in tcp_metrics
 * for connections with `address` (set from each connection as it closes:
 * what `ip tcp_metrics show ADDRESS` prints as `rtt`), or null when there is
 * no entry (no earlier connection closed here, `net.ipv4.tcp_no_metrics_save`
 * on, or it expired after an hour) or it cannot be read. Two syscalls on a
 * netlink socket kept open by this module; never throws.
 */
export function cachedRttUs(address: string): number | null {
  const target = addressBytes(address);
  if (!target) return null;
  if (rttChannel === undefined) {
    rttChannel = null;
    const b = native.binding;
    if (b && typeof b.genlSocket === 'function') {
      let conv: Conversation | null = null;
      try {
        conv = new Conversation(b, 4096);
        rttChannel = { conv, family: conv.family() };
      } catch {
        conv?.close(); // no netlink here: no lookups, ever
      }
    }
  }
  if (rttChannel === null) return null;
  const { conv, family } = rttChannel;
  const { c } = conv;
  const attr = target.family === 4 ? c.TCP_METRICS_ATTR_ADDR_IPV4 : c.TCP_METRICS_ATTR_ADDR_IPV6;
  const reply = conv.ask(family, c.TCP_METRICS_CMD_GET, c.TCP_METRICS_GENL_VERSION, [attribute(c, attr, target.bytes)]);
  if (typeof reply === 'number') return null;
  const vals = attributes(c, reply).get(c.TCP_METRICS_ATTR_VALS);
  if (!vals) return null;
  const v = attributes(c, vals, 0);
  // NLA_U32 values, as net/ipv4/tcp_metrics.c puts them: the smoothed RTT as
  // the kernel keeps it (scaled by 2^TCP_METRICS_RTT_SHIFT), in µs or in ms.
  const scale = 2 ** c.TCP_METRICS_RTT_SHIFT;
  const us = v.get(c.TCP_METRICS_VAL_RTT_US);
  if (us && us.length >= U32) return u32(us, 0) / scale || null;
  const ms = v.get(c.TCP_METRICS_VAL_RTT);
  return ms && ms.length >= U32 ? (u32(ms, 0) * US_PER_MS) / scale || null : null;
}

// ---- the API ----

/**
 * The kernel's TCP Fast Open client cache for this network namespace: every
 * tcp_metrics entry that holds TFO data, in the kernel's (hash) order. That is
 * an entry with a cookie, and also one without a cookie but with an MSS or
 * SYN drops recorded: an MSS without a cookie means a TFO client asked this
 * server for a cookie and got none (the server has no TFO) — the kernel stores
 * the MSS only from a SYN-ACK that answers a TFO attempt. Entries with only
 * RTT/cwnd metrics (plain connections) are left out.
 *
 * Reading needs no privilege: any user of the namespace can list the cache
 * (cookies included), as `ip tcp_metrics show` does.
 *
 * @throws `TFO_UNSUPPORTED` without the native addon (not Linux); a system
 * error (`syscall` 'socket', 'sendto' or 'recvmsg') if netlink fails.
 */
export function list(): CookieEntry[] {
  return withConversation((conv) => {
    const entries = conv.dump(conv.family());
    return entries.filter((e) => e.cookie !== null || e.mss !== undefined || e.synDrops !== undefined).map(publicEntry);
  });
}

/**
 * Deletes tcp_metrics entries of this network namespace, so the client forgets
 * the TFO cookies (and SYN-drop history) it holds: the next connection to such
 * a server asks for a new cookie. Without `host`, every entry (what
 * `ip tcp_metrics flush` does); with `host`, the entries whose destination is
 * that address (for every local source address). Whole entries go: the RTT and
 * cwnd metrics the kernel kept for those destinations too.
 *
 * @param host - An IP address literal; IPv4-mapped IPv6 (`::ffff:1.2.3.4`) means
 * the IPv4 address and a scope id (`%eth0`) is ignored, as the kernel keys
 * entries. Host names are not resolved here (the `tfo cookies` command does).
 * @returns How many entries were deleted. The kernel does not count them: this
 * is how many matching entries a dump showed just before the delete (an entry
 * created between the two is deleted but not counted). 0 when there was none.
 * @throws `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` for a `host` that is
 * not an IP address; `EPERM` (`syscall: 'sendto'`) without CAP_NET_ADMIN (root)
 * in the initial user namespace — the kernel checks it there, so root inside a
 * user namespace is refused; `TFO_UNSUPPORTED` without the native addon.
 */
export function flush(host?: string): number {
  let target: { family: 4 | 6; bytes: Buffer } | null = null;
  if (host !== undefined) {
    if (typeof host !== 'string') throw invalidArgType('host', 'string', host);
    target = addressBytes(host);
    if (!target) throw invalidArgValue('host', host, 'must be an IP address (resolve host names first)');
  }
  return withConversation((conv) => {
    const { c } = conv;
    const family = conv.family();
    const before = conv.dump(family);
    if (!target) {
      conv.request(family, c.NLM_F_ACK, c.TCP_METRICS_CMD_DEL, c.TCP_METRICS_GENL_VERSION, [], { op: 'flush' });
      return before.length;
    }
    const key = `${target.family}:${target.bytes.toString('hex')}`;
    const attr = target.family === 4 ? c.TCP_METRICS_ATTR_ADDR_IPV4 : c.TCP_METRICS_ATTR_ADDR_IPV6;
    try {
      conv.request(family, c.NLM_F_ACK, c.TCP_METRICS_CMD_DEL, c.TCP_METRICS_GENL_VERSION, [attribute(c, attr, target.bytes)], {
        op: 'delete',
        address: formatAddress(target.bytes),
      });
    } catch (e) {
      if ((e as SystemError).errno === -ERRNO.ESRCH) return 0; // no entry for that address
      throw e;
    }
    return Math.max(1, before.filter((e) => e.key === key).length);
  });
}
