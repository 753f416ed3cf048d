// SO_REUSEPORT listeners: `listen({ port, host, reusePort: true })` on a
// tfo.Server. Several processes (or servers) listen on one port, each with
// its own socket, its own TFO and, with a shared key, interchangeable cookies;
// the kernel spreads connections over them.
//
// tfo makes the socket itself on every Node version (SO_REUSEADDR,
// SO_REUSEPORT, and bind/listen through the addon) and hands it to
// `net.Server.listen({ fd })`: one code path everywhere, including Node 20,
// which has no `reusePort` option.
import * as dns from 'node:dns';
import * as net from 'node:net';

import { exceptionWithHostPort, socketBadPort } from '../base/errors';
import { fdOf, handleOf, namesExistingHandle, privatesMissing, SERVER_PARTS } from '../base/internals';
import { native } from '../base/native';

type ReusePortOptions = net.ListenOptions & { reusePort?: boolean };

function toPort(value: unknown): number {
  if (value === undefined || value === null) return 0;
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) throw socketBadPort('options.port', value);
  return n;
}

/**
 * @internal `server.listen({ port, host, reusePort: true })`: the socket is
 * made here (SO_REUSEADDR, SO_REUSEPORT, bind, listen) and given to
 * `net.Server.listen({ fd })`. Returns false when the call is not of that
 * form, or Node should handle it (no addon; a cluster worker, where
 * `listen({ fd })` would go to the primary).
 */
export function listenReusePort(server: net.Server, args: unknown[], after: () => void): boolean {
  const o = args[0] as ReusePortOptions | null;
  if (o === null || typeof o !== 'object' || o.reusePort !== true) return false;
  const b = native.binding;
  // A cluster worker (documented: cluster.isWorker is NODE_UNIQUE_ID being set), without loading node:cluster.
  if (!b || process.env.NODE_UNIQUE_ID !== undefined) return false;
  if (!('port' in o) || namesExistingHandle(o) || o.path !== undefined) return false;
  // Handing the socket to net needs the listening handle's fd (lib/base/internals.ts): else net's own listen().
  if (privatesMissing(SERVER_PARTS)) return false;
  if (handleOf(server)) return false; // let net throw ERR_SERVER_ALREADY_LISTEN
  const cb = args.slice(1).find((a) => typeof a === 'function') as (() => void) | undefined;
  const port = toPort(o.port);
  const backlog = typeof o.backlog === 'number' ? o.backlog : 511;
  const c = b.constants;

  const fail = (errno: number, address: string): void => {
    const err = exceptionWithHostPort(errno, 'listen', address, port);
    process.nextTick(() => server.emit('error', err));
  };
  const open = (address: string, family: 4 | 6): void => {
    const fd = b.socket(family === 6 ? c.AF_INET6 : c.AF_INET);
    if (fd < 0) return fail(fd, address);
    let r = b.setsockoptInt(fd, c.SOL_SOCKET, c.SO_REUSEADDR, 1);
    if (r === 0) r = b.setsockoptInt(fd, c.SOL_SOCKET, c.SO_REUSEPORT, 1);
    if (r === 0 && family === 6 && o.ipv6Only) r = b.setsockoptInt(fd, c.IPPROTO_IPV6, c.IPV6_V6ONLY, 1);
    if (r === 0) r = b.bind(fd, family === 6 ? c.AF_INET6 : c.AF_INET, address, port);
    if (r === 0) r = b.listen(fd, backlog);
    if (r < 0) {
      b.close(fd);
      return fail(r, address);
    }
    const listenOptions: { fd: number; backlog: number; signal?: AbortSignal } = { fd, backlog };
    if (o.signal) listenOptions.signal = o.signal;
    try {
      (net.Server.prototype.listen as (...a: unknown[]) => unknown).call(server, listenOptions, cb);
    } catch (e) {
      b.close(fd);
      throw e;
    }
    if (fdOf(server) === fd) b.release(fd);
    else b.close(fd);
    after();
  };

  const host = o.host;
  if (!host) {
    // As net does: the IPv6 unspecified address (dual stack), else IPv4's.
    const probe = b.socket(c.AF_INET6);
    if (probe >= 0) b.close(probe);
    open(probe >= 0 ? '::' : '0.0.0.0', probe >= 0 ? 6 : 4);
  } else if (net.isIP(host)) {
    open(host, net.isIP(host) as 4 | 6);
  } else {
    dns.lookup(host, (err, address, family) => {
      if (err) return void server.emit('error', err);
      open(address, family === 6 ? 6 : 4);
    });
  }
  return true;
}
