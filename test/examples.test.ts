import { expect } from 'chai';
import { cpSync, readdirSync } from 'node:fs';
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

  it('examples/cluster-profile: its own job script renders (submit --dry-run) with the site lines and srun', () => {
    const dir = join(tmpDir(), 'profile');
    cpSync(join(ROOT, 'examples', 'cluster-profile'), dir, { recursive: true });
    const r = autopipe(['submit', '--dry-run', '-C', dir]);
    expect(r.status, r.stderr).to.equal(0);
    // its 12 structures, in arrays of at most the cluster's MaxArraySize
    const tasks = [...r.stderr.matchAll(/would submit al-vacancy-\w+: (\d+) task\(s\)/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(tasks, r.stderr).to.equal(12);
    expect(r.stderr).to.match(/nothing submitted/);
    const stage = join(dir, '.autopipe', 'dry-run', 'iter-000', 'label');
    const script = readdirSync(stage).find((f) => f.endsWith('.sbatch'))!;
    const text = spawnSync('cat', [join(stage, script)], { encoding: 'utf8' }).stdout;
    expect(text).to.include('#SBATCH --account=my-allocation').and.include('module load quantum-espresso/7.2-intel').and.include('ulimit -s unlimited')
      .and.include('srun --cpu-bind=cores pw.x -nk 2 -in pw.in');
  });
});
