// The one place that decides whether TCP Fast Open is available here, per
// role, and says why not. Read live: sysctls are per network namespace and
// can change while the process runs.
import { constants as osConstants } from 'node:os';

import { errnoName } from '../base/errors';
import { nodePrivates, privatesMissing, SERVER_PARTS, SOCKET_PARTS, type NodePrivate } from '../base/internals';
import { native } from '../base/native';
import * as sysctl from './sysctl';

/** Whether TFO can be used here, per role, with reasons in plain words. */
export interface FastOpenSupport {
  /** The native addon is loaded (Linux, addon built or prebuilt for this platform). */
  native: boolean;
  /** Clients will attempt TFO (`TCP_FASTOPEN_CONNECT` accepted on a scratch socket). */
  client: boolean;
  /** Servers will accept SYN data (`net.ipv4.tcp_fastopen` has the server bit). */
  server: boolean;
  /** Why clients will not use TFO, with the fix; null when they will. */
  clientReason: string | null;
  /** Why servers will not use TFO, with the fix; null when they will. */
  serverReason: string | null;
  /** `net.ipv4.tcp_fastopen` of this network namespace, decoded; null when unreadable. */
  sysctl: sysctl.FastOpenSysctl | null;
  /**
   * Every private part of Node that tfo uses, with what for, what tfo does
   * without it, and whether it behaves as tfo relies on, on this Node (`ok`;
   * null: not checked yet, see `checked`). A part that is not ok is not used:
   * what depends on it falls back, and `clientReason` / `serverReason` (or
   * the connection's `fastOpen.reason`) name it.
   */
  internals: NodePrivate[];
}

export type { NodePrivate } from '../base/internals';

/** The native layer loaded: TFO can work here when the kernel settings allow it. */
export const supported: boolean = native.binding !== null;

/** Why the native layer is unavailable (plain TCP is used everywhere), or null. */
export const unsupportedReason: string | null = native.error;

const FIX = '(fix: `sudo sysctl -w net.ipv4.tcp_fastopen=3` or `sudo npx tfo enable both`; containers start at 1)';

/**
 * @internal Why `setsockopt(TCP_FASTOPEN_CONNECT)` failed, in words an
 * operator can act on (the one explanation: tfo.support() and each client
 * socket's `fastOpen.reason` both use it).
 */
export function clientOptionFailure(errno: number): string {
  if (errno === -osConstants.errno.EOPNOTSUPP) {
    let value = '?';
    try {
      value = String(sysctl.fastOpen().value);
    } catch {
      // unreadable: the reason still says which bit is missing
    }
    return `net.ipv4.tcp_fastopen lacks the client bit (0x1): it is ${value} in this network namespace ${FIX}`;
  }
  if (errno === -osConstants.errno.ENOPROTOOPT)
    return 'the kernel has no TCP_FASTOPEN_CONNECT (Linux >= 4.11 is needed); plain TCP is used';
  return `setsockopt(TCP_FASTOPEN_CONNECT) failed (${errnoName(errno)})`;
}

/** Null when a scratch socket takes `TCP_FASTOPEN_CONNECT`, else why not. */
function clientOptionCheck(b: NonNullable<typeof native.binding>): string | null {
  const c = b.constants;
  if (c.TCP_FASTOPEN_CONNECT === undefined) return 'the addon was built without TCP_FASTOPEN_CONNECT (kernel headers older than 4.11)';
  const fd = b.socket(c.AF_INET);
  if (fd < 0) return `could not create a scratch socket to test (${errnoName(fd)})`;
  const r = b.setsockoptInt(fd, c.IPPROTO_TCP, c.TCP_FASTOPEN_CONNECT, 1);
  b.close(fd);
  return r < 0 ? clientOptionFailure(r) : null;
}

/** Checks, now, whether clients and servers in this process and namespace will use TFO. */
export function support(): FastOpenSupport {
  let bits: sysctl.FastOpenSysctl | null = null;
  let sysctlError: string | null = null;
  try {
    bits = sysctl.fastOpen();
  } catch (e) {
    sysctlError = (e as Error).message;
  }
  const b = native.binding;
  const internals = nodePrivates();
  if (!b) {
    const reason = `${native.error}; plain TCP is used`;
    return { native: false, client: false, server: false, clientReason: reason, serverReason: reason, sysctl: bits, internals };
  }
  // A Node private part tfo.connect (or a TFO listener) needs is missing: that first, by name.
  const clientReason = privatesMissing(SOCKET_PARTS) ?? clientOptionCheck(b);
  let serverReason: string | null = privatesMissing(SERVER_PARTS);
  if (serverReason === null) {
    if (!bits) serverReason = `net.ipv4.tcp_fastopen could not be read: ${sysctlError}`;
    else if (!bits.server) serverReason = `net.ipv4.tcp_fastopen=${bits.value} lacks the server bit (0x2) ${FIX}`;
  }
  return {
    native: true,
    client: clientReason === null,
    server: serverReason === null,
    clientReason,
    serverReason,
    sysctl: bits,
    internals,
  };
}
