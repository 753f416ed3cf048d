// tfo.https.Agent: Node's https.Agent whose new connections put the TLS
// ClientHello in the SYN (tfo.tls.connect). A ClientHello is always safe to
// replay, so the replay policy does not apply: the request itself is sent
// after the TLS handshake, as always.
//
// Node's https.Agent#createConnection calls the module-level tls.connect,
// which tfo does not patch, so tfo's createConnection does what Node's does,
// through tfo.tls.connect: the same argument forms, the same session cache
// (Node's own, by the agent key Node's createSocket computed), the same rules
// for requests that bring their own checkServerIdentity. Node's private parts
// it relies on are in lib/base/internals.ts. (Handing Node's own
// createConnection a connecting tfo.Socket as `options.socket` instead keeps
// the ClientHello out of the SYN: TLS over a given socket starts at that
// socket's 'connect', after the handshake. Measured with TCP_INFO on both
// sides: the SYN carried the cookie and no data, every time.)
import * as https from 'node:https';
import type { Duplex } from 'node:stream';
import type * as tls from 'node:tls';

import {
  probeGroup,
  agentKeyOf,
  agentSession,
  cacheAgentSession,
  evictAgentSession,
  markSocket,
  perRequestIdentityMark,
} from '../base/internals';
import { callable, type Callable } from '../base/callable';
import { AgentFastOpen, globalAgentOptions, ownCopy } from './agent';
import { tlsFastOpen, type AgentFastOpenOptions, type Policy } from './replay';
import { connect as tlsConnect, type ConnectionOptions } from './tls';

/** `https.AgentOptions` plus `fastOpen` (`false`: plain TCP; `replay` does not apply to HTTPS). */
export interface AgentOptions extends https.AgentOptions {
  fastOpen?: AgentFastOpenOptions | false;
}

type Options = ConnectionOptions & { session?: Buffer };

/** https.Agent#createConnection's argument forms: `(options)`, `(port[, host][, options])`; as Node's, a fresh object unless `(options)`. */
function httpsArgs(args: unknown[]): Options {
  const [a0, a1, a2] = args;
  let options: Options;
  if (a0 !== null && typeof a0 === 'object') options = ownCopy(a0 as Options);
  else if (a1 !== null && typeof a1 === 'object') options = { ...(a1 as Options) };
  else if (a2 === null || typeof a2 !== 'object') options = {};
  else options = { ...(a2 as Options) };
  if (typeof a0 === 'number') options.port = a0;
  if (typeof a1 === 'string') options.host = a1;
  return options;
}

/** As Node's https.Agent#createConnection (without a proxy), through tfo.tls.connect. */
function connectTls(agent: https.Agent, policy: Policy | false, args: unknown[]): tls.TLSSocket {
  const options = httpsArgs(args);
  const key = agentKeyOf(options);
  const mark = perRequestIdentityMark(options);
  const reuse = key !== undefined && mark === undefined;
  if (reuse && !Object.hasOwn(options, 'session')) {
    // As Node: a cached session goes first, the caller's own `session` wins.
    const session = agentSession(agent, key);
    if (session) options.session = session;
  }
  options.fastOpen = tlsFastOpen(policy);
  const socket = tlsConnect(options);
  if (mark !== undefined) markSocket(socket, mark);
  if (reuse) {
    socket.on('session', (session: Buffer) => cacheAgentSession(agent, key, session));
    socket.once('close', (hadError: boolean) => {
      if (hadError) evictAgentSession(agent, key);
    });
  }
  return socket;
}

/** `https.Agent` whose new connections put the TLS ClientHello in the SYN; sessions resume as usual. */
class TfoHttpsAgent extends https.Agent {
  readonly #tfo: AgentFastOpen;

  constructor(options?: AgentOptions) {
    const [tfo, rest] = AgentFastOpen.split(options);
    super(rest);
    this.#tfo = tfo.attach(this);
  }

  /** As https.Agent's: `(options)`, `(port[, host][, options])`. Returns a TLS socket opened by `tfo.tls.connect`. */
  override createConnection(options: https.RequestOptions, callback?: unknown): Duplex;
  override createConnection(port: number, host?: string, options?: https.RequestOptions): Duplex;
  override createConnection(...args: unknown[]): Duplex {
    const tfo = this.#tfo;
    if (tfo.proxied) return (https.Agent.prototype.createConnection as (...a: unknown[]) => Duplex).apply(this, args);
    return connectTls(this, tfo.policy, args);
  }
}

/** `https.Agent` with the TLS ClientHello in the SYN. Callable with or without `new`, as Node's. */
export const Agent: Callable<typeof TfoHttpsAgent> = callable(TfoHttpsAgent);

// The Node private parts the agent relies on, checked now that node:https is loaded.
probeGroup('http');
probeGroup('https');
/** `https.Agent` with the TLS ClientHello in the SYN. */
export type Agent = TfoHttpsAgent;

/** A shared agent configured like Node's `https.globalAgent` (keep-alive, LIFO, 5 s idle timeout, its proxy), with TFO. */
export const globalAgent: Agent = new Agent(globalAgentOptions(https.globalAgent));
