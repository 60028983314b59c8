import { expect } from 'chai';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseConfigText } from '../lib/config/load.js';
import { findPseudopotentials, initConfigText, initCutoffs, pseudoKind } from '../lib/cli/commands/init.js';
import { ROOT, tmpDir, PSEUDO_DIR } from './support/tools.js';

const autopipe = (args: string[]) => {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), ...args], { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};

describe('autopipe init', function () {
  this.timeout(120000);

  it('writes a valid, commented autopipe.yaml and the templates; a fresh project labels for real', () => {
    const dir = join(tmpDir(), 'proj');
    const structures = join(tmpDir(), 'in.extxyz');
    copyFileSync(join(ROOT, 'test', 'fixtures', 'three-structures.extxyz'), structures);
    const r = autopipe(['init', dir, '--structures', structures, '--partition', 'compute-1']);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/pseudopotentials \(pz\): Al=Al\.pz-vbc\.UPF Si=Si\.pz-vbc\.UPF/);
    const text = readFileSync(join(dir, 'autopipe.yaml'), 'utf8');
    expect(text).to.match(/^# autopipe project/);
    expect(parseConfigText(text, 'x').config.dft.resources.partition).to.equal('compute-1');
    expect(readFileSync(join(dir, 'templates', 'label.sh.hbs'), 'utf8')).to.equal(readFileSync(join(ROOT, 'templates', 'label.sh.hbs'), 'utf8'));
    const again = autopipe(['init', dir, '--pseudo', 'Al=x.UPF']);
    expect(again.status).to.equal(64);
    expect(again.stderr).to.match(/exists already; autopipe init never overwrites it/);
    // make it cheap, then run it
    // Debian's Al and Si pseudopotentials are norm-conserving: no ecutrho, pw.x's 4 × is right
    expect(text).to.match(/^ {4}ecutwfc: 40 /m).and.not.match(/^ {4}ecutrho:/m);
    const cheap = text.replace('ecutwfc: 40', 'ecutwfc: 12').replace('kspacing: 0.25', 'kspacing: 0.5').replace(/ {4}partition: .*\n/, '');
    spawnSync('sh', ['-c', 'cat > "$1"', 'sh', join(dir, 'autopipe.yaml')], { input: `${cheap}\niterations: {stop_after: label}\n` });
    const run = autopipe(['run', '-C', dir]);
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stderr).to.match(/stage complete: 3 done, 0 failed/);
    expect(existsSync(join(dir, '.autopipe', 'autopipe.db'))).to.equal(true);
  });

  it('cutoffs for the pseudopotentials\' kind: ecutrho 8 × ecutwfc for ultrasoft and PAW (read from the UPF header), pw.x\'s default for norm-conserving', () => {
    const kind = (f: string) => pseudoKind(readFileSync(join(PSEUDO_DIR, f), 'utf8'), f);
    expect(['Al.pz-vbc.UPF', 'Cu.pbe-kjpaw.UPF', 'C.pbe-rrkjus.UPF', 'B.pbe-n-kjpaw_psl.1.0.0.UPF'].map(kind)).to.deep.equal(['NC', 'PAW', 'US', 'PAW']);
    // a file this machine cannot read (a path on the cluster): its name, or unknown
    expect(['Al.pbe-n-kjpaw_psl.1.0.0.UPF', 'Fe.pbe-spn-rrkjus_psl.0.2.1.UPF', 'Al.upf'].map((f) => pseudoKind(undefined, f))).to.deep.equal(['PAW', 'US', 'unknown']);
    expect(initCutoffs(['NC', 'NC'])).to.not.match(/^ {4}ecutrho:/m);
    for (const kinds of [['NC', 'PAW'], ['US'], ['unknown']] as const) expect(initCutoffs(kinds)).to.match(/^ {4}ecutrho: 320 /m);
    const paw = parseConfigText(initConfigText({ executor: 'local', pseudoDir: PSEUDO_DIR, pseudo: { Cu: 'Cu.pbe-kjpaw.UPF' }, pseudoKinds: { Cu: 'PAW' } }), 'x').config;
    expect(paw.dft.parameters).to.include({ ecutwfc: 40, ecutrho: 320 });
  });

  it('one functional for all elements; clear errors without pseudopotentials', () => {
    expect(findPseudopotentials(PSEUDO_DIR, ['Fe', 'H']).functional).to.equal('pbe');
    expect(findPseudopotentials(PSEUDO_DIR, ['Al', 'Cu'])).to.deep.include({ functional: 'pz', found: { Al: 'Al.pz-vbc.UPF', Cu: 'Cu.pz-d-rrkjus.UPF' } });
    expect(findPseudopotentials(PSEUDO_DIR, ['Og']).missing).to.deep.equal(['Og']);
    expect(autopipe(['init', join(tmpDir(), 'p')]).stderr).to.match(/give --pseudo El=FILE/);
    expect(autopipe(['init', join(tmpDir(), 'p'), '--executor', 'slurm', '--host', 'login', '--pseudo', 'Al=a.UPF']).stderr).to.match(/--host needs --remote-root/);
    const ok = autopipe(['init', join(tmpDir(), 'p'), '--executor', 'slurm', '--host', 'login', '--remote-root', '/scratch/x', '--pseudo', 'Al=a.UPF']);
    expect(ok.status, ok.stderr).to.equal(0);
    expect(() => parseConfigText(initConfigText({ executor: 'slurm', pseudoDir: '/p', pseudo: { Al: "a'b.UPF" }, host: 'h"x', remoteRoot: "/r q'$(x)" }), 'x')).to.not.throw();
    expect(() => parseConfigText(initConfigText({ executor: 'slurm', pseudoDir: '/p', pseudo: { Al: 'a.UPF' }, remoteRoot: '/r\nq' }), 'x')).to.throw(/executor\.remote_root \(line \d+\): holds a newline/);
    // a partition with a newline would be a second #SBATCH line: refused, nothing written
    const hostile = join(tmpDir(), 'p2');
    const refused = autopipe(['init', hostile, '--pseudo', 'Al=a.UPF', '--executor', 'slurm', '--partition', 'debug\n#SBATCH --wrap=touch-pwned']);
    expect(refused.status).to.equal(78);
    expect(refused.stderr).to.match(/dft\.resources\.partition \(line \d+\): holds a newline/);
    expect(existsSync(join(hostile, 'autopipe.yaml'))).to.equal(false);
  });
});
