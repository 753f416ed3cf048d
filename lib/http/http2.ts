// tfo.http2.connect: http2.connect over a TCP Fast Open connection.
//
// http2.connect keeps doing everything (parsing the authority, validating and
// completing the options, ALPN, servername, the ClientHttp2Session); tfo only
// gives it its socket, made from the very arguments Node would have used:
//
// - https: (TLS, ALPN h2): tfo.tls.connect. On returning connections the
//   ClientHello rides in the SYN; 'connect' and errors keep their meaning
//   (tfo.tls holds them until the TLS handshake proves the connection).
//   Time to the first response: 2 RTT instead of 3.
// - http: (h2c, prior knowledge): net.connect plus tfo's connect attempt. When
//   the kernel holds a cookie it defers the connect and reports the socket
//   writable, so libuv reports it connected at once; the session then sets
//   up, and its first write — the connection preface, the client SETTINGS
//   and the requests made before 'connect' — is what sends the SYN. Time to
//   the first response: 1 RTT instead of 2. Node's session writes straight
//   to the libuv handle, so no JavaScript write interception could see those
//   bytes: handing the still-deferred connect to the session is the only way
//   for them to ride in the SYN. The session's 'connect' is held until the
//   kernel reports the connection established (the SYN-ACK, learnt as
//   tfo.tls learns it; or the server's first frame, if that is handled
//   first), so it keeps its meaning and a refused connection gives http2.connect's
//   `connect ECONNREFUSED host:port` without 'connect'; only the work Node
//   queued for 'connect' (those requests) runs when Node emits it. What
//   remains different is said in README.md (HTTP/2);
//   `fastOpen: { synData: false }` keeps exact parity.
//
// Requests riding in a SYN can, rarely, reach the server twice (RFC 7413 §6):
// by default only requests with idempotent methods, and not on a retry, may
// (`replay`, `retryWindowMs`: the one decision of ./replay.ts, as for
// tfo.http.Agent); any other request made while the SYN has not left sends
// the SYN with the cookie alone first, and everything follows the handshake.
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { promisify } from 'node:util';

import { exceptionWithHostPort, invalidArgType } from '../base/errors';
import { attemptHandleOf, interceptSocketFactory, setPeername, tcpHandleOf, type SocketFactoryModule } from '../base/internals';
import {
  afterSynWrite,
  connectDeferred,
  controlReason,
  countError,
  countRequested,
  finishAttempt,
  normalizeFastOpenOption,
  readCookieState,
  sendInSyn,
  startAttempt,
  SYN_PENDING,
  type Attempt,
  type ClientFastOpenOptions,
} from '../core/attempt';
import type { FastOpenInfo } from '../core/outcome';
import { Failures, mayRide, normalizePolicy, watchesRetries, type Policy, type ReplayPolicy } from './replay';
import { endFirstByteWatch, waitEstablished } from './established';
import { connect as tlsConnect } from './tls';

export type { ReplayInfo, ReplayPolicy } from './replay';

/** TFO options for an HTTP/2 session: those of tfo.connect / tfo.tls.connect, plus `replay` and `retryWindowMs` as for the agents. */
export type Http2FastOpenOptions = Omit<ClientFastOpenOptions, 'synData'> & {
  /**
   * `false`: nothing rides in the SYN (TFO still sends and refreshes the
   * cookie; h2c then behaves exactly as http2.connect, event for event).
   * Default true. (Not a function here: the session's bytes never pass
   * through JavaScript.)
   */
  synData?: boolean;
  /**
   * Which h2c requests may ride in the SYN with the connection preface, as
   * for tfo.http.Agent: `'idempotent'` (default: GET, HEAD, OPTIONS, TRACE,
   * PUT, DELETE, not on a retry), `'all'`, `'none'`, or a predicate. The
   * preface and SETTINGS themselves always may (a replayed preface is
   * harmless). With TLS the SYN carries the ClientHello and requests never
   * ride, so this does not apply.
   */
  replay?: ReplayPolicy;
  /** How long after a failed connection the next session to that origin counts as a retry. Default 30 000 ms. */
  retryWindowMs?: number;
};

