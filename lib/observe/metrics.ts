// TFO metrics in the Prometheus text format: this process's own counts
// (stats.ts) and the namespace's kernel counters (counters.ts). Usable
// standalone (`metricsText()` behind any HTTP handler) or with prom-client,
// which stays an optional peer: the caller passes the module in.
import { COUNTER_NAMES, counters, type CounterName } from '../system/counters';
import { invalidArgType, validateObject } from '../base/errors';
import { stats, type FastOpenStats } from './stats';

/** One metric family: name, help, type and its samples (label sets → value). */
export interface MetricFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: { labels: Record<string, string>; value: number }[];
}

function family(
  name: string,
  help: string,
  samples: MetricFamily['samples'],
  type: MetricFamily['type'] = 'counter',
): MetricFamily {
  return { name, help, type, samples };
}

const one = (value: number) => [{ labels: {}, value }];

function fromStats(s: FastOpenStats, prefix: string): MetricFamily[] {
  const c = s.client;
  return [
    family(`${prefix}client_connections_total`, 'TCP connections established by tfo client sockets.', one(c.connections)),
    family(`${prefix}client_attempts_total`, 'Client connections opened with TCP Fast Open on.', one(c.attempted)),
    family(`${prefix}client_cookie_sent_total`, 'Client SYNs that carried a cached TFO cookie.', one(c.cookieSent)),
    family(`${prefix}client_cookie_requested_total`, 'Client SYNs that asked the server for a TFO cookie.', one(c.cookieRequested)),
    family(
      `${prefix}client_syn_data_acked_total`,
      'Client connections whose SYN data the server acknowledged (one round trip saved).',
      one(c.synDataAcked),
    ),
    family(
      `${prefix}client_failures_total`,
      "Kernel-reported reasons TFO did not carry data (tcpi_fastopen_client_fail).",
      Object.entries(c.failures).map(([reason, value]) => ({ labels: { reason }, value })),
    ),
    family(
      `${prefix}client_not_attempted_total`,
      'Client connections made without TFO, by reason.',
      Object.entries(c.notAttempted).map(([reason, value]) => ({ labels: { reason }, value })),
    ),
    family(`${prefix}server_accepted_total`, 'Connections accepted by TFO-enabled servers.', one(s.server.accepted)),
    family(`${prefix}server_syn_data_total`, 'Accepted connections whose SYN carried data.', one(s.server.synData)),
  ];
}

function fromKernel(prefix: string): MetricFamily[] {
  let snap: ReturnType<typeof counters> | null = null;
  try {
    snap = counters();
  } catch {
    snap = null; // no /proc/net/netstat (not Linux): no kernel families
  }
  if (!snap) return [];
  const samples = (Object.keys(COUNTER_NAMES) as CounterName[])
    .filter((k) => snap[k] !== null)
    .map((k) => ({ labels: { counter: COUNTER_NAMES[k] }, value: snap[k] as number }));
  return [
    family(
      `${prefix}kernel_tcpext_total`,
      'TcpExt TCP Fast Open counters of this network namespace (/proc/net/netstat).',
      samples,
    ),
  ];
}

/** Options for the metric families. */
export interface MetricsOptions {
  /** Name prefix. Default `'tfo_'`. */
  prefix?: string;
  /** Include the namespace's kernel counters. Default true. */
  kernel?: boolean;
}

function normalize(options: MetricsOptions | undefined): Required<MetricsOptions> {
  if (options === undefined) return { prefix: 'tfo_', kernel: true };
  validateObject(options, 'options');
  const { prefix = 'tfo_', kernel = true } = options;
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(prefix))
    throw invalidArgType('options.prefix', 'string', prefix);
  if (typeof kernel !== 'boolean') throw invalidArgType('options.kernel', 'boolean', kernel);
  return { prefix, kernel };
}

/** The metric families, as data. */
export function metricFamilies(options?: MetricsOptions): MetricFamily[] {
  const o = normalize(options);
  return [...fromStats(stats(), o.prefix), ...(o.kernel ? fromKernel(o.prefix) : [])];
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** All TFO metrics in the Prometheus text exposition format (version 0.0.4). */
export function metricsText(options?: MetricsOptions): string {
  const lines: string[] = [];
  for (const f of metricFamilies(options)) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
    lines.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels);
      const l = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
      lines.push(`${f.name}${l} ${s.value}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The part of prom-client tfo uses (its module object). */
export interface PromClientLike {
  Counter: new (config: {
    name: string;
    help: string;
    labelNames?: string[];
    registers?: unknown[];
    collect?: (this: { reset(): void; inc(labels: Record<string, string>, value: number): void; inc(value: number): void }) => void;
  }) => unknown;
  register: unknown;
}

/**
 * Registers the TFO metrics with prom-client (pass the module: `require('prom-client')`),
 * read fresh on every scrape. prom-client is not a dependency of tfo.
 * @returns the metric names registered.
 */
export function registerPromClient(
  client: PromClientLike,
  options?: MetricsOptions & { registry?: unknown },
): string[] {
  if (!client || typeof client !== 'object' || typeof client.Counter !== 'function')
    throw invalidArgType('client', 'prom-client module', client);
  const o = normalize(options ? { prefix: options.prefix, kernel: options.kernel } : undefined);
  const registry = options?.registry ?? client.register;
  const names: string[] = [];
  for (const f of metricFamilies(o)) {
    const labelNames = f.name.endsWith('kernel_tcpext_total') ? ['counter'] : f.samples[0] ? Object.keys(f.samples[0].labels) : ['reason'];
    const name = f.name;
    // prom-client counters are strictly increasing; reading absolute values on
    // collect means reset-then-set, which is how collectors report external totals.
    new client.Counter({
      name,
      help: f.help,
      labelNames,
      registers: [registry],
      collect() {
        const kernelFamily = name === `${o.prefix}kernel_tcpext_total`;
        const fresh = (kernelFamily ? fromKernel(o.prefix) : fromStats(stats(), o.prefix)).find((x) => x.name === name);
        this.reset();
        for (const s of fresh?.samples ?? []) {
          if (Object.keys(s.labels).length) this.inc(s.labels, s.value);
          else this.inc(s.value);
        }
      },
    });
    names.push(name);
  }
  return names;
}
