// A connector for undici (and so for Node's built-in fetch through the global
// dispatcher) whose connections use TCP Fast Open, with the replay guard of
// lib/http.ts. undici is not a dependency: pass the `connect` function this
// module builds to `new undici.Agent({ connect })`.
//
// For http: undici writes its request as soon as the connector calls back, so
// tfo calls back at once, while the connection is being opened: the request
// is then the data the kernel puts in the SYN (when the method may be
// replayed). Connection failures reach undici as socket errors. For https:
// the ClientHello rides in the SYN (tfo.tls) and the callback waits for
// 'secureConnect', exactly as undici's own connector does.
import type { Socket } from 'node:net';
import type * as tls from 'node:tls';

import { invalidArgType, tfoError, validateInteger, validateObject } from '../base/errors';
import { Failures, IDEMPOTENT_METHODS, normalizeAgentOptions, type AgentFastOpenOptions } from './http';
import { connect as tfoConnect } from '../core/socket';
import { connect as tlsConnect } from './tls';

/** Options as undici's `buildConnector` takes them, plus `fastOpen`. */
export interface ConnectorOptions extends tls.ConnectionOptions {
  /** Connect timeout in ms (undici's default 10 000). */
  timeout?: number;
  /** TLS sessions kept for resumption (undici's default 100). */
  maxCachedSessions?: number;
  /** Offer h2 by ALPN. */
  allowH2?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** Replay guard and TFO options, as for `tfo.http.Agent` (the predicate gets the method parsed from the request line). */
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

const REQUEST_LINE = /^([A-Z]+) (\S+) HTTP\/1\.[01]\r\n/;

/**
 * Builds an undici connector: `new undici.Agent({ connect: tfo.undici.connector() })`.
 * For Node's global `fetch`: `undici.setGlobalDispatcher(new undici.Agent({ connect: tfo.undici.connector() }))`.
 */
export function connector(options: ConnectorOptions = {}): Connector {
  validateObject(options, 'options');
  const { timeout = 10_000, maxCachedSessions = 100, allowH2 = false, fastOpen, ...socketOptions } = options;
  validateInteger(timeout, 'options.timeout', 0, 2 ** 31 - 1);
  validateInteger(maxCachedSessions, 'options.maxCachedSessions', 0, 2 ** 31 - 1);
  if (typeof allowH2 !== 'boolean') throw invalidArgType('options.allowH2', 'boolean', allowH2);
  const policy = normalizeAgentOptions(fastOpen);
  const failures = new Failures();
  const sessions = new Map<string, Buffer>();

  return function connect(params, callback) {
    const { hostname, protocol, servername, localAddress, httpSocket } = params;
    const https = protocol === 'https:';
    const port = Number(params.port) || (https ? 443 : 80);
    const origin = `${hostname}:${port}`;
    const retry = policy !== false && failures.isRetry(origin, policy.retryWindowMs);
    let socket: Socket;
    let cb: typeof callback | null = callback;
    const done = (err: Error | null, s: Socket | null) => {
      const f = cb;
      cb = null;
      f?.(err, s);
    };

    if (https) {
      const configured = (options as { servername?: string }).servername;
      const name: string | undefined =
        servername || configured || (hostname && !hostname.includes(':') ? hostname : undefined);
      const key: string = name || hostname;
      const tlsOptions = {
        highWaterMark: 16384,
        ...socketOptions,
        servername: name,
        session: sessions.get(key),
        localAddress: localAddress ?? undefined,
        ALPNProtocols: allowH2 ? ['http/1.1', 'h2'] : ['http/1.1'],
        socket: httpSocket,
        port,
        host: hostname,
        fastOpen: policy === false ? false : { noCookie: policy.noCookie },
      };
      socket = tlsConnect(tlsOptions as unknown as Parameters<typeof tlsConnect>[0]);
      socket.on('session', (session: Buffer) => {
        if (maxCachedSessions === 0) return;
        sessions.delete(key);
        sessions.set(key, session);
        if (sessions.size > maxCachedSessions) sessions.delete(sessions.keys().next().value as string);
      });
    } else {
      const synData = (first: Buffer): boolean => {
        if (policy === false) return false;
        const m = REQUEST_LINE.exec(first.subarray(0, 8192).toString('latin1'));
        if (!m) return false;
        const method = m[1];
        if (policy.replay === 'all') return true;
        if (policy.replay === 'none') return false;
        if (policy.replay === 'idempotent') return !retry && IDEMPOTENT_METHODS.has(method);
        try {
          return policy.replay({ method, host: hostname, port, path: m[2], retry }) === true;
        } catch {
          return false;
        }
      };
      const netOptions = {
        highWaterMark: 64 * 1024,
        ...(socketOptions as object),
        localAddress: localAddress ?? undefined,
        port,
        host: hostname,
        fastOpen: policy === false ? false : { noCookie: policy.noCookie, synData },
      };
      socket = tfoConnect(netOptions as unknown as Parameters<typeof tfoConnect>[0]);
    }
    failures.watch(socket, origin);

    if (options.keepAlive == null || options.keepAlive) {
      socket.setKeepAlive(true, Number(options.keepAliveInitialDelay ?? 60_000));
    }
    socket.setNoDelay(true);

    let timer: NodeJS.Timeout | null = null;
    if (timeout > 0) {
      timer = setTimeout(() => {
        const err = tfoError('UND_ERR_CONNECT_TIMEOUT', `Connect Timeout Error (attempted address: ${hostname}:${port}, timeout: ${timeout}ms)`);
        err.name = 'ConnectTimeoutError';
        socket.destroy(err);
        done(err, null);
      }, timeout);
      timer.unref();
    }
    const established = () => {
      if (timer) clearTimeout(timer);
    };
    socket.once(https ? 'secureConnect' : 'connect', () => {
      established();
      done(null, socket);
    });
    socket.on('error', (err: Error) => {
      established();
      done(err, null);
    });
    socket.once('close', established);
    // http: hand the connecting socket over before the connect() syscall's
    // next tick, so undici's request is the data the SYN carries. (Not
    // synchronously: undici ignores a callback made inside its connect call.)
    if (!https && policy !== false) process.nextTick(() => done(null, socket));
    return socket;
  };
}
