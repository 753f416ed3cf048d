// A connector for undici (and so for Node's built-in fetch through the global
// dispatcher) whose connections use TCP Fast Open, with the replay guard of
// ./replay (shared with tfo.http.Agent). undici is not a dependency: pass the `connect` function this
// module builds to `new undici.Agent({ connect })`.
//
// For http: undici writes its request as soon as the connector calls back, so
// tfo calls back at once, while the connection is being opened: the request
// is then the data the kernel puts in the SYN (when the method may be
// replayed, judged from its request line). Connection failures reach undici as socket errors. For https:
// the ClientHello rides in the SYN (tfo.tls) and the callback waits for
// 'secureConnect', exactly as undici's own connector does.
import type { Socket } from 'node:net';
import type * as tls from 'node:tls';

import { invalidArgType, tfoError, validateInteger, validateObject } from '../base/errors';
import { connectHttp } from './agent';
import { Failures, normalizePolicy, tlsFastOpen, type AgentFastOpenOptions } from './replay';
import { connect as tlsConnect, type ConnectionOptions as TlsConnectionOptions } from './tls';

/** Options as undici's `buildConnector` takes them, plus `fastOpen`. */
export interface ConnectorOptions extends tls.ConnectionOptions {
  /** Connect timeout in ms (undici's default 10 000). */
  timeout?: number;
  /** TLS sessions kept for resumption (undici's default 100). */
  maxCachedSessions?: number;
  /** Offer h2 by ALPN. */
  allowH2?: boolean;
  /** Speak h2 without TLS (prior knowledge), as undici's `useH2c`. */
  useH2c?: boolean;
  /** Connect to this Unix socket instead (no TFO), as undici's `socketPath`. */
  socketPath?: string;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** Replay guard and TFO options, as for `tfo.http.Agent` (the predicate gets the method and path of the request line). */
  fastOpen?: AgentFastOpenOptions | false;
}

/** What undici passes to a connector. */
export interface ConnectParams {
  hostname: string;
  host?: string;
  protocol: string;
  port: string | number;
  servername?: string | null;
  localAddress?: string | null;
  httpSocket?: Socket;
}

/** undici's connector signature. */
export type Connector = (params: ConnectParams, callback: (err: Error | null, socket: Socket | null) => void) => Socket;

/**
 * Builds an undici connector: `new undici.Agent({ connect: tfo.undici.connector() })`.
 * For Node's global `fetch`: `undici.setGlobalDispatcher(new undici.Agent({ connect: tfo.undici.connector() }))`.
 */
export function connector(options: ConnectorOptions = {}): Connector {
  validateObject(options, 'options');
  const {
    timeout = 10_000,
    maxCachedSessions = 100,
    allowH2 = false,
    useH2c = false,
    socketPath,
    session: customSession,
    fastOpen,
    ...rest
  } = options as ConnectorOptions & { session?: Buffer };
  validateInteger(timeout, 'options.timeout', 0, 2 ** 31 - 1);
  validateInteger(maxCachedSessions, 'options.maxCachedSessions', 0, 2 ** 31 - 1);
  if (typeof allowH2 !== 'boolean') throw invalidArgType('options.allowH2', 'boolean', allowH2);
  if (typeof useH2c !== 'boolean') throw invalidArgType('options.useH2c', 'boolean', useH2c);
  if (socketPath !== undefined && typeof socketPath !== 'string') throw invalidArgType('options.socketPath', 'string', socketPath);
  const policy = normalizePolicy(fastOpen);
  const failures = new Failures();
  const sessions = new Map<string, Buffer>();
  // As undici: `path` first, so that an explicit `path` option wins.
  const socketOptions: Record<string, unknown> = { path: socketPath, ...rest };
  const ipc = typeof socketOptions.path === 'string' && socketOptions.path !== '';

  return function connect(params, callback) {
    const { hostname, protocol, servername, localAddress, httpSocket } = params;
    const https = protocol === 'https:';
    const port = Number(params.port) || (https ? 443 : 80);
    let socket: Socket;
    let cb: typeof callback | null = callback;
    const done = (err: Error | null, s: Socket | null) => {
      const f = cb;
      cb = null;
      f?.(err, s);
    };

    if (https) {
      const configured = (options as { servername?: string }).servername;
      const name: string | undefined = servername || configured || (hostname && !hostname.includes(':') ? hostname : undefined);
      const key: string = name || hostname;
      socket = tlsConnect({
        highWaterMark: 16384,
        ...socketOptions,
        servername: name,
        session: customSession || sessions.get(key),
        localAddress: localAddress ?? undefined,
        ALPNProtocols: allowH2 ? ['http/1.1', 'h2'] : ['http/1.1'],
        socket: httpSocket,
        port,
        host: hostname,
        fastOpen: tlsFastOpen(policy),
      } as TlsConnectionOptions);
      socket.on('session', (session: Buffer) => {
        if (maxCachedSessions === 0) return;
        sessions.delete(key);
        sessions.set(key, session);
        if (sessions.size > maxCachedSessions) sessions.delete(sessions.keys().next().value as string);
      });
    } else {
      const netOptions = {
        highWaterMark: 64 * 1024,
        ...socketOptions,
        localAddress: localAddress ?? undefined,
        port,
        host: hostname,
      };
      socket = connectHttp(netOptions, undefined, policy, failures);
      if (useH2c) (socket as Socket & { alpnProtocol?: string }).alpnProtocol = 'h2';
    }

    if (options.keepAlive == null || options.keepAlive) {
      socket.setKeepAlive(true, Number(options.keepAliveInitialDelay ?? 60_000));
    }
    socket.setNoDelay(true);

    // As undici's own connector: one 'connect' (or 'secureConnect') listener
    // and one 'error' listener, no other; the timer is cleared by either.
    let timer: NodeJS.Timeout | null = null;
    if (timeout > 0) {
      timer = setTimeout(() => {
        const err = tfoError(
          'UND_ERR_CONNECT_TIMEOUT',
          `Connect Timeout Error (attempted address: ${hostname}:${port}, timeout: ${timeout}ms)`,
        );
        err.name = 'ConnectTimeoutError';
        socket.destroy(err);
        done(err, null);
      }, timeout);
      timer.unref();
    }
    socket.once(https ? 'secureConnect' : 'connect', () => {
      if (timer) clearTimeout(timer);
      done(null, socket);
    });
    socket.on('error', (err: Error) => {
      if (timer) clearTimeout(timer);
      done(err, null);
    });
    // Plain HTTP with TFO: hand the connecting socket over on the next tick,
    // before tfo's flush tick, so that the request undici writes from inside
    // this callback is held for the SYN (what the SYN carries is decided from
    // its request line). Asynchronously, as every connector must: undici
    // drops a callback made inside its own connect call (its resume is
    // re-entrant-guarded). Both undici behaviours are checked against the
    // installed undici by test/parity-http.test.js.
    if (!https && policy !== false && !ipc) process.nextTick(done, null, socket);
    return socket;
  };
}
