// `tfo stats --metrics URL`: a running service's TFO cohorts side by side,
// read from its Prometheus endpoint (what tfo.metricsText() or
// tfo.registerPromClient() serves). The CLI is another process: the service's
// own counts only reach it through that text.
import { CliError, bold, dim, green, printJson, red, table } from './output';

/** One sample of the exposition text: full name (with a histogram's suffix), labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/y;

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** Parses the Prometheus text exposition format (0.0.4); lines it cannot read are skipped. */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[2]) {
      LABEL.lastIndex = 0;
      let l: RegExpExecArray | null;
      while (LABEL.lastIndex < m[2].length && (l = LABEL.exec(m[2])) !== null) labels[l[1]] = unescape(l[2]);
    }
    const v = m[3];
    const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v);
    if (!Number.isNaN(value) || v === 'NaN') out.push({ name: m[1], labels, value });
  }
  return out;
}

/** A cumulative histogram: [upper bound, count ≤ bound] in increasing order (the last is +Inf), with sum and count. */
export interface Histogram {
  buckets: [number, number][];
  sum: number;
  count: number;
}

type CohortName = 'tfo' | 'control';

/** What the endpoint says about one cohort. */
export interface CohortView {
  requested: number;
  connections: number;
  errors: Record<string, number>;
  attempted: number;
  synDataAcked: number;
  notAttempted: Record<string, number>;
  /** Time to first byte (seconds): every connection, and by whether its SYN data was acknowledged. */
  ttfb: { all: Histogram; synData: Histogram; noSynData: Histogram };
}

/** The TFO part of a scrape. */
export interface Snapshot {
  at: number;
  cohorts: Record<CohortName, CohortView>;
  server: { accepted: number; synData: number; timeSavedSeconds: number; timeSavedConnections: number; timeSavedUnestimated: number };
  /** Whether any tfo client metric was found (a service that only serves, or a wrong --prefix, has none). */
  clientSeen: boolean;
  serverSeen: boolean;
}

const emptyHistogram = (): Histogram => ({ buckets: [], sum: 0, count: 0 });

function addHistogram(into: Histogram, h: Histogram): void {
  for (const [le, c] of h.buckets) {
    const mine = into.buckets.find((b) => b[0] === le);
    if (mine) mine[1] += c;
    else into.buckets.push([le, c]);
  }
  into.buckets.sort((a, b) => a[0] - b[0]);
  into.sum += h.sum;
  into.count += h.count;
}

