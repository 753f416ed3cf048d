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
} from './socket';
export { Server, TfoServer, createServer, type ServerOpts } from './server';
export {
  DEFAULT_QUEUE_LENGTH,
  enableFastOpen,
  fastOpenInfo,
  serverFastOpenState,
  setFastOpenKey,
  type ServerFastOpenOptions,
  type ServerFastOpenState,
} from './enable';
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
} from './keys';
export { enableClusterFastOpen, type ClusterFastOpenState, type ClusterListener } from './cluster';
export { support, supported, unsupportedReason, type FastOpenSupport } from './support';
export { stats, resetStats, type FastOpenStats } from './stats';
export {
  configureBackoff,
  backoffEntries,
  clearBackoff,
  type BackoffOptions,
  type BackoffEntry,
} from './backoff';
export {
  counters,
  diffCounters,
  parseNetstat,
  COUNTER_NAMES,
  type FastOpenCounters,
  type FastOpenCountersDiff,
  type CounterName,
} from './counters';
export {
  metricsText,
  metricFamilies,
  registerPromClient,
  type MetricFamily,
  type MetricsOptions,
  type PromClientLike,
} from './metrics';
export type { FastOpenFailure, TcpInfo } from './tcpinfo';
export type { SystemError, NodeCodedError } from './errors';
export * as sysctl from './sysctl';
export * as cookies from './cookies';
export * as http from './http';
export * as https from './https';
export * as tls from './tls';
export * as undici from './undici';

import { Socket as TfoSocketClass } from './socket';
/** Alias of `Socket`, as `net.Stream` is of `net.Socket`. */
export const Stream = TfoSocketClass;

// The rest of net, unchanged.
export {
  isIP,
  isIPv4,
  isIPv6,
  BlockList,
  SocketAddress,
  getDefaultAutoSelectFamily,
  setDefaultAutoSelectFamily,
  getDefaultAutoSelectFamilyAttemptTimeout,
  setDefaultAutoSelectFamilyAttemptTimeout,
} from 'node:net';
export type {
  AddressInfo,
  ListenOptions,
  SocketReadyState,
  LookupFunction,
  IpcNetConnectOpts,
  TcpNetConnectOpts,
  OnReadOpts,
} from 'node:net';
