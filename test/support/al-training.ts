/**
 * A small Al training set for the training tests: 14 whole cells (rattled fcc, strained) and 6
 * embedded sub-cells of about 36 atoms cut by autopipe's own extractor around atoms next to a vacancy, each with
 * its force mask. Labelled once per test process by the real labelling stage (pw.x, local
 * executor) into a project whose database the training tests copy.
 */
import { cpSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeAtoms, type Atoms } from '../../lib/atoms/atoms.js';
import { writeExtxyz } from '../../lib/formats/extxyz.js';
import { embedAtom, indexFrame, type EmbedParams } from '../../lib/embed/extract.js';
import { rng } from './random.js';
import { ROOT, tmpDir } from './tools.js';

const FCC = [0, 0, 0, 0.5, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0.5];

function fcc(a: number, rattle: number, draw: () => number, name: string): Atoms {
  return makeAtoms({
    numbers: [13, 13, 13, 13], positions: FCC.map((x) => x * a + rattle * (draw() - 0.5)),
    cell: [a, 0, 0, 0, a * (1 + 0.01 * (draw() - 0.5)), 0, 0, 0, a], pbc: [true, true, true], info: { name },
  });
}

/** 3×3×3 conventional fcc Al (108 sites), one vacancy, rattled (only its sub-cells are labelled). */
function vacancyCell(draw: () => number): Atoms {
  const a = 4.05;
  const positions: number[] = [];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) {
    for (let s = 0; s < 4; s++) positions.push((FCC[3 * s] + i) * a, (FCC[3 * s + 1] + j) * a, (FCC[3 * s + 2] + k) * a);
  }
  const kept = positions.slice(3).map((x) => x + 0.12 * (draw() - 0.5)); // the atom at the origin is the vacancy
  return makeAtoms({ numbers: new Array(107).fill(13), positions: kept, cell: [3 * a, 0, 0, 0, 3 * a, 0, 0, 0, 3 * a], pbc: [true, true, true] });
}

/** Sub-cells of side 8.4 Å (about 36 atoms); the centre and its nearest neighbours (3 Å) are core. */
export const EMBED: EmbedParams = { rcut: 2.2, buffer: 2.0, maskRadius: 3.0, minDistance: 1.5 };

export function alTrainingSet(): Atoms[] {
  const draw = rng(20261202);
  const whole = Array.from({ length: 14 }, (_, k) => fcc(3.95 + 0.016 * k, 0.18, draw, `fcc ${k}`));
  const parent = vacancyCell(draw);
  const index = indexFrame(parent, EMBED);
  // the vacancy's nearest neighbours and two atoms further out (0-based, of the 107 kept)
  const subcells = [0, 1, 2, 11, 40, 77].map((centre) => {
    const r = embedAtom(parent, centre, EMBED, index, { file: 'vacancy', frame: 1 });
    if (r.kind !== 'subcell') throw new Error(`test set: atom ${centre} gave ${r.kind}: ${'reason' in r ? r.reason : ''}`);
    return r.atoms;
  });
  return [...whole, ...subcells];
}

/** autopipe.yaml of a training project: pw.x settings for these cells, a small basis, extra lines. */
export function trainingProject(dir: string, structures: Atoms[], lines: string[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'structures.extxyz'), writeExtxyz(structures));
  writeFileSync(join(dir, 'autopipe.yaml'), [
    'structures: structures.extxyz',
    'dft:',
    '  pseudopotentials: {Al: Al.pz-vbc.UPF}',
    '  kspacing: 1.0',                        // Gamma only for the 8.4 Å sub-cells, 2×2×2 for the whole cells
    '  parameters: {ecutwfc: 12, occupations: smearing, smearing: mv, degauss: 0.05}',
    // a small basis and a few dozen steps: seconds, not hours (a `train:` line of the caller replaces it)
    ...(lines.some((l) => l.startsWith('train:')) ? [] : ['train: {max_iterations: 40, functions_per_element: 6, cutoff: 4.5, reference_energy: auto}']),
    ...lines, '',
  ].join('\n'));
}

export function autopipe(args: string[], dir: string, env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), ...args, '-C', dir], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let trained: { dir: string; seconds: number; stderr: string } | undefined;

/**
 * The 20 structures labelled by pw.x and fitted by pacemaker through the loop (`autopipe run`,
 * stopping after the fit), once per process: the project folder, its database and how long it took.
 */
export function trainedProject(): { dir: string; db: string; potential: string; seconds: number; stderr: string } {
  if (trained === undefined) {
    const dir = tmpDir('autopipe-al20-');
    trainingProject(dir, alTrainingSet(), ['name: al20', 'iterations: {stop_after: train}', 'executor: {kind: local, max_concurrent: 2, poll_interval: 0.5}']);
    const t0 = Date.now();
    const r = autopipe(['run'], dir);
    if (r.status !== 0) throw new Error(`labelling and fitting the Al training set failed:\n${r.stderr}`);
    trained = { dir, seconds: (Date.now() - t0) / 1000, stderr: r.stderr };
  }
  const t = trained;
  return { ...t, db: join(t.dir, '.autopipe', 'autopipe.db'), potential: join(t.dir, '.autopipe', 'potentials', 'iter-000') };
}

/** A copy of the labelled database, for a test to change or add to. */
export function copyOfLabelled(to: string): string {
  const target = join(to, 'al20.db');
  cpSync(trainedProject().db, target);
  return target;
}
