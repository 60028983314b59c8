/**
 * SLURM's time limits and memory sizes as numbers and back, for scaling them on a retry.
 * Time forms (sbatch --time): M, M:S, H:M:S, D-H, D-H:M, D-H:M:S. Memory (--mem): a number with
 * an optional K/M/G/T suffix; no suffix means megabytes.
 */

/** Seconds of a SLURM time limit, or undefined when it is not one. */
export function parseTimeLimit(text: string): number | undefined {
  const m = /^(?:(\d+)-)?(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?$/.exec(text.trim());
  if (m === null) return undefined;
  const [, d, a, b, c] = m;
  const n = (s: string | undefined) => (s === undefined ? 0 : Number(s));
  if (d !== undefined) {
    // days-hours[:minutes[:seconds]]
    return n(d) * 86400 + n(a) * 3600 + n(b) * 60 + n(c);
  }
  if (c !== undefined) return n(a) * 3600 + n(b) * 60 + n(c); // H:M:S
  if (b !== undefined) return n(a) * 60 + n(b); // M:S
  return n(a) * 60; // M
}

/** A time limit in SLURM's D-HH:MM:SS form (HH:MM:SS under a day); whole seconds, rounded up. */
export function formatTimeLimit(seconds: number): string {
  const s = Math.ceil(seconds);
  const days = Math.floor(s / 86400);
  const rest = s - days * 86400;
  const two = (v: number) => String(v).padStart(2, '0');
  const hms = `${two(Math.floor(rest / 3600))}:${two(Math.floor((rest % 3600) / 60))}:${two(rest % 60)}`;
  return days > 0 ? `${days}-${hms}` : hms;
}

const UNIT: Readonly<Record<string, number>> = { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 };

/** Megabytes of a SLURM memory size, or undefined when it is not one. */
export function parseMemory(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)$/i.exec(text.trim());
  if (m === null) return undefined;
  return Number(m[1]) * UNIT[(m[2] || 'M').toUpperCase()];
}

/** A memory size for --mem: whole gigabytes when exact, else whole megabytes (rounded up). */
export function formatMemory(megabytes: number): string {
  const mb = Math.ceil(megabytes);
  return mb % 1024 === 0 ? `${mb / 1024}G` : `${mb}M`;
}
