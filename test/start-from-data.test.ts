/**
 * Starting a campaign from what users have (iterations.start): labelled rows imported with
 * `autopipe db import` (an extxyz, and ASE databases and extxyz files written by ASE itself),
 * fitted first; an existing potential with its active set, explored first; and the refusals.
 * The rows and the potential are those of the training tests' Al set (real pw.x and pacemaker).
 */
import { expect } from 'chai';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCursor } from '../lib/state/cursor.js';
import { openDatabaseFile } from '../lib/db/db-file.js';
import { readExtxyz, writeExtxyz } from '../lib/formats/extxyz.js';
import { makeAtoms } from '../lib/atoms/atoms.js';
import { AL4 } from './support/pw-runs.js';
import { trainedProject, autopipe } from './support/al-training.js';
import { cli, tmpDir, ASE_JUDGES } from './support/tools.js';

const DFT = ['dft:', '  pseudopotentials: {Al: Al.pz-vbc.UPF}', '  kspacing: 1.0', '  parameters: {ecutwfc: 12, occupations: smearing, smearing: mv, degauss: 0.05}'];
const TRAIN = 'train: {max_iterations: 40, functions_per_element: 6, cutoff: 4.5, reference_energy: auto}';
const EXPLORE = 'explore: {structures: starts.extxyz, temperatures: [300], steps: 40, dump_every: 10, gamma_collect: 1000, gamma_stop: 2000}';
const LOCAL = 'executor: {kind: local, max_concurrent: 2, poll_interval: 0.5}';

function project(lines: string[]): string {
  const dir = tmpDir('autopipe-start-');
  writeFileSync(join(dir, 'starts.extxyz'), writeExtxyz([AL4]));
  writeFileSync(join(dir, 'autopipe.yaml'), [...DFT, TRAIN, EXPLORE, LOCAL, ...lines, ''].join('\n'));
  return dir;
}

function rowsOf(db: string) {
  const d = openDatabaseFile(db, {});
  try {
    return [...d.select()];
  } finally {
    d.close();
  }
}

