// Diagnostics the Node way: what tfo decides is published on
// `diagnostics_channel` channels (as undici and Node's own net and http do)
// and logged with `util.debuglog('tfo')` (`NODE_DEBUG=tfo`), so APM and
// OpenTelemetry instrumentation can observe tfo without patching it.
//
// The rest of core calls the hooks below, one line each, where an outcome is
// already computed. A hook first asks whether anyone listens (the channel's
// `hasSubscribers`, and whether NODE_DEBUG names tfo, read once at load) and
// builds nothing, no message and no string, when no one does.
//
// Messages are plain objects, a new one per publish: the subscriber may keep
// it. Fields may be added in later releases (timings; the rollout's cohort
// is in `fastOpen.cohort` and at the end of the client line);
// the fields documented here keep their names, types and meaning. Key
// material never appears in a message or a line: the window number, the
// source and the kind of backup only.
import * as dc from 'node:diagnostics_channel';
import type * as net from 'node:net';
import { debuglog } from 'node:util';

import { unpackServerOutcome, type FastOpenInfo } from './outcome';

/** The names of tfo's `diagnostics_channel` channels. */
export interface DiagnosticsChannels {
  /** A tfo client connection was established (TLS: handshake done) and its TFO outcome read. */
  readonly clientConnect: 'tfo:client:connect';
  /** A server with TFO through tfo accepted a connection (before its `'connection'` listeners run). */
  readonly serverAccept: 'tfo:server:accept';
  /** The backoff paused TFO to a destination. */
  readonly backoffStart: 'tfo:backoff:start';
  /** A destination's pause is over (ran out, SYN data acknowledged again, cleared, evicted, backoff turned off). */
  readonly backoffEnd: 'tfo:backoff:end';
  /** New TFO keys were put on a listening socket, or in the namespace (`net.ipv4.tcp_fastopen_key`). */
  readonly keysRotate: 'tfo:keys:rotate';
}

const CHANNELS: DiagnosticsChannels = Object.freeze({
  clientConnect: 'tfo:client:connect',
  serverAccept: 'tfo:server:accept',
  backoffStart: 'tfo:backoff:start',
  backoffEnd: 'tfo:backoff:end',
  keysRotate: 'tfo:keys:rotate',
});

/** tfo's diagnostics: the channel names to subscribe to (see the README, "Diagnostics"). */
export const diagnostics: { readonly channels: DiagnosticsChannels } = Object.freeze({ channels: CHANNELS });

/** `tfo:client:connect`: one established tfo client connection. */
export interface ClientConnectMessage {
  /** The connection's socket: a `tfo.Socket`, or the `TLSSocket` of `tfo.tls.connect` (also under the agents). */
  socket: net.Socket;
  /** The address connected to (after DNS), as in net's `'connectionAttempt'`. */
  address: string;
  port: number;
  family: 4 | 6;
  /** What TFO did: the same values as `socket.fastOpen` (a copy of its own), `cohort` included. */
  fastOpen: FastOpenInfo;
}

/** `tfo:server:accept`: one connection accepted by a server with TFO through tfo. */
export interface ServerAcceptMessage {
  socket: net.Socket;
  server: net.Server;
  /** The same values as `socket.fastOpen` (role `'server'`); null when TCP_INFO could not be read. */
  fastOpen: FastOpenInfo | null;
}

/** `tfo:backoff:start`: TFO to a destination paused. */
export interface BackoffStartMessage {
  /** `address:port` (`[address]:port` for IPv6), as in `tfo.backoffEntries()`. */
  destination: string;
  address: string;
  port: number;
  /** The failure that set the pause. */
  cause: string;
  /** Consecutive failures that led here (the pause doubles with each). */
  failures: number;
  /** Epoch ms until which TFO is not attempted to this destination. */
  until: number;
  /** The length of this pause in ms. */
  pauseMs: number;
}

/** Why a pause ended. */
export type BackoffEndReason = 'expired' | 'recovered' | 'cleared' | 'evicted' | 'disabled';

/** `tfo:backoff:end`: a destination's pause is over. */
export interface BackoffEndMessage {
  destination: string;
  address: string;
  port: number;
  /**
   * `'expired'`: the pause ran out (noticed by the next connect to the destination; the failures are remembered,
   * so another failure doubles the pause); `'recovered'`: a connection's SYN data was acknowledged (all forgotten);
   * `'cleared'`: `tfo.clearBackoff()`; `'evicted'`: the table was full (`maxEntries`); `'disabled'`:
   * `tfo.configureBackoff({ enabled: false })`.
   */
  reason: BackoffEndReason;
  /** The failure that had set the pause. */
  cause: string;
  failures: number;
  /** Epoch ms the pause was set to end at. */
  until: number;
}

