// The time TFO saved, seen from the server. A request whose SYN carried it
// arrived one round trip earlier than it would have after a normal handshake,
// so each such connection adds one RTT to `stats().server.timeSaved`.
//
// Which RTT: at accept a TFO connection is in SYN_RECV (the client's ACK of
// the SYN-ACK is still one RTT away) and its TCP_INFO rtt is 0 (checked on
// Linux 6.18: the kernel does not seed it from tcp_metrics, only the RTO).
// So, once per connection:
//   1. at accept, when its handshake has already completed (loopback, a LAN,
//      a busy accept queue): the connection's own smoothed RTT (TCP_INFO);
//   2. otherwise two event-loop turns later (after the poll phase that reads
//      its first bytes, so nothing is added before the request is handled):
//      its own RTT if the client's ACK has arrived by then, else the RTT the
//      kernel keeps for that client address from its earlier connections
//      (tcp_metrics, updated as each connection closes; every TFO client has
//      connected before, to get its cookie). Reading it then, rather than at
//      the next read or at 'end', also covers connections the server closes
//      before the ACK arrives (an HTTP response with `Connection: close`
//      closes the socket ~1 ms after accept, before its next read); the
//      peer address is read in the first of the two turns, while the socket
//      is surely open (one getpeername(), nothing cached on the socket);
//   3. no RTT at all (no cached entry: the cookie came from another server
//      of a fleet, or net.ipv4.tcp_no_metrics_save=1): `unestimated`.
// The sockets waiting for step 2 are held for those two turns only, in
// arrays shared by all connections; nothing is added to a socket.
import type * as net from 'node:net';

import { fdOf, peerAddressOf } from '../base/internals';
import { native } from '../base/native';
import { live as stats } from '../observe/stats';
import { cachedRttUs } from '../system/cookies';
import { readTcpInfo, type TcpInfo } from '../system/tcpinfo';

const US_PER_S = 1e6;

/**
 * Accepted this turn; then (their peer address read) waiting for one more
 * turn, whose poll phase reads their first bytes; then estimated.
 */
let incoming: net.Socket[] = [];
let waiting: net.Socket[] = [];
let addresses: (string | undefined)[] = [];
let scheduled = false;

/** The connection's own RTT in µs, when the kernel has measured one (past SYN_RECV), else 0. */
function ownRttUs(info: TcpInfo): number {
  const b = native.binding;
  return b && info.state !== b.constants.tcpStates.TCP_SYN_RECV && info.rtt > 0 ? info.rtt : 0;
}

function add(rttUs: number, source: 'tcpInfo' | 'tcpMetrics'): void {
  const t = stats.server.timeSaved;
  t.seconds += rttUs / US_PER_S;
  t.connections++;
  t.bySource[source]++;
}

function estimate(socket: net.Socket, address: string | undefined): void {
  const b = native.binding;
  const fd = fdOf(socket); // -1 once destroyed (a later socket may have the same fd number)
  if (b && fd >= 0) {
    const info = readTcpInfo(b, fd);
    if (typeof info !== 'number') {
      const own = ownRttUs(info);
      if (own > 0) return add(own, 'tcpInfo');
    }
  }
  const cached = address ? cachedRttUs(address) : null;
  if (cached !== null) add(cached, 'tcpMetrics');
  else stats.server.timeSaved.unestimated++;
}

function turn(): void {
  const due = waiting;
  const dueAddresses = addresses;
  waiting = incoming;
  // Read now, in the turn of the accept: the server may close the socket before the next one ends.
  addresses = incoming.map(peerAddressOf);
  incoming = [];
  for (let i = 0; i < due.length; i++) estimate(due[i], dueAddresses[i]);
  if (waiting.length > 0) setImmediate(turn).unref();
  else scheduled = false;
}

/**
 * @internal A connection whose SYN carried data was accepted; `info` is its
 * TCP_INFO read at accept (the shared object: read before anything else
 * reads TCP_INFO).
 */
export function noteSynData(socket: net.Socket, info: TcpInfo): void {
  const own = ownRttUs(info);
  if (own > 0) return add(own, 'tcpInfo');
  incoming.push(socket);
  if (!scheduled) {
    scheduled = true;
    setImmediate(turn).unref();
  }
}