describe('starting from data you have (iterations.start, db import)', function () {
  let src: ReturnType<typeof trainedProject>;
  let work: string;
  let exported: string; // the source's rows as extxyz (autopipe db export): each frame says its level id
  let levels: string;   // the source's level as `db levels --json` prints it
  before(function () {
    src = trainedProject();
    work = tmpDir('autopipe-start-src-');
    exported = join(work, 'rows.extxyz');
    expect(cli(['db', 'export', src.db, '-o', exported]).status).to.equal(0);
    const l = cli(['db', 'levels', src.db, '--json']);
    expect(l.status).to.equal(0);
    levels = join(work, 'levels.json');
    writeFileSync(levels, l.stdout);
  });

  it('an extxyz of labelled rows: refused without their level, imported with it (one transaction, provenance kept); iterations.start train fits them first, the exploration follows, and a row of another level is left out and said', function () {
    const dir = project(['iterations: {start: train, stop_after: explore}']);
    const db = join(dir, '.autopipe', 'autopipe.db');
    mkdirSync(join(dir, '.autopipe'));
    // the frames say their level's id only: the new database does not know it
    const refused = cli(['db', 'import', db, exported]);
    expect(refused.status, refused.stderr).to.equal(64);
    expect(refused.stderr).to.match(/20 of 20 row\(s\) cannot be imported, for their level of theory .*nothing was imported: .*rows\.extxyz frame 0: level L[0-9a-f]{7}, which .*autopipe\.db has no row of/);
    expect(refused.stderr).to.include('--level FILE.json');
    expect(existsSync(db), 'a refused import makes no database').to.equal(false);
    const ok = cli(['db', 'import', db, exported, '--level', levels]);
    expect(ok.status, ok.stderr).to.equal(0);
    expect(ok.stderr).to.match(/20 imported, 0 already present/);
    const rows = rowsOf(db);
    expect(rows).to.have.length(20);
    expect(rows.map((r) => r.data.frame)).to.deep.equal([...Array(20).keys()]);
    expect(rows[0].data.source).to.equal(exported);
    expect(rows.every((r) => r.kvp.iteration === undefined && r.kvp.level === rows[0].kvp.level)).to.equal(true);
    expect(rows.filter((r) => r.data.force_mask !== undefined)).to.have.length(6);
    // again: the same content is the same rows
    expect(cli(['db', 'import', db, exported, '--level', levels]).stderr).to.match(/0 imported, 20 already present/);

    // one row at another cutoff, declared as such; and one that says a level its --level contradicts
    const [level] = JSON.parse(readFileSync(levels, 'utf8')) as Array<{ level: { parameters: Record<string, unknown> } }>;
    level.level.parameters.ecutwfc = 14;
    const other = join(work, 'other.json');
    writeFileSync(other, JSON.stringify(level));
    const first = readExtxyz(readFileSync(exported, 'utf8'), exported)[0];
    const at14 = join(work, 'at14.extxyz');
    writeFileSync(at14, writeExtxyz([makeAtoms({ ...first, info: {}, results: { energy: (first.results.energy as number) + 0.5, forces: first.results.forces } })]));
    expect(cli(['db', 'import', db, at14, '--level', other]).status).to.equal(0);
    const contradicted = cli(['db', 'import', db, exported, '--level', other]);
    expect(contradicted.status, contradicted.stderr).to.equal(64);
    expect(contradicted.stderr).to.match(/rows\.extxyz frame 0 says level L[0-9a-f]{7}, --level gives L[0-9a-f]{7}/);
    expect(rowsOf(db)).to.have.length(21);

    const run = autopipe(['run'], dir);
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stderr).to.match(/left out of the fit for their level of theory: 1 row\(s\) at level L[0-9a-f]{7} \(ecutwfc 14 → 12\)/);
    const c = readCursor(join(dir, '.autopipe', 'cursor.json')) as NonNullable<ReturnType<typeof readCursor>>;
    const stages = [...c.done, ...c.stages].map((s) => `${s.kind}@${s.iteration}`);
    expect(stages).to.deep.equal(['train@0', 'explore@0']);
    const fit = [...c.done, ...c.stages][0].data as { rows: number; left_out_rows: number; level: string };
    expect(fit.rows).to.equal(20);
    expect(fit.left_out_rows).to.equal(1);
    expect(fit.level).to.equal(rows[0].kvp.level);
    expect(existsSync(join(dir, '.autopipe', 'potentials', 'iter-000', 'output_potential.asi'))).to.equal(true);
    const st = autopipe(['status', '--json'], dir);
    expect(st.status, st.stderr).to.equal(0);
    const it0 = (JSON.parse(st.stdout) as { iterations: Array<{ iteration: number; fit: { left_out: number } | null; explore: { runs: number } | null }> }).iterations[0];
    expect(it0.iteration).to.equal(0);
    expect(it0.fit?.left_out).to.equal(1);
    expect(it0.explore?.runs).to.equal(1);
    expect(autopipe(['status'], dir).status).to.equal(0);
    // the report of an iteration 0 that began at training: its fit and its run, no labelling
    const rep = autopipe(['report', '-o', join(dir, 'report.html')], dir);
    expect(rep.status, rep.stderr).to.equal(0);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).to.include('Exploration runs').and.include(fit.level); // the fit's level of theory in the iteration's row
  });

  it("ASE databases and extxyz files written by ASE itself (Debian's and the venv's) import the same rows", function () {
    const reference = rowsOf(src.db).sort((a, b) => (a.atoms.results.energy as number) - (b.atoms.results.energy as number));
    for (const ase of ASE_JUDGES) {
      const d = tmpDir('autopipe-start-ase-');
      ase.run([
        'import sys, ase.io, ase.db',
        'frames = ase.io.read(sys.argv[1], ":")',
        'db = ase.db.connect(sys.argv[2])',
        'for a in frames: db.write(a)',
        'ase.io.write(sys.argv[3], frames, format="extxyz")',
      ].join('\n'), [exported, join(d, 'ase.db'), join(d, 'ase.extxyz')]);
      const bare = cli(['db', 'import', join(d, 'into.db'), join(d, 'ase.db')]);
      expect(bare.status, ase.label).to.equal(64);
      expect(bare.stderr).to.match(/ase\.db row 0: no level of theory/);
      for (const file of ['ase.db', 'ase.extxyz']) {
        const into = join(d, `${file.replace('.', '-')}-into.db`);
        const r = cli(['db', 'import', into, join(d, file), '--level', levels]);
        expect(r.status, `${ase.label} ${file}: ${r.stderr}`).to.equal(0);
        const got = rowsOf(into).sort((a, b) => (a.atoms.results.energy as number) - (b.atoms.results.energy as number));
        expect(got, `${ase.label} ${file}`).to.have.length(20);
        // ASE's database keeps every bit; ASE's extxyz writes forces and positions with 8 decimals
        const same = (a: ArrayLike<number>, b: ArrayLike<number>) => (file === 'ase.db' ? Array.from(a).every((x, i) => x === b[i]) : Array.from(a).every((x, i) => Math.abs(x - b[i]) <= 5e-9));
        got.forEach((row, k) => {
          expect(row.atoms.results.energy).to.equal(reference[k].atoms.results.energy);
          expect(same(row.atoms.results.forces as Float64Array, reference[k].atoms.results.forces as Float64Array), `${ase.label} ${file} row ${k} forces`).to.equal(true);
          expect(same(row.atoms.positions, reference[k].atoms.positions), `${ase.label} ${file} row ${k} positions`).to.equal(true);
          expect(row.atoms.numbers.length).to.equal(reference[k].atoms.numbers.length);
          expect(row.kvp.level).to.equal(reference[k].kvp.level);
          expect(row.data.source).to.equal(join(d, file));
        });
      }
    }
  });

  it('iterations.start explore: iteration 0 explores with train.initial_potential and its .asi, then selects; without the .asi, or the potential, it is refused before anything is submitted', function () {
    const dir = project(['iterations: {start: explore, stop_after: select}', 'selection: {lo: 0.001, hi: 1000}', 'train: {max_iterations: 40, functions_per_element: 6, cutoff: 4.5, reference_energy: auto, initial_potential: pot/output_potential.yaml}']
      .map((l) => l));
    // the project's own train: line replaces the default one
    writeFileSync(join(dir, 'autopipe.yaml'), readFileSync(join(dir, 'autopipe.yaml'), 'utf8').replace(`${TRAIN}\n`, '').replace('gamma_collect: 1000', 'gamma_collect: 0.001'));
    mkdirSync(join(dir, 'pot'));
    copyFileSync(join(src.potential, 'output_potential.yaml'), join(dir, 'pot', 'output_potential.yaml'));
    const noAsi = autopipe(['submit'], dir);
    expect(noAsi.status, noAsi.stderr).to.equal(78);
    expect(noAsi.stderr).to.match(/train\.initial_potential \(line \d+\): pot\/output_potential\.asi does not exist: iteration 0 explores with this potential \(iterations\.start: explore\).*pace_activeset/);
    expect(existsSync(join(dir, '.autopipe', 'cursor.json'))).to.equal(false);
    copyFileSync(join(src.potential, 'output_potential.asi'), join(dir, 'pot', 'output_potential.asi'));
    const run = autopipe(['run'], dir);
    expect(run.status, run.stderr).to.equal(0);
    const c = readCursor(join(dir, '.autopipe', 'cursor.json')) as NonNullable<ReturnType<typeof readCursor>>;
    const all = [...c.done, ...c.stages];
    expect(all.map((s) => `${s.kind}@${s.iteration}`)).to.deep.equal(['explore@0', 'select@0']);
    expect(all[0].data.potential).to.equal('pot/output_potential.yaml');
    const inputs = join(dir, '.autopipe', 'run', 'iter-000', 'explore', 'inputs');
    expect(readdirSync(inputs)).to.include('potential.asi');
    expect(readFileSync(join(inputs, 'potential.asi')).equals(readFileSync(join(dir, 'pot', 'output_potential.asi')))).to.equal(true);
    expect(autopipe(['status'], dir).status).to.equal(0);
    // the report of an iteration 0 that began at exploration: no fit, no labelling yet
    const rep = autopipe(['report', '-o', join(dir, 'report.html')], dir);
    expect(rep.status, rep.stderr).to.equal(0);
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).to.include('Exploration runs');

    // no potential at all: the config says which field
    const none = project(['iterations: {start: explore}']);
    const r = cli(['config', 'check', join(none, 'autopipe.yaml')]);
    expect(r.status, r.stderr).to.equal(78);
    expect(r.stderr).to.match(/iterations\.start \(line \d+\): explore needs a potential to explore with: give train\.initial_potential/);
  });

  it('refusals before anything is submitted: start train with no labelled row at the settings, structures empty at label, rows without energies', function () {
    const empty = project(['iterations: {start: train}']);
    const r = autopipe(['submit'], empty);
    expect(r.status, r.stderr).to.equal(78);
    expect(r.stderr).to.match(/iterations\.start \(line \d+\): train fits the labelled rows of the database, and .*autopipe\.db does not exist: import them first \(autopipe db import/);
    // rows at other settings only: said with what the database holds
    const other = project(['iterations: {start: train}']);
    writeFileSync(join(other, 'autopipe.yaml'), readFileSync(join(other, 'autopipe.yaml'), 'utf8').replace('ecutwfc: 12', 'ecutwfc: 16'));
    mkdirSync(join(other, '.autopipe'));
    expect(cli(['db', 'import', join(other, '.autopipe', 'autopipe.db'), exported, '--level', levels]).status).to.equal(0);
    const at16 = autopipe(['submit'], other);
    expect(at16.status, at16.stderr).to.equal(78);
    expect(at16.stderr).to.match(/iterations\.start \(line \d+\): train fits the labelled rows at the level of theory of today's dft settings, and .* has no labelled row at the level of theory of today's dft settings; it holds 20 row\(s\) at level L[0-9a-f]{7} \(.*ecutwfc 12/);
    expect(readdirSync(join(other, '.autopipe'))).to.not.include('cursor.json');
    const label = project([]);
    writeFileSync(join(label, 'autopipe.yaml'), readFileSync(join(label, 'autopipe.yaml'), 'utf8'));
    const s = autopipe(['submit'], label);
    expect(s.status, s.stderr).to.equal(78);
    expect(s.stderr).to.match(/structures: is required to label iteration 0/);
    // db import is for labelled data: a frame without forces refuses it all
    const d = tmpDir();
    writeFileSync(join(d, 'bare.extxyz'), writeExtxyz([makeAtoms({ ...AL4, results: { energy: -1 } })]));
    const bare = cli(['db', 'import', join(d, 'x.db'), join(d, 'bare.extxyz'), '--level', levels]);
    expect(bare.status, bare.stderr).to.equal(64);
    expect(bare.stderr).to.match(/1 of 1 row\(s\) have no energy and forces.*bare\.extxyz frame 0 \(no forces\)/);
    expect(existsSync(join(d, 'x.db'))).to.equal(false);
    rmSync(d, { recursive: true, force: true });
  });
});
