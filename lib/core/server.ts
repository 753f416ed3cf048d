// tfo.Server: a net.Server whose listening socket has TCP Fast Open on.
import * as net from 'node:net';

import { callable } from '../base/callable';
import { invalidArgType } from '../base/errors';
import { listenReusePort } from './reuseport';
import {
  applyNow,
  install,
  onServerEvent,
  normalizeServerOptions,
  setFastOpenKey,
  type ServerFastOpenOptions,
  type ServerFastOpenState,
} from './listener';
import type { FastOpenKeyOption, KeyRotationOptions } from './keys';

/** `net.ServerOpts` plus `fastOpen` (`false` for a plain server). */
export interface ServerOpts extends net.ServerOpts {
  fastOpen?: ServerFastOpenOptions | boolean;
}

class TfoServer extends net.Server {
  readonly #state: ServerFastOpenState;

  constructor(connectionListener?: (socket: net.Socket) => void);
  constructor(options?: ServerOpts, connectionListener?: (socket: net.Socket) => void);
  constructor(options?: ServerOpts | ((socket: net.Socket) => void), connectionListener?: (socket: net.Socket) => void) {
    if (typeof options === 'function') {
      super(options);
      this.#state = install(this, normalizeServerOptions(undefined), true);
      return;
    }
    if (options !== undefined && options !== null && typeof options !== 'object') throw invalidArgType('options', 'Object', options);
    const { fastOpen, ...netOptions } = options ?? {};
    const opts = normalizeServerOptions(fastOpen);
    super(netOptions, connectionListener);
    this.#state = install(this, opts, true);
  }

  /** TFO on this server: requested, enabled on the socket, active in the kernel, and why not. */
  get fastOpen(): ServerFastOpenState {
    return this.#state;
  }

  /**
   * Replaces this listener's TFO key now and on later `listen()`s: a primary
   * (and backup) key, or `{ secret, periodMs, clock }` for keys rotated from a
   * shared secret. See `tfo.setFastOpenKey`.
   */
  setFastOpenKey(primary: FastOpenKeyOption, backup?: FastOpenKeyOption | null): ServerFastOpenState;
  setFastOpenKey(rotation: KeyRotationOptions): ServerFastOpenState;
  setFastOpenKey(primary: FastOpenKeyOption | KeyRotationOptions, backup?: FastOpenKeyOption | null): ServerFastOpenState {
    return setFastOpenKey(this, primary as FastOpenKeyOption, backup);
  }

  /**
   * @internal tfo's part of the server's events (TFO at 'listening', the
   * outcome on accepted sockets at 'connection'), before the listeners: no
   * listener of tfo's shows.
   */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    onServerEvent(this, event, args[0]);
    return super.emit(event, ...args);
  }

  override listen(...args: unknown[]): this {
    // { reusePort: true }: tfo makes the SO_REUSEPORT socket (./reuseport).
    if (listenReusePort(this, args, () => applyNow(this))) return this;
    (super.listen as (...a: unknown[]) => this)(...args);
    applyNow(this);
    return this;
  }
}

/** A `net.Server` with TCP Fast Open on its listening socket. Callable with or without `new`. */
export const Server = callable(TfoServer);
/** A `net.Server` with TCP Fast Open on its listening socket. */
export type Server = TfoServer;
export { TfoServer };

/** Drop-in for `net.createServer()`, plus the `fastOpen` option. */
export function createServer(connectionListener?: (socket: net.Socket) => void): TfoServer;
export function createServer(options?: ServerOpts, connectionListener?: (socket: net.Socket) => void): TfoServer;
export function createServer(
  options?: ServerOpts | ((socket: net.Socket) => void),
  connectionListener?: (socket: net.Socket) => void,
): TfoServer {
  return new TfoServer(options as ServerOpts, connectionListener);
}
