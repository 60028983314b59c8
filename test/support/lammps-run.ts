/**
 * One exploration run of the lammps engine as autopipe lays it out, for the tests: a task folder
 * explore/t0000 under a stage folder with inputs/potential.yaml and .asi, the run's task.json,
 * start.extxyz, structure.data (with velocities when it goes on) and explore.in rendered from
 * templates/explore.lammps.hbs, run in the real LAMMPS with ML-PACE (scripts/install-lammps.sh).
 */
import { expect } from 'chai';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Atoms } from '../../lib/atoms/atoms.js';
import { writeExtxyz } from '../../lib/formats/extxyz.js';
import { writeLammpsData } from '../../lib/formats/lammps-data.js';
import { loadTemplate } from '../../lib/templates/render.js';
import { lammpsContext, type RunSettings } from '../../lib/stages/explore/engines.js';
import { LMP, need, tmpDir } from './tools.js';

/** Each check line's step, largest γ, volume (Å³, the whole cell) and temperature (K). */
export interface Check { step: number; gamma: number; volume: number; temperature: number }

export function runLammpsTask(settings: RunSettings, start: Atoms, potential: { yaml: string; asi: string }): { dir: string; checks: Check[]; stdout: string } {
  need(LMP);
  const root = tmpDir('autopipe-lmp-');
  const dir = join(root, 'explore', 't0000');
  mkdirSync(join(root, 'inputs'), { recursive: true });
  mkdirSync(dir, { recursive: true });
  copyFileSync(potential.yaml, join(root, 'inputs', 'potential.yaml'));
  copyFileSync(potential.asi, join(root, 'inputs', 'potential.asi'));
  writeFileSync(join(dir, 'task.json'), JSON.stringify(settings));
  writeFileSync(join(dir, 'start.extxyz'), writeExtxyz([start]));
  writeFileSync(join(dir, 'structure.data'), writeLammpsData(start, { types: settings.types, velocities: settings.keep_velocities }).text);
  writeFileSync(join(dir, 'explore.in'), loadTemplate('explore.lammps.hbs')(lammpsContext(settings)));
  const r = spawnSync(LMP, ['-in', 'explore.in', '-log', 'explore.log'], { cwd: dir, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  expect(r.status, r.stdout.slice(-2000)).to.equal(0);
  writeFileSync(join(dir, 'explore.out'), r.stdout);
  const checks = [...r.stdout.matchAll(/^autopipe: check (\d+) (\S+) (\S+) (\S+) \S+$/gm)].map((m) => ({ step: Number(m[1]), gamma: Number(m[2]), volume: Number(m[3]), temperature: Number(m[4]) }));
  return { dir, checks, stdout: r.stdout };
}
