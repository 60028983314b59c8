/**
 * Benchmark of issue 19 (run by hand, not in CI): are the core forces of a sub-cell the forces
 * DFT gives the same atoms in the parent frame, at the same k-point density, and at what cost?
 * For each material a parent of over 250 atoms with a vacancy is taken from classical MD at a
 * high temperature (LAMMPS: EAM Al at 700 K, Stillinger-Weber Si at 1200 K); pw.x labels it and
 * sub-cells around two centres (a neighbour of the vacancy, an atom far from it) built by each
 * construction over a ladder of sizes:
 *   cube     today's cube of side L, seam contacts removed (min_distance)
 *   lattice  whole crystal periods of the frame (lib/embed/periods.ts), at least L thick
 *   healed   the cube, its buffer atoms relaxed with the MD's own potential, the core fixed
 * All at one kspacing (K_POINTS from the same rule autopipe uses). Prints a Markdown table, and
 * writes results.json and fidelity.svg into the work folder.
 *
 *   node dist/bench/embedding-fidelity.js [al|si|all] [work folder]
 *
 * Finished pw.x runs in the work folder are reused, so an interrupted run goes on.
 */
import { writeFileSync, readFileSync, mkdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Atoms } from '../lib/atoms/atoms.js';
import { makeAtoms } from '../lib/atoms/atoms.js';
import { writePwInput, meshFromSpacing } from '../lib/formats/espresso-in.js';
import { parsePwOutput, pwWallSeconds } from '../lib/formats/espresso-out.js';
import { writeLammpsData } from '../lib/formats/lammps-data.js';
import { readDumpFrames } from '../lib/formats/lammps-dump.js';
import { embedAtom, indexFrame, type EmbedParams } from '../lib/embed/extract.js';
import { coreOf, fidelityBySetting, parentReference, type LabelledSubcell, type SettingFidelity } from '../lib/embed/fidelity.js';
import { plotSvg, type Layer } from '../lib/report/svg.js';

interface Material {
  name: string; element: string; lattice: string; a: number; repeat: [number, number, number];
  pair: string[]; temperature: number; timestep: number; steps: number;
  /** centre and its first shell */
  mask: number; minDistance: number;
  pw: Record<string, string | number>; pseudo: string;
  cubes: number[]; lattices: number[]; healed: number[];
}

const KSPACING = 0.4; // 1/Å, 2π included: Γ for the ~16 Å parents, 2×2×2 for every sub-cell
const MATERIALS: Record<string, Material> = {
  al: {
    name: 'Al', element: 'Al', lattice: 'fcc', a: 4.05, repeat: [4, 4, 4],
    pair: ['pair_style eam/alloy', 'pair_coeff * * /usr/share/lammps/potentials/Al_zhou.eam.alloy Al'],
    temperature: 700, timestep: 0.002, steps: 3000, mask: 3.3, minDistance: 2.3,
    pw: { ecutwfc: 15, occupations: 'smearing', smearing: 'mv', degauss: 0.05, conv_thr: 1e-6, mixing_beta: 0.3 },
    pseudo: 'Al.pz-vbc.UPF', cubes: [8.08, 10, 12], lattices: [8, 12], healed: [10, 12],
  },
  si: {
    name: 'Si', element: 'Si', lattice: 'diamond', a: 5.431, repeat: [4, 3, 3],
    pair: ['pair_style sw', 'pair_coeff * * /usr/share/lammps/potentials/Si.sw Si'],
    temperature: 1200, timestep: 0.001, steps: 4000, mask: 2.6, minDistance: 1.9,
    pw: { ecutwfc: 15, occupations: 'smearing', smearing: 'gaussian', degauss: 0.01, conv_thr: 1e-6, mixing_beta: 0.3 },
    pseudo: 'Si.pz-vbc.UPF', cubes: [8.08, 10, 12], lattices: [10], healed: [10, 12],
  },
};

