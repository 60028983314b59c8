import { expect } from 'chai';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadTemplate, compileTemplate, templatePath } from '../lib/templates/render.js';
import { submitCommandLine, parseJobId } from '../lib/slurm/commands.js';
import { writePwInput } from '../lib/formats/espresso-in.js';
import { parsePwOutput } from '../lib/formats/espresso-out.js';
import { InputFormatError } from '../lib/errors/errors.js';
import yaml from 'js-yaml';
import { parseConfigText } from '../lib/config/load.js';
import { trainKind } from '../lib/stages/train/index.js';
import { exploreKind } from '../lib/stages/explore/index.js';
import { pacemakerContext } from '../lib/stages/train/plan.js';
import { AL4, SI2 } from './support/pw-runs.js';
import { clusterEnv } from './support/cluster.js';
import { ROOT, tmpDir, PSEUDO_DIR, need } from './support/tools.js';

const CONTEXT = {
  resources: { nodes: 1, ntasks: 1, cpus_per_task: 1, time: '00:10:00', partition: 'debug', account: null, mem: '2G', extra: ['--qos=short', '--constraint=a b'], modules: ['module load qe/7.2'] },
  stage_dir: "/scratch/it's a run/$(touch pwned)",
  manifest: "/scratch/it's a run/$(touch pwned)/manifest",
  dft_command: 'srun pw.x',
};

