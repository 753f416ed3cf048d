'use strict'
// Summary statistics for the benchmark: every cell keeps its raw samples and
// reports n, median, p90 (linear interpolation between closest ranks, as
// numpy's default), mean, min, max and the standard deviation.

function quantile(sorted, q) {
  if (!sorted.length) return null
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
}

/** { n, median, p90, p10, mean, min, max, stdev } of finite numbers; nulls when there are none. */
function summarize(samples) {
  const xs = samples.filter((x) => typeof x === 'number' && Number.isFinite(x))
  const sorted = [...xs].sort((a, b) => a - b)
  const n = sorted.length
  if (!n) return { n: 0, median: null, p90: null, p10: null, mean: null, min: null, max: null, stdev: null }
  const mean = sorted.reduce((s, x) => s + x, 0) / n
  const stdev = n > 1 ? Math.sqrt(sorted.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : 0
  return {
    n,
    median: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p10: quantile(sorted, 0.1),
    mean,
    min: sorted[0],
    max: sorted[n - 1],
    stdev,
  }
}

/** Rounds for JSON/table output without losing meaningful precision. */
function round(x, digits = 3) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return x
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** a / b, or null when either is missing or b is 0. */
function ratio(a, b) {
  return typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : null
}

/**
 * 95% bootstrap interval of the median of `xs` (percentile method, 2000
 * resamples, fixed seed so a given run always prints the same interval):
 * how far the median could move on this run's own noise.
 */
function medianCI(xs, { resamples = 2000, seed = 1 } = {}) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x))
  if (v.length < 5) return null
  let state = seed >>> 0 || 1
  const rand = () => {
    // xorshift32
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state / 2 ** 32
  }
  const meds = []
  const buf = new Array(v.length)
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < v.length; i++) buf[i] = v[Math.floor(rand() * v.length)]
    meds.push(
      quantile(
        buf.sort((a, b) => a - b),
        0.5,
      ),
    )
  }
  meds.sort((a, b) => a - b)
  return [quantile(meds, 0.025), quantile(meds, 0.975)]
}

module.exports = { quantile, summarize, round, ratio, medianCI }
