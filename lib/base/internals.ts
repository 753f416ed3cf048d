// The one home for Node's private parts. Every use tfo makes of something
// Node does not document goes through this module, so that a Node upgrade that
// changes one of them shows up here, by name.
//
// Each part is in the registry below: what tfo uses it for, what happens
// without it, and a probe of the behaviour tfo relies on (never of source
// text). The probes of node:net's parts run when tfo loads (a few scratch
// objects, no socket, no network); those that need a socket descriptor run at
// first use (tfo.support(), the first connection attempt, the first listen),
// those of an integration when it loads (tfo.tls, tfo.https, tfo.http), and a
// few can only be seen on a real connection and are checked there (the first
// use) or only by the tests. A part that fails its probe is not used: what
// depends on it falls back (plain TCP, or Node's own path), and
// `tfo.support().internals` and the reasons say which part is missing.
// test/internals.test.js lists the registry and checks each part on the
// running Node; it also fails when lib/ touches a private outside this module.
import * as net from 'node:net';

import { native } from './native';

// ---- the registry ----

/** One private part of Node that tfo uses, as `tfo.support().internals` lists it. */
export interface NodePrivate {
  /** The part, as Node names it (`net._normalizeArgs`, `net.Socket#_handle`, ...). */
  name: string;
  /**
   * Whether it behaves as tfo relies on, on this Node: true, false, or null
   * when it has not been checked yet (it is checked at first use, or only by
   * the tests; see `checked`).
   */
  ok: boolean | null;
  /** What tfo uses it for. */
  usedFor: string;
  /** What tfo does when it is missing or changed. */
  fallback: string;
  /**
   * When it is probed: `'load'` (when tfo, or the integration that uses it,
   * loads), `'first use'` (needs a socket descriptor or a real connection),
   * `'tests'` (only a real connection shows it; test/internals.test.js checks it).
   */
  checked: 'load' | 'first use' | 'tests';
  /** What the probe found when `ok` is false; null otherwise. */
  reason: string | null;
}

/** The parts, by name (one spelling everywhere). @internal */
export const P = {
  // net's argument reader: tfo.connect hands socket.connect() what net.connect would (APM wrappers see the same).
  normalizeArgs: 'net._normalizeArgs',
  // net's write to libuv: tfo.Socket holds the first write while connecting (for the SYN), then calls net's own.
  write: 'net.Socket.prototype._write',
  // as `write`, for corked/multiple chunks.
  writev: 'net.Socket.prototype._writev',
  // the write net keeps while connecting: bytesWritten counts tfo's held write as net counts its own.
  pendingData: 'net.Socket#_pendingData',
  // net's byte count: tfo's adds the bytes that left in the SYN (they bypassed libuv).
  bytesWritten: 'net.Socket.prototype.bytesWritten (accessor)',
  // the writes queued behind the first while connecting: offered to the SYN with it (one segment).
  writableBuffer: 'stream.Writable#writableBuffer',
  // net's cached peer: tfo.http2 (h2c) sets it while the kernel still defers the connect (getpeername: ENOTCONN).
  peername: 'net.Socket#_peername',
  // the libuv handle of a socket/server: how tfo reaches the descriptor at 'connectionAttempt' and at listen/accept.
  handle: 'net.Socket#_handle, net.Server#_handle',
  // the handle's descriptor: TCP_FASTOPEN_CONNECT, TCP_FASTOPEN, keys and TCP_INFO are set/read on it.
  handleFd: 'TCP handle #fd',
  // uv_tcp_open: the handle adopts tfo's socket (made with TCP_FASTOPEN_CONNECT) before net connects.
  handleOpen: 'TCP handle #open(fd)',
  // the server that accepted a socket: fastOpenInfo() reports role 'server' for it.
  acceptingServer: 'net.Socket#server',
  // TLSSocket's handshake start: tfo.tls starts it while connecting, so the ClientHello goes into the deferred SYN.
  tlsStart: 'tls.TLSSocket.prototype._start',
  // the TLS wrap's start() (writes the ClientHello, once per handle): the later call net's 'connect' makes is a no-op.
  tlsWrapStart: 'TLS wrap #start()',
  // the TCP handle under a TLS wrap: the one the connect attempt gives TCP_FASTOPEN_CONNECT.
  tlsWrapParent: 'TLS wrap #_parent',
  // the connect request net hands the TLS wrap: held until the kernel says established, so 'connect' keeps its meaning.
  tlsWrapConnect: 'TLS wrap #connect(req) / #connect6(req), req.oncomplete',
  // the net.Socket under a server-side TLS socket: fastOpenInfo() reads the record made when it was accepted.
  tlsParent: 'tls.TLSSocket#_parent',
  // https.Agent's cache key in createConnection's options: tfo.https.Agent uses Node's session cache under it.
  agentKey: 'https.Agent: options._agentKey',
  // https.Agent's session cache methods: tfo.https.Agent resumes/caches/evicts sessions as Node's agent does.
  agentSessions: 'https.Agent#_getSession, #_cacheSession, #_evictSession',
  // Node 22+'s mark of a request with its own checkServerIdentity: no session reuse, no pooling for it, as Node.
  perRequestIdentity: "https: Symbol('per-request checkServerIdentity')",
  // an agent's proxy configuration: an agent with a proxy connects through Node's createConnection (no TFO).
  proxyConfig: 'http.Agent[kProxyConfig]',
  // http2.connect's net.connect/tls.connect, read off the modules when it runs: tfo.http2 supplies that one socket.
  socketFactory: 'http2.connect: net.connect / tls.connect read off the module objects',
  // the cluster primary's round-robin listener (its 'connection' listener is Node's assert.fail): TFO is set on it.
  roundRobin: 'cluster primary: round-robin server (net.createServer(assert.fail))',
} as const;

/** A part's name. @internal */
export type PrivateName = (typeof P)[keyof typeof P];

/**
 * What a probe returns: null when the part behaves as tfo relies on, else
 * what it found; undefined when it could not check (no addon).
 */
type Probe = () => string | null | undefined;

