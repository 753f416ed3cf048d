// Time to first byte of client connections, per cohort and outcome: a
// Prometheus histogram (fixed buckets, exact counts) and a quantile sketch
// for the p50/p90 of `tfo.stats()`. Process-level state only: a connection
// keeps one small integer (its start, below) until its first byte.
//
// The sketch: log-linear bins with relative accuracy ALPHA (DDSketch's
// mapping): bin i holds values in (γ^(i-1), γ^i] µs, γ = (1+α)/(1-α), and
// reports 2γ^i/(γ+1), within α = 0.5% of every value in the bin. One
// Float64Array of 2,081 counts (16.6 KB) covers 1 µs to 2^30 µs (~18 min),
// allocated at a series' first observation: fixed memory, whatever the
// number of connections. Quantiles interpolate between the two closest
// ranks, as the benchmark's (numpy's default) do.
import { performance } from 'node:perf_hooks';

/** One series per cohort and outcome: `(control ? 2 : 0) | (synData ? 1 : 0)`. */
export const SERIES_COUNT = 4;

/**
 * Default upper bounds of the TTFB histogram, in seconds: neighbours at most
 * 1.5 apart from 0.5 ms to 5 s, so that a time and twice that time (one round
 * trip saved or not) always fall in different buckets (e.g. ~51 and ~101 ms
 * at a 50 ms RTT; ~10.6 and ~20.8 ms at 10 ms).
 */
export const TTFB_BUCKETS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.006, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1, 0.15, 0.2, 0.3,
  0.4, 0.5, 0.6, 0.75, 1, 1.5, 2, 3, 4, 5, 10,
]);

/** Relative accuracy of the quantile sketch (0.5%). */
export const TTFB_SKETCH_ACCURACY = 0.005;

const GAMMA = (1 + TTFB_SKETCH_ACCURACY) / (1 - TTFB_SKETCH_ACCURACY);
const LN_GAMMA = Math.log(GAMMA);
/** Start times are kept modulo 2^30 µs, so that they are small integers (V8 Smis) on a socket. */
const TICK_BITS = 30;
const TICK_MASK = 2 ** TICK_BITS - 1;
const SKETCH_BINS = Math.ceil((TICK_BITS * Math.LN2) / LN_GAMMA) + 1;
const US_PER_S = 1e6;
const US_PER_MS = 1e3;

interface Series {
  count: number;
  sumUs: number;
  /** Per histogram bucket (not cumulative); the last one is +Inf. */
  buckets: Float64Array;
  sketch: Float64Array | null;
}

let series: (Series | null)[] = new Array<Series | null>(SERIES_COUNT).fill(null);

/**
 * @internal A start time for {@link ttfbElapsedUs}: µs since the process
 * started, modulo 2^30 (a Smi: a socket keeps it as an in-object integer).
 */
export function ttfbStart(): number {
  return (performance.now() * US_PER_MS) & TICK_MASK;
}

/** @internal µs since `start` (a {@link ttfbStart}); exact for spans under ~17.9 minutes. */
export function ttfbElapsedUs(start: number): number {
  return (((performance.now() * US_PER_MS) & TICK_MASK) - start) & TICK_MASK;
}

function binOf(us: number): number {
  if (!(us > 1)) return 0;
  const i = Math.ceil(Math.log(us) / LN_GAMMA);
  return i < SKETCH_BINS ? i : SKETCH_BINS - 1;
}

function valueOf(bin: number): number {
  return (2 * GAMMA ** bin) / (GAMMA + 1);
}

/** @internal Records one connection's time to first byte (µs) in series `index`. */
export function recordTtfb(index: number, us: number): void {
  let s = series[index];
  if (s === undefined) return;
  if (s === null) {
    s = { count: 0, sumUs: 0, buckets: new Float64Array(TTFB_BUCKETS.length + 1), sketch: null };
    series[index] = s;
  }
  s.count++;
  s.sumUs += us;
  const seconds = us / US_PER_S;
  let b = 0;
  while (b < TTFB_BUCKETS.length && seconds > TTFB_BUCKETS[b]) b++;
  s.buckets[b]++;
  const sketch = (s.sketch ??= new Float64Array(SKETCH_BINS));
  sketch[binOf(us)]++;
}

// One sample taken but not yet recorded (see holdTtfb): a connection's first
// read notes its time before the stream sees the bytes and records it after
// the program's handlers ran. Every reader settles it first.
let heldIndex = -1;
let heldUs = 0;

/**
 * @internal Notes a sample to record at the next {@link settleTtfb} (or at
 * any read of the series, which settles first): a few stores, so that the
 * recording itself stays off the path to the program's first 'data'.
 */
export function holdTtfb(index: number, us: number): void {
  if (heldIndex >= 0) settleTtfb(); // a first read inside another's handlers: the earlier one is recorded now
  heldIndex = index;
  heldUs = us;
}

/** @internal Records the sample noted by {@link holdTtfb}, if any. */
export function settleTtfb(): void {
  const index = heldIndex;
  if (index < 0) return;
  heldIndex = -1;
  recordTtfb(index, heldUs);
}

/** Count, p50, p90 and mean of one series, in milliseconds (nulls when empty). */
export interface TtfbSummary {
  count: number;
  p50: number | null;
  p90: number | null;
  mean: number | null;
}

function quantileUs(sketch: Float64Array, count: number, q: number): number {
  const pos = q * (count - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  let seen = 0;
  let loValue = -1;
  for (let i = 0; i < sketch.length; i++) {
    const c = sketch[i];
    if (c === 0) continue;
    seen += c;
    if (loValue < 0 && seen > lo) loValue = valueOf(i);
    if (seen > hi) return loValue + (valueOf(i) - loValue) * (pos - lo);
  }
  return loValue;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** @internal The summary of series `indices` together (ms, rounded to the µs). */
export function ttfbSummary(...indices: number[]): TtfbSummary {
  settleTtfb();
  let count = 0;
  let sumUs = 0;
  let sketch: Float64Array | null = null;
  for (const i of indices) {
    const s = series[i];
    if (!s || s.count === 0 || !s.sketch) continue;
    count += s.count;
    sumUs += s.sumUs;
    if (sketch === null) sketch = indices.length === 1 ? s.sketch : new Float64Array(s.sketch);
    else for (let k = 0; k < sketch.length; k++) sketch[k] += s.sketch[k];
  }
  if (count === 0 || sketch === null) return { count: 0, p50: null, p90: null, mean: null };
  return {
    count,
    p50: round3(quantileUs(sketch, count, 0.5) / US_PER_MS),
    p90: round3(quantileUs(sketch, count, 0.9) / US_PER_MS),
    mean: round3(sumUs / count / US_PER_MS),
  };
}

/** @internal One series as a Prometheus histogram: cumulative counts per upper bound (the last is +Inf), sum in seconds. */
export function ttfbHistogram(index: number): { cumulative: number[]; sumSeconds: number; count: number } | null {
  settleTtfb();
  const s = series[index];
  if (!s) return null;
  const cumulative: number[] = [];
  let acc = 0;
  for (const c of s.buckets) cumulative.push((acc += c));
  return { cumulative, sumSeconds: s.sumUs / US_PER_S, count: s.count };
}

/** @internal Forgets every observation (tfo.resetStats()). */
export function resetTtfb(): void {
  heldIndex = -1; // taken before the reset
  series = new Array<Series | null>(SERIES_COUNT).fill(null);
}
