/**
 * What pw.x leaves on disk (issue 22 §1), on the test cluster with real pw.x: bytes per attempt
 * folder with keep all (today's layout: pw.x's default disk_io, everything stays) against the
 * defaults (keep none, disk_io nowf); the restart rung from a failed attempt's charge density,
 * with pw.x's outdir on dft.scratch elsewhere, leaving nothing there.
 */
import { expect } from 'chai';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeAtoms, type Atoms } from '../lib/atoms/atoms.js';
import { writeExtxyz } from '../lib/formats/extxyz.js';
import { parseConfigText } from '../lib/config/load.js';
import { pwDisk, defaultDiskIo, scratchWord } from '../lib/stages/label/disk.js';
import { attemptFiles } from '../lib/stages/label/plan.js';
import { readCursor } from '../lib/state/cursor.js';
import { structures } from './support/labelling.js';
import { clusterEnv } from './support/cluster.js';
import { ROOT, tmpDir, need, pythonJson } from './support/tools.js';

/** Rattled fcc Al, 4 atoms (4 SCF iterations at ecutwfc 12, 2×2×2 k: electron_maxstep 3 fails), and primitive Al (3). */
const AL4 = structures(4)[1];
const AL4B = structures(4)[3];
const AL1 = makeAtoms({ numbers: [13], positions: [0, 0, 0], cell: [0, 2.025, 2.025, 2.025, 0, 2.025, 2.025, 2.025, 0], pbc: [true, true, true] });

function autopipe(args: string[], dir: string, env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), ...args, '-C', dir], { encoding: 'utf8', env });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function project(atoms: Atoms[], dft: string[]): string {
  const dir = tmpDir();
  writeFileSync(join(dir, 'structures.extxyz'), writeExtxyz(atoms));
  writeFileSync(join(dir, 'autopipe.yaml'), [
    'name: disk', 'structures: structures.extxyz', 'iterations: {stop_after: label}',
    'dft:', '  pseudopotentials: {Al: Al.pz-vbc.UPF}', ...dft.map((l) => `  ${l}`),
    'executor: {kind: slurm, poll_interval: 0.5}', '',
  ].join('\n'));
  return dir;
}

const du = (path: string) => Number(spawnSync('du', ['-sb', path], { encoding: 'utf8' }).stdout.split('\t')[0]);
const files = (path: string) => spawnSync('find', [path, '-type', 'f'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '').map((l) => l.slice(path.length + 1)).sort();
const sleep = (s: number) => new Promise((res) => setTimeout(res, 1000 * s));
const rowCount = (dir: string) => pythonJson<number>('import sys, ase.db; print(ase.db.connect(sys.argv[1]).count())', [join(dir, '.autopipe', 'autopipe.db')]);

describe('pw.x on disk (pure)', () => {
  it('disk_io from dft.keep unless dft.parameters sets it; keep all without scratch adds no lines; the scratch path only expands variables', () => {
    const c = (extra: string) => parseConfigText(`name: d\ndft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF}\n${extra}`, 'autopipe.yaml').config;
    const pwIn = (cfg: ReturnType<typeof c>) => String(attemptFiles(AL4, 't/a1', {}, cfg).find((f) => f.path.endsWith('pw.in'))!.content);
    expect(pwIn(c(''))).to.include("disk_io = 'nowf'");
    expect(pwIn(c('  keep: charge-density\n'))).to.include("disk_io = 'low'");
    expect(pwIn(c("  parameters: {disk_io: 'medium'}\n"))).to.include("disk_io = 'medium'").and.not.include("'nowf'");
    expect(defaultDiskIo('all')).to.equal('low');
    expect(pwDisk({ scratch: null, keep: 'all' })).to.deep.equal({ before: '', after: '' });
    expect(pwDisk({ scratch: '$TMPDIR/ap', keep: 'none' }).before).to.include('autopipe_base="$TMPDIR/ap"');
    for (const bad of ['$(id)', '/a b', '/x`id`', "/x'", 'relative/path', '/x;id']) expect(() => scratchWord(bad), bad).to.throw(RangeError);
    for (const bad of ['$(id)', '/x"y', 'rel']) {
      expect(() => c(`  scratch: ${JSON.stringify(bad)}\n`), bad).to.throw(/dft\.scratch.*does not have the expected form/);
    }
    expect(c('  scratch: /scratch/${USER}/ap-$SLURM_JOB_ID\n').dft.scratch).to.equal('/scratch/${USER}/ap-$SLURM_JOB_ID');
  });
});

describe('a project\'s own label.sh.hbs from before autopipe chose the disk and the pools', () => {
  it('is refused by config check before any DFT, naming dft.keep or dft.scratch and dft.pools, with the lines to add; keep all with pools 1 accepts it', () => {
    const old = ['{{#each resources.modules}}', '{{{this}}}', '{{/each}}', '{{{dft_command}}} -in pw.in > pw.out 2> pw.err', ''].join('\n');
    const dir = project([AL4], ['kspacing: 0.4']);
    mkdirSync(join(dir, 'templates'));
    writeFileSync(join(dir, 'templates', 'label.sh.hbs'), old);
    const check = () => spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), 'config', 'check', join(dir, 'autopipe.yaml')], { encoding: 'utf8' });
    const refused = check();
    expect(refused.status, refused.stderr).to.equal(78);
    expect(refused.stderr).to.match(/dft\.keep.*label\.sh\.hbs has no \{\{\{pw_disk\.before\}\}\} \/ \{\{\{pw_disk\.after\}\}\} line, so dft\.keep: none would be ignored/);
    expect(refused.stderr).to.match(/dft\.pools.*does not pass -nk "\$\{AUTOPIPE_NPOOL:-1\}" to pw\.x/);
    writeFileSync(join(dir, 'autopipe.yaml'), readFileSync(join(dir, 'autopipe.yaml'), 'utf8').replace('  kspacing: 0.4', '  kspacing: 0.4\n  scratch: $TMPDIR\n'));
    expect(check().stderr).to.match(/dft\.scratch.*so dft\.scratch would be ignored/);
    writeFileSync(join(dir, 'autopipe.yaml'), readFileSync(join(dir, 'autopipe.yaml'), 'utf8').replace('  scratch: $TMPDIR\n', '  keep: all\n  pools: 1\n'));
    const accepted = check();
    expect(accepted.status, accepted.stderr).to.equal(0);
  });
});