/** `true` (default) or options: TFO; `false`: plain TCP. */
export type FastOpenOption = boolean | Http2FastOpenOptions;

/** `http2.connect`'s options (`SecureClientSessionOptions` for `https:`), plus `fastOpen`. */
export type ConnectOptions = http2.SecureClientSessionOptions & { fastOpen?: FastOpenOption };

/** A ClientHttp2Session over TFO: `fastOpen` says what TFO did (null until the connection is known established). */
export type FastOpenClientHttp2Session = http2.ClientHttp2Session & { readonly fastOpen: FastOpenInfo | null };

interface Plan {
  socket: ClientFastOpenOptions | false;
  synData: boolean;
  policy: Policy | false;
}

function normalizePlan(value: unknown): Plan {
  const socket = normalizeFastOpenOption(value); // the connect attempt's options (noCookie, synData, ...)
  const policy = normalizePolicy(value); // the replay guard's (replay, retryWindowMs), as for the agents
  const synData = value !== null && typeof value === 'object' ? (value as { synData?: unknown }).synData : undefined;
  if (typeof synData === 'function') throw invalidArgType('options.fastOpen.synData', 'boolean', synData);
  return { socket, synData: socket !== false && socket.synData !== false, policy };
}

/** The one replay decision (./replay), for a request made on an h2c session before its SYN left. */
function requestMayRide(conn: H2cConnection, headers: unknown): boolean {
  const policy = conn.plan.policy;
  if (policy === false) return false;
  const h = headers !== null && typeof headers === 'object' ? (headers as Record<string, unknown>) : {};
  return mayRide(policy, {
    method: typeof h[':method'] === 'string' ? h[':method'] : 'GET',
    host: conn.origin.host,
    port: conn.origin.port,
    path: typeof h[':path'] === 'string' ? h[':path'] : '/',
    retry: conn.retry,
  });
}

/** Failures of h2c connections by origin (the retry rule: never let a request ride right after one). */
const failures = new Failures();

const EMPTY = Buffer.alloc(0);
// Failures of a connect that libuv reported early (deferred) surface on the
// first read or write; they are reported as http2.connect reports them.
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

type ErrnoError = Error & { code?: string; errno?: number; syscall?: string };

/** Node's own methods that queue work for 'connect' while the session is connecting. */
const QUEUEING_METHODS = ['request', 'settings', 'goaway'] as const;

type Emit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;
type Listener = (...args: unknown[]) => unknown;

/** One h2c session's connection: the attempt, the decision, the outcome. */
class H2cConnection {
  readonly socket: net.Socket;
  readonly plan: Plan;
  /** Why the connection is in the rollout's control cohort (decided once, for the origin), or null. */
  readonly control: string | null;
  session: http2.ClientHttp2Session | null = null;
  /** The origin as http2.connect understood it (host, port): for the replay decision and the retry rule. */
  origin = { host: '', port: 0 };
  /** A connection to this origin failed (before any answer) within the policy's retry window. */
  retry = false;
  attempt: Attempt | null = null;
  info: FastOpenInfo | null = null;
  /** The kernel deferred the connect and the session's first write sends the SYN. */
  handoff = false;
  /** The decision (next tick after the attempt) has been made. */
  decided = false;
  /** A request the replay policy keeps out of the SYN was made before the decision. */
  withhold = false;
  /** The session's 'connect' as Node emitted it, held until the connection is known established. */
  heldConnect: unknown[] | null = null;
  /** 'connect' listeners that Node's own methods added (queued requests, SETTINGS, GOAWAY). */
  readonly queued = new WeakSet<Listener>();
  /** Stops the wait for the SYN-ACK (null when not waiting). */
  stopWaiting: (() => void) | null = null;
  /** The socket's 'end', held while waiting (see #watchSocket). */
  heldEnd: (() => void) | null = null;

