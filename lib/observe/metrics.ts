// TFO metrics in the Prometheus text format: this process's own counts
// (stats.ts) and the namespace's kernel counters (counters.ts). Usable
// standalone (`metricsText()` behind any HTTP handler) or with prom-client,
// which stays an optional peer: the caller passes the module in.
import { COUNTER_NAMES, counters, type CounterName } from '../system/counters';
import { invalidArgType, validateObject } from '../base/errors';
import { stats, type CohortStats, type FastOpenStats } from './stats';
import { TTFB_BUCKETS, ttfbHistogram } from './ttfb';

/** One sample: its labels and value (histograms: `suffix` says which series, `_bucket` with an `le` label, `_sum`, `_count`). */
export interface MetricSample {
  labels: Record<string, string>;
  value: number;
  suffix?: '_bucket' | '_sum' | '_count';
}

/** One metric family: name, help, type, the names of its labels, and its samples (label sets → value). */
export interface MetricFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  /** The label names every sample has (a histogram's `le` not included). */
  labelNames: string[];
  samples: MetricSample[];
}

function family(
  name: string,
  help: string,
  labelNames: string[],
  samples: MetricSample[],
  type: MetricFamily['type'] = 'counter',
): MetricFamily {
  return { name, help, type, labelNames, samples };
}

const one = (value: number) => [{ labels: {}, value }];

const COHORTS = ['tfo', 'control'] as const;

/** One sample per cohort (`pick` reads it from the cohort's counts). */
function perCohort(s: FastOpenStats, pick: (c: CohortStats) => number): MetricSample[] {
  return COHORTS.map((cohort) => ({ labels: { cohort }, value: pick(s.client.cohorts[cohort]) }));
}

/** One sample per cohort and key of a map (`failures`, `notAttempted`). */
function perCohortAndKey(s: FastOpenStats, pick: (c: CohortStats) => Record<string, number>): MetricSample[] {
  return COHORTS.flatMap((cohort) =>
    Object.entries(pick(s.client.cohorts[cohort])).map(([reason, value]) => ({ labels: { cohort, reason }, value })),
  );
}

/** The time-to-first-byte histogram: one series per cohort and outcome (control connections never carry SYN data). */
function ttfbSamples(): MetricSample[] {
  const out: MetricSample[] = [];
  for (const [i, cohort] of COHORTS.entries()) {
    for (const synData of [true, false]) {
      const h = ttfbHistogram((i === 1 ? 2 : 0) | (synData ? 1 : 0));
      if (!h && cohort === 'control' && synData) continue;
      const labels = { cohort, syn_data: String(synData) };
      const cumulative = h ? h.cumulative : new Array<number>(TTFB_BUCKETS.length + 1).fill(0);
      TTFB_BUCKETS.forEach((le, k) => out.push({ labels: { ...labels, le: String(le) }, value: cumulative[k], suffix: '_bucket' }));
      out.push({ labels: { ...labels, le: '+Inf' }, value: cumulative[TTFB_BUCKETS.length], suffix: '_bucket' });
      out.push({ labels, value: h ? h.sumSeconds : 0, suffix: '_sum' });
      out.push({ labels, value: h ? h.count : 0, suffix: '_count' });
    }
  }
  return out;
}

