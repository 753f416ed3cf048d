// Waiting for the kernel to report a connection established without taking
// its descriptor from libuv: used by tfo.tls and tfo.http2 (h2c). Its own
// module so that neither entry point exports it.
import * as net from 'node:net';
import { constants as osConstants } from 'node:os';
import type * as tls from 'node:tls';

import { native } from '../base/native';

const EMPTY = Buffer.alloc(0);
const noop = (): void => {};
const { EBADF, EPIPE } = osConstants.errno;

/**
 * (tfo.tls, and tfo.http2 for h2c)
 * Calls `done(status)` once the kernel reports the socket `fd` established
 * (status 0) or failed (a negative errno, as libuv reports a connect), and
 * returns a function that stops waiting. The wait is a zero-length write on
 * a duplicate descriptor: in SYN_SENT it cannot proceed (EAGAIN, so libuv
 * polls for writability), once established it completes, and after a
 * refusal, reset or timeout it fails with the socket's error. The duplicate
 * is never read from and never shut down, only closed: the connection stays
 * the original descriptor's. With `sync`, `done` runs in the write's own
 * callback, before the original descriptor's events of the same poll round
 * (tfo.http2: the duplicate may have taken a refusal's error from it).
 */
export function waitEstablished(fd: number, done: (status: number) => void, sync = false): () => void {
  const b = native.binding;
  const copy = b ? b.dup(fd) : -1;
  if (copy < 0 || !b) {
    process.nextTick(done, copy < 0 ? copy : -EBADF);
    return noop;
  }
  let watcher: net.Socket;
  try {
    watcher = new net.Socket({ fd: copy, readable: false });
  } catch {
    b.close(copy);
    process.nextTick(done, -EBADF /* no libuv handle could take the descriptor */);
    return noop;
  }
  b.release(copy); // libuv's now
  let settled = false;
  watcher.on('error', noop); // its write's error is the answer, given to the callback below
  watcher.write(EMPTY, (err?: NodeJS.ErrnoException | null) => {
    if (settled) return;
    settled = true;
    watcher.destroy();
    const errno = err?.errno;
    // After the rest of this poll round: the original descriptor's own writability event
    // came in the same round (libuv then writes the part of the ClientHello that did not
    // fit in the SYN) and is handled first, as it would be before net's 'connect'.
    const status = err ? (typeof errno === 'number' && errno < 0 ? errno : -EPIPE) : 0;
    if (sync) done(status);
    else setImmediate(done, status);
  });
  return () => {
    if (settled) return;
    settled = true;
    watcher.destroy();
  };
}

/**
 * @internal (tls and http2) Ends the first-byte watch of a socket from tfo.tls.connect whose
 * reads will not pass through its push() (an HTTP/2 session reads the TLS
 * stream natively): no time to first byte is recorded, and errors after
 * this point are not counted as before the first byte.
 */
export function endFirstByteWatch(socket: tls.TLSSocket): void {
  const proto = Object.getPrototypeOf(socket) as tls.TLSSocket;
  if (Object.prototype.hasOwnProperty.call(socket, 'push')) socket.push = proto.push;
  if (Object.prototype.hasOwnProperty.call(socket, 'destroy')) socket.destroy = proto.destroy;
}