/** Reads the families tfo exports (names under `prefix`) out of a scrape. */
export function snapshot(samples: Sample[], prefix: string, at = Date.now()): Snapshot {
  const cohort = (): CohortView => ({
    requested: 0,
    connections: 0,
    errors: {},
    attempted: 0,
    synDataAcked: 0,
    notAttempted: {},
    ttfb: { all: emptyHistogram(), synData: emptyHistogram(), noSynData: emptyHistogram() },
  });
  const snap: Snapshot = {
    at,
    cohorts: { tfo: cohort(), control: cohort() },
    server: { accepted: 0, synData: 0, timeSavedSeconds: 0, timeSavedConnections: 0, timeSavedUnestimated: 0 },
    clientSeen: false,
    serverSeen: false,
  };
  const hist: Record<string, Histogram> = {};
  for (const s of samples) {
    if (!s.name.startsWith(prefix)) continue;
    const name = s.name.slice(prefix.length);
    if (name.startsWith('server_')) {
      snap.serverSeen = true;
      const sv = snap.server;
      if (name === 'server_accepted_total') sv.accepted += s.value;
      else if (name === 'server_syn_data_total') sv.synData += s.value;
      else if (name === 'server_time_saved_seconds_total') sv.timeSavedSeconds += s.value;
      else if (name === 'server_time_saved_connections_total') sv.timeSavedConnections += s.value;
      else if (name === 'server_time_saved_unestimated_total') sv.timeSavedUnestimated += s.value;
      continue;
    }
    if (!name.startsWith('client_')) continue;
    const which = s.labels.cohort;
    if (which !== 'tfo' && which !== 'control') continue;
    snap.clientSeen = true;
    const c = snap.cohorts[which];
    const key = (map: Record<string, number>, k: string | undefined) => {
      map[k ?? ''] = (map[k ?? ''] ?? 0) + s.value;
    };
    switch (name) {
      case 'client_connections_requested_total':
        c.requested += s.value;
        break;
      case 'client_connections_total':
        c.connections += s.value;
        break;
      case 'client_errors_total':
        key(c.errors, s.labels.code);
        break;
      case 'client_attempts_total':
        c.attempted += s.value;
        break;
      case 'client_syn_data_acked_total':
        c.synDataAcked += s.value;
        break;
      case 'client_not_attempted_total':
        key(c.notAttempted, s.labels.reason);
        break;
      case 'client_ttfb_seconds_bucket':
      case 'client_ttfb_seconds_sum':
      case 'client_ttfb_seconds_count': {
        const id = `${which}|${s.labels.syn_data === 'true' ? 'synData' : 'noSynData'}`;
        const h = (hist[id] ??= emptyHistogram());
        if (name.endsWith('_bucket')) {
          const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
          if (!Number.isNaN(le)) h.buckets.push([le, s.value]);
        } else if (name.endsWith('_sum')) h.sum += s.value;
        else h.count += s.value;
        break;
      }
      default:
        break;
    }
  }
  for (const [id, h] of Object.entries(hist)) {
    h.buckets.sort((a, b) => a[0] - b[0]);
    const [which, outcome] = id.split('|') as [CohortName, 'synData' | 'noSynData'];
    const t = snap.cohorts[which].ttfb;
    t[outcome] = h;
    addHistogram(t.all, h);
  }
  return snap;
}

function diffMap(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) out[k] = v - (a[k] ?? 0);
  return out;
}

function diffHistogram(a: Histogram, b: Histogram): Histogram {
  return {
    buckets: b.buckets.map(([le, c]) => [le, c - (a.buckets.find((x) => x[0] === le)?.[1] ?? 0)]),
    sum: b.sum - a.sum,
    count: b.count - a.count,
  };
}

/** What changed between two snapshots of the same service (counters only grow; a restart shows as negative). */
export function diffSnapshots(a: Snapshot, b: Snapshot): Snapshot {
  const cohort = (x: CohortView, y: CohortView): CohortView => ({
    requested: y.requested - x.requested,
    connections: y.connections - x.connections,
    errors: diffMap(x.errors, y.errors),
    attempted: y.attempted - x.attempted,
    synDataAcked: y.synDataAcked - x.synDataAcked,
    notAttempted: diffMap(x.notAttempted, y.notAttempted),
    ttfb: {
      all: diffHistogram(x.ttfb.all, y.ttfb.all),
      synData: diffHistogram(x.ttfb.synData, y.ttfb.synData),
      noSynData: diffHistogram(x.ttfb.noSynData, y.ttfb.noSynData),
    },
  });
  const sa = a.server;
  const sb = b.server;
  return {
    at: b.at,
    cohorts: { tfo: cohort(a.cohorts.tfo, b.cohorts.tfo), control: cohort(a.cohorts.control, b.cohorts.control) },
    server: {
      accepted: sb.accepted - sa.accepted,
      synData: sb.synData - sa.synData,
      timeSavedSeconds: sb.timeSavedSeconds - sa.timeSavedSeconds,
      timeSavedConnections: sb.timeSavedConnections - sa.timeSavedConnections,
      timeSavedUnestimated: sb.timeSavedUnestimated - sa.timeSavedUnestimated,
    },
    clientSeen: b.clientSeen,
    serverSeen: b.serverSeen,
  };
}

