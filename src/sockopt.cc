// Socket options: integer get/set (TCP_FASTOPEN queue, TCP_FASTOPEN_CONNECT,
// TCP_FASTOPEN_NO_COOKIE, ...) and byte options (TCP_FASTOPEN_KEY).
// Levels and names come from the constants this addon exports.
#include "common.h"

namespace tfo {

namespace {

// setsockoptInt(fd, level, name, value) -> 0 | -errno
Napi::Value SetInt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t level, name, value;
  if (!FdArg(info, 0, &fd) || !IntArg(info, 1, 0, INT32_MAX, &level) || !IntArg(info, 2, 0, INT32_MAX, &name) ||
      !IntArg(info, 3, INT32_MIN, INT32_MAX, &value))
    return Err(env, EINVAL);
  int v = static_cast<int>(value);
  int r = ::setsockopt(fd, static_cast<int>(level), static_cast<int>(name), &v, sizeof(v));
  return Num(env, r == 0 ? 0 : -errno);
}

// getsockoptInt(fd, level, name) -> value (>= 0) | -errno. Options read this
// way are non-negative (queue lengths, booleans).
Napi::Value GetInt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t level, name;
  if (!FdArg(info, 0, &fd) || !IntArg(info, 1, 0, INT32_MAX, &level) || !IntArg(info, 2, 0, INT32_MAX, &name))
    return Err(env, EINVAL);
  int v = 0;
  socklen_t len = sizeof(v);
  int r = ::getsockopt(fd, static_cast<int>(level), static_cast<int>(name), &v, &len);
  return Num(env, r == 0 ? v : -errno);
}

// setsockoptBytes(fd, level, name, bytes) -> 0 | -errno
Napi::Value SetBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t level, name;
  const uint8_t* data;
  size_t len;
  if (!FdArg(info, 0, &fd) || !IntArg(info, 1, 0, INT32_MAX, &level) || !IntArg(info, 2, 0, INT32_MAX, &name) ||
      !BytesArg(info, 3, &data, &len) || len > 4096)
    return Err(env, EINVAL);
  int r = ::setsockopt(fd, static_cast<int>(level), static_cast<int>(name), data, static_cast<socklen_t>(len));
  return Num(env, r == 0 ? 0 : -errno);
}

// getsockoptBytes(fd, level, name, buffer) -> bytes written | -errno
Napi::Value GetBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t level, name;
  const uint8_t* data;
  size_t len;
  if (!FdArg(info, 0, &fd) || !IntArg(info, 1, 0, INT32_MAX, &level) || !IntArg(info, 2, 0, INT32_MAX, &name) ||
      !BytesArg(info, 3, &data, &len) || len > 4096)
    return Err(env, EINVAL);
  socklen_t out = static_cast<socklen_t>(len);
  int r = ::getsockopt(fd, static_cast<int>(level), static_cast<int>(name), const_cast<uint8_t*>(data), &out);
  return Num(env, r == 0 ? static_cast<double>(out) : -errno);
}

}  // namespace

void InitSockopt(Napi::Env env, Napi::Object exports) {
  exports.Set("setsockoptInt", Napi::Function::New(env, SetInt, "setsockoptInt"));
  exports.Set("getsockoptInt", Napi::Function::New(env, GetInt, "getsockoptInt"));
  exports.Set("setsockoptBytes", Napi::Function::New(env, SetBytes, "setsockoptBytes"));
  exports.Set("getsockoptBytes", Napi::Function::New(env, GetBytes, "getsockoptBytes"));
}

}  // namespace tfo