interface Entry extends NodePrivate {
  /** The probe, or null for parts checked at their use or by the tests. */
  probe: Probe | null;
  /** Which integration's load runs the probe (null: tfo's own load or first use). */
  group: Group | null;
}

/** Integrations whose parts are probed when they load. @internal */
export type Group = 'tls' | 'https' | 'http';

const registry = new Map<PrivateName, Entry>();
const loadedGroups = new Set<Group>();
/**
 * The lists of parts (CLIENT_PARTS, SOCKET_PARTS …) found usable since the
 * last time a part turned out broken: privatesMissing() runs before every
 * client connect, on its cold path, and a list checked once costs one lookup
 * there (five registry lookups cost ~5 µs cold). Emptied whenever a part is
 * found broken.
 */
let verified = new WeakSet<readonly PrivateName[]>();

function define(
  name: PrivateName,
  checked: NodePrivate['checked'],
  usedFor: string,
  fallback: string,
  probe: Probe | null = null,
  group: Group | null = null,
): void {
  registry.set(name, { name, ok: null, usedFor, fallback, checked, reason: null, probe, group });
}

function run(e: Entry): void {
  if (!e.probe) return;
  let found: string | null | undefined;
  try {
    found = e.probe();
  } catch (err) {
    found = `its probe threw: ${(err as Error)?.message ?? String(err)}`;
  }
  if (found === undefined) return;
  e.ok = found === null;
  e.reason = found;
  if (!e.ok) verified = new WeakSet();
}

/** Whether a part can be used: probes it first if it has not been (a part found broken at use stays so). @internal */
export function privateOk(name: PrivateName): boolean {
  const e = registry.get(name)!;
  if (e.ok === null && e.probe && (e.group === null || loadedGroups.has(e.group))) run(e);
  return e.ok !== false;
}

/** Records that a part did not behave as tfo relies on, seen at its use: it is not used from now on. @internal */
export function privateBroken(name: PrivateName, reason: string): void {
  const e = registry.get(name)!;
  e.ok = false;
  e.reason ??= reason;
  verified = new WeakSet();
}

/** Records that a part checked at its use behaved as expected (unless found broken before). @internal */
export function privateSeen(name: PrivateName): void {
  const e = registry.get(name)!;
  if (e.ok === null) e.ok = true;
}

/**
 * Null when every part in `names` can be used, else the reason for the first
 * one that cannot: "Node's private X is missing or changed on this Node (what
 * the probe found)". @internal
 */
export function privatesMissing(names: readonly PrivateName[]): string | null {
  if (verified.has(names)) return null;
  for (const name of names) {
    if (!privateOk(name)) {
      const e = registry.get(name)!;
      return `Node's private part ${name} is missing or changed on Node ${process.version} (${e.reason}): ${e.fallback}`;
    }
  }
  verified.add(names);
  return null;
}

/** Runs the load-time probes of an integration's parts (called when tfo.tls, tfo.https or tfo.http loads). @internal */
export function probeGroup(group: Group): void {
  if (loadedGroups.has(group)) return;
  loadedGroups.add(group);
  for (const e of registry.values()) if (e.group === group && e.ok === null && e.checked === 'load') run(e);
}

/**
 * Every private part tfo uses, with its state on this Node (a new array of
 * new objects). Runs the probes that can run now: node:net's first-use probes
 * (a scratch socket descriptor), and those of the integrations loaded so far.
 * @internal
 */
export function nodePrivates(): NodePrivate[] {
  const out: NodePrivate[] = [];
  for (const e of registry.values()) {
    privateOk(e.name as PrivateName);
    out.push({ name: e.name, ok: e.ok, usedFor: e.usedFor, fallback: e.fallback, checked: e.checked, reason: e.reason });
  }
  return out;
}

/** The parts every TFO client attempt needs (tfo.connect, tfo.tls.connect, tfo.http2): without one, plain TCP. @internal */
export const CLIENT_PARTS: readonly PrivateName[] = [P.handle, P.handleFd, P.handleOpen];
/** What tfo.Socket needs on top: its write interception. @internal */
export const SOCKET_PARTS: readonly PrivateName[] = [...CLIENT_PARTS, P.write, P.writev];
/** What a TFO listening socket needs. @internal */
export const SERVER_PARTS: readonly PrivateName[] = [P.handle, P.handleFd];
/** What tfo.tls.connect needs on top of CLIENT_PARTS. @internal */
export const TLS_PARTS: readonly PrivateName[] = [...CLIENT_PARTS, P.tlsStart, P.tlsWrapStart, P.tlsWrapParent, P.tlsWrapConnect];

// Scratch objects for the probes: no handle, no descriptor, no network.
function scratchSocket(): net.Socket {
  return new net.Socket();
}

const sameArray = (a: unknown, b: unknown[]): boolean => Array.isArray(a) && a.length === b.length && a.every((x, i) => x === b[i]);

// ---- net: connect() arguments ----

/** What `net._normalizeArgs` returns: `[options, callback | null]`, marked with net's private symbol. */
export type NormalizedArgs = [Record<string, unknown>, ((...a: unknown[]) => void) | null];

const netNormalizeArgs = (net as unknown as { _normalizeArgs?: unknown })._normalizeArgs;
/** net's private `normalizedArgsSymbol`, read off an array `_normalizeArgs` made (there is no other way to it). */
let normalizedArgsSymbol: symbol | undefined;

define(
  P.normalizeArgs,
  'load',
  "tfo.connect hands socket.connect() the array net.connect would (net's own argument reading, marked so that " +
    'Socket#connect takes it as is): code that wraps net.Socket.prototype.connect (APM agents) sees what it sees with net',
  'tfo reads the arguments itself (options object, port and host, or path) and hands socket.connect() the ' +
    "caller's arguments: TFO is unaffected; wrappers of net.Socket.prototype.connect see tfo.connect's arguments",
  () => {
    if (typeof netNormalizeArgs !== 'function') return 'not a function';
    const f = netNormalizeArgs as (args: unknown[]) => unknown;
    const a = f([1, 'h']) as unknown[];
    if (!Array.isArray(a) || a.length !== 2 || a[1] !== null) return "(1, 'h') did not give [options, null]";
    const o = a[0] as { port?: unknown; host?: unknown } | null;
    if (o?.port !== 1 || o.host !== 'h') return "(1, 'h') did not give { port: 1, host: 'h' }";
    const options = { path: '/p' };
    const cb = (): void => {};
    if (!sameArray(f([options, cb]), [options, cb])) return '(options, cb) did not give [options, cb]';
    const marks = Object.getOwnPropertySymbols(a).filter((s) => (a as unknown as Record<symbol, unknown>)[s] === true);
    if (marks.length !== 1) return `its array carries ${marks.length} symbol marks, not one`;
    normalizedArgsSymbol = marks[0];
    return null;
  },
);