function sh(cmd: string, cwd: string): void {
  const r = spawnSync('sh', ['-c', cmd], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} in ${cwd} failed (${r.status}): ${r.stderr.slice(-2000)}`);
}

function readLastFrame(file: string, element: string): Atoms {
  const frames = [...readDumpFrames([readFileSync(file)], { types: [element] }, file)];
  return frames[frames.length - 1];
}

/** The parent: a vacancy (the atom at the origin) in the crystal, MD at m.temperature, its last frame. */
function parentFrame(m: Material, dir: string): Atoms {
  const dump = join(dir, 'parent.dump');
  if (!existsSync(dump)) {
    writeFileSync(join(dir, 'md.in'), [
      'units metal', 'atom_style atomic', 'boundary p p p',
      `lattice ${m.lattice} ${m.a}`, `region box block 0 ${m.repeat[0]} 0 ${m.repeat[1]} 0 ${m.repeat[2]}`,
      'create_box 1 box', 'create_atoms 1 box', `mass 1 ${m.element === 'Al' ? 26.98 : 28.085}`,
      'group gone id 1', 'delete_atoms group gone compress yes',
      ...m.pair,
      `velocity all create ${2 * m.temperature} 4928459 mom yes rot yes dist gaussian`,
      `fix 1 all nvt temp ${m.temperature} ${m.temperature} ${100 * m.timestep}`, `timestep ${m.timestep}`,
      'thermo 500', `run ${m.steps}`,
      'write_dump all custom parent.dump id type x y z modify sort id',
    ].join('\n') + '\n');
    sh('lmp -in md.in -log md.log > md.out', dir);
  }
  return readLastFrame(dump, m.element);
}

/** The cube sub-cell with its buffer atoms relaxed by the MD's potential (core atoms, which lead the list, held). */
function healed(m: Material, sub: Atoms, dir: string, name: string): Atoms {
  const out = join(dir, `${name}.heal.dump`);
  if (!existsSync(out)) {
    const nCore = Number(sub.info.n_core);
    writeFileSync(join(dir, `${name}.heal.data`), writeLammpsData(sub, { types: [m.element] }).text);
    writeFileSync(join(dir, `${name}.heal.in`), [
      'units metal', 'atom_style atomic', 'boundary p p p', `read_data ${name}.heal.data`,
      `mass 1 ${m.element === 'Al' ? 26.98 : 28.085}`, ...m.pair,
      `group core id 1:${nCore}`, 'fix hold core setforce 0.0 0.0 0.0',
      'min_style cg', 'minimize 0 1.0e-3 5000 50000',
      `write_dump all custom ${name}.heal.dump id type x y z modify sort id`,
    ].join('\n') + '\n');
    sh(`lmp -in ${name}.heal.in -log ${name}.heal.log > /dev/null`, dir);
  }
  const relaxed = readLastFrame(out, m.element);
  // the oracle of the construction: relaxation moved no core atom (LAMMPS dumps 6 significant digits)
  const nCore = Number(sub.info.n_core);
  for (let k = 0; k < 3 * nCore; k++) {
    const L = sub.cell[0]; // a cube: LAMMPS dumps positions wrapped into it
    const moved = relaxed.positions[k] - sub.positions[k];
    if (Math.abs(moved - L * Math.round(moved / L)) > 1e-4) throw new Error(`${name}: relaxation moved core atom ${Math.floor(k / 3) + 1}`);
  }
  return makeAtoms({ numbers: sub.numbers, positions: relaxed.positions, cell: sub.cell, pbc: sub.pbc, arrays: { ...sub.arrays }, info: { ...sub.info, healed: true } });
}

function wallSeconds(text: string): number {
  return pwWallSeconds(text) ?? NaN;
}

function runPw(m: Material, dir: string, name: string, atoms: Atoms): { forces: Float64Array; seconds: number } {
  if (process.env.FIDELITY_DRY === '1') {
    // geometry only: what would be labelled
    console.error(`${name}: ${atoms.numbers.length} atoms, k ${meshFromSpacing(atoms.cell, atoms.pbc, KSPACING).join('×')}, cell ${Array.from(atoms.cell).map((x) => x.toFixed(2)).join(' ')}, removed ${String(atoms.info.n_removed)}`);
    return { forces: new Float64Array(3 * atoms.numbers.length), seconds: 1 };
  }
  const outFile = join(dir, `${name}.out`);
  if (existsSync(outFile)) {
    const text = readFileSync(outFile, 'utf8');
    const old = parsePwOutput(text);
    if (old.status === 'ok' && old.forces !== undefined && old.atoms?.numbers.length === atoms.numbers.length) return { forces: old.forces, seconds: wallSeconds(text) };
  }
  const mesh = meshFromSpacing(atoms.cell, atoms.pbc, KSPACING);
  writeFileSync(join(dir, `${name}.in`), writePwInput(atoms, {
    parameters: m.pw, pseudopotentials: { [m.element]: m.pseudo }, pseudoDir: '/usr/share/espresso/pseudo',
    kpoints: { kind: 'spacing', spacing: KSPACING, gammaTrick: true }, prefix: name, outdir: `./tmp-${name}`,
  }));
  const pools = mesh[0] * mesh[1] * mesh[2] > 1 ? '-nk 2' : '';
  const started = Date.now();
  sh(`OMP_NUM_THREADS=1 mpirun --allow-run-as-root -np 2 pw.x ${pools} -in ${name}.in > ${name}.out 2> ${name}.err; rm -rf tmp-${name}`, dir);
  const text = readFileSync(outFile, 'utf8');
  const out = parsePwOutput(text);
  if (out.status !== 'ok' || out.forces === undefined) throw new Error(`${name}: pw.x ${out.status}: ${out.message}`);
  const seconds = wallSeconds(text);
  console.error(`${name}: ${atoms.numbers.length} atoms, k ${mesh.join('×')}, ${seconds.toFixed(1)} s (${((Date.now() - started) / 1000).toFixed(0)} s wall)`);
  return { forces: out.forces, seconds };
}

/** The atom nearest the vacancy's site (the origin) and the atom farthest from it. */
function centres(frame: Atoms): number[] {
  const L = [0, 4, 8].map((k) => frame.cell[k]); // the parents are orthorhombic
  const d = Array.from({ length: frame.numbers.length }, (_, k) => Math.hypot(...[0, 1, 2].map((x) => {
    const v = frame.positions[3 * k + x];
    return v - L[x] * Math.round(v / L[x]);
  })));
  const near = d.indexOf(Math.min(...d));
  const far = d.indexOf(Math.max(...d));
  return [near, far];
}

function material(key: string, root: string): { m: Material; rows: SettingFidelity[]; parentSeconds: number; parentAtoms: number; centreErrors: Record<string, number> } {
  const m = MATERIALS[key];
  const dir = join(root, key);
  mkdirSync(dir, { recursive: true });
  const parent = parentFrame(m, dir);
  const ref = runPw(m, dir, 'parent', parent);
  const reference = parentReference(parent, ref.forces, ref.seconds);
  const runs: LabelledSubcell[] = [];
  const centreSq = new Map<string, number[]>();
  const label = (setting: string, sub: Atoms, name: string) => {
    const r = runPw(m, dir, name, sub);
    runs.push({ setting, natoms: sub.numbers.length, ...coreOf(sub, r.forces), seconds: r.seconds });
    // the centre alone (the sub-cell's first atom): the error of a core of one atom, whose buffer is (box half-width − 0)
    const f = reference.forceOf(Number(sub.arrays.parent_id.values[0])) as number[];
    centreSq.set(setting, [...(centreSq.get(setting) ?? []), ...[0, 1, 2].map((x) => (r.forces[x] - f[x]) ** 2)]);
  };
  for (const c of centres(parent)) {
    const cut = (L: number, box: 'cube' | 'lattice') => {
      const p: EmbedParams = { rcut: m.mask, buffer: L / 2 - m.mask, maskRadius: m.mask, minDistance: m.minDistance, box };
      const s = embedAtom(parent, c, p, indexFrame(parent, p), { file: 'parent.dump', frame: 0 });
      if (s.kind !== 'subcell') throw new Error(`${key} centre ${c} ${box} ${L}: ${s.kind === 'parent' ? s.reason : s.reason}`);
      return s.atoms;
    };
    for (const L of m.cubes) label(`cube ${L} Å`, cut(L, 'cube'), `cube${L}-c${c}`);
    for (const L of m.lattices) {
      const sub = cut(L, 'lattice');
      label(`lattice ${(sub.info.box_periods as number[]).join('×')}`, sub, `lattice${L}-c${c}`);
    }
    for (const L of m.healed) label(`healed cube ${L} Å`, healed(m, cut(L, 'cube'), dir, `healed${L}-c${c}`), `healed${L}-c${c}`);
  }
  const rows = fidelityBySetting(runs, reference);
  const centreErrors = Object.fromEntries([...centreSq].map(([s, sq]) => [s, 1000 * Math.sqrt(sq.reduce((a, b) => a + b, 0) / sq.length)]));
  return { m, rows, parentSeconds: ref.seconds, parentAtoms: parent.numbers.length, centreErrors };
}

const which = process.argv[2] ?? 'all';
const root = process.argv[3] ?? '/tmp/autopipe-fidelity';
mkdirSync(root, { recursive: true });
const results = (which === 'all' ? Object.keys(MATERIALS) : [which]).map((k) => material(k, root));
writeFileSync(join(root, 'results.json'), JSON.stringify(results, null, 1));
const COLORS: Record<string, string[]> = { cube: ['#1f77b4', '#17becf'], lattice: ['#2ca02c', '#9467bd'], healed: ['#ff7f0e', '#8c564b'] };
const layers: Layer[] = results.flatMap((r, i) => (['cube', 'lattice', 'healed'] as const).map((kind): Layer => {
  const rows = r.rows.filter((s) => s.setting.startsWith(kind));
  return { kind: 'points', name: `${r.m.name} ${kind}`, color: COLORS[kind][i % 2], points: rows.map((s) => [s.costShare, s.rmse]), titles: rows.map((s) => `${r.m.name} ${s.setting}`) };
}));
layers.push({ kind: 'rule', name: 'aim: 50 meV/Å', color: '#444', y: 50 });
const svg = plotSvg({
  id: 'embedding-fidelity', title: 'Core-force error against DFT cost (sub-cell / parent)',
  x: { label: 'DFT time of a sub-cell / the parent\'s' }, y: { label: 'core force RMSE (meV/Å)', log: true }, layers,
});
writeFileSync(join(root, 'fidelity.svg'), svg);
for (const r of results) {
  console.log(`### ${r.m.name}: parent of ${r.parentAtoms} atoms (${r.m.repeat.join('×')} ${r.m.lattice}, a = ${r.m.a} Å, one vacancy), ${r.m.temperature} K; pw.x ${r.parentSeconds.toFixed(0)} s

| setting | sub-cells | atoms | core atoms | core RMSE meV/Å | largest meV/Å | centre atom RMSE meV/Å | pw.x s | share of the parent's time |
|---|---|---|---|---|---|---|---|---|
${r.rows.map((s) => `| ${s.setting} | ${s.subcells} | ${s.atoms.toFixed(0)} | ${s.coreAtoms} | ${s.rmse.toFixed(0)} | ${s.max.toFixed(0)} | ${r.centreErrors[s.setting].toFixed(0)} | ${s.seconds.toFixed(1)} | ${s.costShare.toFixed(2)} |`).join('\n')}
`);
}
