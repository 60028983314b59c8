/** Plain-JSON views of Atoms pieces for --json outputs. */

export function rows3(a: Float64Array | undefined): number[][] | null {
  if (a === undefined) return null;
  const out: number[][] = [];
  for (let i = 0; i < a.length; i += 3) out.push([a[i], a[i + 1], a[i + 2]]);
  return out;
}
