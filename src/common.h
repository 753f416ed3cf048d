// Shared helpers for the thin syscall layer. Every exported function validates
// its arguments here and answers -EINVAL instead of throwing or crashing: the
// TypeScript layer turns negative errnos into Node-shaped errors.
#pragma once

#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include <netinet/in.h>
#include <sys/socket.h>

namespace tfo {

inline Napi::Value Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }
inline Napi::Value Err(Napi::Env env, int e) { return Napi::Number::New(env, -e); }
// errno of the syscall that just failed, as the negative number JS expects.
inline Napi::Value LastErr(Napi::Env env) { return Err(env, errno); }

// An integer argument in [lo, hi]; false when absent, not a number, not an
// integer or out of range.
inline bool IntArg(const Napi::CallbackInfo& info, size_t i, int64_t lo, int64_t hi, int64_t* out) {
  if (info.Length() <= i || !info[i].IsNumber()) return false;
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi))) return false;  // also rejects NaN
  int64_t v = static_cast<int64_t>(d);
  if (static_cast<double>(v) != d) return false;
  *out = v;
  return true;
}

inline bool FdArg(const Napi::CallbackInfo& info, size_t i, int* fd) {
  int64_t v;
  if (!IntArg(info, i, 0, INT32_MAX, &v)) return false;
  *fd = static_cast<int>(v);
  return true;
}

// Bytes per element of a TypedArray type; 0 for a type this build does not know.
inline size_t ElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      return 1;
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      return 8;
    default:
      return 0;
  }
}

// Bytes of a Buffer / TypedArray / DataView argument (a Buffer is a
// Uint8Array). The pointer comes from napi_get_{dataview,typedarray}_info,
// already offset into the backing store: unlike Napi::ArrayBuffer::Data()
// (napi_get_arraybuffer_info), that also works for views of a
// SharedArrayBuffer, which would otherwise give a null base pointer and a
// pending "Invalid argument" exception. A detached view has length 0.
inline bool BytesArg(const Napi::CallbackInfo& info, size_t i, const uint8_t** data, size_t* len) {
  if (info.Length() <= i) return false;
  napi_env env = info.Env();
  napi_value v = info[i];
  void* p = nullptr;
  size_t n = 0;
  bool is = false;
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    if (napi_get_dataview_info(env, v, &n, &p, nullptr, nullptr) != napi_ok) return false;
  } else if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t count = 0;
    if (napi_get_typedarray_info(env, v, &type, &count, &p, nullptr, nullptr) != napi_ok) return false;
    size_t size = ElementSize(type);
    if (size == 0) return false;
    n = count * size;
  } else {
    return false;
  }
  if (p == nullptr && n != 0) return false;
  *data = static_cast<const uint8_t*>(p);
  *len = n;
  return true;
}

// (family, address string, port) -> sockaddr. family is AF_INET or AF_INET6.
bool SockaddrArgs(const Napi::CallbackInfo& info, size_t i, sockaddr_storage* ss, socklen_t* len);

// Records an fd this addon created (socket.cc's owned set), so close() accepts it.
void OwnFd(Napi::Env env, int fd);

void InitSocket(Napi::Env env, Napi::Object exports);
void InitSockopt(Napi::Env env, Napi::Object exports);
void InitTcpInfo(Napi::Env env, Napi::Object exports);
void InitNetlink(Napi::Env env, Napi::Object exports);

}  // namespace tfo
