/** A small labelling project on disk: structures (Al and Si, one triclinic, some masked) and autopipe.yaml. */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeAtoms, type Atoms } from '../../lib/atoms/atoms.js';
import { writeExtxyz } from '../../lib/formats/extxyz.js';
import { rng } from './random.js';

export function structures(n: number): Atoms[] {
  const rand = rng(11);
  return Array.from({ length: n }, (_, k) => {
    const a = 4.05;
    if (k % 5 === 4) {
      // triclinic Si primitive cell
      return makeAtoms({ numbers: [14, 14], positions: [0, 0, 0, 1.36 + 0.05 * rand(), 1.36, 1.36], cell: [0, 2.715, 2.715, 2.715, 0, 2.715, 2.715, 2.715, 0], pbc: [true, true, true], info: { name: `si ${k} a'; touch pwned; '` } });
    }
    const pos = [0, 0, 0, a / 2, a / 2, 0, a / 2, 0, a / 2, 0, a / 2, a / 2].map((x) => x + 0.08 * (rand() - 0.5));
    return makeAtoms({
      numbers: [13, 13, 13, 13], positions: pos, cell: [a, 0, 0, 0, a, 0, 0, 0, a], pbc: [true, true, true],
      arrays: k % 2 === 0 ? { force_mask: { kind: 'float', width: 1, values: Float64Array.from([1, 1, 0, 0]) } } : {},
      info: { name: `al $(touch pwned) ${k}` },
    });
  });
}

export function project(dir: string, opts: { kind: 'local' | 'slurm'; n: number; remoteRoot?: string; name?: string; executorLines?: string[]; dftLines?: string[] }): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'structures.extxyz'), writeExtxyz(structures(opts.n)));
  writeFileSync(join(dir, 'autopipe.yaml'), [
    `name: ${opts.name ?? 'aptest'}`,
    'structures: structures.extxyz',
    // labelling is what these tests are about: the loop stops after it
    'iterations: {stop_after: label}',
    'dft:',
    '  pseudopotentials: {Al: Al.pz-vbc.UPF, Si: Si.pz-vbc.UPF}',
    '  kpoints: [2, 2, 2]',
    '  parameters: {ecutwfc: 12, occupations: smearing, smearing: mv, degauss: 0.05}',
    ...(opts.dftLines ?? []).map((l) => `  ${l}`),
    'executor:',
    `  kind: ${opts.kind}`,
    '  max_concurrent: 2',
    '  poll_interval: 0.5',
    '  array_throttle: 2',
    ...(opts.remoteRoot === undefined ? [] : [`  remote_root: ${JSON.stringify(opts.remoteRoot)}`]),
    ...(opts.executorLines ?? []).map((l) => `  ${l}`),
    '',
  ].join('\n'));
}
