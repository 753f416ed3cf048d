// The only module that loads the addon. It gives the rest of tfo a typed view
// of the flat binding (every function returns a number: an fd, a count, or a
// negative errno) and says, once, why the addon is missing when it is.
import * as path from 'node:path';

/**
 * The constants the addon takes from the C headers. Optional ones depend on the headers it was built with.
 *
 * Some are tools rather than parts of tfo: nothing in lib/ reads `SO_ERROR`,
 * `SO_DOMAIN`, `SO_ACCEPTCONN`, `SO_KEEPALIVE`, `AF_NETLINK`, `TCP_NODELAY`, `MSG_FASTOPEN` or
 * `MSG_PEEK`. They go with the tool functions of {@link NativeBinding}
 * (`connect`, `sendto`, `recv`, `getsockoptBytes`): the tests use them to drive
 * and check a TCP Fast Open exchange on the kernel directly, without lib/, and
 * so do tools that need the pre-4.11 client path (`sendto` with `MSG_FASTOPEN`).
 */
export interface NativeConstants {
  AF_INET: number;
  AF_INET6: number;
  /** Tool: the family `genlSocket()` sockets report (`SO_DOMAIN`). */
  AF_NETLINK: number;
  SOL_SOCKET: number;
  /** Tool: a socket's pending error. */
  SO_ERROR: number;
  /** Tool: checks what `socket.setKeepAlive()` set on a tfo socket. */
  SO_KEEPALIVE: number;
  SO_REUSEADDR: number;
  SO_REUSEPORT: number;
  /** Tool: a socket's address family. */
  SO_DOMAIN: number;
  /** Tool: whether a socket is listening (the tests check that closing a `dup()` leaves it so). */
  SO_ACCEPTCONN: number;
  IPPROTO_TCP: number;
  IPPROTO_IPV6: number;
  IPV6_V6ONLY: number;
  /** Tool: a harmless integer option. */
  TCP_NODELAY: number;
  TCP_INFO: number;
  TCP_FASTOPEN: number;
  TCP_FASTOPEN_CONNECT?: number;
  TCP_FASTOPEN_KEY?: number;
  TCP_FASTOPEN_NO_COOKIE?: number;
  /** Tool: `sendto()` flag of the pre-4.11 client path (connect and send in one call). */
  MSG_FASTOPEN?: number;
  /** Tool: `recv()` flag. */
  MSG_PEEK: number;
  TCPI_OPT_SYN_DATA?: number;
  /** `enum tcp_fastopen_client_fail` (<linux/tcp.h>): the values of `tcpi_fastopen_client_fail`. */
  TFO_STATUS_UNSPEC: number;
  TFO_COOKIE_UNAVAILABLE: number;
  TFO_DATA_NOT_ACKED: number;
  TFO_SYN_RETRANSMITTED: number;
  /** Width in bits of the `tcpi_fastopen_client_fail` bit-field of struct tcp_info. */
  TCPI_FASTOPEN_CLIENT_FAIL_BITS: number;
  /** Bytes of one TFO key (one definition, in src/addon.cc: the kernel's is not in a uapi header). */
  TCP_FASTOPEN_KEY_LENGTH: number;
  /** Bytes of a primary and a backup key together, as `TCP_FASTOPEN_KEY` takes them. */
  TCP_FASTOPEN_KEY_BUF_LENGTH: number;
  /** <linux/capability.h>: the capability net.* sysctl writes and tcp_metrics deletes need. */
  CAP_NET_ADMIN: number;
  /** The inode of the initial network namespace (Linux >= 6.18; `NET_NS_INIT_INO`, <linux/nsfs.h>). */
  NET_NS_INIT_INO: number;
  tcpStates: Record<
    | 'TCP_ESTABLISHED'
    | 'TCP_SYN_SENT'
    | 'TCP_SYN_RECV'
    | 'TCP_FIN_WAIT1'
    | 'TCP_FIN_WAIT2'
    | 'TCP_TIME_WAIT'
    | 'TCP_CLOSE'
    | 'TCP_CLOSE_WAIT'
    | 'TCP_LAST_ACK'
    | 'TCP_LISTEN'
    | 'TCP_CLOSING',
    number
  >;
}

