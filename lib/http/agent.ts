// What tfo.http.Agent, tfo.https.Agent and tfo.undici.connector share: the
// TFO state an agent holds (composition: each agent class holds one
// AgentFastOpen, so the generated .d.ts stays plain classes), and the one way
// a plain-HTTP connection is opened with the replay guard (./replay).
//
// Nothing here adds a listener to a socket: the failure memory learns how a
// connection ended from the socket's own `_destroy` (GuardedSocket), so a
// socket handed to the user (after CONNECT or an upgrade) has exactly the
// listeners Node's would, and an error on it is never swallowed.
import type { Duplex } from 'node:stream';

import { agentHasProxy, normalizeArgs } from '../base/internals';
import { connectAsNet, TfoSocket, type SocketConstructorOpts } from '../core/socket';
import { Failures, httpFastOpen, normalizePolicy, watchesRetries, type AgentFastOpenOptions, type Policy } from './replay';

/** @internal The options of one connection, as Node's Agent#createSocket or undici hand them over. */
export type ConnectionOptions = SocketConstructorOpts & {
  host?: string | null;
  port?: number | string | null;
  path?: string | null;
  timeout?: number;
};

/**
 * A tfo.Socket that tells its agent's failure memory how it ended, from its
 * own `_destroy` (the stream hook every destroy goes through): no listener
 * slot, no effect on the stream's mode or events.
 */
class GuardedSocket extends TfoSocket {
  #failures: Failures | null = null;
  #origin = '';

  static guard(socket: GuardedSocket, failures: Failures, origin: string): void {
    socket.#failures = failures;
    socket.#origin = origin;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // (`#failures in this`: a stream constructor may destroy() before our fields exist, e.g. an aborted signal.)
    const failures = #failures in this ? this.#failures : null;
    if (failures !== null) {
      this.#failures = null;
      failures.ended(this.#origin, this, error);
    }
    super._destroy(error, callback);
  }
}

/**
 * @internal Opens a plain-HTTP connection: a tfo.Socket whose SYN carries the
 * request only when the replay policy lets it (decided from the request line
 * the client writes). `options` becomes the socket's options as it is (pass
 * an object of your own). As net.createConnection(options, cb).
 */
export function connectHttp(
  options: ConnectionOptions,
  cb: (() => void) | undefined,
  policy: Policy | false,
  failures: Failures,
): TfoSocket {
  const host = typeof options.host === 'string' && options.host !== '' ? options.host : 'localhost';
  const port = Number(options.port);
  const ipc = typeof options.path === 'string' && options.path !== '';
  const origin = !ipc && watchesRetries(policy) ? `${host}:${port}` : null;
  const retry = origin !== null && failures.isRetry(origin, (policy as Policy).retryWindowMs);
  options.fastOpen = httpFastOpen(policy, host, port, retry);
  let socket: TfoSocket;
  if (origin !== null) {
    const guarded = new GuardedSocket(options);
    GuardedSocket.guard(guarded, failures, origin);
    if (retry) failures.opened(origin, guarded);
    socket = guarded;
  } else {
    socket = new TfoSocket(options);
  }
  // As net.createConnection, what Node's agents call.
  const args: unknown[] = cb ? [options, cb] : [options];
  return connectAsNet(socket, normalizeArgs(args), args);
}

/**
 * @internal The options object to add tfo's keys to. Node's Agent hands
 * `createConnection` a fresh null-prototype copy per connection
 * (`{ __proto__: null, ...options }`): that one is used as is (a copy of ~25
 * keys per connection was measurable); anything else, e.g. a caller's own
 * object, is copied, never changed.
 */
export function ownCopy<T extends object>(options: T): T {
  return Object.getPrototypeOf(options) === null ? options : { ...options };
}

/**
 * @internal `agent.createConnection(...args)` of an http.Agent is
 * net.createConnection: `(options[, cb])`, `(port[, host][, cb])`,
 * `(path[, cb])`. Returns the options (an object of tfo's own) and the
 * callback, as net's argument normalisation does.
 */
export function netArgs(args: unknown[]): [ConnectionOptions, (() => void) | undefined] {
  const last = args[args.length - 1];
  const cb = typeof last === 'function' ? (last as () => void) : undefined;
  const first = args[0];
  if (first !== null && typeof first === 'object') return [ownCopy(first as ConnectionOptions), cb];
  if (args.length === 0) return [{}, cb];
  if (typeof first === 'string' && !(Number(first) >= 0)) return [{ path: first }, cb]; // a pipe name, as net's isPipeName
  const options: ConnectionOptions = { port: first as number };
  if (args.length > 1 && typeof args[1] === 'string') options.host = args[1];
  return [options, cb];
}

/**
 * @internal The TFO state of one agent, shared by tfo.http.Agent and
 * tfo.https.Agent: the validated policy, the failure memory, and whether the
 * agent has a proxy (then Node's own createConnection connects, without TFO).
 */
export class AgentFastOpen {
  readonly policy: Policy | false;
  readonly failures = new Failures();
  #proxied = false;
  /** The agent's `proxyEnv` option, as given. */
  #proxyEnv: unknown;

  private constructor(policy: Policy | false, proxyEnv: unknown) {
    this.policy = policy;
    this.#proxyEnv = proxyEnv;
  }

  /**
   * Splits an agent's options into tfo's state (validated before Node sees
   * anything) and the options for Node's Agent constructor (without
   * `fastOpen`, so `agent.options` is what Node's agent would have).
   */
  static split<O extends { fastOpen?: AgentFastOpenOptions | false }>(options: O | undefined): [AgentFastOpen, Omit<O, 'fastOpen'>] {
    const { fastOpen, ...rest } = options ?? ({} as O);
    return [new AgentFastOpen(normalizePolicy(fastOpen), (rest as { proxyEnv?: unknown }).proxyEnv), rest];
  }

  /** Called once Node's Agent constructor ran: an agent with a proxy connects through Node's own code. */
  attach(agent: object): this {
    this.#proxied = agentHasProxy(agent, this.#proxyEnv);
    return this;
  }

  get proxied(): boolean {
    return this.#proxied;
  }

  /** http.Agent#createConnection: every argument form of net.createConnection. */
  connectHttp(args: unknown[]): Duplex {
    const [options, cb] = netArgs(args);
    return connectHttp(options, cb, this.policy, this.failures);
  }
}

/**
 * @internal The settings of a tfo global agent: those of Node's global agent
 * (keep-alive, LIFO, 5 s idle timeout) and, where Node has one, its proxy
 * (`proxyEnv`, set by NODE_USE_ENV_PROXY / --use-env-proxy).
 */
export function globalAgentOptions(node: object): Record<string, unknown> {
  const options: Record<string, unknown> = { keepAlive: true, scheduling: 'lifo', timeout: 5000 };
  const own = (node as { options?: Record<string, unknown> }).options;
  if (own && 'proxyEnv' in own) options.proxyEnv = own.proxyEnv;
  return options;
}
