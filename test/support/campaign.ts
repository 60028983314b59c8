/**
 * Projects for the trust tests: small labelling projects (three 4-atom Al cells, real pw.x on
 * this machine) and one finished campaign of the quickstart (one iteration of label → train →
 * explore → select, real pw.x, pacemaker and the ase engine), made once per test process and
 * copied for each case that changes it.
 */
import { cpSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { makeAtoms } from '../../lib/atoms/atoms.js';
import { writeExtxyz } from '../../lib/formats/extxyz.js';
import { readCursor, writeCursor, type Cursor } from '../../lib/state/cursor.js';
import { autopipe } from './al-training.js';
import { rng } from './random.js';
import { ROOT, tmpDir } from './tools.js';

/** Three rattled 4-atom fcc Al cells. */
function al4s(): string {
  const draw = rng(1812);
  const a = 4.05;
  const fcc = [0, 0, 0, 0.5, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0.5];
  return writeExtxyz(Array.from({ length: 3 }, (_, k) => makeAtoms({
    numbers: [13, 13, 13, 13], positions: fcc.map((x) => x * a + 0.1 * (draw() - 0.5)), cell: [a, 0, 0, 0, a, 0, 0, 0, a], pbc: [true, true, true], info: { name: `al ${k}` },
  })));
}

/** A labelling project (the loop stops after labelling), local executor unless `executor` lines say otherwise. */
export function labelProject(opts: { name?: string; dft?: string[]; executor?: string[]; extra?: string[] } = {}): string {
  const dir = tmpDir('autopipe-trust-');
  writeFileSync(join(dir, 'structures.extxyz'), al4s());
  writeFileSync(join(dir, 'autopipe.yaml'), [
    `name: ${opts.name ?? 'trust'}`,
    'structures: structures.extxyz',
    'iterations: {stop_after: label}',
    'dft:',
    '  pseudopotentials: {Al: Al.pz-vbc.UPF}',
    '  kpoints: [2, 2, 2]',
    '  parameters: {ecutwfc: 12, occupations: smearing, smearing: mv, degauss: 0.05}',
    ...(opts.dft ?? []).map((l) => `  ${l}`),
    'executor:',
    ...(opts.executor ?? ['kind: local', 'max_concurrent: 2', 'poll_interval: 0.5']).map((l) => `  ${l}`),
    ...(opts.extra ?? []),
    '',
  ].join('\n'));
  return dir;
}

const QUICKSTART = join(ROOT, 'examples', 'quickstart');

/**
 * The quickstart's autopipe.yaml for tests of the loop's machinery (not of its physics): the Γ
 * point and 8 Å cubes with no embedding check, so that a label takes seconds instead of the
 * quickstart's minutes (its sound 12 Å sub-cells at 2×2×2 k-points).
 */
export function plumbing(text: string): string {
  const out = text.replace(/^ {2}kspacing: .*$/m, '  kspacing: 1.0')
    .replace(/^embedding:\n(?: {2}.*\n| +#.*\n)+/m, 'embedding: {rcut: 4.0, buffer: 0.04, mask_radius: 3.3, box: cube, check: {when: off}}\n');
  if (!/kspacing: 1\.0/.test(out) || !/check: \{when: off\}/.test(out)) throw new Error('the quickstart\'s autopipe.yaml has changed shape: update plumbing()');
  return out;
}

/** The quickstart's project with one iteration (label → train → explore → select), its own name, for the machinery's tests. */
export function quickstartProject(name: string): string {
  const dir = tmpDir('autopipe-trust-');
  for (const f of ['structures.extxyz', 'explore.extxyz', 'validation.extxyz']) copyFileSync(join(QUICKSTART, f), join(dir, f));
  writeFileSync(join(dir, 'autopipe.yaml'), plumbing(readFileSync(join(QUICKSTART, 'autopipe.yaml'), 'utf8')).replace(/^name: quickstart$/m, `name: ${name}`).replace(/^ {2}max: 2 .*$/m, '  max: 1'));
  return dir;
}

let finished: string | undefined;

/** A finished one-iteration campaign of the quickstart (made once; never changed: cases work on copies). */
export function finishedCampaign(): string {
  if (finished !== undefined) return finished;
  const dir = quickstartProject('trust');
  const r = autopipe(['run'], dir);
  if (r.status !== 0) throw new Error(`the finished campaign could not be made (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
  return (finished = dir);
}

/**
 * A copy of a project that goes on as the same campaign: its checkpoint records the copy as its
 * home, as a project moved there would (a copy beside a live original is refused: see the case).
 */
export function movedCopy(from: string): string {
  const dir = tmpDir('autopipe-trust-');
  cpSync(from, dir, { recursive: true, preserveTimestamps: true });
  const path = join(dir, '.autopipe', 'cursor.json');
  const c = readCursor(path) as Cursor;
  writeCursor(path, { ...c, home: { workdir: join(dir, '.autopipe') } }, 0);
  return dir;
}

/** Every file under a folder (or the one file) with its size, mode and content hash: "nothing on disk changed" is this map unchanged. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  if (existsSync(dir) && statSync(dir).isFile()) return out.set(dir, `${statSync(dir).size} ${createHash('sha1').update(readFileSync(dir)).digest('hex')}`);
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) {
        out.set(p, `dir ${st.mode}`);
        walk(p);
      } else out.set(p, `${st.size} ${st.mode} ${createHash('sha1').update(readFileSync(p)).digest('hex')}`);
    }
  };
  walk(dir);
  return out;
}

/** autopipe.yaml of a project with some text replaced (each replacement must apply). */
export function editConfig(dir: string, ...edits: Array<[RegExp | string, string]>): void {
  const path = join(dir, 'autopipe.yaml');
  let text = readFileSync(path, 'utf8');
  for (const [from, to] of edits) {
    const next = text.replace(from, to);
    if (next === text) throw new Error(`editConfig: ${String(from)} is not in ${path}`);
    text = next;
  }
  writeFileSync(path, text);
}

export function mkdirp(path: string): void {
  mkdirSync(path, { recursive: true });
}