/** net's isPipeName: a string that is not a port number. */
const isPipeName = (s: unknown): boolean => typeof s === 'string' && !(Number(s) >= 0);

/** tfo's own reading of connect() arguments, as net's (without net's mark): used when `_normalizeArgs` is missing. */
function readConnectArgs(args: unknown[]): NormalizedArgs {
  const last = args[args.length - 1];
  const cb = typeof last === 'function' ? (last as (...a: unknown[]) => void) : null;
  if (args.length === 0) return [{}, null];
  const first = args[0];
  let options: Record<string, unknown>;
  if (first !== null && typeof first === 'object') options = first as Record<string, unknown>;
  else if (isPipeName(first)) options = { path: first };
  else {
    options = { port: first };
    if (args.length > 1 && typeof args[1] === 'string') options.host = args[1];
  }
  return [options, cb];
}

/**
 * `net._normalizeArgs`: how net.connect() turns its arguments into what it
 * passes to `socket.connect()`. tfo.connect passes the very same array, so
 * code that wraps `net.Socket.prototype.connect` (APM agents) sees what it
 * sees with net. Where that part is missing, tfo's own reading (unmarked:
 * `isNormalizedArgs` says false, and the caller passes its own arguments on).
 */
export const normalizeArgs: (args: unknown[]) => NormalizedArgs = privateOk(P.normalizeArgs)
  ? (netNormalizeArgs as (args: unknown[]) => NormalizedArgs)
  : readConnectArgs;

/** Whether `value` is an array made by `net._normalizeArgs` (net's Socket#connect takes it as is). */
export function isNormalizedArgs(value: unknown): value is NormalizedArgs {
  return (
    Array.isArray(value) &&
    normalizedArgsSymbol !== undefined &&
    (value as unknown as Record<symbol, unknown>)[normalizedArgsSymbol] === true
  );
}

// ---- net: writes ----

type WriteCb = (err?: Error | null) => void;
type WriteOne = (this: net.Socket, chunk: unknown, encoding: BufferEncoding, cb: WriteCb) => void;
type WriteMany = (this: net.Socket, chunks: { chunk: unknown; encoding: BufferEncoding }[], cb: WriteCb) => void;
const socketProto = net.Socket.prototype as unknown as { _write?: WriteOne; _writev?: WriteMany };
const netWriteOne = socketProto._write;
const netWriteMany = socketProto._writev;

/** net's write path on a socket with no handle fails at once (ERR_SOCKET_CLOSED): the path tfo hands bytes to. */
function probeWrite(many: boolean): string | null {
  const f = many ? netWriteMany : netWriteOne;
  if (typeof f !== 'function') return 'not a function';
  let called = false;
  let error: unknown;
  const done = (err?: Error | null): void => {
    called = true;
    error = err;
  };
  const s = scratchSocket();
  if (many) (f as WriteMany).call(s, [{ chunk: Buffer.alloc(1), encoding: 'buffer' as BufferEncoding }], done);
  else (f as WriteOne).call(s, Buffer.alloc(1), 'buffer' as BufferEncoding, done);
  if (!called) return 'did not call back at once on a socket with no handle';
  return error instanceof Error ? null : 'did not fail on a socket with no handle';
}

const WRITE_USE = "tfo.Socket holds the first write made while connecting (for the SYN) and hands bytes to libuv through net's own ";
const WRITE_FALLBACK = 'tfo.Socket leaves every write to net, and its connections use plain TCP';
define(P.write, 'load', `${WRITE_USE}_write`, WRITE_FALLBACK, () => probeWrite(false));
define(P.writev, 'load', `${WRITE_USE}_writev`, WRITE_FALLBACK, () => probeWrite(true));

/** Whether tfo.Socket can intercept writes (net's `_write` and `_writev` behave as tfo relies on). */
export const socketWritesOk: boolean = privateOk(P.write) && privateOk(P.writev);

/** net.Socket's own `_write`: hands bytes to libuv. */
export function netWrite(socket: net.Socket, chunk: unknown, encoding: BufferEncoding, cb: WriteCb): void {
  (netWriteOne as WriteOne).call(socket, chunk, encoding, cb);
}

/** net.Socket's own `_writev`. */
export function netWritev(socket: net.Socket, chunks: { chunk: unknown; encoding: BufferEncoding }[], cb: WriteCb): void {
  (netWriteMany as WriteMany).call(socket, chunks, cb);
}

const bytesWrittenGetter = Object.getOwnPropertyDescriptor(net.Socket.prototype, 'bytesWritten')?.get as
  ((this: net.Socket) => number | undefined) | undefined;

define(
  P.bytesWritten,
  'load',
  "tfo.Socket's bytesWritten is net's count plus the bytes that left in the SYN (which bypassed libuv)",
  "bytesWritten is net's own count: bytes that rode in the SYN are left out",
  () => {
    if (typeof bytesWrittenGetter !== 'function') return 'not an accessor on net.Socket.prototype';
    const n = bytesWrittenGetter.call(scratchSocket());
    return n === 0 ? null : `a new socket reports ${String(n)}`;
  },
);

/** net's own `bytesWritten` getter (Socket.prototype), or undefined. */
export const netBytesWritten: ((this: net.Socket) => number | undefined) | undefined = privateOk(P.bytesWritten)
  ? bytesWrittenGetter
  : undefined;

