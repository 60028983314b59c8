import { expect } from 'chai';
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT, tmpDir } from './support/tools.js';

describe('examples stay valid', function () {
  this.timeout(60000);
  const autopipe = (args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), ...args], { encoding: 'utf8' });

  for (const name of ['quickstart', 'cluster-profile']) {
    it(`examples/${name}: its autopipe.yaml validates`, () => {
      const r = autopipe(['config', 'check', join(ROOT, 'examples', name, 'autopipe.yaml')]);
      expect(r.status, r.stderr).to.equal(0);
    });
  }

  it('examples/cluster-profile: a whole loop for a cluster, every stage rendered by submit --dry-run with its resources, modules and program', () => {
    const dir = join(tmpDir(), 'profile');
    cpSync(join(ROOT, 'examples', 'cluster-profile'), dir, { recursive: true });
    // pseudo_dir (/shared/pseudo/…) is the cluster's: a dry run plans without it, as it submits nothing
    const r = autopipe(['submit', '--dry-run', '-C', dir]);
    expect(r.status, r.stderr).to.equal(0);
    const tasks = (kind: string) => [...r.stderr.matchAll(new RegExp(`would submit al-vacancy-\\w+: (\\d+) task\\(s\\) of ${kind} `, 'g'))].reduce((n, m) => n + Number(m[1]), 0);
    // its 12 structures labelled (arrays of at most the cluster's MaxArraySize), one fit, 12 × 2 temperatures × 2 pressures runs
    expect([tasks('label'), tasks('train'), tasks('explore')], r.stderr).to.deep.equal([12, 1, 48]);
    expect(r.stderr).to.match(/nothing submitted/);
    const stages = join(dir, '.autopipe', 'dry-run', 'iter-000');
    const script = (kind: string) => {
      const names = readdirSync(join(stages, kind)).filter((f) => f.endsWith('.sbatch'));
      return names.map((f) => readFileSync(join(stages, kind, f), 'utf8')).join('\n');
    };
    const read = (...path: string[]) => readFileSync(join(stages, ...path), 'utf8');
    // labelling: dft.resources, the site lines of its own template, pw.x through srun with each task's pools
    expect(script('label')).to.include('#SBATCH --partition=compute').and.include('#SBATCH --account=my-allocation').and.include('#SBATCH --ntasks=16').and.include('#SBATCH --qos=normal')
      .and.include('module load quantum-espresso/7.2-intel').and.include('ulimit -s unlimited').and.match(/srun --cpu-bind=cores pw\.x (-nk "\$\{?AUTOPIPE_NPOOL[^ ]* )?-in pw\.in/);
    if (/AUTOPIPE_NPOOL/.test(readFileSync(join(dir, 'templates', 'label.sh.hbs'), 'utf8'))) expect(read('label', 't0000', 'a1', 'task.env')).to.match(/^export AUTOPIPE_NPOOL=\d+$/m);
    expect(read('label', 't0000', 'a1', 'pw.in')).to.include('Al.pbe-n-kjpaw_psl.1.0.0.UPF').and.match(/ecutwfc\s*=\s*40/);
    // training: a GPU node, CUDA's module, pacemaker of the venv and its tools on the PATH, the basis of train
    expect(script('train')).to.include('#SBATCH --partition=gpu').and.include('#SBATCH --gres=gpu:1').and.include('#SBATCH --cpus-per-task=8').and.include('#SBATCH --mem=32G')
      .and.include('module load cuda/12.2').and.include('/opt/autopipe/venv/bin/pacemaker input.yaml').and.include('export PATH=/opt/autopipe/venv/bin:"$PATH"').and.include('pace_activeset');
    expect(read('train', 't0000', 'a1', 'input.yaml')).to.match(/rcut: 6(\.0)?,/).and.match(/number_of_functions_per_element: 150\b/);
    // exploration: LAMMPS with ML-PACE through srun, under NPT at both pressures
    expect(script('explore')).to.include('#SBATCH --ntasks=8').and.include('#SBATCH --mem=8G').and.include('module load lammps/2025-ml-pace').and.include('srun --cpu-bind=cores lmp -in explore.in');
    const inputs = readdirSync(join(stages, 'explore')).filter((f) => /^t\d{4}$/.test(f)).map((t) => read('explore', t, 'a1', 'explore.in'));
    expect(inputs.every((t) => t.includes('pair_style      pace/extrapolation'))).to.equal(true);
    expect(inputs.filter((t) => /fix\s+md all npt temp 600 600 0\.2 iso 0 0 2\b/.test(t))).to.have.length(12);
    expect(inputs.filter((t) => /fix\s+md all npt temp 300 900 0\.2 iso 50000 50000 2\b/.test(t))).to.have.length(12);
  });
});