describe('pw.x on disk, on the test cluster', function () {
  this.timeout(600000);

  it('bytes per task: keep all (everything pw.x writes) against the defaults (keep none: out/ gone once converged)', () => {
    need('pw.x');
    const env = { ...process.env, ...clusterEnv() };
    const dft = ['kpoints: [4, 4, 4]', 'parameters: {ecutwfc: 15, occupations: smearing, smearing: mv, degauss: 0.05}'];
    const measured: Record<string, number[]> = {};
    for (const keep of ['all', 'none']) {
      const dir = project([AL4, AL4B], [...dft, `keep: ${keep}`]);
      const r = autopipe(['run'], dir, env);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.match(/stage complete: 2 done, 0 failed/);
      expect(rowCount(dir)).to.equal(2);
      const run = join(dir, '.autopipe', 'run', 'iter-000', 'label');
      measured[keep] = ['t0000', 't0001'].map((t) => du(join(run, t, 'a1')));
      const left = files(join(run, 't0000', 'a1'));
      if (keep === 'all') {
        expect(left).to.include.members(['out/pwscf.save/charge-density.dat', 'out/pwscf.save/wfc1.dat', 'out/pwscf.save/data-file-schema.xml']);
      } else {
        expect(left.filter((f) => f.startsWith('out')), 'nothing of pw.x\'s outdir').to.deep.equal([]);
        expect(left).to.include.members(['pw.in', 'pw.out', 'structure.extxyz', 'task.env', 'exitcode', 'started']);
      }
    }
    // the figures the README quotes (Al 4 atoms, ecutwfc 15 Ry, 4×4×4 k)
    console.log(`      bytes per attempt folder: keep all ${measured.all.join(', ')}; keep none ${measured.none.join(', ')}`);
    for (const k of [0, 1]) expect(measured.all[k] - measured.none[k]).to.be.greaterThan(800_000);
    for (const b of measured.none) expect(b).to.be.lessThan(100_000);
  });

  it('dft.scratch elsewhere and the restart rung: a failed attempt keeps only its charge density and xml, the retry starts from it; nothing stays on the scratch; rows merged', async () => {
    need('pw.x');
    const env = { ...process.env, ...clusterEnv() };
    const scratch = tmpDir('autopipe-scratch-');
    const dir = project([AL4, AL1], [
      `scratch: ${JSON.stringify(`${scratch}/$SLURM_JOB_ID`)}`, 'kpoints: [2, 2, 2]',
      'parameters: {ecutwfc: 12, occupations: smearing, smearing: mv, degauss: 0.05, electron_maxstep: 3}',
    ]);
    expect(autopipe(['submit'], dir, env).status).to.equal(0);
    const run = join(dir, '.autopipe', 'run', 'iter-000', 'label');
    const a1 = join(run, 't0000', 'a1');
    for (let k = 0; k < 120 && !existsSync(join(a1, 'exitcode')); k++) await sleep(0.5);
    // between a1's end and the poll that plans a2: what the failed attempt left
    expect(readFileSync(join(a1, 'pw.out'), 'utf8')).to.include('convergence NOT achieved');
    expect(files(a1).filter((f) => f.startsWith('out'))).to.deep.equal(['out/pwscf.save/charge-density.dat', 'out/pwscf.save/data-file-schema.xml']);
    console.log(`      a failed attempt keeps ${du(join(a1, 'out'))} bytes in out/ (Al 4 atoms, ecutwfc 12, 2×2×2 k)`);
    for (let k = 0; k < 240; k++) {
      const p = autopipe(['poll', '--json'], dir, env);
      expect(p.status, p.stderr).to.equal(0);
      if ((JSON.parse(p.stdout) as { complete: boolean }).complete) break;
      await sleep(1);
    }
    const task = readCursor(join(dir, '.autopipe', 'cursor.json'))!.stages[0].tasks[0];
    expect(task.attempts.map((a) => [a.state, a.error_class])).to.deep.equal([['failed', 'scf_not_converged'], ['done', null]]);
    expect(readFileSync(join(run, 't0000', 'a2', 'pw.out'), 'utf8')).to.include('The initial density is read from file');
    expect(rowCount(dir)).to.equal(2);
    // converged with keep none: no out/ in any attempt of the task, nothing left on the scratch
    for (const d of ['t0000/a1', 't0000/a2', 't0001/a1']) expect(existsSync(join(run, d, 'out')), d).to.equal(false);
    expect(files(scratch), 'files left on the scratch').to.deep.equal([]);
    // the job made its folders under the expanded path ($SLURM_JOB_ID), and removed them
    expect(readdirSync(scratch).length, 'job folders made on the scratch').to.be.greaterThan(0);
    for (const job of readdirSync(scratch)) expect(job).to.match(/^\d+$/);
    const left = readdirSync(scratch).flatMap((job) => readdirSync(join(scratch, job)));
    expect(left, 'scratch folders left').to.deep.equal([]);
  });
});