  constructor(socket: net.Socket, plan: Plan, control: string | null) {
    this.socket = socket;
    this.plan = plan;
    this.control = control;
    const isControl = plan.socket === false || control !== null;
    countRequested(isControl);
    const onAttempt = (address: string, port: number, family: number) => this.#onAttempt(address, port, family);
    socket.on('connectionAttempt', onAttempt);
    socket.once('connect', () => {
      socket.off('connectionAttempt', onAttempt);
      const attempt = this.attempt;
      if (!this.handoff)
        this.established(); // libuv saw the handshake complete
      // Reported while the kernel defers: the peer is known, getpeername() cannot say it yet.
      else if (attempt)
        setPeername(socket, { address: attempt.address, family: attempt.family === 6 ? 'IPv6' : 'IPv4', port: attempt.port });
    });
    if (watchesRetries(plan.policy)) {
      // The retry rule's memory: a connection that failed before any answer (at its error, so the
      // next session knows at once), or the answered retry that ends it (at close).
      socket.once('error', (err: Error) => failures.ended(this.#originKey(), socket, err));
      socket.once('close', () => failures.ended(this.#originKey(), socket, null));
    }
    socket.once('close', () => {
      // An error before the connection was known established (the server's first frame follows at once): per cohort.
      if (this.info === null && socket.errored) countError(isControl, socket.errored);
      socket.off('connectionAttempt', onAttempt);
      this.#stopWaiting();
      this.#release(false);
      this.attempt = null;
    });
    Object.defineProperty(socket, 'fastOpen', { configurable: true, enumerable: false, get: () => this.info });
  }

  #originKey(): string {
    return `${this.origin.host}:${this.origin.port}`;
  }

  /** Records the origin, and whether this session is a retry (then it is the one whose answer ends the retry state). */
  setOrigin(authority: unknown): void {
    this.origin = originOf(authority);
    const policy = this.plan.policy;
    if (!watchesRetries(policy)) return;
    this.retry = failures.isRetry(this.#originKey(), policy.retryWindowMs);
    if (this.retry) failures.opened(this.#originKey(), this.socket);
  }

  /** The connection is still being opened (net's `connecting`, from connect() to 'connect'). */
  attemptPending(): boolean {
    return this.socket.connecting && !this.socket.destroyed;
  }

  #onAttempt(address: string, port: number, family: number): void {
    const attempt = startAttempt(
      attemptHandleOf(this.socket),
      address,
      port,
      family,
      this.plan.socket,
      this.socket,
      undefined,
      this.control,
    );
    this.attempt = attempt;
    this.decided = false;
    if (attempt.tfo) process.nextTick(H2cConnection.#decide, this, attempt);
    else this.#release(false);
  }

  // Next tick after the attempt: connect() has been called, libuv has not polled yet.
  static #decide(self: H2cConnection, attempt: Attempt): void {
    if (self.attempt !== attempt || !self.socket.connecting || self.socket.destroyed) return;
    self.decided = true;
    // A SYN asking for a cookie has left (first contact): data follows the handshake, as with net.
    if (readCookieState(attempt) !== 'sent') return self.#release(false);
    if (!self.plan.synData || self.withhold) return self.#sendBareSyn(attempt);
    self.handoff = true;
    attempt.synDataBytes = null; // libuv writes the preface: the count is not ours to know
    self.#watchSocket(attempt);
    // The server's first frame (its SETTINGS, RFC 9113 §3.4) also proves the connection
    // established, and may be handled before the kernel's word (see bind(): the held 'connect'
    // goes out before 'remoteSettings' is emitted). Node reports SETTINGS frames only to a
    // session with a 'remoteSettings' listener: this one.
    self.session?.prependOnceListener('remoteSettings', () => self.established());
  }

  /** The SYN leaves now with the cookie alone; the session's bytes follow the handshake. */
  #sendBareSyn(attempt: Attempt): void {
    attempt.synDataWithheld = true;
    sendInSyn(attempt, EMPTY);
    this.#release(true);
    this.handoff = false;
  }

  /**
   * After the session's first write (Node writes in a native immediate, which
   * runs before JavaScript's in the same turn): the SYN has left with the
   * preface; 'connect' is released when the kernel reports the connection
   * established (the SYN-ACK), or at the server's first frame if that is
   * handled first.
   */
  static #afterFirstWrite(self: H2cConnection, attempt: Attempt): void {
    if (self.attempt !== attempt || self.heldConnect === null || self.socket.destroyed) return;
    const progress = afterSynWrite(attempt);
    if (progress === 0) return self.established(); // loopback: established inside the write
    if (progress !== SYN_PENDING) return self.#failed(attempt, progress); // refused already (loopback)
    self.stopWaiting = waitEstablished(
      attempt.fd,
      (status) => {
        self.stopWaiting = null;
        const heldEnd = self.heldEnd;
        self.heldEnd = null;
        if (self.attempt !== attempt || self.socket.destroyed) return;
        if (status !== 0) return self.#failed(attempt, status);
        self.established();
        if (heldEnd) heldEnd();
      },
      true,
    );
  }

  /**
   * The connect failed (the kernel's error was taken by afterSynWrite or the
   * wait, so no read reports it): the socket fails as net's read of it would,
   * with http2.connect's error, which Node hands to the session and its streams.
   */
  #failed(attempt: Attempt, errno: number): void {
    this.socket.destroy(exceptionWithHostPort(errno, 'connect', attempt.address, attempt.port));
  }

  #stopWaiting(): void {
    const stop = this.stopWaiting;
    this.stopWaiting = null;
    if (stop) stop();
  }