define(
  P.pendingData,
  'load',
  'bytesWritten counts a write tfo holds for the SYN as pending, as net counts a write made while connecting',
  'bytesWritten leaves out a write held while connecting until it is sent',
  () => {
    const s = scratchSocket() as net.Socket & { _pendingData?: unknown };
    s._pendingData = Buffer.alloc(3);
    const n = s.bytesWritten;
    return n === 3 ? null : `a socket whose _pendingData holds 3 bytes reports bytesWritten ${String(n)}`;
  },
);

/**
 * Sets the data net counts in `bytesWritten` as pending while connecting
 * (`socket._pendingData`), for bytes tfo holds for the SYN.
 */
export function setPendingData(socket: net.Socket, data: unknown): void {
  if (pendingDataOk) (socket as unknown as { _pendingData: unknown })._pendingData = data;
}
const pendingDataOk = privateOk(P.pendingData);

/** One write waiting in a Writable's buffer. */
export interface BufferedWrite {
  chunk: unknown;
  encoding: BufferEncoding | 'buffer';
}

define(
  P.writableBuffer,
  'load',
  'the writes queued behind the first one while connecting are offered to the SYN with it (up to one segment)',
  'only the first write made while connecting rides in the SYN; the others follow the handshake',
  () => {
    const s = scratchSocket();
    s.on('error', () => {});
    s.cork();
    s.write(Buffer.from('ab'));
    s.write('cd', 'latin1');
    const b = (s as unknown as { writableBuffer?: unknown }).writableBuffer as BufferedWrite[] | undefined;
    s.destroy();
    if (!Array.isArray(b) || b.length !== 2) return 'a corked socket with two writes does not list them';
    const [x, y] = b;
    const ok =
      Buffer.isBuffer(x.chunk) && x.chunk.toString() === 'ab' && x.encoding === 'buffer' && y.chunk === 'cd' && y.encoding === 'latin1';
    return ok ? null : 'its entries are not { chunk, encoding } as written';
  },
);
const writableBufferOk = privateOk(P.writableBuffer);

/**
 * The writes waiting in a socket's Writable buffer behind the one being
 * written (`writable.writableBuffer`, undocumented; net's own `bytesWritten`
 * reads it): tfo offers them to the SYN with the first one, without taking
 * them out of the buffer. Empty where that part is missing.
 */
export function writableBufferOf(socket: net.Socket): readonly BufferedWrite[] {
  if (!writableBufferOk) return [];
  return (socket as unknown as { writableBuffer?: BufferedWrite[] }).writableBuffer ?? [];
}

define(
  P.peername,
  'load',
  'tfo.http2 (h2c) gives the socket its peer while the kernel still defers the connect (getpeername() fails with ' +
    'ENOTCONN until the handshake completes, and net would report no peer meanwhile)',
  'remoteAddress and remotePort of such a socket are undefined until the handshake completes',
  () => {
    const s = scratchSocket() as net.Socket & { _peername?: unknown };
    s._peername = { address: '192.0.2.1', family: 'IPv4', port: 7 };
    return s.remoteAddress === '192.0.2.1' && s.remotePort === 7 && s.remoteFamily === 'IPv4'
      ? null
      : 'a socket with no handle does not report it as remoteAddress, remotePort, remoteFamily';
  },
);
const peernameOk = privateOk(P.peername);

/**
 * Sets net's cache of the peer address (`socket._peername`, what
 * `remoteAddress`/`remotePort`/`remoteFamily` read), for a socket whose
 * kernel still defers the connect: getpeername() fails with ENOTCONN until
 * the handshake completes, and net would report no peer meanwhile.
 */
export function setPeername(socket: net.Socket, peer: { address: string; family: 'IPv4' | 'IPv6'; port: number }): void {
  if (peernameOk) (socket as unknown as { _peername?: unknown })._peername = peer;
}

// ---- libuv handles: _handle, fd, open ----

/** A libuv TCP handle as Node's TCPWrap exposes it (net.Socket#_handle). */
export interface TcpHandle {
  /** The socket's fd, or -1 / undefined before libuv made one. */
  fd?: number;
  /** uv_tcp_open(): adopt an fd. Returns 0 or a negative errno. */
  open(fd: number): number;
}

/** Anything with a libuv fd: a TCP handle, a server's listening handle. */
export interface FdHolder {
  fd?: number;
}

/**
 * The scratch probe of the handle parts (first use: it needs a socket
 * descriptor, from the addon): a net.Socket made from a fresh TCP descriptor
 * (`new net.Socket({ fd })`, net's own documented way in) must hold a handle
 * in `_handle`, whose `fd` is that descriptor and whose `open(fd)` adopts it
 * (returns 0). No connect, no network. Undefined: not checked (no addon).
 */
let handleFindings: Partial<Record<PrivateName, string | null>> | undefined;
function probeHandles(name: PrivateName): string | null | undefined {
  if (!handleFindings) {
    const b = native.binding;
    if (!b) return undefined;
    const fd = b.socket(b.constants.AF_INET);
    if (fd < 0) return undefined;
    const found: Partial<Record<PrivateName, string | null>> = {};
    let s: net.Socket | null = null;
    try {
      s = new net.Socket({ fd, readable: false, writable: false });
    } catch (e) {
      b.close(fd);
      found[P.handleOpen] = `new net.Socket({ fd }) could not adopt a descriptor: ${(e as Error)?.message ?? String(e)}`;
    }
    if (s) {
      b.release(fd); // libuv's now (or net's socket's, to close)
      s.on('error', () => {});
      const h = (s as unknown as { _handle?: unknown })._handle as Partial<TcpHandle> | null | undefined;
      if (h === null || typeof h !== 'object') found[P.handle] = 'a socket made from a descriptor has no _handle';
      else {
        found[P.handle] = null;
        found[P.handleFd] = h.fd === fd ? null : `its handle's fd is ${String(h.fd)}, not the descriptor it was given`;
        if (typeof h.open !== 'function') found[P.handleOpen] = 'the handle has no open()';
        else {
          const r = h.open(fd); // the descriptor it holds: adopting it again changes nothing
          found[P.handleOpen] = r === 0 ? null : `open() of the handle's own descriptor returned ${String(r)}`;
        }
      }
      s.destroy();
    }
    handleFindings = found;
  }
  return handleFindings[name];
}