/** Names of the TCP_INFO slots, in the order `tcpInfo()` fills its array. */
export type TcpInfoField =
  | 'state'
  | 'caState'
  | 'retransmits'
  | 'options'
  | 'fastopenClientFail'
  | 'rto'
  | 'sndMss'
  | 'rcvMss'
  | 'rtt'
  | 'rttvar'
  | 'sndCwnd'
  | 'totalRetrans'
  | 'segsOut'
  | 'segsIn'
  | 'dataSegsOut'
  | 'dataSegsIn'
  | 'bytesSent'
  | 'bytesAcked'
  | 'bytesReceived';

type Bytes = ArrayBufferView;

/**
 * The raw binding. Each function makes one non-blocking syscall and returns a
 * number; a negative number is `-errno`. Bad arguments give `-EINVAL`, never a
 * throw or a crash.
 *
 * Four functions are tools that lib/ does not call: `connect`, `sendto`,
 * `recv` and `getsockoptBytes`. They stay because a TCP Fast Open exchange can
 * then be driven and checked on the kernel alone (test/binding.test.js does:
 * a deferred `TCP_FASTOPEN_CONNECT`, `sendto(MSG_FASTOPEN)`, reading a
 * listener's `TCP_FASTOPEN_KEY` back), and because `sendto(MSG_FASTOPEN)` is
 * the client path of kernels without `TCP_FASTOPEN_CONNECT`, for tools.
 */