/** `tfo:keys:rotate`: keys put in place (never the keys themselves). */
export interface KeysRotateMessage {
  /** `'listener'`: a listening socket's own keys (`TCP_FASTOPEN_KEY`); `'namespace'`: `net.ipv4.tcp_fastopen_key`. */
  target: 'listener' | 'namespace';
  /** The listener's server; null for the namespace. */
  server: net.Server | null;
  /** `'own'`: a given key (`fastOpen.key`, `setFastOpenKey`); `'derived'`: from a shared secret (`keyRotation`). */
  source: 'own' | 'derived';
  /** Derived keys: the window whose key is primary now. Null for own keys. */
  window: number | null;
  /** Derived keys: the window whose key is the backup. Null otherwise. */
  backupWindow: number | null;
  /** What the backup accepts: the `'previous'` or `'next'` window, a given (`'own'`) backup, or null for none. */
  backup: 'previous' | 'next' | 'own' | null;
  /** Derived keys: the period in ms. Null otherwise. */
  periodMs: number | null;
  /** Derived keys: when the keys change next (ms, by the rotation's clock). Null otherwise. */
  nextChangeAt: number | null;
  /** Why the keys asked for are not fully in effect (e.g. the kernel took no backup key), else null. */
  reason: string | null;
}

const clientConnect = dc.channel(CHANNELS.clientConnect);
const serverAccept = dc.channel(CHANNELS.serverAccept);
const backoffStart = dc.channel(CHANNELS.backoffStart);
const backoffEnd = dc.channel(CHANNELS.backoffEnd);
const keysRotate = dc.channel(CHANNELS.keysRotate);

const debug = debuglog('tfo');
/** NODE_DEBUG is read once, when the process starts: so is this. */
const debugOn = debug.enabled;

/** What a hook knows about a client attempt (core/attempt's Attempt). */
interface AttemptView {
  socket: object;
  address: string;
  port: number;
  family: 4 | 6;
}

/** What a hook knows about a destination of the backoff (core/backoff's State). */
interface BackoffView {
  address: string;
  port: number;
  destination: string;
  cause: string;
  failures: number;
  until: number;
  notAcked: number;
  retransmitted: number;
}

/** What a hook knows about a listener's keys (core/keys' ListenerKeyState: keys imports this module, not the reverse). */
interface KeyStateView {
  source: 'namespace' | 'own' | 'derived';
  backup: 'previous' | 'next' | 'own' | null;
  periodMs: number | null;
  reason: string | null;
}

/** A window schedule of derived keys (core/keys). */
interface ScheduleView {
  window: number;
  backupWindow: number;
  nextChangeAt: number;
}