function defineHandlePart(name: PrivateName, usedFor: string, fallback: string): void {
  // Undefined (not checked: no addon, or the part it hangs on failed) leaves it unknown.
  define(name, 'first use', usedFor, fallback, () => probeHandles(name));
}

defineHandlePart(
  P.handle,
  "the connect attempt reaches a socket's TCP handle at 'connectionAttempt' (to give it a socket with " +
    'TCP_FASTOPEN_CONNECT); servers and accepted sockets are reached through theirs (TCP_FASTOPEN, TCP_INFO)',
  'clients use plain TCP; servers listen without TFO; socket.fastOpen is null',
);
defineHandlePart(
  P.handleFd,
  "the descriptor of a handle: the client's socket (TCP_INFO), the listening socket (TCP_FASTOPEN, keys), " + 'accepted sockets (TCP_INFO)',
  'clients use plain TCP; servers listen without TFO; socket.fastOpen is null',
);
defineHandlePart(
  P.handleOpen,
  'libuv makes its socket only in connect(): tfo makes one with TCP_FASTOPEN_CONNECT on and has the handle adopt it ' +
    '(uv_tcp_open) before net calls connect()',
  'clients use plain TCP (libuv makes its own socket)',
);

/** A stand-in for a handle that is not there: never used, the attempt falls back before touching it. */
const NO_HANDLE: TcpHandle = Object.freeze({ fd: -1, open: () => -1 });

/**
 * The socket's TCP handle: `socket._handle`, or for a TLS socket the TCP
 * handle its TLS wrap sits on (`_handle._parent`). Null when there is none.
 */
export function tcpHandleOf(socket: net.Socket): TcpHandle | null {
  const h = (socket as unknown as { _handle?: (TcpHandle & { _parent?: TcpHandle }) | null })._handle;
  if (!h) return null;
  return h._parent ?? h;
}

/**
 * The TCP handle of a socket at 'connectionAttempt', where net always has one
 * (it calls the handle's connect() right after): if there is none, the part
 * is recorded as broken and a stand-in comes back, whose attempt falls back
 * to plain TCP with that reason.
 */
export function attemptHandleOf(socket: net.Socket): TcpHandle {
  const h = tcpHandleOf(socket);
  if (h !== null && typeof h === 'object') return h;
  privateBroken(P.handle, "a socket had no _handle at 'connectionAttempt'");
  return NO_HANDLE;
}

/** The fd of a handle, or -1 (no handle, or libuv has not made the socket yet). */
export function fdOfHandle(handle: FdHolder | null | undefined): number {
  return handle && typeof handle.fd === 'number' ? handle.fd : -1;
}

/** The handle of a net.Socket or net.Server (`_handle`), or null. */
export function handleOf(holder: net.Socket | net.Server): FdHolder | null {
  return (holder as unknown as { _handle?: FdHolder | null })._handle ?? null;
}

/** The fd of a net.Socket or net.Server (its `_handle.fd`), or -1. */
export function fdOf(holder: net.Socket | net.Server): number {
  return fdOfHandle(handleOf(holder));
}

/**
 * Whether listen options name an existing handle or descriptor (`fd`,
 * `handle`, and net's undocumented alias `_handle`): those are net's to
 * listen on. (A name only: nothing of tfo's depends on net still reading it.)
 */
export function namesExistingHandle(options: object): boolean {
  return 'fd' in options || 'handle' in options || '_handle' in options;
}

define(
  P.acceptingServer,
  'first use',
  "tfo.fastOpenInfo(socket) on a socket accepted by a server tfo does not manage: role 'server' (checked on the " +
    "first connection a TFO server of tfo's accepts)",
  "such a socket's role is reported as 'client'",
);

/** The server that accepted a socket (`socket.server`), or null for a client socket. */
export function acceptingServerOf(socket: net.Socket): net.Server | null {
  const s = (socket as unknown as { server?: unknown }).server;
  return s instanceof net.Server ? s : null;
}

/** At accept by a server tfo manages: the socket's `server` is that server (what `acceptingServerOf` relies on). */
export function checkAcceptingServer(socket: net.Socket, server: net.Server): void {
  if (acceptingServerOf(socket) === server) privateSeen(P.acceptingServer);
}

// ---- tls (probed when tfo.tls loads, and on the first tfo.tls.connect socket) ----

/** What tfo touches on a client TLSSocket to start its handshake early. */
interface TlsStartInternals {
  connecting: boolean;
  _start?: (this: net.Socket) => void;
  _handle: { start?: () => void } | null;
}

define(
  P.tlsStart,
  'load',
  'tfo.tls.connect starts the TLS handshake itself (TLSSocket#_start, which reads _tlsOptions.requestOCSP, then ' +
    "the TLS wrap's start() writes the ClientHello) while net still counts the socket as connecting, so the " +
    'ClientHello goes into the deferred SYN',
  'tfo.tls.connect uses plain TCP (tls.connect as is)',
  () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- node:tls is loaded already (tfo.tls loads it)
    const { TLSSocket } = require('node:tls') as typeof import('node:tls');
    const start = (TLSSocket.prototype as unknown as TlsStartInternals)._start;
    if (typeof start !== 'function') return 'not a function';
    // A stand-in socket: _start must wait for 'connect' while connecting, and
    // call the wrap's start() once, synchronously, otherwise.
    const count = { deferred: 0, started: 0 };
    const fake = Object.create(TLSSocket.prototype) as Record<string, unknown>;
    fake._tlsOptions = { isServer: false, requestOCSP: false };
    fake.once = (event: string) => {
      if (event === 'connect') count.deferred++;
      return fake;
    };
    fake._handle = { start: () => count.started++ };
    fake.connecting = true;
    start.call(fake as unknown as net.Socket);
    if (count.deferred !== 1 || count.started !== 0) return "it does not wait for 'connect' while the socket is connecting";
    fake.connecting = false;
    start.call(fake as unknown as net.Socket);
    return (count.started as number) === 1 ? null : "it does not call the TLS wrap's start() once, synchronously, when connected";
  },
  'tls',
);
define(
  P.tlsWrapStart,
  'first use',
  "the TLS wrap's start() (writes the ClientHello; TLSWrap::Start runs once per handle): tfo.tls makes the later " +
    "call net's 'connect' would make a no-op for that handle",
  'tfo.tls.connect uses plain TCP (tls.connect as is)',
);
define(
  P.tlsWrapParent,
  'first use',
  'the TCP handle under a TLS wrap (the socket the connect attempt gives TCP_FASTOPEN_CONNECT)',
  'tfo.tls.connect uses plain TCP (tls.connect as is)',
);
define(
  P.tlsWrapConnect,
  'first use',
  "the connect request net hands to the TLS wrap right after 'connectionAttempt': tfo.tls holds its completion " +
    "until the kernel reports the connection established, so that 'connect' keeps its meaning",
  'tfo.tls.connect uses plain TCP (tls.connect as is)',
);
define(
  P.tlsParent,
  'tests',
  'tfo.fastOpenInfo(tlsSocket) looks through a TLS socket made over a net.Socket (server side) to the record made ' +
    'when that socket was accepted',
  "the TLS socket's own TCP_INFO is read instead (attempted: false)",
);

