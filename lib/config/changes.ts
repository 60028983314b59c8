/** What changed in autopipe.yaml between the sections two stages recorded (pure). */

/** Leaves of a JSON object as dotted paths: {train: {kappa: 0.3}} → train.kappa = 0.3. */
export function configLeaves(v: unknown, path: string, out: Map<string, string>): Map<string, string> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) configLeaves(x, path === '' ? k : `${path}.${k}`, out);
  else out.set(path, JSON.stringify(v));
  return out;
}

/** What changed in autopipe.yaml between two stages of one kind: `train.max_iterations: 30 → 50`. */
export function configChanges(before: Readonly<Record<string, unknown>>, after: Readonly<Record<string, unknown>>): string[] {
  const a = configLeaves(before, '', new Map());
  const b = configLeaves(after, '', new Map());
  return [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k)).sort().map((k) => `${k}: ${a.get(k) ?? '(unset)'} → ${b.get(k) ?? '(unset)'}`);
}
