// Generic netlink, for the kernel's tcp_metrics table (where Linux caches the
// TCP Fast Open cookies its clients received). Three thin calls: open a
// NETLINK_GENERIC socket, send one request to the kernel, read one datagram of
// the reply. Messages are built and parsed in TypeScript (lib/system/cookies.ts) from
// the constants exported here, taken from <linux/netlink.h>,
// <linux/genetlink.h> and <linux/tcp_metrics.h>.
//
// Non-blocking is enough: the kernel handles a generic netlink request inside
// the sendto() call (a "do" reply, an ack or an error is queued before sendto
// returns) and produces each further part of a dump inside the recvmsg() that
// makes room for it. There is nothing to wait for.
#include "common.h"

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/tcp_metrics.h>
#include <sys/uio.h>

#include <cstddef>

namespace tfo {

namespace {

// genlSocket() -> fd | -errno. A non-blocking, close-on-exec NETLINK_GENERIC
// socket in the caller's network namespace, owned by the addon (close() works).
Napi::Value GenlSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_GENERIC);
  if (fd < 0) return LastErr(env);
  OwnFd(env, fd);
  return Num(env, fd);
}

// genlSend(fd, bytes) -> bytes sent | -errno. One sendto() to the kernel
// (netlink port 0). The kernel validates the message; errors about its
// content come back as an NLMSG_ERROR reply, not from this call.
Napi::Value GenlSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  const uint8_t* data;
  size_t len;
  if (!FdArg(info, 0, &fd) || !BytesArg(info, 1, &data, &len)) return Err(env, EINVAL);
  sockaddr_nl kernel;
  std::memset(&kernel, 0, sizeof(kernel));
  kernel.nl_family = AF_NETLINK;  // nl_pid 0: the kernel
  ssize_t n;
  do n = ::sendto(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
  while (n < 0 && errno == EINTR);
  return Num(env, n >= 0 ? static_cast<double>(n) : -errno);
}

// genlRecv(fd, buffer) -> bytes read | -errno. One recvmsg() of one netlink
// datagram (which may hold several messages). -EAGAIN when nothing is queued;
// -EMSGSIZE when the datagram did not fit in `buffer` (the kernel has then
// dropped the rest of it: use a buffer of at least 32 KiB, the most a dump
// part takes). The buffer must hold at least one netlink header.
Napi::Value GenlRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  const uint8_t* data;
  size_t len;
  if (!FdArg(info, 0, &fd) || !BytesArg(info, 1, &data, &len) || data == nullptr || len < NLMSG_HDRLEN)
    return Err(env, EINVAL);
  iovec iov{const_cast<uint8_t*>(data), len};
  msghdr msg;
  std::memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t n;
  do n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) return LastErr(env);
  if (msg.msg_flags & MSG_TRUNC) return Err(env, EMSGSIZE);
  return Num(env, static_cast<double>(n));
}

Napi::Object NetlinkConstants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
#define C(name) c.Set(#name, Napi::Number::New(env, static_cast<double>(name)))
  // <linux/netlink.h>: message and attribute framing
  C(NLMSG_ALIGNTO);
  C(NLMSG_HDRLEN);
  C(NLMSG_NOOP);
  C(NLMSG_ERROR);
  C(NLMSG_DONE);
  C(NLMSG_OVERRUN);
  C(NLM_F_REQUEST);
  C(NLM_F_MULTI);
  C(NLM_F_ACK);
  C(NLM_F_DUMP);
  C(NLM_F_DUMP_INTR);
  C(NLA_ALIGNTO);
  C(NLA_HDRLEN);
  C(NLA_F_NESTED);
  C(NLA_F_NET_BYTEORDER);
  // NLA_TYPE_MASK is an int (~0xc000); nla_type is 16 bits, so give JS the 16-bit mask.
  c.Set("NLA_TYPE_MASK", Napi::Number::New(env, static_cast<double>(NLA_TYPE_MASK & 0xffff)));
  // Where the header fields are, and how wide: offsetof/sizeof of struct
  // nlmsghdr, genlmsghdr, nlattr and nlmsgerr, so TypeScript never writes an
  // offset of its own. (NLMSG_DONE's payload is one int, as nlmsgerr.error.)
