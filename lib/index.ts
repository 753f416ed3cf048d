// tfo: TCP Fast Open for Node.js. The public face: tfo's own API, plus the
// rest of `net` re-exported so `require('tfo')` can replace `require('net')`.
export {
  Socket,
  TfoSocket,
  connect,
  createConnection,
  type ClientFastOpenOptions,
  type FastOpenInfo,
  type FastOpenOption,
  type NetConnectOpts,
  type SocketConstructorOpts,
  type TcpSocketConnectOpts,
} from './core/socket';
export { Server, TfoServer, createServer, type ServerOpts } from './core/server';
export {
  DEFAULT_QUEUE_LENGTH,
  enableFastOpen,
  fastOpenInfo,
  serverFastOpenState,
  setFastOpenKey,
  type ServerFastOpenOptions,
  type ServerFastOpenState,
} from './core/listener';
export {
  DEFAULT_KEY_PERIOD_MS,
  deriveFastOpenKey,
  fastOpenKeysAt,
  rotateNamespaceFastOpenKey,
  type FastOpenKeyOption,
  type FastOpenKeySchedule,
  type FastOpenSecret,
  type KeyRotationOptions,
  type ListenerKeyState,
  type NamespaceKeyRotation,
} from './core/keys';
export { enableClusterFastOpen, type ClusterFastOpenState, type ClusterListener } from './fleet/cluster';
export { support, supported, unsupportedReason, type FastOpenSupport, type NodePrivate } from './system/support';
export { stats, resetStats, type FastOpenStats, type ClientCounts, type CohortStats, type TtfbSummary } from './observe/stats';
export { TTFB_BUCKETS, TTFB_SKETCH_ACCURACY } from './observe/ttfb';
export {
  CONTROL_REASONS,
  type Cohort,
  type RolloutOption,
  type RolloutOptions,
  type RolloutOrigin,
  type RolloutPredicate,
} from './core/rollout';
export { configureBackoff, backoffEntries, clearBackoff, type BackoffOptions, type BackoffEntry } from './core/backoff';
export {
  diagnostics,
  type DiagnosticsChannels,
  type ClientConnectMessage,
  type ServerAcceptMessage,
  type BackoffStartMessage,
  type BackoffEndMessage,
  type BackoffEndReason,
  type KeysRotateMessage,
} from './core/diagnostics';
export {
  counters,
  diffCounters,
  parseNetstat,
  COUNTER_NAMES,
  type FastOpenCounters,
  type FastOpenCountersDiff,
  type CounterName,
} from './system/counters';
export {
  metricsText,
  metricFamilies,
  registerPromClient,
  type MetricFamily,
  type MetricSample,
  type MetricsOptions,
  type PromClientLike,
} from './observe/metrics';
export type { FastOpenFailure, TcpInfo } from './system/tcpinfo';
export type { SystemError, NodeCodedError } from './base/errors';
export * as sysctl from './system/sysctl';
export * as cookies from './system/cookies';

// The integrations (http, https, tls, undici, http2) load on first use, so a program
// that only uses the net drop-in pays nothing for them: each is a getter on
// this module (CommonJS), and an entry point of its own (`tfo/http`, ...)
// for ES modules, whose named exports cannot be lazy.
import type * as HttpModule from './http/http';
import type * as HttpsModule from './http/https';
import type * as TlsModule from './http/tls';
import type * as UndiciModule from './http/undici';
import type * as Http2Module from './http/http2';
/** `http.Agent` with TCP Fast Open (loaded on first use). */
export declare const http: typeof HttpModule;
/** `https.Agent` with the TLS ClientHello in the SYN (loaded on first use). */
export declare const https: typeof HttpsModule;
/** `tls.connect` with the TLS ClientHello in the SYN (loaded on first use). */
export declare const tls: typeof TlsModule;
/** A TFO connector for undici and `fetch` (loaded on first use). */
export declare const undici: typeof UndiciModule;
/** `http2.connect` over TCP Fast Open (loaded on first use). */
export declare const http2: typeof Http2Module;

function lazy(name: string, load: () => unknown): void {
  Object.defineProperty(exports, name, {
    configurable: true,
    enumerable: true,
    get() {
      const value = load();
      Object.defineProperty(exports, name, { value, configurable: true, enumerable: true, writable: false });
      return value;
    },
  });
}
/* eslint-disable @typescript-eslint/no-require-imports -- deferred loading is the point */
lazy('http', () => require('./http/http'));
lazy('https', () => require('./http/https'));
lazy('tls', () => require('./http/tls'));
lazy('undici', () => require('./http/undici'));
lazy('http2', () => require('./http/http2'));
/* eslint-enable @typescript-eslint/no-require-imports */

import { Socket as TfoSocketClass } from './core/socket';
/** Alias of `Socket`, as `net.Stream` is of `net.Socket`. */
export const Stream = TfoSocketClass;

// The rest of net, unchanged: every property of the running Node's `net`
// that tfo does not replace (above: Socket, Stream, Server, connect,
// createConnection, createServer), underscore ones included
// (`_normalizeArgs`, `_createServerHandle`, `_setSimultaneousAccepts` where
// Node still has it, `BoundSocket` on Node 24+, ...), so `require('tfo')` can
// stand in for `require('net')`. Computed when tfo loads, from net's own keys
// (a getter each, the same value as net's: BlockList and SocketAddress stay
// lazy); typed as net's types. Last in the file: tfo's own names win.
export * from 'node:net';
