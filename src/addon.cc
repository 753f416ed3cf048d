// Module init and the constants JS needs, taken from the C headers so that
// TypeScript never hard-codes a Linux number.
#include "common.h"

#include <linux/capability.h>
#include <linux/tcp.h>

// The length of one TCP Fast Open key. The kernel defines it as
// TCP_FASTOPEN_KEY_LENGTH (sizeof(siphash_key_t)) in include/net/tcp.h, which
// is not a uapi header: <linux/tcp.h> only says that TCP_FASTOPEN_KEY takes a
// key. So this is the one definition in tfo (TypeScript reads it from the
// exported constants); the kernel ABI it mirrors has been 16 bytes since
// TCP_FASTOPEN_KEY appeared (Linux 4.20), and 32 (primary + backup) since 5.4.
#ifndef TCP_FASTOPEN_KEY_LENGTH
#define TCP_FASTOPEN_KEY_LENGTH 16
#endif

// The inode of the initial network namespace (what /proc/self/ns/net shows in
// the host's namespace). Fixed by the kernel since Linux 6.18, and named
// NET_NS_INIT_INO in <linux/nsfs.h> (enum init_ns_ino) from those headers on.
// An enumerator cannot be tested with #ifdef and older headers lack it, so it
// is defined once here.
constexpr double kNetNsInitIno = 0xEFFFFFF9U;

namespace tfo {

namespace {

void SetConst(Napi::Env env, Napi::Object obj, const char* name, double value) {
  obj.Set(name, Napi::Number::New(env, value));
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
#define C(name) SetConst(env, c, #name, name)
  C(AF_INET);
  C(AF_INET6);
  C(AF_NETLINK);
  C(SOL_SOCKET);
  C(SO_ERROR);
  C(SO_KEEPALIVE);
  C(SO_REUSEADDR);
  C(SO_REUSEPORT);
  C(SO_DOMAIN);
  C(SO_ACCEPTCONN);
  C(IPPROTO_TCP);
  C(IPPROTO_IPV6);
  C(IPV6_V6ONLY);
  C(TCP_NODELAY);
  C(TCP_INFO);
  C(TCP_FASTOPEN);
#ifdef TCP_FASTOPEN_CONNECT
  C(TCP_FASTOPEN_CONNECT);
#endif
#ifdef TCP_FASTOPEN_KEY
  C(TCP_FASTOPEN_KEY);
#endif
#ifdef TCP_FASTOPEN_NO_COOKIE
  C(TCP_FASTOPEN_NO_COOKIE);
#endif
#ifdef MSG_FASTOPEN
  C(MSG_FASTOPEN);
#endif
  C(MSG_PEEK);
#ifdef TCPI_OPT_SYN_DATA
  C(TCPI_OPT_SYN_DATA);
#endif
  // enum tcp_fastopen_client_fail (<linux/tcp.h>, Linux 5.5): the values of
  // tcpi_fastopen_client_fail. Present in any header this file compiles with,
  // since tcpinfo.cc reads that field.
  C(TFO_STATUS_UNSPEC);
  C(TFO_COOKIE_UNAVAILABLE);
  C(TFO_DATA_NOT_ACKED);
  C(TFO_SYN_RETRANSMITTED);
  // The width in bits of the tcpi_fastopen_client_fail bit-field of struct
  // tcp_info (0 minus 1 wraps to the field's largest value, all ones).
  {
    struct tcp_info probe;
    std::memset(&probe, 0, sizeof(probe));
    probe.tcpi_fastopen_client_fail -= 1;
    SetConst(env, c, "TCPI_FASTOPEN_CLIENT_FAIL_BITS", __builtin_popcount(probe.tcpi_fastopen_client_fail));
  }
  // Key sizes the kernel accepts for TCP_FASTOPEN_KEY (primary; primary + backup). See above.
  C(TCP_FASTOPEN_KEY_LENGTH);
  SetConst(env, c, "TCP_FASTOPEN_KEY_BUF_LENGTH", 2 * TCP_FASTOPEN_KEY_LENGTH);
  // <linux/capability.h>: the capability that writing net.* sysctls and tcp_metrics need.
  C(CAP_NET_ADMIN);
  SetConst(env, c, "NET_NS_INIT_INO", kNetNsInitIno);
#undef C
  return c;
}

}  // namespace

void InitStates(Napi::Env env, Napi::Object constants);

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Object constants = Constants(env);
  InitStates(env, constants);
  exports.Set("constants", constants);
  InitSocket(env, exports);
  InitSockopt(env, exports);
  InitTcpInfo(env, exports);
  InitNetlink(env, exports);
  return exports;
}

}  // namespace tfo

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return tfo::Init(env, exports); }

NODE_API_MODULE(tfo, InitAddon)