function hostPort(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return '-';
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Free text in a line: JSON-quoted, so a value never contains a bare space. */
const text = (s: string | null | undefined): string => (s === null || s === undefined ? 'null' : JSON.stringify(s));

function listenerName(server: net.Server | null): string {
  const a = server?.address();
  if (!a) return '-';
  return typeof a === 'string' ? JSON.stringify(a) : hostPort(a.address, a.port);
}

/**
 * @internal The builders of every message and line, called only once someone
 * listens. An object, so that test/diagnostics.test.js can count the calls
 * (no subscriber, no call).
 */
export const build = {
  client(a: AttemptView, info: FastOpenInfo): ClientConnectMessage {
    return {
      socket: a.socket as net.Socket,
      address: a.address,
      port: a.port,
      family: a.family,
      fastOpen: { ...info },
    };
  },
  clientLine(a: AttemptView, o: FastOpenInfo): string {
    return (
      `client ${hostPort(a.address, a.port)} attempted=${o.attempted} cookie=${o.cookie} synData=${o.synData} ` +
      `bytes=${o.synDataBytes} withheld=${o.synDataWithheld} failure=${o.failure} rtt=${o.rttMs}ms reason=${text(o.reason)} ` +
      `cohort=${o.cohort ?? 'tfo'}`
    );
  },
  accept(socket: net.Socket, server: net.Server, packed: number): ServerAcceptMessage {
    return { socket, server, fastOpen: packed < 0 ? null : unpackServerOutcome(packed) };
  },
  acceptLine(socket: net.Socket, server: net.Server, packed: number): string {
    const o = packed < 0 ? null : unpackServerOutcome(packed);
    const outcome = o ? `attempted=${o.attempted} synData=${o.synData} rtt=${o.rttMs}ms` : 'attempted=null synData=null rtt=null';
    return `server ${hostPort(socket.remoteAddress, socket.remotePort)} listener=${listenerName(server)} ${outcome}`;
  },
  backoffStart(s: BackoffView, now: number): BackoffStartMessage {
    return {
      destination: s.destination,
      address: s.address,
      port: s.port,
      cause: s.cause,
      failures: s.failures,
      until: s.until,
      pauseMs: s.until - now,
    };
  },
  backoffStartLine(s: BackoffView, now: number): string {
    return `backoff start ${s.destination} failures=${s.failures} pause=${s.until - now}ms until=${s.until} cause=${text(s.cause)}`;
  },
  backoffEnd(s: BackoffView, reason: BackoffEndReason): BackoffEndMessage {
    return {
      destination: s.destination,
      address: s.address,
      port: s.port,
      reason,
      cause: s.cause,
      failures: s.failures,
      until: s.until,
    };
  },
  backoffEndLine(s: BackoffView, reason: BackoffEndReason): string {
    return `backoff end ${s.destination} reason=${reason} failures=${s.failures} until=${s.until} cause=${text(s.cause)}`;
  },
  backoffCountedLine(s: BackoffView, failure: string, inARow: number, pauseAt: number): string {
    return `backoff count ${s.destination} failure=${failure} inARow=${inARow} pauseAt=${pauseAt}`;
  },
  backoffForgetLine(s: BackoffView): string {
    return `backoff forget ${s.destination} failures=${s.failures} inARow=${Math.max(s.notAcked, s.retransmitted)}`;
  },
  keys: keysMessage,
  keysLine(target: 'listener' | 'namespace', server: net.Server | null, st: KeyStateView, s: ScheduleView | null): string {
    const m = keysMessage(target, server, st, s);
    const subject = target === 'listener' ? `listener ${listenerName(server)}` : 'namespace';
    return (
      `keys ${subject} source=${m.source} window=${m.window} backup=${m.backup} backupWindow=${m.backupWindow} ` +
      `periodMs=${m.periodMs} next=${m.nextChangeAt} reason=${text(m.reason)}`
    );
  },
};

function keysMessage(
  target: 'listener' | 'namespace',
  server: net.Server | null,
  st: KeyStateView,
  s: ScheduleView | null,
): KeysRotateMessage {
  return {
    target,
    server,
    source: st.source === 'own' ? 'own' : 'derived',
    window: s ? s.window : null,
    backupWindow: s && st.backup !== null ? s.backupWindow : null,
    backup: st.backup,
    periodMs: st.periodMs,
    nextChangeAt: s ? s.nextChangeAt : null,
    reason: st.reason,
  };
}

// ---- the hooks (one line each in core) ----

/** @internal core/attempt: a client connection's outcome is known. */
export function clientConnected(a: AttemptView, info: FastOpenInfo): void {
  if (clientConnect.hasSubscribers) clientConnect.publish(build.client(a, info));
  if (debugOn) debug('%s', build.clientLine(a, info));
}

/** @internal core/listener: an accepted connection was tagged (`packed`: its outcome, -1 when unknown). */
export function serverAccepted(socket: net.Socket, server: net.Server, packed: number): void {
  if (serverAccept.hasSubscribers) serverAccept.publish(build.accept(socket, server, packed));
  if (debugOn) debug('%s', build.acceptLine(socket, server, packed));
}

/** @internal core/backoff: a pause was set (or is in effect again after the backoff was turned back on). */
export function backoffStarted(s: BackoffView, now: number): void {
  if (backoffStart.hasSubscribers) backoffStart.publish(build.backoffStart(s, now));
  if (debugOn) debug('%s', build.backoffStartLine(s, now));
}

/** @internal core/backoff: a pause is over. */
export function backoffEnded(s: BackoffView, reason: BackoffEndReason): void {
  if (backoffEnd.hasSubscribers) backoffEnd.publish(build.backoffEnd(s, reason));
  if (debugOn) debug('%s', build.backoffEndLine(s, reason));
}

/** @internal core/backoff: a failure counted toward a pause without setting one yet (NODE_DEBUG only). */
export function backoffCounted(s: BackoffView, failure: string, inARow: number, pauseAt: number): void {
  if (debugOn) debug('%s', build.backoffCountedLine(s, failure, inARow, pauseAt));
}

/** @internal core/backoff: a destination with failures on record, not paused, was forgotten (NODE_DEBUG only). */
export function backoffForgotten(s: BackoffView): void {
  if (debugOn) debug('%s', build.backoffForgetLine(s));
}

/** @internal core/keys: keys were put on a listening socket (`'listener'`) or in the namespace. */
export function keysRotated(
  target: 'listener' | 'namespace',
  server: net.Server | null,
  state: KeyStateView,
  schedule: ScheduleView | null,
): void {
  if (keysRotate.hasSubscribers) keysRotate.publish(build.keys(target, server, state, schedule));
  if (debugOn) debug('%s', build.keysLine(target, server, state, schedule));
}