  /** Once established: the outcome from TCP_INFO (counted, reported to the backoff), and the held 'connect'. */
  established(): void {
    this.#stopWaiting();
    const attempt = this.attempt;
    if (attempt && !this.info) {
      this.attempt = null;
      const tcp = tcpHandleOf(this.socket);
      this.info = finishAttempt(attempt, typeof tcp?.fd === 'number' ? tcp.fd : attempt.fd);
    }
    delete (this.socket as unknown as { emit?: unknown }).emit; // the socket's own emit again (if #watchSocket wrapped it)
    this.#release(true);
  }

  /**
   * While the connect is deferred, a refusal (or an unreachable network, a
   * timeout) shows up as an error on the first read or write: reported as
   * http2.connect reports it (`connect ECONNREFUSED host:port`), to the
   * session and its streams alike, and 'connect' is never emitted. Any other
   * error, or the end of the stream, means the peer had accepted.
   */
  #watchSocket(attempt: Attempt): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the emit below has its own `this` (the socket) and needs both
    const conn = this;
    const own = this.socket as unknown as { emit: Emit };
    const protoEmit = own.emit;
    own.emit = function emit(this: unknown, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'error') {
        const err = args[0] as ErrnoError | undefined;
        const connectFailure = err !== undefined && err !== null && CONNECT_ERRORS.has(err.code ?? '');
        if (connectFailure && (err.syscall === 'read' || err.syscall === 'write') && err.errno)
          args[0] = exceptionWithHostPort(err.errno, 'connect', attempt.address, attempt.port);
        else if (!connectFailure || err.syscall !== 'connect') conn.established();
      } else if (event === 'end') {
        // Waiting for the kernel's word: an end of stream now may be a refusal whose error the
        // wait took (the two descriptors share it); the wait decides, and the end follows a success.
        if (conn.stopWaiting) {
          conn.heldEnd = () => protoEmit.call(this, event, ...args);
          return true;
        }
        conn.established();
      }
      return protoEmit.call(this, event, ...args);
    };
  }

  /**
   * The session made over this connection. Until the connection is known
   * established its 'connect' is held — so it keeps its meaning, and a
   * refused connection gives 'error' without 'connect', as http2.connect —
   * while the work Node queued for 'connect' (requests, SETTINGS, GOAWAY
   * made before it) runs when Node emits it: that is what rides in the SYN.
   * Requests are also checked against the replay policy while they could
   * still ride.
   */
  bind(session: http2.ClientHttp2Session): void {
    this.session = session;
    if (!this.attemptPending() || !this.plan.synData) return; // nothing can be handed off
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the methods below have their own `this` (the session) and need both
    const conn = this;
    const s = session as unknown as Record<string, unknown> & { emit: Emit };
    const proto = Object.getPrototypeOf(session) as Record<string, (this: unknown, ...a: unknown[]) => unknown>;
    for (const name of QUEUEING_METHODS) {
      const original = proto[name];
      if (typeof original !== 'function') continue;
      s[name] = function (this: http2.ClientHttp2Session, ...args: unknown[]) {
        if (name === 'request' && !requestMayRide(conn, args[0])) conn.#keepOutOfSyn();
        const before = this.rawListeners('connect');
        const result = original.apply(this, args);
        for (const l of this.rawListeners('connect')) if (!before.includes(l)) conn.queued.add(l as Listener);
        return result;
      };
    }
    const protoEmit = s.emit;
    s.emit = function emit(this: unknown, event: string | symbol, ...args: unknown[]): boolean {
      // (A session closed before it connected has nothing to send: its 'connect' is not held.)
      if (event === 'connect' && conn.handoff && !session.closed && !session.destroyed && conn.heldConnect === null) {
        conn.heldConnect = args;
        for (const l of session.rawListeners('connect')) if (conn.queued.has(l as Listener)) (l as Listener).apply(session, args);
        if (conn.attempt) setImmediate(H2cConnection.#afterFirstWrite, conn, conn.attempt);
        return session.listenerCount('connect') > 0;
      }
      if (event === 'remoteSettings' && conn.heldConnect !== null) {
        // The server's first frame: 'connect' goes first, as it did on http2.connect's
        // socket 'connect'; a session a 'connect' listener destroyed hears no more.
        conn.established();
        if (session.destroyed) return false;
      }
      return protoEmit.call(this, event, ...args);
    };
  }

  /** Stops holding: emits the held 'connect' if `emit` (the connection is established), and unwraps the session. */
  #release(emit: boolean): void {
    const session = this.session;
    if (!session) return;
    const s = session as unknown as Record<string, unknown>;
    for (const name of [...QUEUEING_METHODS, 'emit']) if (Object.prototype.hasOwnProperty.call(s, name)) delete s[name];
    const held = this.heldConnect;
    this.heldConnect = null;
    if (emit && held && !session.destroyed) session.emit('connect', ...held);
  }

  #keepOutOfSyn(): void {
    const attempt = this.attempt;
    if (!this.decided || !attempt) {
      this.withhold = true; // the decision will send a bare SYN
      return;
    }
    // Handed off: if the kernel still defers, the SYN leaves bare now, before this request is written.
    if (this.handoff && connectDeferred(attempt)) {
      attempt.synDataWithheld = true;
      sendInSyn(attempt, EMPTY);
    }
  }
}