/**
 * Checks, on a TLSSocket tls.connect just made (first use), the parts tfo.tls
 * relies on: a TLS wrap in `_handle` with `start()`, `connect()` /
 * `connect6()` and the TCP handle under it (`_parent`). Records what it finds;
 * the attempt then falls back if one is missing.
 */
export function checkTlsSocket(socket: net.Socket): void {
  const h = (socket as unknown as { _handle?: Record<string, unknown> | null })._handle;
  if (h === null || typeof h !== 'object') {
    privateBroken(P.tlsWrapParent, 'a TLSSocket from tls.connect has no _handle');
    return;
  }
  const parent = h._parent as Partial<TcpHandle> | null | undefined;
  if (parent !== null && typeof parent === 'object' && typeof parent.open === 'function') privateSeen(P.tlsWrapParent);
  else privateBroken(P.tlsWrapParent, 'the TLS wrap has no TCP handle with open() in _parent');
  if (typeof h.start === 'function') privateSeen(P.tlsWrapStart);
  else privateBroken(P.tlsWrapStart, 'the TLS wrap has no start()');
  if (typeof h.connect !== 'function' || typeof h.connect6 !== 'function')
    privateBroken(P.tlsWrapConnect, 'the TLS wrap has no connect() / connect6()');
}

/** The socket a TLS socket was made over (`tlsSocket._parent`: server side, or `tls.connect({ socket })`), or null. */
export function tlsParentOf(socket: net.Socket): net.Socket | null {
  const p = (socket as unknown as { _parent?: unknown })._parent;
  return p instanceof net.Socket && p !== socket ? p : null;
}

/**
 * @internal The connect request net hands to a handle's `connect()` / `connect6()` (a
 * TCPConnectWrap). libuv's completion calls its `oncomplete` (net's
 * afterConnect, or afterConnectMultiple bound to its attempt) with
 * `(status, handle, req, readable, writable)`.
 */
export interface ConnectRequest {
  oncomplete: ((this: ConnectRequest, ...args: unknown[]) => unknown) | undefined;
  address: string;
  port: number;
}

type ConnectMethod = (this: object, req: ConnectRequest, ...rest: unknown[]) => number;

interface ConnectingHandle {
  connect?: ConnectMethod;
  connect6?: ConnectMethod;
}

/**
 * @internal Hands `onRequest` the connect request net passes next to the socket's handle
 * (`socket._handle.connect(req, ...)` / `connect6`; for a TLSSocket the TLS
 * wrap, which forwards to its TCP handle), before libuv sees it. net emits
 * 'connectionAttempt' right before that call: tfo shadows the two methods on
 * that one handle object for that one call (tfo.tls.connect needs the
 * request to decide when net learns that the connection is established).
 * If net has not made that call by the next tick (and the socket is still
 * connecting), the part is recorded as broken: later connections fall back.
 */
export function captureNextConnect(socket: net.Socket, onRequest: (req: ConnectRequest) => void): boolean {
  const handle = (socket as unknown as { _handle: ConnectingHandle | null })._handle;
  if (!handle || typeof handle.connect !== 'function' || typeof handle.connect6 !== 'function') {
    privateBroken(P.tlsWrapConnect, 'the TLS wrap has no connect() / connect6()');
    return false;
  }
  const { connect, connect6 } = handle; // the prototype's methods
  let pending = true;
  const restore = () => {
    pending = false;
    delete handle.connect;
    delete handle.connect6;
  };
  const capture = (method: ConnectMethod): ConnectMethod =>
    function captured(this: object, req: ConnectRequest, ...rest: unknown[]): number {
      restore();
      if (req !== null && typeof req === 'object' && typeof req.oncomplete === 'function') {
        privateSeen(P.tlsWrapConnect);
        onRequest(req);
      } else privateBroken(P.tlsWrapConnect, 'the connect request net passed has no oncomplete()');
      return method.call(this, req, ...rest);
    };
  handle.connect = capture(connect);
  handle.connect6 = capture(connect6);
  process.nextTick(() => {
    if (!pending) return;
    restore();
    if (socket.connecting && !socket.destroyed)
      privateBroken(P.tlsWrapConnect, "net did not call the handle's connect() right after 'connectionAttempt'");
  });
  return true;
}

function alreadyStarted(): void {}

/**
 * @internal Starts a client TLSSocket's handshake now, while net still counts the socket
 * as connecting: runs TLSSocket#_start (OCSP request if asked for, then the TLS
 * wrap's start(), which writes the ClientHello) as net's 'connect' would, and
 * makes the call that 'connect' still makes later a no-op for this handle
 * (TLSWrap::Start CHECKs that it runs once per handle: a second call aborts
 * the process). A later handle (happy eyeballs' next attempt) starts normally.
 */
export function startTlsHandshakeNow(socket: net.Socket): boolean {
  const s = socket as unknown as TlsStartInternals;
  const handle = s._handle;
  if (!handle || typeof handle.start !== 'function' || typeof s._start !== 'function' || !s.connecting) return false;
  s.connecting = false; // _start() defers itself to 'connect' while connecting
  try {
    s._start.call(socket);
  } finally {
    s.connecting = true;
    handle.start = alreadyStarted; // own property: shadows TLSWrap.prototype.start on this handle only
  }
  return true;
}