export interface NativeBinding {
  constants: NativeConstants;
  TCP_INFO_FIELDS: TcpInfoField[];
  /** Non-blocking, close-on-exec TCP socket of `family` (AF_INET / AF_INET6). */
  socket(family: number): number;
  /** Close an fd that `socket()` made and that was not `release()`d; -EBADF otherwise. */
  close(fd: number): number;
  /** Give up ownership of an fd (now owned by a libuv handle). No syscall. */
  release(fd: number): number;
  /** A second, close-on-exec fd of the same socket (owned like socket()'s until `release()`d). */
  dup(fd: number): number;
  bind(fd: number, family: number, address: string, port: number): number;
  listen(fd: number, backlog: number): number;
  /** Tool: one non-blocking connect() (-EINPROGRESS while the handshake runs; 0 at once for a deferred TFO connect). */
  connect(fd: number, family: number, address: string, port: number): number;
  send(fd: number, data: Bytes, flags: number): number;
  /** Tool: one non-blocking sendto(); with `MSG_FASTOPEN` on an unconnected socket, connect and send in one call. */
  sendto(fd: number, data: Bytes, flags: number, family: number, address: string, port: number): number;
  /** Tool: one non-blocking recv(). */
  recv(fd: number, into: Bytes, flags: number): number;
  setsockoptInt(fd: number, level: number, name: number, value: number): number;
  getsockoptInt(fd: number, level: number, name: number): number;
  setsockoptBytes(fd: number, level: number, name: number, value: Bytes): number;
  /** Tool: reads a byte option (e.g. a listener's `TCP_FASTOPEN_KEY`) into `into`; returns its length. */
  getsockoptBytes(fd: number, level: number, name: number, into: Bytes): number;
  /** Fill `out` (length >= TCP_INFO_FIELDS.length) with TCP_INFO; returns bytes the kernel wrote. */
  tcpInfo(fd: number, out: Float64Array): number;
  /** Constants for generic netlink and tcp_metrics, from the C headers (lib/system/cookies.ts builds the messages). */
  netlinkConstants: {
    NLMSG_ALIGNTO: number;
    NLMSG_HDRLEN: number;
    NLMSG_NOOP: number;
    NLMSG_ERROR: number;
    NLMSG_DONE: number;
    NLMSG_OVERRUN: number;
    NLM_F_REQUEST: number;
    NLM_F_MULTI: number;
    NLM_F_ACK: number;
    NLM_F_DUMP: number;
    NLM_F_DUMP_INTR: number;
    NLA_ALIGNTO: number;
    NLA_HDRLEN: number;
    NLA_F_NESTED: number;
    NLA_F_NET_BYTEORDER: number;
    /** The 16-bit mask that leaves an attribute's type without its flag bits. */
    NLA_TYPE_MASK: number;
    /** offsetof / sizeof of the header fields tfo reads and writes (struct nlmsghdr, genlmsghdr, nlattr, nlmsgerr). */
    NLMSG_LEN_OFFSET: number;
    NLMSG_LEN_SIZE: number;
    NLMSG_TYPE_OFFSET: number;
    NLMSG_TYPE_SIZE: number;
    NLMSG_FLAGS_OFFSET: number;
    NLMSG_FLAGS_SIZE: number;
    NLMSG_SEQ_OFFSET: number;
    NLMSG_SEQ_SIZE: number;
    NLMSG_PID_OFFSET: number;
    NLMSG_PID_SIZE: number;
    GENL_CMD_OFFSET: number;
    GENL_CMD_SIZE: number;
    GENL_VERSION_OFFSET: number;
    GENL_VERSION_SIZE: number;
    NLA_LEN_OFFSET: number;
    NLA_LEN_SIZE: number;
    NLA_TYPE_OFFSET: number;
    NLA_TYPE_SIZE: number;
    NLMSGERR_ERROR_OFFSET: number;
    NLMSGERR_ERROR_SIZE: number;
    GENL_HDRLEN: number;
    GENL_ID_CTRL: number;
    CTRL_CMD_GETFAMILY: number;
    CTRL_ATTR_FAMILY_ID: number;
    CTRL_ATTR_FAMILY_NAME: number;
    TCP_METRICS_GENL_NAME: string;
    TCP_METRICS_GENL_VERSION: number;
    TCP_METRICS_CMD_GET: number;
    TCP_METRICS_CMD_DEL: number;
    TCP_METRICS_ATTR_ADDR_IPV4: number;
    TCP_METRICS_ATTR_ADDR_IPV6: number;
    TCP_METRICS_ATTR_SADDR_IPV4: number;
    TCP_METRICS_ATTR_SADDR_IPV6: number;
    TCP_METRICS_ATTR_AGE: number;
    TCP_METRICS_ATTR_FOPEN_MSS: number;
    TCP_METRICS_ATTR_FOPEN_SYN_DROPS: number;
    TCP_METRICS_ATTR_FOPEN_SYN_DROP_TS: number;
    TCP_METRICS_ATTR_FOPEN_COOKIE: number;
    TCP_METRICS_ATTR_VALS: number;
    /** Attribute types inside TCP_METRICS_ATTR_VALS: the cached RTT in µs, and in ms (older kernels). */
    TCP_METRICS_VAL_RTT_US: number;
    TCP_METRICS_VAL_RTT: number;
    /** The cached RTT values are the kernel's smoothed RTT scaled by 2^this (srtt << 3). */
    TCP_METRICS_RTT_SHIFT: number;
  };
  /** Non-blocking, close-on-exec NETLINK_GENERIC socket, owned like `socket()`'s (`close()` it). */
  genlSocket(): number;
  /** One sendto() of `data` to the kernel (netlink port 0); bytes sent. */
  genlSend(fd: number, data: Bytes): number;
  /** One recvmsg() of one netlink datagram into `into` (>= NLMSG_HDRLEN bytes); -EAGAIN if none, -EMSGSIZE if truncated. */
  genlRecv(fd: number, into: Bytes): number;
}

/** Whether the addon loaded, and if not, why. */
export type NativeLoad = { binding: NativeBinding; error: null } | { binding: null; error: string };

function load(): NativeLoad {
  if (process.platform !== 'linux') {
    return { binding: null, error: `TCP Fast Open support in tfo is Linux-only (this is ${process.platform})` };
  }
  if (process.env.TFO_DISABLE_NATIVE === '1') {
    return { binding: null, error: 'the native addon is disabled by TFO_DISABLE_NATIVE=1' };
  }
  try {
    // node-gyp-build prefers build/Release (a local build), then prebuilds/<platform>-<arch>.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred: loaded only on Linux, when the addon is not disabled
    const gypBuild = require('node-gyp-build') as (dir: string) => unknown;
    const binding = gypBuild(path.join(__dirname, '..', '..')) as NativeBinding;
    return { binding, error: null };
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return { binding: null, error: `the native addon could not be loaded for ${process.platform}-${process.arch}: ${msg}` };
  }
}

/** Loaded once per process (and per worker thread: the addon is context-aware). */
export const native: NativeLoad = load();