/**
 * The q-quantile of a cumulative histogram, as Prometheus' histogram_quantile
 * computes it: linear within the bucket it falls in (from 0 for the first);
 * the highest finite bound when it falls in +Inf; null when empty.
 */
export function histogramQuantile(h: Histogram, q: number): number | null {
  const total = h.buckets.length ? h.buckets[h.buckets.length - 1][1] : 0;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of h.buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      if (count === prevCount) return le;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

const sumOf = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);

/** The figures shown per cohort (ms for times, 0..1 for rates), also the JSON output. */
export interface CohortSummary {
  requested: number;
  share: number | null;
  connections: number;
  errors: number;
  errorRate: number | null;
  errorsByCode: Record<string, number>;
  attempted: number;
  synDataAcked: number;
  /** SYN data acknowledged / connections: the early-data hit rate. */
  hitRate: number | null;
  ttfbMs: {
    count: number;
    p50: number | null;
    p90: number | null;
    mean: number | null;
    synData: { count: number; p50: number | null };
    noSynData: { count: number; p50: number | null };
  };
  notAttempted: Record<string, number>;
}

const ms = (s: number | null) => (s === null ? null : Math.round(s * 1e6) / 1000);
const ratio = (a: number, b: number) => (b > 0 ? a / b : null);

