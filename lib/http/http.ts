// tfo.http.Agent: Node's http.Agent whose new connections use TCP Fast Open,
// with the replay guard of ./replay (a request's bytes ride in the SYN only
// when the policy lets its request line: by default idempotent methods, not
// on a retry). Node's Agent does all the rest (pooling, keep-alive, queueing,
// timeouts, servername, proxies); tfo only replaces the documented
// `createConnection` hook, with every argument form of net.createConnection.
import * as http from 'node:http';
import type { Duplex } from 'node:stream';

import { probeGroup } from '../base/internals';
import { callable, type Callable } from '../base/callable';
import { AgentFastOpen, globalAgentOptions } from './agent';
import type { AgentFastOpenOptions } from './replay';

export { IDEMPOTENT_METHODS, type AgentFastOpenOptions, type ReplayInfo, type ReplayPolicy } from './replay';

/** `http.AgentOptions` plus `fastOpen` (`false`: plain TCP). */
export interface AgentOptions extends http.AgentOptions {
  fastOpen?: AgentFastOpenOptions | false;
}

/** The callback of `createConnection` as @types/node spells it (net calls it as a 'connect' listener, without arguments). */
type ConnectCallback = (err: Error | null, stream: Duplex) => void;

/** `http.Agent` whose new connections use TCP Fast Open; keep-alive pooling unchanged. */
class TfoHttpAgent extends http.Agent {
  readonly #tfo: AgentFastOpen;

  constructor(options?: AgentOptions) {
    const [tfo, rest] = AgentFastOpen.split(options);
    super(rest);
    this.#tfo = tfo.attach(this);
  }

  /**
   * As Node's (net.createConnection): `(options[, callback])`, `(port[, host][, callback])`,
   * `(path[, callback])`; the callback becomes a 'connect' listener. Returns a `tfo.Socket`.
   */
  override createConnection(options: http.ClientRequestArgs, callback?: ConnectCallback): Duplex;
  override createConnection(port: number, host?: string, callback?: ConnectCallback): Duplex;
  override createConnection(path: string, callback?: ConnectCallback): Duplex;
  override createConnection(...args: unknown[]): Duplex {
    const tfo = this.#tfo;
    if (tfo.proxied) return (http.Agent.prototype.createConnection as (...a: unknown[]) => Duplex).apply(this, args);
    return tfo.connectHttp(args);
  }
}

/** `http.Agent` with TCP Fast Open. Callable with or without `new`, as Node's. */
export const Agent: Callable<typeof TfoHttpAgent> = callable(TfoHttpAgent);

probeGroup('http'); // the Node private parts the agents rely on, checked now that node:http is loaded
/** `http.Agent` with TCP Fast Open. */
export type Agent = TfoHttpAgent;

/** A shared agent configured like Node's `http.globalAgent` (keep-alive, LIFO, 5 s idle timeout, its proxy), with TFO. */
export const globalAgent: Agent = new Agent(globalAgentOptions(http.globalAgent));