const FACTORIES = [net, tls] as unknown as readonly SocketFactoryModule[];

/**
 * Drop-in for `http2.connect(authority[, options][, listener])`: the same
 * options, events and errors, plus `fastOpen`. With `https:` the TLS
 * ClientHello rides in the SYN of returning connections; with `http:` (h2c)
 * the connection preface, SETTINGS and the requests made before 'connect'
 * do ('connect' itself waits for the server, as with http2.connect). With your own `createConnection`, Node uses your socket as
 * given (pass a tfo socket there for TFO).
 */
export function connect(
  authority: string | URL,
  listener?: (session: http2.ClientHttp2Session, socket: net.Socket | tls.TLSSocket) => void,
): FastOpenClientHttp2Session;
export function connect(
  authority: string | URL,
  options?: ConnectOptions,
  listener?: (session: http2.ClientHttp2Session, socket: net.Socket | tls.TLSSocket) => void,
): FastOpenClientHttp2Session;
export function connect(authority: unknown, options?: unknown, listener?: unknown): FastOpenClientHttp2Session {
  if (typeof options === 'function') {
    listener = options;
    options = undefined;
  }
  let rest = options;
  let fastOpen: unknown;
  // Anything but an object is left to http2.connect, which rejects it with its own error.
  if (options !== null && typeof options === 'object' && !Array.isArray(options)) {
    const { fastOpen: value, ...others } = options as Record<string, unknown>;
    fastOpen = value;
    rest = others;
  }
  const plan = normalizePlan(fastOpen); // validate before anything connects
  const nodeConnect = http2.connect as (...a: unknown[]) => http2.ClientHttp2Session;

  let made: net.Socket | null = null;
  let h2c: H2cConnection | null = null;
  const userCreate = (rest as { createConnection?: unknown } | undefined)?.createConnection;
  let session: http2.ClientHttp2Session;
  if (typeof userCreate === 'function') {
    // The caller makes the socket: Node uses it as given; its fastOpen (a tfo socket's) is reported.
    (rest as { createConnection: unknown }).createConnection = (...a: unknown[]) =>
      (made = (userCreate as (...a: unknown[]) => net.Socket)(...a));
    session = nodeConnect(authority, rest, listener);
  } else {
    session = interceptSocketFactory(
      FACTORIES,
      (module, original, args) => {
        if (module === (tls as unknown)) {
          // tls.connect(port, host, options): the same, through tfo.tls.
          const i = args.findIndex((a) => a !== null && typeof a === 'object');
          const withTfo =
            i < 0 ? [...args, { fastOpen: plan.socket }] : args.map((a, j) => (j === i ? { ...(a as object), fastOpen: plan.socket } : a));
          // tfo.tls decides the rollout's cohort from the same host and port and counts it.
          const tlsSocket = (tlsConnect as (...a: unknown[]) => net.Socket)(...withTfo);
          // The session reads the TLS socket natively, never through its push(): tfo.tls's
          // time to first byte cannot see the first byte, so its watch ends at the handshake.
          tlsSocket.once('secureConnect', () => endFirstByteWatch(tlsSocket as tls.TLSSocket));
          made = tlsSocket;
        } else {
          // net.connect({ port, host, ...options }): Node's own socket, with tfo's connect attempt;
          // the rollout's cohort decided once, for the origin as given (before DNS), as tfo.connect does.
          const o = (args[0] ?? {}) as { host?: unknown; port?: unknown };
          const host = typeof o.host === 'string' && o.host !== '' ? o.host : 'localhost';
          made = (original as (...a: unknown[]) => net.Socket).apply(module, args);
          h2c = new H2cConnection(made, plan, controlReason(plan.socket, host, Number(o.port)));
        }
        return made;
      },
      () => nodeConnect(authority, rest, listener),
    ).result;
  }
  const conn = h2c as H2cConnection | null;
  if (conn) {
    conn.setOrigin(authority);
    conn.bind(session);
  }
  const socket = made as net.Socket | null;
  Object.defineProperty(session, 'fastOpen', {
    configurable: true,
    enumerable: false,
    get: () => (conn ? conn.info : ((socket as { fastOpen?: FastOpenInfo | null } | null)?.fastOpen ?? null)),
  });
  return session as FastOpenClientHttp2Session;
}

/** The host and port of an authority http2.connect accepted, as it reads them. */
function originOf(authority: unknown): { host: string; port: number } {
  try {
    const url = (typeof authority === 'string' ? new URL(authority) : authority) as Partial<URL>;
    let host = url.hostname || url.host || 'localhost';
    if (host.startsWith('[')) host = host.slice(1, -1);
    const port = url.port ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
    return { host, port };
  } catch {
    return { host: '', port: 0 };
  }
}

// As http2.connect: util.promisify(connect) resolves with the session on 'connect'.
Object.defineProperty(connect, promisify.custom, {
  configurable: true,
  value: (authority: string | URL, options?: ConnectOptions) =>
    new Promise<FastOpenClientHttp2Session>((resolve, reject) => {
      const session = connect(authority, options, () => {
        session.removeListener('error', reject);
        resolve(session);
      });
      session.once('error', reject);
    }),
});

export {
  constants,
  createServer,
  createSecureServer,
  getDefaultSettings,
  getPackedSettings,
  getUnpackedSettings,
  sensitiveHeaders,
  Http2ServerRequest,
  Http2ServerResponse,
} from 'node:http2';
