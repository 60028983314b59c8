/**
 * Scales and axis ticks for the report's plots, pure: data → pixels, linear or log10, with
 * "nice" ticks (1, 2 or 5 × 10^k) so that axes read like a person would draw them.
 */

export interface Scale {
  (v: number): number;
  ticks: number[];
  domain: [number, number];
  log: boolean;
}

/** About `count` ticks over [lo, hi] at a step of 1, 2 or 5 × 10^k; the domain widened to whole steps. */
export function niceTicks(lo: number, hi: number, count = 5): { ticks: number[]; domain: [number, number] } {
  if (!(hi > lo)) {
    // one value (or none): a unit around it, so a single point sits mid-axis
    const pad = lo === 0 ? 1 : Math.abs(lo) / 2;
    return niceTicks(lo - pad, lo + pad, count);
  }
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  // the step nearest the wanted count, the thresholds between 1, 2, 5 and 10 at their geometric means
  const err = raw / power;
  const step = power * (err >= Math.sqrt(50) ? 10 : err >= Math.sqrt(10) ? 5 : err >= Math.sqrt(2) ? 2 : 1);
  const first = Math.floor(lo / step + 1e-9) * step;
  const last = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let k = 0; first + k * step <= last + step * 1e-9; k++) ticks.push(Number((first + k * step).toPrecision(12)));
  return { ticks, domain: [first, last] };
}

/** Powers of ten around [lo, hi] (both > 0), with 2 and 5 between them when the span is under two decades. */
export function logTicks(lo: number, hi: number): { ticks: number[]; domain: [number, number] } {
  const a = Math.floor(Math.log10(lo) + 1e-9);
  let b = Math.ceil(Math.log10(hi) - 1e-9);
  if (b === a) b = a + 1;
  const ticks: number[] = [];
  for (let e = a; e <= b; e++) {
    const p = 10 ** e;
    ticks.push(Number(p.toPrecision(12)));
    if (Math.log10(hi / lo) < 2 && e < b) ticks.push(Number((2 * p).toPrecision(12)), Number((5 * p).toPrecision(12)));
  }
  return { ticks, domain: [10 ** a, 10 ** b] };
}

/** Whole numbers from lo to hi with half a step of room each side; at most about 10 ticks. */
export function integerTicks(lo: number, hi: number): { ticks: number[]; domain: [number, number] } {
  const a = Math.ceil(lo) + 0; // + 0: no -0 tick
  const b = Math.max(a, Math.floor(hi));
  const every = Math.max(1, Math.ceil((b - a + 1) / 10));
  const ticks: number[] = [];
  for (let v = a; v <= b; v += every) ticks.push(v);
  return { ticks, domain: [a - 0.5, b + 0.5] };
}

/** A scale over the values (finite ones; positive ones for log) onto [from, to] pixels. */
export function scaleOf(values: readonly number[], range: [number, number], opts: { log?: boolean; zero?: boolean; ticks?: number; integer?: boolean } = {}): Scale {
  const log = opts.log === true;
  let vs = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  if (vs.length === 0) vs = log ? [1, 10] : [0, 1];
  let lo = Math.min(...vs);
  const hi = Math.max(...vs);
  if (opts.zero === true && !log) lo = Math.min(lo, 0);
  const { ticks, domain } = log ? logTicks(lo, hi) : opts.integer === true ? integerTicks(lo, hi) : niceTicks(lo, hi, opts.ticks);
  const t = (v: number) => (log ? Math.log10(v) : v);
  const [d0, d1] = [t(domain[0]), t(domain[1])];
  const f = ((v: number) => range[0] + ((t(v) - d0) / (d1 - d0)) * (range[1] - range[0])) as Scale;
  f.ticks = ticks;
  f.domain = domain;
  f.log = log;
  return f;
}

/** A tick's label: short, no float noise (0.30000000000000004 → 0.3, 20000 → 2e+4 only when long). */
export function tickLabel(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  return String(Number(v.toPrecision(6)));
}
