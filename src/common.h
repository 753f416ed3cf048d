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

// Bytes of a Buffer / TypedArray / DataView argument.
inline bool BytesArg(const Napi::CallbackInfo& info, size_t i, const uint8_t** data, size_t* len) {
  if (info.Length() <= i) return false;
  Napi::Value v = info[i];
  if (v.IsDataView()) {  // checked first: IsBuffer() is true for every ArrayBufferView
    auto d = v.As<Napi::DataView>();
    *data = static_cast<const uint8_t*>(d.ArrayBuffer().Data()) + d.ByteOffset();
    *len = d.ByteLength();
    return true;
  }
  if (v.IsTypedArray()) {
    auto t = v.As<Napi::TypedArray>();
    *data = static_cast<const uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
    *len = t.ByteLength();
    return true;
  }
  if (v.IsBuffer()) {
    auto b = v.As<Napi::Buffer<uint8_t>>();
    *data = b.Data();
    *len = b.Length();
    return true;
  }
  if (v.IsTypedArray()) {
    auto t = v.As<Napi::TypedArray>();
    *data = static_cast<const uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
    *len = t.ByteLength();
    return true;
  }
  return false;
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