export function summarize(snap: Snapshot): { tfo: CohortSummary; control: CohortSummary } {
  const requested = snap.cohorts.tfo.requested + snap.cohorts.control.requested;
  const one = (c: CohortView): CohortSummary => {
    const errors = sumOf(c.errors);
    const t = c.ttfb;
    return {
      requested: c.requested,
      share: ratio(c.requested, requested),
      connections: c.connections,
      errors,
      errorRate: ratio(errors, c.requested),
      errorsByCode: c.errors,
      attempted: c.attempted,
      synDataAcked: c.synDataAcked,
      hitRate: ratio(c.synDataAcked, c.connections),
      ttfbMs: {
        count: t.all.count,
        p50: ms(histogramQuantile(t.all, 0.5)),
        p90: ms(histogramQuantile(t.all, 0.9)),
        mean: t.all.count > 0 ? ms(t.all.sum / t.all.count) : null,
        synData: { count: t.synData.count, p50: ms(histogramQuantile(t.synData, 0.5)) },
        noSynData: { count: t.noSynData.count, p50: ms(histogramQuantile(t.noSynData, 0.5)) },
      },
      notAttempted: c.notAttempted,
    };
  };
  return { tfo: one(snap.cohorts.tfo), control: one(snap.cohorts.control) };
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (r: number | null) => (r === null ? '—' : `${(r * 100).toFixed(r !== 0 && Math.abs(r) < 0.01 ? 2 : 1)}%`);
const num = (x: number | null) => (x === null ? '—' : x.toFixed(1));

function difference(a: number | null, b: number | null, unit: string, ratioToo = false): string {
  if (a === null || b === null) return '';
  const d = a - b;
  const text = `${d > 0 ? '+' : ''}${d.toFixed(1)}${unit}`;
  const colored = d < 0 ? green(text) : d > 0 ? red(text) : text;
  return ratioToo && b > 0 ? `${colored} (${(a / b).toFixed(3)}×)` : colored;
}

function reasons(m: Record<string, number>): string {
  const e = Object.entries(m).filter(([, v]) => v !== 0);
  return e.length ? e.map(([k, v]) => `${k}: ${int(v)}`).join(', ') : '—';
}

/** The side-by-side table (text). */
export function formatCohorts(snap: Snapshot, title: string): string {
  const { tfo: t, control: c } = summarize(snap);
  const rows: string[][] = [
    ['connections requested', int(t.requested), int(c.requested), ''],
    ['  share', pct(t.share), pct(c.share), ''],
    ['established', int(t.connections), int(c.connections), ''],
    [
      'errors before the first byte',
      `${int(t.errors)} (${pct(t.errorRate)})`,
      `${int(c.errors)} (${pct(c.errorRate)})`,
      t.errorRate !== null && c.errorRate !== null ? difference(t.errorRate * 100, c.errorRate * 100, ' pp') : '',
    ],
    ['TFO attempted', int(t.attempted), int(c.attempted), ''],
    ['SYN data acknowledged (hit rate)', `${int(t.synDataAcked)} (${pct(t.hitRate)})`, `${int(c.synDataAcked)} (${pct(c.hitRate)})`, ''],
    ['time to first byte p50 (ms)', num(t.ttfbMs.p50), num(c.ttfbMs.p50), difference(t.ttfbMs.p50, c.ttfbMs.p50, ' ms', true)],
    ['time to first byte p90 (ms)', num(t.ttfbMs.p90), num(c.ttfbMs.p90), difference(t.ttfbMs.p90, c.ttfbMs.p90, ' ms', true)],
    ['time to first byte mean (ms)', num(t.ttfbMs.mean), num(c.ttfbMs.mean), difference(t.ttfbMs.mean, c.ttfbMs.mean, ' ms', true)],
    ['  p50 with SYN data (ms)', num(t.ttfbMs.synData.p50), num(c.ttfbMs.synData.p50), ''],
    ['  p50 without SYN data (ms)', num(t.ttfbMs.noSynData.p50), num(c.ttfbMs.noSynData.p50), ''],
  ];
  const out = [bold(title), '', table(['', 'tfo', 'control', 'tfo − control'], rows)];
  out.push('', `${dim('not attempted, tfo:')} ${reasons(t.notAttempted)}`, `${dim('control because:')} ${reasons(c.notAttempted)}`);
  if (Object.keys(t.errorsByCode).length || Object.keys(c.errorsByCode).length)
    out.push(`${dim('errors, tfo:')} ${reasons(t.errorsByCode)}; ${dim('control:')} ${reasons(c.errorsByCode)}`);
  if (!snap.clientSeen)
    out.push(dim('(no tfo client metrics at this endpoint: the service opens no tfo connections, or it uses another --prefix)'));
  const s = snap.server;
  if (snap.serverSeen) {
    const each = s.timeSavedConnections > 0 ? ` (${((s.timeSavedSeconds / s.timeSavedConnections) * 1000).toFixed(1)} ms each)` : '';
    out.push(
      '',
      `${bold('server')}: ${int(s.accepted)} accepted, ${int(s.synData)} with SYN data (${pct(ratio(s.synData, s.accepted))}); ` +
        `time saved ${s.timeSavedSeconds.toFixed(3)} s over ${int(s.timeSavedConnections)} connections${each}` +
        (s.timeSavedUnestimated ? `, ${int(s.timeSavedUnestimated)} not estimated` : ''),
    );
  }
  out.push(dim('Times to first byte are interpolated within the histogram buckets (as PromQL histogram_quantile does).'));
  return out.join('\n');
}

/** Fetches and reads one scrape. */
export async function scrape(url: URL, prefix: string, timeoutMs: number): Promise<Snapshot> {
  let text: string;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'text/plain;version=0.0.4' } });
    if (!res.ok) throw new CliError(`${url.href}: HTTP ${res.status} ${res.statusText}`, 1);
    text = await res.text();
  } catch (e) {
    if (e instanceof CliError) throw e;
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why = err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err.cause?.code ?? err.cause?.message ?? err.message);
    throw new CliError(`${url.href}: ${why}`, 1);
  }
  return snapshot(parseExposition(text), prefix);
}

/** The JSON form of a snapshot: the summaries and the server's figures. */
export function snapshotJson(url: URL, snap: Snapshot, intervalMs: number | null): unknown {
  return {
    url: url.href,
    at: snap.at,
    ...(intervalMs === null ? {} : { intervalMs }),
    cohorts: summarize(snap),
    server: snap.serverSeen ? snap.server : null,
  };
}

export { printJson };
