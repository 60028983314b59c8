import { expect } from 'chai';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadTemplate, compileTemplate, templatePath } from '../lib/templates/render.js';
import { jobScript } from '../lib/loop/wrapper.js';
import { parseSentinel } from '../lib/exec/manifest.js';
import { submitCommandLine, parseJobId } from '../lib/slurm/commands.js';
import { writePwInput } from '../lib/formats/espresso-in.js';
import { parsePwOutput } from '../lib/formats/espresso-out.js';
import { InputFormatError } from '../lib/errors/errors.js';
import yaml from 'js-yaml';
import { parseConfigText } from '../lib/config/load.js';
import { trainKind } from '../lib/stages/train/index.js';
import { exploreKind } from '../lib/stages/explore/index.js';
import { pacemakerContext } from '../lib/stages/train/plan.js';
import { pwDisk } from '../lib/stages/label/disk.js';
import { AL4, SI2 } from './support/pw-runs.js';
import { clusterEnv } from './support/cluster.js';
import { ROOT, tmpDir, PSEUDO_DIR, need } from './support/tools.js';

const RESOURCES = { nodes: 1, ntasks: 1, cpus_per_task: 1, time: '00:10:00', partition: 'debug', account: null, mem: '2G', extra: ['--qos=short', '--constraint=a b'], modules: ['module load qe/7.2'] };
const CONTEXT = { resources: RESOURCES, dft_command: 'srun pw.x', pw_disk: pwDisk({ scratch: '$TMPDIR/pw', keep: 'none' }) };

/** The whole job script of one submission: autopipe's wrapper around a template's payload. */
function job(template: string, context: object, manifest = 'k3x9q2m1ab.manifest'): string {
  return jobScript({ manifest, resources: RESOURCES, template, payload: loadTemplate(template)(context), about: "autopipe labelling job of project \"it's\", iteration 0" });
}

function golden(name: string, text: string): void {
  const path = join(ROOT, 'test', 'golden', name);
  if (process.env.AUTOPIPE_UPDATE_GOLDEN === '1') writeFileSync(path, text);
  expect(text, name).to.equal(readFileSync(path, 'utf8'));
}

