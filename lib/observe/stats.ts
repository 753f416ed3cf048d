// The library's own per-process counts of what TFO did, as opposed to the
// kernel's per-namespace counters (lib/counters.ts). Cheap increments only.
import type { FastOpenFailure } from '../system/tcpinfo';

/** Per-process counts of TFO outcomes, for clients and servers. */
export interface FastOpenStats {
  client: {
    /** Connections established by tfo sockets (TCP, not IPC). */
    connections: number;
    /** Of those, connections opened with TFO on (cookie sent or requested). */
    attempted: number;
    /** The kernel had a cookie and the SYN carried it (with or without data). */
    cookieSent: number;
    /** No cookie yet: the SYN asked the server for one (normal handshake). */
    cookieRequested: number;
    /** The server acknowledged data carried in the SYN: one round trip saved. */
    synDataAcked: number;
    /** Kernel-reported reasons TFO did not carry data (tcpi_fastopen_client_fail). */
    failures: Record<FastOpenFailure, number>;
    /** Connections made without TFO, by reason (sysctl off, disabled, backoff, ...). */
    notAttempted: Record<string, number>;
  };
  server: {
    /** Connections accepted by servers with TFO enabled through tfo. */
    accepted: number;
    /** Of those, connections whose SYN carried data the server accepted. */
    synData: number;
  };
}

function fresh(): FastOpenStats {
  return {
    client: {
      connections: 0,
      attempted: 0,
      cookieSent: 0,
      cookieRequested: 0,
      synDataAcked: 0,
      failures: { 'cookie-unavailable': 0, 'data-not-acked': 0, 'syn-retransmitted': 0 },
      notAttempted: {},
    },
    server: { accepted: 0, synData: 0 },
  };
}

/** @internal the live counts; only socket.ts and server code increment them. */
export const live: FastOpenStats = fresh();

/** A copy of this process's TFO counts since start (or the last `resetStats()`). */
export function stats(): FastOpenStats {
  return structuredClone(live);
}

/** Sets this process's TFO counts back to zero. */
export function resetStats(): void {
  const z = fresh();
  live.client = z.client;
  live.server = z.server;
}
