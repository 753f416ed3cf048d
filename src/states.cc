// TCP state numbers (tcpi_state) from <netinet/tcp.h>, which cannot share a
// translation unit with <linux/tcp.h>.
#include <napi.h>

#include <netinet/tcp.h>

namespace tfo {

void InitStates(Napi::Env env, Napi::Object constants) {
  Napi::Object s = Napi::Object::New(env);
#define S(name) s.Set(#name, Napi::Number::New(env, name))
  S(TCP_ESTABLISHED);
  S(TCP_SYN_SENT);
  S(TCP_SYN_RECV);
  S(TCP_FIN_WAIT1);
  S(TCP_FIN_WAIT2);
  S(TCP_TIME_WAIT);
  S(TCP_CLOSE);
  S(TCP_CLOSE_WAIT);
  S(TCP_LAST_ACK);
  S(TCP_LISTEN);
  S(TCP_CLOSING);
#undef S
  constants.Set("tcpStates", s);
}

}  // namespace tfo
