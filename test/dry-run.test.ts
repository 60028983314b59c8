/**
 * `autopipe submit --dry-run`: every stage that runs jobs rendered from the config and
 * placeholders, in loop order, nothing submitted or saved (lib/loop/dry-run.ts).
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REGISTRY } from '../lib/stages/registry.js';
import { dryRunOrder, placeholderDatabase, placeholderPotential, PLACEHOLDER } from '../lib/loop/dry-run.js';
import { elementsOf } from '../lib/stages/kept.js';
import { readExtxyz } from '../lib/formats/extxyz.js';
import { rowAtomsWithData } from '../lib/db/ase-db.js';
import { autopipe } from './support/al-training.js';
import { editConfig, quickstartProject } from './support/campaign.js';

const QUICKSTART_STRUCTURES = 'structures.extxyz';

function sbatchOf(stageDir: string): string {
  const scripts = readdirSync(stageDir).filter((f) => f.endsWith('.sbatch'));
  expect(scripts, stageDir).to.have.length(1);
  return readFileSync(join(stageDir, scripts[0]), 'utf8');
}

describe('submit --dry-run renders every stage', function () {
  this.timeout(120000);

  it('takes the kinds in loop order from the first one, every kind once', () => {
    const order = (first: 'label' | 'train' | 'explore') => dryRunOrder(REGISTRY, first).map((k) => k.kind);
    expect(order('label')).to.deep.equal(['label', 'train', 'explore', 'select', 'check']);
    expect(order('train')).to.deep.equal(['train', 'explore', 'select', 'check', 'label']);
    expect(order('explore')).to.deep.equal(['explore', 'select', 'check', 'label', 'train']);
  });

  it('placeholders say what they are: rows with energy and forces 0, a potential whose species blocks exploration reads', () => {
    const dir = quickstartProject('dryrun');
    const read = (file: string) => readExtxyz(readFileSync(join(dir, file), 'utf8'), file).map((atoms, k) => ({ atoms, source: { file, frame: k } }));
    const frames = read(QUICKSTART_STRUCTURES);
    const db = placeholderDatabase(frames, read('validation.extxyz').slice(0, 1), 1e9);
    const rows = [...db.select()];
    db.close();
    expect(rows).to.have.length(frames.length + 1);
    for (const r of rows) {
      expect(r.kvp.placeholder).to.equal(1);
      const a = rowAtomsWithData(r);
      expect(a.results.energy).to.equal(0);
      expect([...(a.results.forces ?? [1])].every((f) => f === 0)).to.equal(true);
    }
    expect(rows.filter((r) => r.kvp.set === 'validation')).to.have.length(1);
    const pot = placeholderPotential(['Al', 'Cu']);
    expect(pot.yaml.split('\n')[0]).to.include(PLACEHOLDER);
    expect(elementsOf(Buffer.from(pot.yaml))).to.deep.equal(['Al', 'Cu']);
    expect(pot.asi).to.include(PLACEHOLDER);
  });

  it('the quickstart: labelling, training and exploration scripts and inputs, one line each, and no cursor, database or run root', () => {
    const dir = quickstartProject('dryrun');
    const r = autopipe(['submit', '--dry-run'], dir);
    expect(r.status, r.stderr).to.equal(0);
    const root = join(dir, '.autopipe', 'dry-run', 'iter-000');
    expect(readdirSync(root).sort()).to.deep.equal(['explore', 'label', 'train']);
    // one line per submission, with the resources field it came from
    for (const [kind, field] of [['label', 'dft.resources'], ['train', 'train.resources'], ['explore', 'explore.resources']]) {
      expect(r.stderr).to.match(new RegExp(`would submit dryrun-\\w+: \\d+ task\\(s\\) of ${kind} \\(${field.replace('.', '\\.')}: .*time [0-9:]+.*\\), script `));
    }
    expect(r.stderr).to.match(/select: nothing rendered: runs no job/).and.match(/check: nothing rendered: /).and.match(/nothing submitted/);
    // labelling: pw.x on every structure and validation structure
    expect(sbatchOf(join(root, 'label'))).to.include('pw.x').and.include('-in pw.in');
    const structures = readExtxyz(readFileSync(join(dir, 'structures.extxyz'), 'utf8'), 'structures.extxyz').length;
    const validation = readExtxyz(readFileSync(join(dir, 'validation.extxyz'), 'utf8'), 'validation.extxyz').length;
    expect(readdirSync(join(root, 'label')).filter((f) => /^t\d{4}$/.test(f))).to.have.length(structures + validation);
    // training: pacemaker on the placeholder rows (energy 0), the validation rows apart, the cutoff of train
    expect(sbatchOf(join(root, 'train'))).to.include('pacemaker input.yaml').and.include('pace_activeset');
    expect(readFileSync(join(root, 'train', 't0000', 'a1', 'input.yaml'), 'utf8')).to.match(/rcut: 4(\.0)?,/);
    const train = readExtxyz(readFileSync(join(root, 'train', 'inputs', 'train.extxyz'), 'utf8'), 'train.extxyz');
    expect(train).to.have.length(structures);
    expect(train.every((a) => a.results.energy === 0)).to.equal(true);
    expect(readExtxyz(readFileSync(join(root, 'train', 'inputs', 'validation.extxyz'), 'utf8'), 'validation.extxyz')).to.have.length(validation);
    expect(readFileSync(join(root, 'train', 'PLACEHOLDER.txt'), 'utf8')).to.include(PLACEHOLDER);
    // exploration: the ase engine's runs with the placeholder potential
    expect(sbatchOf(join(root, 'explore'))).to.include('autopipe_explore.py" run task.json');
    expect(readFileSync(join(root, 'explore', 'inputs', 'potential.yaml'), 'utf8').split('\n')[0]).to.include(PLACEHOLDER);
    const task = JSON.parse(readFileSync(join(root, 'explore', 't0000', 'a1', 'task.json'), 'utf8')) as Record<string, unknown>;
    expect(JSON.stringify(task)).to.match(/"temperature[a-z_]*":900\b/);
    // nothing of a campaign: no cursor, no database, no run root
    const work = join(root, '..', '..');
    expect(readdirSync(work)).to.deep.equal(['dry-run']);
  });

  it('the embedding check: the largest starting structure stands for the explored frame, checked whole and as sub-cells', () => {
    const dir = quickstartProject('dryrun');
    editConfig(dir, [/^ {2}max: 1$/m, '  max: 2'], ['check: {when: off}', 'check: {when: auto, boxes: [cube], buffers: [0.04], centres: 1}']);
    const r = autopipe(['submit', '--dry-run'], dir);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/check: iteration 0: the embedding check labels frame 0 of explore\/iter-000\/t0000\/frames\.dump \(255 atoms\) and 1 sub-cells around 1 centre/);
    expect(r.stderr).to.match(/would submit dryrun-\w+: 2 task\(s\) of check \(dft\.resources: /);
    const check = join(dir, '.autopipe', 'dry-run', 'iter-000', 'check');
    expect(sbatchOf(check)).to.include('pw.x');
    const nat = (t: string) => Number(/nat\s*=\s*(\d+)/.exec(readFileSync(join(check, t, 'a1', 'pw.in'), 'utf8'))?.[1]);
    // the reference is the 255-atom frame whole; the sub-cell is a cube of 2 (4 + 0.04) Å, smaller
    expect(nat('t0000')).to.equal(255);
    expect(nat('t0001')).to.be.greaterThan(10).and.lessThan(255);
    expect(readFileSync(join(check, 'PLACEHOLDER.txt'), 'utf8')).to.include(PLACEHOLDER);
  });

  it('a cluster behind a host: no SSH connection (the host does not resolve), arrays laid out for SLURM\'s default MaxArraySize', () => {
    const dir = quickstartProject('dryrun');
    editConfig(dir, [/^ {2}kind: local .*$/m, '  kind: slurm\n  host: login.cluster.invalid\n  remote_root: /scratch/me/dryrun']);
    const r = autopipe(['submit', '--dry-run'], dir);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.include('arrays laid out for MaxArraySize 1001 (SLURM\'s default; submit asks login.cluster.invalid\'s scontrol)');
    expect(r.stderr).to.match(/would submit dryrun-\w+: \d+ task\(s\) of explore /);
    expect(readdirSync(join(dir, '.autopipe'))).to.deep.equal(['dry-run']);
  });

  it('a loop that starts at exploration renders it with train.initial_potential, not a placeholder', () => {
    const dir = quickstartProject('dryrun');
    const yaml = placeholderPotential(['Al']).yaml.replace(PLACEHOLDER, 'a potential of the user');
    writeFileSync(join(dir, 'start.yaml'), yaml);
    writeFileSync(join(dir, 'start.asi'), 'an active set of the user\n');
    editConfig(dir, [/^train:.*$/m, 'train:\n  initial_potential: start.yaml'], [/^iterations:.*$/m, 'iterations:\n  start: explore']);
    const r = autopipe(['submit', '--dry-run'], dir);
    expect(r.status, r.stderr).to.equal(0);
    const at = join(dir, '.autopipe', 'dry-run', 'iter-000');
    expect(readFileSync(join(at, 'explore', 'inputs', 'potential.yaml'), 'utf8')).to.equal(yaml);
    expect(existsSync(join(at, 'explore', 'PLACEHOLDER.txt'))).to.equal(false);
    // exploration first, then the rest of the loop; the fit says what the real one would (this
    // stand-in has species blocks for exploration but no basis for a warm start)
    expect([...r.stderr.matchAll(/ of (label|train|explore) \(/g)].map((m) => m[1])).to.deep.equal(['explore', 'label']);
    expect(r.stderr).to.match(/train: nothing rendered: train\.initial_potential: start\.yaml is not a pacemaker potential/);
  });
});