describe('templates', function () {
  this.timeout(120000);

  it('label.sbatch renders as the golden file (noEscape: no &#x3D;; hostile paths quoted)', () => {
    const out = loadTemplate('label.sbatch.hbs')(CONTEXT);
    expect(out).to.equal(readFileSync(join(ROOT, 'test', 'golden', 'label.sbatch'), 'utf8'));
    expect(out).not.to.include('&#x3D;');
    expect(out).to.include(`manifest='/scratch/it'\\''s a run/$(touch pwned)/manifest'`);
    expect(spawnSync('bash', ['-n'], { input: out }).status, 'bash -n').to.equal(0);
  });

  it('train.sbatch, pacemaker.yaml and explore.sbatch (both engines) render as their golden files (hostile paths quoted; the input is YAML pacemaker reads)', () => {
    const cfg = parseConfigText('name: g\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\ntrain: {cutoff: 5.5, functions_per_element: 12, test_fraction: 0.1}\n', 'autopipe.yaml').config;
    const script = loadTemplate('train.sbatch.hbs')({ ...CONTEXT, ...trainKind.scriptContext(cfg), tools_dir: "/opt/my venv's/bin" });
    const input = loadTemplate('pacemaker.yaml.hbs')(pacemakerContext(cfg, ['Al', 'Cu']));
    const explore = loadTemplate('explore.sbatch.hbs')({ ...CONTEXT, ...exploreKind.scriptContext(cfg) });
    expect(spawnSync('bash', ['-n'], { input: explore }).status, 'bash -n explore.sbatch').to.equal(0);
    const lammpsCfg = parseConfigText('name: g\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\nexplore: {engine: lammps, command: srun lmp_mpi -k on}\n', 'autopipe.yaml').config;
    const lammps = loadTemplate('explore.sbatch.hbs')({ ...CONTEXT, ...exploreKind.scriptContext(lammpsCfg) });
    expect(spawnSync('bash', ['-n'], { input: lammps }).status, 'bash -n explore-lammps.sbatch').to.equal(0);
    expect(lammps).to.include('srun lmp_mpi -k on -in explore.in -log explore.log > explore.out 2> explore.err').and.not.include('autopipe_explore.py" run');
    for (const [name, text] of [['train.sbatch', script], ['pacemaker.yaml', input], ['explore.sbatch', explore], ['explore-lammps.sbatch', lammps]] as const) {
      const golden = join(ROOT, 'test', 'golden', name);
      if (process.env.AUTOPIPE_UPDATE_GOLDEN === '1') writeFileSync(golden, text);
      expect(text, name).to.equal(readFileSync(golden, 'utf8'));
    }
    expect(spawnSync('bash', ['-n'], { input: script }).status, 'bash -n').to.equal(0);
    expect(script).to.include(`export PATH='/opt/my venv'\\''s/bin':"$PATH"`);
    const parsed = yaml.load(input) as { potential: { elements: string[]; bonds: { ALL: { rcut: number } } }; data: { test_size: number }; backend: { evaluator: string } };
    expect(parsed.potential.elements).to.deep.equal(['Al', 'Cu']);
    expect(parsed.potential.bonds.ALL.rcut).to.equal(5.5);
    expect(parsed.data.test_size).to.equal(0.1);
    expect(parsed.backend.evaluator).to.equal('tensorpot');
  });

  it('a broken template fails at render time with its file and line; the project\'s copy wins over the default', () => {
    expect(() => compileTemplate('#!/bin/bash\n{{#if resources.partition}}\n#SBATCH x\n', 'mine.hbs')).to.throw(InputFormatError, /^mine\.hbs:\d+: template syntax error/);
    expect(() => compileTemplate('#!/bin/bash\n\n{{q manifst}}\n', 'mine.hbs')(CONTEXT)).to.throw(InputFormatError, /q needs a string/);
    expect(() => compileTemplate('a\nb\n{{resources.partitoin}}\n', 'mine.hbs')(CONTEXT)).to.throw(InputFormatError, /^mine\.hbs:3: template uses 'partitoin', which autopipe does not provide here/);
    const dir = tmpDir();
    writeFileSync(join(dir, 'label.sbatch.hbs'), 'custom {{q manifest}}\n');
    expect(templatePath('label.sbatch.hbs', dir)).to.equal(join(dir, 'label.sbatch.hbs'));
    expect(loadTemplate('label.sbatch.hbs', dir)(CONTEXT)).to.match(/^custom '/);
  });

  it('the rendered script runs a real pw.x array on the test cluster; hostile folder names stay inert', async () => {
    need('pw.x');
    const env = { ...process.env, ...clusterEnv() };
    const root = join(tmpDir(), "run it's $(touch pwned)");
    const dirs = [join(root, 't0000', 'a1'), join(root, "t0001 `touch pwned`", 'a1')];
    [AL4, SI2].forEach((atoms, k) => {
      mkdirSync(dirs[k], { recursive: true });
      writeFileSync(join(dirs[k], 'pw.in'), writePwInput(atoms, {
        parameters: { ecutwfc: 12, occupations: 'smearing', degauss: 0.02 }, pseudopotentials: { Al: 'Al.pz-vbc.UPF', Si: 'Si.pz-vbc.UPF' },
        pseudoDir: PSEUDO_DIR, kpoints: { kind: 'mesh', mesh: [2, 2, 2] },
      }));
    });
    writeFileSync(join(root, 'manifest'), ['t0000/a1', "t0001 `touch pwned`/a1"].join('\n') + '\n');
    const script = join(root, 'label.sbatch');
    writeFileSync(script, loadTemplate('label.sbatch.hbs')({
      resources: { ...CONTEXT.resources, extra: [], modules: [], partition: null, mem: null }, stage_dir: root, manifest: join(root, 'manifest'), dft_command: 'pw.x',
    }));
    const [cmd, ...args] = submitCommandLine({ script, jobName: 'ap-tmpl', chdir: root, array: '0-1', output: '/dev/null' });
    const sub = spawnSync(cmd, args, { encoding: 'utf8', env });
    expect(sub.status, sub.stderr).to.equal(0);
    expect(parseJobId(sub.stdout)).to.match(/^\d+$/);
    for (let t = 0; t < 360 && !dirs.every((d) => existsSync(join(d, 'exitcode'))); t++) await new Promise((r) => setTimeout(r, 250));
    for (const d of dirs) {
      expect(readFileSync(join(d, 'exitcode'), 'utf8').trim(), d).to.equal('0');
      expect(Number(readFileSync(join(d, 'started'), 'utf8'))).to.be.greaterThan(1.7e9);
      expect(parsePwOutput(readFileSync(join(d, 'pw.out'), 'utf8')).status).to.equal('ok');
    }
    expect(spawnSync('find', [join(root, '..'), '-name', 'pwned']).stdout.toString()).to.equal('');
  });
});
