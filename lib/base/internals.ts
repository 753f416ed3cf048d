// The one home for Node's private parts. Every use tfo makes of something
// Node does not document goes through this module, so that a Node upgrade that
// changes one of them shows up here, by name (test/internals.test.js lists
// them all and checks each on the running Node).
import * as net from 'node:net';

/** A libuv TCP handle as Node's TCPWrap exposes it (net.Socket#_handle). */
export interface TcpHandle {
  /** The socket's fd, or -1 / undefined before libuv made one. */
  fd?: number;
  /** uv_tcp_open(): adopt an fd. Returns 0 or a negative errno. */
  open(fd: number): number;
}

/** What tfo touches on a net.Socket. */
interface SocketInternals {
  _handle: (TcpHandle & { _parent?: TcpHandle }) | null;
  _pendingData: unknown;
}

interface NetWrite {
  _write(chunk: unknown, encoding: BufferEncoding, cb: (err?: Error | null) => void): void;
  _writev(chunks: { chunk: unknown; encoding: BufferEncoding }[], cb: (err?: Error | null) => void): void;
}

/**
 * The socket's TCP handle: `socket._handle`, or for a TLS socket the TCP
 * handle its TLS wrap sits on (`_handle._parent`). Null when there is none.
 */
export function tcpHandleOf(socket: net.Socket): TcpHandle | null {
  const h = (socket as unknown as SocketInternals)._handle;
  if (!h) return null;
  return h._parent ?? h;
}

/** Anything with a libuv fd: a TCP handle, a server's listening handle. */
export interface FdHolder {
  fd?: number;
}

/** The fd of a handle, or -1 (no handle, or libuv has not made the socket yet). */
export function fdOfHandle(handle: FdHolder | null | undefined): number {
  return handle && typeof handle.fd === 'number' ? handle.fd : -1;
}

/** The handle of a net.Socket or net.Server (`_handle`), or null. */
export function handleOf(holder: net.Socket | net.Server): FdHolder | null {
  return (holder as unknown as { _handle?: FdHolder | null })._handle ?? null;
}

/** The fd of a net.Socket or net.Server (its `_handle.fd`), or -1. */
export function fdOf(holder: net.Socket | net.Server): number {
  return fdOfHandle(handleOf(holder));
}

/** The socket a TLS socket was made over (`tlsSocket._parent`: server side, or `tls.connect({ socket })`), or null. */
export function tlsParentOf(socket: net.Socket): net.Socket | null {
  const p = (socket as unknown as { _parent?: net.Socket | null })._parent;
  return p && p !== socket ? p : null;
}

/** The server that accepted a socket (`socket.server`), or null for a client socket. */
export function acceptingServerOf(socket: net.Socket): net.Server | null {
  return (socket as unknown as { server?: net.Server | null }).server ?? null;
}

/** net.Socket's own `_write` / `_writev`: what a subclass calls to hand bytes to libuv. */
export const netWrite: NetWrite = net.Socket.prototype as unknown as NetWrite;

/**
 * Sets the data net counts in `bytesWritten` as pending while connecting
 * (`socket._pendingData`), for bytes tfo holds for the SYN.
 */
export function setPendingData(socket: net.Socket, data: unknown): void {
  (socket as unknown as SocketInternals)._pendingData = data;
}

/** net's own `bytesWritten` getter (Socket.prototype), or undefined. */
export const netBytesWritten: ((this: net.Socket) => number | undefined) | undefined = Object.getOwnPropertyDescriptor(
  net.Socket.prototype,
  'bytesWritten',
)?.get as ((this: net.Socket) => number | undefined) | undefined;