// ---- node:http / node:https agents (used by lib/http/agent.ts, lib/http/https.ts) ----

interface HttpsSessionCache {
  _getSession?(key: string): Buffer | undefined;
  _cacheSession?(key: string, session: Buffer): void;
  _evictSession?(key: string): void;
}

define(
  P.agentKey,
  'load',
  "the key Node's Agent#createSocket gives the options it hands to createConnection (= agent.getName(options)): " +
    "tfo.https.Agent resumes and caches TLS sessions in Node's own cache under it, as https.Agent does",
  'tfo.https.Agent neither resumes nor caches sessions (every connection makes a full TLS handshake); TFO is unaffected',
  () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- node:https is loaded already (tfo.https loads it)
    const https = require('node:https') as typeof import('node:https');
    const agent = new https.Agent();
    let given: Record<string, unknown> | undefined;
    (agent as unknown as { createConnection: unknown }).createConnection = (options: Record<string, unknown>) => {
      given = options;
      return undefined; // no socket: createSocket stops here
    };
    const createSocket = (agent as unknown as { createSocket?: (...a: unknown[]) => void }).createSocket;
    if (typeof createSocket !== 'function') return 'https.Agent has no createSocket()';
    createSocket.call(agent, { getHeader: () => undefined }, { host: 'h', port: 1 }, () => {});
    if (!given) return 'createSocket() did not call createConnection()';
    const key = given._agentKey;
    return typeof key === 'string' && key === agent.getName(given)
      ? null
      : `the options createConnection gets carry _agentKey ${JSON.stringify(key)}, not agent.getName(options)`;
  },
  'https',
);
define(
  P.agentSessions,
  'load',
  "https.Agent's session cache: tfo.https.Agent resumes a cached session, caches new ones and forgets one after a " +
    'connection closed with an error, as https.Agent#createConnection does',
  'tfo.https.Agent neither resumes nor caches sessions (every connection makes a full TLS handshake); TFO is unaffected',
  () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- node:https is loaded already
    const https = require('node:https') as typeof import('node:https');
    const agent = new https.Agent() as unknown as HttpsSessionCache;
    const { _getSession: get, _cacheSession: put, _evictSession: evict } = agent;
    if (typeof get !== 'function' || typeof put !== 'function' || typeof evict !== 'function') return 'a method is missing';
    const session = Buffer.from('s');
    put.call(agent, 'k', session);
    if (get.call(agent, 'k') !== session) return '_getSession() does not return what _cacheSession() cached';
    evict.call(agent, 'k');
    return get.call(agent, 'k') === undefined ? null : '_evictSession() does not forget it';
  },
  'https',
);

const agentKeyOk = (): boolean => privateOk(P.agentKey) && privateOk(P.agentSessions);

/**
 * The key Node's `Agent#createSocket` gives the options it hands to
 * `createConnection` (`options._agentKey`, = `agent.getName(options)`):
 * https.Agent keys its TLS session cache with it. Undefined where the parts
 * are missing (no resumption).
 */
export function agentKeyOf(options: object): string | undefined {
  if (!agentKeyOk()) return undefined;
  const key = (options as { _agentKey?: unknown })._agentKey;
  return typeof key === 'string' && key !== '' ? key : undefined;
}

/** https.Agent's session cache (`agent._getSession(key)`): the TLS session to resume for a key. */
export function agentSession(agent: object, key: string): Buffer | undefined {
  return (agent as HttpsSessionCache)._getSession?.(key);
}

/** https.Agent's session cache (`agent._cacheSession(key, session)`), bounded by its `maxCachedSessions`. */
export function cacheAgentSession(agent: object, key: string, session: Buffer): void {
  (agent as HttpsSessionCache)._cacheSession?.(key, session);
}

/** https.Agent's session cache (`agent._evictSession(key)`): forgets a session after a connection closed with an error. */
export function evictAgentSession(agent: object, key: string): void {
  (agent as HttpsSessionCache)._evictSession?.(key);
}

define(
  P.perRequestIdentity,
  'tests',
  'Node 22 and later mark the options of a request with its own checkServerIdentity: tfo.https.Agent then neither ' +
    'resumes nor caches a session for it and marks its socket so that https.Agent#keepSocketAlive does not pool it, ' +
    'as Node does',
  "without the mark such a request's session is cached, and its socket pooled, under its own one-off key (Node " +
    "puts the request's number in agent.getName()), so neither is ever used for another request",
);

/**
 * Node 22, 24, 26 (the releases tested here; not 20): https.request marks the options of a request that brings its
 * own `checkServerIdentity` with a module-private symbol ('per-request
 * checkServerIdentity'); https.Agent#createConnection then neither resumes a
 * cached session for it nor caches one, and marks the socket with the same
 * symbol so that `https.Agent#keepSocketAlive` never pools it. Returns that
 * symbol when `options` carries the mark, else undefined.
 */
export function perRequestIdentityMark(options: object): symbol | undefined {
  for (const s of Object.getOwnPropertySymbols(options)) {
    if (s.description === 'per-request checkServerIdentity' && (options as Record<symbol, unknown>)[s]) return s;
  }
  return undefined;
}

/** Puts that mark on a socket, as https.Agent#createConnection does (`socket[mark] = true`). */
export function markSocket(socket: object, mark: symbol): void {
  (socket as Record<symbol, unknown>)[mark] = true;
}

function proxyConfigSymbol(agent: object): symbol | undefined {
  return Object.getOwnPropertySymbols(agent).find((s) => s.description === 'kProxyConfig');
}

