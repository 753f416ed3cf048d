// TCP_INFO: one getsockopt, copied into a caller-supplied Float64Array in the
// order of the exported TCP_INFO_FIELDS list (so JS never hard-codes offsets).
#include "common.h"

#include <linux/tcp.h>

namespace tfo {

namespace {

// The fields JS reads, in slot order. Extend at the end only.
#define TFO_TCP_INFO_FIELDS(X)                               \
  X(state, i.tcpi_state)                                     \
  X(caState, i.tcpi_ca_state)                                \
  X(retransmits, i.tcpi_retransmits)                         \
  X(options, i.tcpi_options)                                 \
  X(fastopenClientFail, i.tcpi_fastopen_client_fail)         \
  X(rto, i.tcpi_rto)                                         \
  X(sndMss, i.tcpi_snd_mss)                                  \
  X(rcvMss, i.tcpi_rcv_mss)                                  \
  X(rtt, i.tcpi_rtt)                                         \
  X(rttvar, i.tcpi_rttvar)                                   \
  X(sndCwnd, i.tcpi_snd_cwnd)                                \
  X(totalRetrans, i.tcpi_total_retrans)                      \
  X(segsOut, i.tcpi_segs_out)                                \
  X(segsIn, i.tcpi_segs_in)                                  \
  X(dataSegsOut, i.tcpi_data_segs_out)                       \
  X(dataSegsIn, i.tcpi_data_segs_in)                         \
  X(bytesSent, static_cast<double>(i.tcpi_bytes_sent))       \
  X(bytesAcked, static_cast<double>(i.tcpi_bytes_acked))     \
  X(bytesReceived, static_cast<double>(i.tcpi_bytes_received))

#define TFO_COUNT(name, expr) +1
constexpr size_t kFields = 0 TFO_TCP_INFO_FIELDS(TFO_COUNT);
#undef TFO_COUNT

// tcpInfo(fd, Float64Array out) -> number of bytes the kernel filled | -errno
Napi::Value TcpInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArg(info, 0, &fd) || info.Length() < 2 || !info[1].IsTypedArray()) return Err(env, EINVAL);
  // The base pointer from napi_get_typedarray_info (already offset), which also
  // works for a Float64Array on a SharedArrayBuffer (ArrayBuffer().Data() gives
  // null there, and writing through it crashed the process).
  napi_typedarray_type type;
  size_t count = 0;
  void* base = nullptr;
  if (napi_get_typedarray_info(env, info[1], &type, &count, &base, nullptr, nullptr) != napi_ok ||
      type != napi_float64_array || count < kFields || base == nullptr)
    return Err(env, EINVAL);
  struct tcp_info i;
  std::memset(&i, 0, sizeof(i));
  socklen_t len = sizeof(i);
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &i, &len) != 0) return LastErr(env);
  double* out = static_cast<double*>(base);
  size_t k = 0;
#define TFO_STORE(name, expr) out[k++] = static_cast<double>(expr);
  TFO_TCP_INFO_FIELDS(TFO_STORE)
#undef TFO_STORE
  return Num(env, len);
}

}  // namespace

void InitTcpInfo(Napi::Env env, Napi::Object exports) {
  Napi::Array names = Napi::Array::New(env, kFields);
  uint32_t k = 0;
#define TFO_NAME(name, expr) names.Set(k++, Napi::String::New(env, #name));
  TFO_TCP_INFO_FIELDS(TFO_NAME)
#undef TFO_NAME
  exports.Set("TCP_INFO_FIELDS", names);
  exports.Set("tcpInfo", Napi::Function::New(env, TcpInfo, "tcpInfo"));
}

}  // namespace tfo
