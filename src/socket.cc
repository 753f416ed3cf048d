// Socket lifecycle: socket, dup, bind, listen, connect, send, sendto, close.
// One non-blocking syscall per function; each returns a number or -errno.
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <unordered_set>

namespace tfo {

namespace {

// fds this addon created and still owns. close() only accepts these, so no
// argument from JS can close a descriptor that libuv or Node owns.
struct Owned {
  std::unordered_set<int> fds;
  // Runs when the environment (main thread or worker) is torn down.
  ~Owned() {
    for (int fd : fds) ::close(fd);
  }
};

Owned* OwnedFds(Napi::Env env) { return env.GetInstanceData<Owned>(); }

}  // namespace

void OwnFd(Napi::Env env, int fd) { OwnedFds(env)->fds.insert(fd); }

bool SockaddrArgs(const Napi::CallbackInfo& info, size_t i, sockaddr_storage* ss, socklen_t* len) {
  int64_t family, port;
  if (!IntArg(info, i, 0, 255, &family)) return false;
  if (info.Length() <= i + 1 || !info[i + 1].IsString()) return false;
  if (!IntArg(info, i + 2, 0, 65535, &port)) return false;
  std::string host = info[i + 1].As<Napi::String>().Utf8Value();
  if (host.find('\0') != std::string::npos) return false;  // "127.0.0.1\0junk" is not an address
  std::memset(ss, 0, sizeof(*ss));
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &sin->sin_addr) != 1) return false;
    *len = sizeof(*sin);
    return true;
  }
  if (family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    // Optional scope id: "fe80::1%3" (numeric only; names are resolved in JS).
    std::string addr = host;
    size_t pct = host.find('%');
    if (pct != std::string::npos) {
      addr = host.substr(0, pct);
      const char* digits = host.c_str() + pct + 1;
      if (*digits < '0' || *digits > '9') return false;  // strtoul would accept "-1" or " 1"
      char* end = nullptr;
      errno = 0;
      unsigned long long scope = std::strtoull(digits, &end, 10);
      if (*end != '\0' || errno == ERANGE || scope > UINT32_MAX) return false;
      sin6->sin6_scope_id = static_cast<uint32_t>(scope);
    }
    if (inet_pton(AF_INET6, addr.c_str(), &sin6->sin6_addr) != 1) return false;
    *len = sizeof(*sin6);
    return true;
  }
  return false;
}

namespace {

// socket(family) -> fd | -errno. Non-blocking, close-on-exec TCP socket.
Napi::Value Socket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t family;
  if (!IntArg(info, 0, 0, 255, &family) || (family != AF_INET && family != AF_INET6)) return Err(env, EINVAL);
  int fd = ::socket(static_cast<int>(family), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) return LastErr(env);
  OwnedFds(env)->fds.insert(fd);
  return Num(env, fd);
}

// close(fd) -> 0 | -errno. Only for fds from socket() that were not released.
Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArg(info, 0, &fd)) return Err(env, EINVAL);
  Owned* owned = OwnedFds(env);
  if (owned->fds.erase(fd) == 0) return Err(env, EBADF);
  return Num(env, ::close(fd) == 0 ? 0 : -errno);
}

// release(fd) -> 0 | -EBADF. The fd now belongs to someone else (a libuv
// handle); this addon will no longer close it. No syscall.
Napi::Value Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArg(info, 0, &fd)) return Err(env, EINVAL);
  return Num(env, OwnedFds(env)->fds.erase(fd) ? 0 : -EBADF);
}

// dup(fd) -> new fd | -errno. A second, close-on-exec descriptor of the same
// socket, owned by this addon until release()d (or close()d). Closing it
// leaves the socket to the other descriptor: it never shuts the socket down.
Napi::Value Dup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArg(info, 0, &fd)) return Err(env, EINVAL);
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return LastErr(env);
  OwnedFds(env)->fds.insert(copy);
  return Num(env, copy);
}

// bind(fd, family, address, port) -> 0 | -errno
Napi::Value Bind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  sockaddr_storage ss;
  socklen_t len;
  if (!FdArg(info, 0, &fd) || !SockaddrArgs(info, 1, &ss, &len)) return Err(env, EINVAL);
  return Num(env, ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 ? 0 : -errno);
}