#define FIELD(prefix, type, field)                                                     \
  c.Set(prefix "_OFFSET", Napi::Number::New(env, static_cast<double>(offsetof(type, field)))); \
  c.Set(prefix "_SIZE", Napi::Number::New(env, static_cast<double>(sizeof(static_cast<type*>(nullptr)->field))))
  FIELD("NLMSG_LEN", nlmsghdr, nlmsg_len);
  FIELD("NLMSG_TYPE", nlmsghdr, nlmsg_type);
  FIELD("NLMSG_FLAGS", nlmsghdr, nlmsg_flags);
  FIELD("NLMSG_SEQ", nlmsghdr, nlmsg_seq);
  FIELD("NLMSG_PID", nlmsghdr, nlmsg_pid);
  FIELD("GENL_CMD", genlmsghdr, cmd);
  FIELD("GENL_VERSION", genlmsghdr, version);
  FIELD("NLA_LEN", nlattr, nla_len);
  FIELD("NLA_TYPE", nlattr, nla_type);
  FIELD("NLMSGERR_ERROR", nlmsgerr, error);
#undef FIELD
  // <linux/genetlink.h>: the controller, which maps family names to ids
  C(GENL_HDRLEN);
  C(GENL_ID_CTRL);
  C(CTRL_CMD_GETFAMILY);
  C(CTRL_ATTR_FAMILY_ID);
  C(CTRL_ATTR_FAMILY_NAME);
  // <linux/tcp_metrics.h>
  c.Set("TCP_METRICS_GENL_NAME", Napi::String::New(env, TCP_METRICS_GENL_NAME));
  C(TCP_METRICS_GENL_VERSION);
  C(TCP_METRICS_CMD_GET);
  C(TCP_METRICS_CMD_DEL);
  C(TCP_METRICS_ATTR_ADDR_IPV4);
  C(TCP_METRICS_ATTR_ADDR_IPV6);
  C(TCP_METRICS_ATTR_SADDR_IPV4);
  C(TCP_METRICS_ATTR_SADDR_IPV6);
  C(TCP_METRICS_ATTR_AGE);
  C(TCP_METRICS_ATTR_FOPEN_MSS);
  C(TCP_METRICS_ATTR_FOPEN_SYN_DROPS);
  C(TCP_METRICS_ATTR_FOPEN_SYN_DROP_TS);
  C(TCP_METRICS_ATTR_FOPEN_COOKIE);
  C(TCP_METRICS_ATTR_VALS);
  // Inside TCP_METRICS_ATTR_VALS, a value's attribute type is its index in
  // enum tcp_metric_index plus one (the header's "nested +1"): the cached RTT
  // in µs (TCP_METRIC_RTT_US, Linux >= 3.15) and in ms (TCP_METRIC_RTT).
  c.Set("TCP_METRICS_VAL_RTT_US", Napi::Number::New(env, static_cast<double>(TCP_METRIC_RTT_US + 1)));
  c.Set("TCP_METRICS_VAL_RTT", Napi::Number::New(env, static_cast<double>(TCP_METRIC_RTT + 1)));
  // No uapi header says it: the kernel keeps a smoothed RTT scaled by 8
  // (struct tcp_sock's srtt_us, "smoothed round trip time << 3 in usecs",
  // include/linux/tcp.h), and tcp_metrics stores and reports it so
  // (net/ipv4/tcp_metrics.c; iproute2 shifts it back before printing).
  // Checked on Linux 6.18: the value is 8 times the "rtt ...us" `ip tcp_metrics` prints.
  c.Set("TCP_METRICS_RTT_SHIFT", Napi::Number::New(env, 3));
#undef C
  return c;
}

}  // namespace

void InitNetlink(Napi::Env env, Napi::Object exports) {
  exports.Set("netlinkConstants", NetlinkConstants(env));
  exports.Set("genlSocket", Napi::Function::New(env, GenlSocket, "genlSocket"));
  exports.Set("genlSend", Napi::Function::New(env, GenlSend, "genlSend"));
  exports.Set("genlRecv", Napi::Function::New(env, GenlRecv, "genlRecv"));
}

}  // namespace tfo
