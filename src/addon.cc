// Module init and the constants JS needs, taken from the C headers so that
// TypeScript never hard-codes a Linux number.
#include "common.h"

#include <linux/tcp.h>

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
  C(SOL_SOCKET);
  C(SO_ERROR);
  C(SO_REUSEADDR);
  C(SO_REUSEPORT);
  C(SO_ACCEPTCONN);
  C(SO_DOMAIN);
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
  C(TCPI_OPT_TIMESTAMPS);
  C(TCPI_OPT_SACK);
  C(TCPI_OPT_WSCALE);
  C(TCPI_OPT_ECN);
#ifdef TCPI_OPT_SYN_DATA
  C(TCPI_OPT_SYN_DATA);
#endif
#ifdef TCP_FASTOPEN_KEY
  // Key sizes the kernel accepts for TCP_FASTOPEN_KEY (primary, primary+backup).
  SetConst(env, c, "TCP_FASTOPEN_KEY_LENGTH", 16);
  SetConst(env, c, "TCP_FASTOPEN_KEY_BUF_LENGTH", 2 * 16);
#endif
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