define(
  P.proxyConfig,
  'load',
  'the proxy an agent was configured with (its proxyEnv option, or NODE_USE_ENV_PROXY): an agent with one has ' +
    "Node's own createConnection connect (tunnels, NO_PROXY), without TFO",
  "an agent given a proxyEnv object connects through Node's own createConnection (without TFO) whether or not a " +
    'proxy applies: a proxy is never bypassed',
  () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- node:http is loaded already (tfo.http/https load it)
    const http = require('node:http') as typeof import('node:http');
    const agent = new http.Agent({ proxyEnv: { HTTP_PROXY: 'http://127.0.0.1:9' } } as never);
    const s = proxyConfigSymbol(agent);
    const config = s === undefined ? undefined : (agent as unknown as Record<symbol, unknown>)[s];
    if (config !== null && typeof config === 'object') return null;
    // No config: fine where this Node has no agent proxies (it ignores proxyEnv), not where it has them.
    return process.allowedNodeEnvironmentFlags.has('--use-env-proxy')
      ? 'this Node has agent proxies (--use-env-proxy), but an agent given proxyEnv carries no kProxyConfig'
      : null;
  },
  'http',
);

/**
 * Whether an agent has a proxy: Node 22, 24, 26 keep the one an agent was
 * configured with in `agent[kProxyConfig]` (from its `proxyEnv` option or
 * NODE_USE_ENV_PROXY; null when no proxy applies). Where that part is
 * missing, any `proxyEnv` object the agent was given counts (conservative:
 * Node's own createConnection then decides).
 */
export function agentHasProxy(agent: object, proxyEnv: unknown): boolean {
  if (!privateOk(P.proxyConfig)) return proxyEnv !== null && typeof proxyEnv === 'object';
  const s = proxyConfigSymbol(agent);
  const config = s === undefined ? null : (agent as Record<symbol, unknown>)[s];
  return config !== null && typeof config === 'object';
}

// ---- http2 ----

define(
  P.socketFactory,
  'first use',
  'http2.connect makes its socket with net.connect({ port, host, ...options }) (http:) or tls.connect(port, host, ' +
    'options) (https:), read off those module objects when it runs (internal/http2/core, Node 20-26), after its own ' +
    'option processing: tfo.http2 gives that one call its own socket',
  "the session runs over Node's own socket: plain TCP, session.fastOpen is null",
);

/** A module whose `connect` makes sockets: node:net or node:tls. */
export interface SocketFactoryModule {
  connect: (...args: never[]) => net.Socket;
}

/**
 * Runs `call` with the `connect` of each of `modules` (node:net, node:tls)
 * wrapped for the duration of that synchronous call. Node's `http2.connect`
 * makes its socket with `net.connect({ port, host, ...options })` (`http:`)
 * or `tls.connect(port, host, options)` (`https:`), looked up on those
 * module objects when it runs (internal/http2/core, Node 20–26), after its
 * own option processing (ALPN, servername, validation). tfo.http2 gives that
 * one call its own socket: the first `connect` called inside `call` goes to
 * `make(module, original, args)` instead, with every original put back
 * before `make` runs; in any case all are back when this returns. Returns
 * what `call` returned (`made` is false when Node did not call either, e.g.
 * with the caller's own `createConnection`: otherwise that records the part
 * as broken, and later calls leave Node alone).
 */
export function interceptSocketFactory<R>(
  modules: readonly SocketFactoryModule[],
  make: (module: SocketFactoryModule, original: SocketFactoryModule['connect'], args: unknown[]) => net.Socket,
  call: () => R,
): { result: R; made: boolean } {
  if (!privateOk(P.socketFactory)) return { result: call(), made: false };
  const originals = modules.map((m) => m.connect);
  const wrapped: number[] = [];
  let made = false as boolean;
  const restore = () => {
    for (const i of wrapped.splice(0)) modules[i].connect = originals[i];
  };
  try {
    modules.forEach((m, i) => {
      m.connect = function connect(...args: unknown[]): net.Socket {
        restore();
        made = true;
        return make(m, originals[i], args);
      };
      wrapped.push(i);
    });
  } catch {
    restore(); // a frozen module: Node makes its own socket (no TFO)
    privateBroken(P.socketFactory, "node:net's or node:tls's connect cannot be replaced (a frozen module)");
  }
  let result: R;
  try {
    result = call();
  } finally {
    restore();
  }
  if (made) privateSeen(P.socketFactory);
  else privateBroken(P.socketFactory, 'http2.connect made its session without calling net.connect or tls.connect');
  return { result, made };
}

// ---- cluster ----

define(
  P.roundRobin,
  'first use',
  'tfo.enableClusterFastOpen() recognises, in the cluster primary, the listening server the cluster module opens ' +
    "for round-robin workers: a plain net.Server whose only 'connection' listener is Node's internal assertion " +
    "(a function named 'fail': lib/internal/cluster/round_robin_handle.js); seen when the first one listens",
  "round-robin listening sockets get no TFO (ClusterFastOpenState.listeners stays empty); workers' servers with " +
    'exclusive: true or SCHED_NONE are not affected',
);

/**
 * Whether a server that just listened in the cluster primary is one the
 * cluster module opened for round-robin workers: its only 'connection'
 * listener is Node's internal assertion function (`net.createServer(assert.fail)`),
 * recognised by its name; no source text is read.
 */
export function isRoundRobinServer(server: net.Server): boolean {
  const listeners = server.listeners('connection');
  if (listeners.length !== 1 || listeners[0].name !== 'fail') return false;
  privateSeen(P.roundRobin);
  return true;
}

// ---- accepted sockets (used by lib/core/saved.ts) ----

const peerScratch: { address?: unknown } = {};

/**
 * The peer address of a connected TCP socket, from its handle's
 * `getpeername(out)` (TCPWrap: one getpeername() syscall, 0 on success),
 * without `socket.remoteAddress`'s caching of a `_peername` object on the
 * socket for its whole life (tfo needs the address once, for the server's
 * time-saved estimate). Undefined when the socket has no handle or the call fails.
 */
export function peerAddressOf(socket: net.Socket): string | undefined {
  const handle = (socket as unknown as { _handle: { getpeername?: (out: object) => number } | null })._handle;
  if (!handle || typeof handle.getpeername !== 'function') return undefined;
  peerScratch.address = undefined;
  if (handle.getpeername(peerScratch) !== 0) return undefined;
  return typeof peerScratch.address === 'string' ? peerScratch.address : undefined;
}
