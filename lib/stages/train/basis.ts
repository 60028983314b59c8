/**
 * The ACE basis a fit asks for and the one a potential has, pure. pacemaker's warm start
 * (`-p previous.yaml`) keeps the previous potential's basis whatever the input says ("Target
 * potential loaded … it contains 8 functions", "Cutoff … deduced from the potential"), so a
 * fit whose basis changed must start from scratch, and an initial potential must be of the
 * basis asked for: otherwise the kept input.yaml would describe a potential that was not made.
 */
import yaml from 'js-yaml';

/** What defines a basis, as far as autopipe's settings reach: elements, cutoff and functions per element. */
export interface Basis { elements: string[]; cutoff: number | null; functions: Record<string, number> }

type Doc = Record<string, unknown>;

function load(text: string): Doc | undefined {
  try {
    const d = yaml.load(text);
    return d !== null && typeof d === 'object' && !Array.isArray(d) ? (d as Doc) : undefined;
  } catch {
    return undefined;
  }
}

/** The `potential:` section of a pacemaker input, as canonical JSON (undefined when the text has none). */
export function inputBasisText(input: string): string | undefined {
  const p = load(input)?.potential;
  return p === undefined ? undefined : JSON.stringify(p, (_k, v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));
}

/** The basis a pacemaker input asks for. */
export function inputBasis(input: string): Basis | undefined {
  const p = load(input)?.potential as Doc | undefined;
  if (p === undefined) return undefined;
  const elements = Array.isArray(p.elements) ? p.elements.map(String) : [];
  const bonds = (p.bonds as Doc | undefined)?.ALL as Doc | undefined;
  const n = ((p.functions as Doc | undefined)?.number_of_functions_per_element);
  return { elements, cutoff: typeof bonds?.rcut === 'number' ? bonds.rcut : null, functions: Object.fromEntries(elements.map((e) => [e, typeof n === 'number' ? n : 0])) };
}

/** The basis a B-basis potential (output_potential.yaml) has: its one-element species blocks, their cutoffs and functions. */
export function potentialBasis(text: string): Basis | undefined {
  const species = load(text)?.species;
  if (!Array.isArray(species)) return undefined;
  const elements: string[] = [];
  const functions: Record<string, number> = {};
  let cutoff: number | null = null;
  for (const block of species as Doc[]) {
    const name = String(block?.speciesblock ?? '').trim();
    if (typeof block?.rcutij === 'number') cutoff = Math.max(cutoff ?? 0, block.rcutij);
    if (/^[A-Z][a-z]?$/.test(name)) {
      elements.push(name);
      functions[name] = Array.isArray(block.nbody) ? block.nbody.length : 0;
    }
  }
  return elements.length === 0 ? undefined : { elements, cutoff, functions };
}

/** How `has` differs from `asked`, in words (none: the same basis). */
export function basisDifferences(has: Basis, asked: Basis): string[] {
  const out: string[] = [];
  if ([...has.elements].sort().join(' ') !== [...asked.elements].sort().join(' ')) out.push(`elements ${has.elements.join(' ')} → ${asked.elements.join(' ')}`);
  if (has.cutoff !== null && asked.cutoff !== null && Math.abs(has.cutoff - asked.cutoff) > 1e-9) out.push(`cutoff ${has.cutoff} → ${asked.cutoff} Å`);
  for (const e of asked.elements) {
    if (has.functions[e] !== undefined && has.functions[e] !== asked.functions[e]) out.push(`${e} functions ${has.functions[e]} → ${asked.functions[e]}`);
  }
  return out;
}