function fromStats(s: FastOpenStats, prefix: string): MetricFamily[] {
  const srv = s.server;
  const saved = srv.timeSaved;
  const cohort = ['cohort'];
  return [
    family(
      `${prefix}client_connections_requested_total`,
      'Connections asked for (connect() / tls.connect() calls), by cohort: the denominator of the error rate.',
      cohort,
      perCohort(s, (c) => c.requested),
    ),
    family(
      `${prefix}client_connections_total`,
      'TCP connections established by tfo client sockets, by cohort (tfo: TFO meant to be used; control: plain TCP on purpose).',
      cohort,
      perCohort(s, (c) => c.connections),
    ),
    family(
      `${prefix}client_attempts_total`,
      'Client connections opened with TCP Fast Open on.',
      cohort,
      perCohort(s, (c) => c.attempted),
    ),
    family(
      `${prefix}client_cookie_sent_total`,
      'Client SYNs that carried a cached TFO cookie.',
      cohort,
      perCohort(s, (c) => c.cookieSent),
    ),
    family(
      `${prefix}client_cookie_requested_total`,
      'Client SYNs that asked the server for a TFO cookie.',
      cohort,
      perCohort(s, (c) => c.cookieRequested),
    ),
    family(
      `${prefix}client_syn_data_acked_total`,
      'Client connections whose SYN data the server acknowledged (one round trip saved).',
      cohort,
      perCohort(s, (c) => c.synDataAcked),
    ),
    family(
      `${prefix}client_failures_total`,
      'Kernel-reported reasons TFO did not carry data (tcpi_fastopen_client_fail).',
      ['cohort', 'reason'],
      perCohortAndKey(s, (c) => c.failures),
    ),
    family(
      `${prefix}client_errors_total`,
      'Client connections that ended with an error before their first byte, by cohort and error code.',
      ['cohort', 'code'],
      COHORTS.flatMap((c) => Object.entries(s.client.cohorts[c].errors).map(([code, value]) => ({ labels: { cohort: c, code }, value }))),
    ),
    family(
      `${prefix}client_not_attempted_total`,
      'Client connections made without TFO, by cohort and reason (control: why the connection is control).',
      ['cohort', 'reason'],
      perCohortAndKey(s, (c) => c.notAttempted),
    ),
    family(
      `${prefix}client_ttfb_seconds`,
      "Client connections' time to first byte: from connect() (agents: the request) to the first byte read (TLS: of application data), by cohort and whether the SYN's data was acknowledged.",
      ['cohort', 'syn_data'],
      ttfbSamples(),
      'histogram',
    ),
    family(`${prefix}server_accepted_total`, 'Connections accepted by TFO-enabled servers.', [], one(srv.accepted)),
    family(`${prefix}server_syn_data_total`, 'Accepted connections whose SYN carried data.', [], one(srv.synData)),
    family(
      `${prefix}server_time_saved_seconds_total`,
      'Time saved by SYN data: one round trip (the RTT the kernel measured, or cached for the client) per connection whose SYN carried data.',
      [],
      one(saved.seconds),
    ),
    family(
      `${prefix}server_time_saved_connections_total`,
      'SYN-data connections counted in server_time_saved_seconds_total (the ratio is the mean saving per connection).',
      [],
      one(saved.connections),
    ),
    family(
      `${prefix}server_time_saved_unestimated_total`,
      'SYN-data connections whose saving could not be estimated (no RTT known).',
      [],
      one(saved.unestimated),
    ),
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
      ['counter'],
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
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(prefix)) throw invalidArgType('options.prefix', 'string', prefix);
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
      lines.push(`${f.name}${s.suffix ?? ''}${l} ${s.value}`);
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

interface RegistryLike {
  registerMetric(metric: unknown): void;
}

/**
 * Registers the TFO metrics with prom-client (pass the module: `require('prom-client')`),
 * read fresh on every scrape. prom-client is not a dependency of tfo.
 * Counters are prom-client Counters; the time-to-first-byte histogram is
 * registered as a metric object of its own (prom-client's Histogram can
 * only observe values, not report counts kept elsewhere), with the same
 * `_bucket` / `_sum` / `_count` series and `aggregator: 'sum'` for cluster
 * aggregation.
 * @returns the metric names registered.
 */
export function registerPromClient(client: PromClientLike, options?: MetricsOptions & { registry?: unknown }): string[] {
  if (!client || typeof client !== 'object' || typeof client.Counter !== 'function')
    throw invalidArgType('client', 'prom-client module', client);
  const o = normalize(options ? { prefix: options.prefix, kernel: options.kernel } : undefined);
  const registry = options?.registry ?? client.register;
  if (!registry || typeof (registry as RegistryLike).registerMetric !== 'function')
    throw invalidArgType('options.registry', 'prom-client Registry', registry);
  const names: string[] = [];
  const freshFamily = (name: string): MetricFamily | undefined => {
    const kernelFamily = name === `${o.prefix}kernel_tcpext_total`;
    return (kernelFamily ? fromKernel(o.prefix) : fromStats(stats(), o.prefix)).find((x) => x.name === name);
  };
  for (const f of metricFamilies(o)) {
    const { name, help } = f;
    if (f.type === 'histogram') {
      const get = () => ({
        name,
        help,
        type: 'histogram',
        aggregator: 'sum',
        values: (freshFamily(name)?.samples ?? []).map((s) => ({
          labels: s.labels,
          value: s.value,
          metricName: `${name}${s.suffix ?? ''}`,
        })),
      });
      (registry as RegistryLike).registerMetric({ name, help, type: 'histogram', aggregator: 'sum', get, reset() {} });
      names.push(name);
      continue;
    }
    // prom-client counters are strictly increasing; reading absolute values on
    // collect means reset-then-set, which is how collectors report external totals.
    new client.Counter({
      name,
      help,
      labelNames: f.labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of freshFamily(name)?.samples ?? []) {
          if (Object.keys(s.labels).length) this.inc(s.labels, s.value);
          else this.inc(s.value);
        }
      },
    });
    names.push(name);
  }
  return names;
}