// listen(fd, backlog) -> 0 | -errno
Napi::Value Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t backlog;
  if (!FdArg(info, 0, &fd) || !IntArg(info, 1, INT32_MIN, INT32_MAX, &backlog)) return Err(env, EINVAL);
  return Num(env, ::listen(fd, static_cast<int>(backlog)) == 0 ? 0 : -errno);
}

// connect(fd, family, address, port) -> 0 | -errno (-EINPROGRESS while the
// handshake runs; 0 at once for a deferred TCP_FASTOPEN_CONNECT).
Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  sockaddr_storage ss;
  socklen_t len;
  if (!FdArg(info, 0, &fd) || !SockaddrArgs(info, 1, &ss, &len)) return Err(env, EINVAL);
  int r;
  do r = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  while (r < 0 && errno == EINTR);
  return Num(env, r == 0 ? 0 : -errno);
}

// send(fd, bytes, flags) -> bytes queued | -errno. MSG_DONTWAIT | MSG_NOSIGNAL
// are always added. On a deferred TFO socket this sends the SYN with data.
Napi::Value Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  const uint8_t* data;
  size_t len;
  int64_t flags;
  if (!FdArg(info, 0, &fd) || !BytesArg(info, 1, &data, &len) || !IntArg(info, 2, 0, INT32_MAX, &flags))
    return Err(env, EINVAL);
  ssize_t n;
  do n = ::send(fd, data, len, static_cast<int>(flags) | MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return Num(env, n >= 0 ? static_cast<double>(n) : -errno);
}

// sendto(fd, bytes, flags, family, address, port) -> bytes queued | -errno.
// With MSG_FASTOPEN on an unconnected socket: connect and send in one call
// (the pre-4.11 client path).
Napi::Value SendTo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  const uint8_t* data;
  size_t len;
  int64_t flags;
  sockaddr_storage ss;
  socklen_t slen;
  if (!FdArg(info, 0, &fd) || !BytesArg(info, 1, &data, &len) || !IntArg(info, 2, 0, INT32_MAX, &flags) ||
      !SockaddrArgs(info, 3, &ss, &slen))
    return Err(env, EINVAL);
  ssize_t n;
  do n = ::sendto(fd, data, len, static_cast<int>(flags) | MSG_DONTWAIT | MSG_NOSIGNAL,
                  reinterpret_cast<sockaddr*>(&ss), slen);
  while (n < 0 && errno == EINTR);
  return Num(env, n >= 0 ? static_cast<double>(n) : -errno);
}

// recv(fd, buffer, flags) -> bytes read | -errno (non-blocking). For probes
// and the raw-binding tests; sockets handed to libuv are read by libuv.
Napi::Value Recv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  const uint8_t* data;
  size_t len;
  int64_t flags;
  if (!FdArg(info, 0, &fd) || !BytesArg(info, 1, &data, &len) || !IntArg(info, 2, 0, INT32_MAX, &flags))
    return Err(env, EINVAL);
  ssize_t n;
  do n = ::recv(fd, const_cast<uint8_t*>(data), len, static_cast<int>(flags) | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  return Num(env, n >= 0 ? static_cast<double>(n) : -errno);
}

}  // namespace

void InitSocket(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<Owned>(new Owned());
  exports.Set("socket", Napi::Function::New(env, Socket, "socket"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("release", Napi::Function::New(env, Release, "release"));
  exports.Set("dup", Napi::Function::New(env, Dup, "dup"));
  exports.Set("bind", Napi::Function::New(env, Bind, "bind"));
  exports.Set("listen", Napi::Function::New(env, Listen, "listen"));
  exports.Set("connect", Napi::Function::New(env, Connect, "connect"));
  exports.Set("send", Napi::Function::New(env, Send, "send"));
  exports.Set("sendto", Napi::Function::New(env, SendTo, "sendto"));
  exports.Set("recv", Napi::Function::New(env, Recv, "recv"));
}

}  // namespace tfo
