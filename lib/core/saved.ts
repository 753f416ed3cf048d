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
//   2. otherwise at the next tick of a timer (every TICK_MS while SYN-data
//      connections arrive; stopped after a second without any), or when the
//      counts are read: its own RTT if the client's ACK has arrived by then,
//      else the RTT the kernel keeps for that client address from its
//      earlier connections (tcp_metrics, updated as each connection closes;
//      every TFO client has connected before, to get its cookie). The peer
//      address is read at accept (one getpeername(), nothing cached on the
//      socket), while the socket is surely open: a server may close it long
//      before the estimate (an HTTP response with `Connection: close` closes
//      the socket ~1 ms after accept, before the client's ACK on a WAN path);
//   3. no RTT at all (no cached entry: the cookie came from another server
//      of a fleet, or net.ipv4.tcp_no_metrics_save=1): `unestimated`.
// Why a ticking timer: this runs at every accept, on the request's critical
// path (between the SYN and the first read), and it runs cold. Scheduling per
// accept (setImmediate().unref(), then one more turn before the first read)
// cost the benchmark's HTTP row ~80 µs per request at 50 ms RTT (README, Benchmark);
// pushing onto an array costs nothing, and the timer is armed once per burst
// of traffic. The sockets waiting are held until the next tick only, in arrays
// shared by all connections; nothing is added to a socket.
import type * as net from 'node:net';

import { fdOf, peerAddressOf } from '../base/internals';
import { native } from '../base/native';
import { live as stats, onStatsRead } from '../observe/stats';
import { cachedRttUs } from '../system/cookies';
import { readTcpInfo, type TcpInfo } from '../system/tcpinfo';

const US_PER_S = 1e6;

/** How often waiting connections are estimated while SYN-data connections arrive. */
const TICK_MS = 10;
/** Ticks with nothing to estimate before the timer stops (a second); the next SYN-data connection starts it again. */
const IDLE_TICKS = 100;

/** Accepted in SYN_RECV, waiting for the next tick; with the peer addresses read at accept. */
let waiting: net.Socket[] = [];
let addresses: (string | undefined)[] = [];
let ticker: NodeJS.Timeout | null = null;
let idleTicks = 0;

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

/** Estimates every connection waiting (at a tick, or before the counts are read). */
function settle(): void {
  if (waiting.length === 0) return;
  const due = waiting;
  const dueAddresses = addresses;
  waiting = [];
  addresses = [];
  for (let i = 0; i < due.length; i++) estimate(due[i], dueAddresses[i]);
}

function tick(): void {
  if (waiting.length > 0) {
    idleTicks = 0;
    settle();
  } else if (++idleTicks >= IDLE_TICKS && ticker !== null) {
    clearInterval(ticker);
    ticker = null;
  }
}

onStatsRead(settle);

/**
 * @internal A connection whose SYN carried data was accepted; `info` is its
 * TCP_INFO read at accept (the shared object: read before anything else
 * reads TCP_INFO).
 */
export function noteSynData(socket: net.Socket, info: TcpInfo): void {
  const own = ownRttUs(info);
  if (own > 0) return add(own, 'tcpInfo');
  waiting.push(socket);
  addresses.push(peerAddressOf(socket));
  if (ticker === null) {
    idleTicks = 0;
    ticker = setInterval(tick, TICK_MS);
    ticker.unref();
  }
}
