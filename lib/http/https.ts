// https.Agent whose new connections put the TLS ClientHello in the SYN.
// The replay guard of lib/http.ts applies to what follows the ClientHello
// only in spirit: the request itself is never sent before the TLS handshake.
import * as http from 'node:http';
import * as https from 'node:https';
import type { Duplex } from 'node:stream';

import {
  createSocketWithGuard,
  ownCopy,
  fastOpenFor,
  Failures,
  kOrigin,
  normalizeAgentOptions,
  type AgentFastOpenOptions,
  type AgentInternalOptions,
  type CreateSocket,
  type Policy,
} from './http';
import { connect as tlsConnect } from './tls';

/** `https.AgentOptions` plus `fastOpen` (`false`: plain TCP). */
export interface AgentOptions extends https.AgentOptions {
  fastOpen?: AgentFastOpenOptions | false;
}

/** `https.Agent` whose new connections put the TLS ClientHello in the SYN; sessions resume as usual. */
export class Agent extends https.Agent {
  readonly #policy: Policy | false;
  readonly #failures = new Failures();

  constructor(options?: AgentOptions) {
    const { fastOpen, ...rest } = options ?? {};
    const policy = normalizeAgentOptions(fastOpen);
    super(rest);
    this.#policy = policy;
  }

  /** @internal */
  createSocket(req: http.ClientRequest, options: AgentInternalOptions, cb: (err: Error | null, s?: Duplex) => void): void {
    const base = (http.Agent.prototype as unknown as { createSocket: CreateSocket }).createSocket;
    createSocketWithGuard(base, this, this.#policy, this.#failures, req, options, cb);
  }

  // As https.Agent#createConnection (same session cache), through tfo.tls.connect.
  override createConnection(options: AgentInternalOptions, _cb?: unknown): Duplex {
    const self = this as unknown as {
      _getSession(key: string): Buffer | undefined;
      _cacheSession(key: string, session: Buffer): void;
      _evictSession(key: string): void;
    };
    // As Node's https.Agent, a cached session is put first (the caller's wins).
    let opts: AgentInternalOptions & { session?: Buffer; fastOpen?: unknown } = ownCopy(options);
    const key = opts._agentKey;
    if (key) {
      const session = self._getSession(key);
      if (session) opts = { session, ...opts };
    }
    opts.fastOpen = fastOpenFor(this.#policy, options);
    const socket = tlsConnect(opts as never);
    if (key) {
      socket.on('session', (session: Buffer) => self._cacheSession(key, session));
      socket.once('close', (err: boolean) => {
        if (err) self._evictSession(key);
      });
    }
    if (options[kOrigin]) this.#failures.watch(socket, options[kOrigin]);
    return socket;
  }
}

/** A shared agent configured like Node's `https.globalAgent` (keep-alive, LIFO, 5 s idle timeout), with TFO. */
export const globalAgent = new Agent({ keepAlive: true, scheduling: 'lifo', timeout: 5000 });