describe('templates', function () {
  this.timeout(120000);

  it('label.sbatch: autopipe\'s header, folder lookup and sentinels around label.sh.hbs, as the golden file (noEscape: no &#x3D;; hostile values quoted; no absolute path)', () => {
    const out = job('label.sh.hbs', CONTEXT);
    golden('label.sbatch', out);
    expect(out).not.to.include('&#x3D;');
    expect(out).to.include("#SBATCH '--constraint=a b'\n").and.include('#SBATCH --no-requeue\n').and.include('printf \'%s %s\\n\' "$status" "$token" > exitcode.tmp');
    expect(spawnSync('bash', ['-n'], { input: out }).status, 'bash -n').to.equal(0);
  });

  it('train.sbatch, pacemaker.yaml and explore.sbatch (both engines) render as their golden files (hostile paths quoted; the input is YAML pacemaker reads)', () => {
    const cfg = parseConfigText('name: g\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\ntrain: {cutoff: 5.5, functions_per_element: 12, test_fraction: 0.1}\n', 'autopipe.yaml').config;
    const script = job('train.sh.hbs', { ...CONTEXT, ...trainKind.scriptContext(cfg), tools_dir: "/opt/my venv's/bin" });
    const input = loadTemplate('pacemaker.yaml.hbs')(pacemakerContext(cfg, ['Al', 'Cu']));
    const explore = job('explore.sh.hbs', { ...CONTEXT, ...exploreKind.scriptContext(cfg) });
    expect(spawnSync('bash', ['-n'], { input: explore }).status, 'bash -n explore.sbatch').to.equal(0);
    const lammpsCfg = parseConfigText('name: g\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\nexplore: {engine: lammps, command: srun lmp_mpi -k on}\n', 'autopipe.yaml').config;
    const lammps = job('explore.sh.hbs', { ...CONTEXT, ...exploreKind.scriptContext(lammpsCfg) });
    expect(spawnSync('bash', ['-n'], { input: lammps }).status, 'bash -n explore-lammps.sbatch').to.equal(0);
    expect(lammps).to.include('srun lmp_mpi -k on -in explore.in -log explore.log > explore.out 2> explore.err').and.not.include('autopipe_explore.py" run');
    for (const [name, text] of [['train.sbatch', script], ['pacemaker.yaml', input], ['explore.sbatch', explore], ['explore-lammps.sbatch', lammps]] as const) golden(name, text);
    expect(spawnSync('bash', ['-n'], { input: script }).status, 'bash -n').to.equal(0);
    expect(script).to.include(`export PATH='/opt/my venv'\\''s/bin':"$PATH"`);
    const parsed = yaml.load(input) as { potential: { elements: string[]; bonds: { ALL: { rcut: number } } }; data: { test_size: number }; backend: { evaluator: string } };
    expect(parsed.potential.elements).to.deep.equal(['Al', 'Cu']);
    expect(parsed.potential.bonds.ALL.rcut).to.equal(5.5);
    expect(parsed.data.test_size).to.equal(0.1);
    expect(parsed.backend.evaluator).to.equal('tensorpot');
  });

  it('a broken template fails at render time with its file and line; the project\'s copy wins over the default; an older autopipe\'s job script is refused, saying what to do', () => {
    expect(() => compileTemplate('#!/bin/bash\n{{#if resources.partition}}\n#SBATCH x\n', 'mine.hbs')).to.throw(InputFormatError, /^mine\.hbs:\d+: template syntax error/);
    expect(() => compileTemplate('#!/bin/bash\n\n{{q manifst}}\n', 'mine.hbs')(CONTEXT)).to.throw(InputFormatError, /q needs a string/);
    expect(() => compileTemplate('a\nb\n{{resources.partitoin}}\n', 'mine.hbs')(CONTEXT)).to.throw(InputFormatError, /^mine\.hbs:3: template uses 'partitoin', which autopipe does not provide here/);
    const dir = tmpDir();
    writeFileSync(join(dir, 'label.sh.hbs'), 'custom {{q dft_command}}\n');
    expect(templatePath('label.sh.hbs', dir)).to.equal(join(dir, 'label.sh.hbs'));
    expect(loadTemplate('label.sh.hbs', dir)(CONTEXT)).to.equal("custom 'srun pw.x'\n");
    // a project's label.sbatch.hbs of an older autopipe: its cluster lines would be lost if it were ignored
    writeFileSync(join(dir, 'label.sbatch.hbs'), '#!/bin/bash\n#SBATCH --qos=mine\n');
    expect(() => loadTemplate('label.sh.hbs', dir)).to.throw(InputFormatError, /label\.sbatch\.hbs: a job script of an older autopipe/)
      .with.property('hint').that.matches(/move your own lines \(modules, the program line\) into .*label\.sh\.hbs.*then delete .*label\.sbatch\.hbs/);
  });

  it('the job script runs a real pw.x array on the test cluster in its stage folder; sentinels carry each attempt\'s token; hostile folder names stay inert', async () => {
    need('pw.x');
    const env = { ...process.env, ...clusterEnv() };
    const root = join(tmpDir(), "run it's $(touch pwned)");
    const dirs = [join(root, 't0000', 'a1'), join(root, 't0001', 'a1')];
    [AL4, SI2].forEach((atoms, k) => {
      mkdirSync(dirs[k], { recursive: true });
      writeFileSync(join(dirs[k], 'pw.in'), writePwInput(atoms, {
        parameters: { ecutwfc: 12, occupations: 'smearing', degauss: 0.02 }, pseudopotentials: { Al: 'Al.pz-vbc.UPF', Si: 'Si.pz-vbc.UPF' },
        pseudoDir: PSEUDO_DIR, kpoints: { kind: 'mesh', mesh: [2, 2, 2] },
      }));
    });
    writeFileSync(join(root, 'tok.manifest'), 't0000/a1 attempt0000\nt0001/a1 attempt0001\n');
    const script = join(root, 'label.sbatch');
    writeFileSync(script, jobScript({
      manifest: 'tok.manifest', resources: { ...RESOURCES, extra: [], modules: [], partition: null, mem: null }, template: 'label.sh.hbs', about: 'test',
      payload: loadTemplate('label.sh.hbs')({ resources: { ...RESOURCES, modules: [] }, dft_command: 'pw.x', pw_disk: pwDisk({ scratch: null, keep: 'none' }) }),
    }));
    const [cmd, ...args] = submitCommandLine({ script, jobName: 'ap-tmpl', chdir: root, array: '0-1', output: '/dev/null' });
    const sub = spawnSync(cmd, args, { encoding: 'utf8', env });
    expect(sub.status, sub.stderr).to.equal(0);
    expect(parseJobId(sub.stdout)).to.match(/^\d+$/);
    for (let t = 0; t < 360 && !dirs.every((d) => existsSync(join(d, 'exitcode'))); t++) await new Promise((r) => setTimeout(r, 250));
    dirs.forEach((d, k) => {
      expect(parseSentinel(readFileSync(join(d, 'exitcode'), 'utf8')), d).to.deep.equal({ value: 0, token: `attempt000${k}` });
      expect(parseSentinel(readFileSync(join(d, 'started'), 'utf8'))?.value).to.be.greaterThan(1.7e9);
      expect(parsePwOutput(readFileSync(join(d, 'pw.out'), 'utf8')).status).to.equal('ok');
    });
    expect(spawnSync('find', [join(root, '..'), '-name', 'pwned']).stdout.toString()).to.equal('');
  });
});
