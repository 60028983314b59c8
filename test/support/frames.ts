/** Distinct labelled structures for database tests: fcc Al, rattled, with energy, forces, stress. */
import { writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { makeAtoms, type Atoms } from '../../lib/atoms/atoms.js';
import { writeExtxyz } from '../../lib/formats/extxyz.js';
import { rng } from './random.js';
import { ROOT } from './tools.js';
import { join } from 'node:path';

/**
 * n frames of 32 Al atoms (a 2×2×2 fcc cube), each with its own rattle, energy and forces; with
 * `subcell`, also the per-atom arrays a sub-cell from `select` carries (force_mask, parent_id,
 * image, gamma), which go into a row's data.
 */
export function labelledFrames(n: number, seed: number, extra: Record<string, string | number> = {}, subcell = false): Atoms[] {
  const r = rng(seed);
  const a = 4.05;
  const base: number[] = [];
  for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 2; k++) {
    for (const [x, y, z] of [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) base.push((i + x) * a, (j + y) * a, (k + z) * a);
  }
  return Array.from({ length: n }, (_, f) => makeAtoms({
    numbers: new Array(32).fill(13),
    positions: base.map((p) => p + 0.1 * (r() - 0.5)),
    cell: [2 * a, 0, 0, 0, 2 * a, 0, 0, 0, 2 * a],
    pbc: [true, true, true],
    info: { frame: f, ...extra },
    arrays: subcell ? {
      force_mask: { kind: 'float', width: 1, values: Float64Array.from({ length: 32 }, (_, i) => (i < 8 ? 1 : 0)) },
      parent_id: { kind: 'int', width: 1, values: Float64Array.from({ length: 32 }, (_, i) => 1000 * f + i) },
      image: { kind: 'int', width: 3, values: Float64Array.from({ length: 96 }, () => Math.floor(3 * r()) - 1) },
      gamma: { kind: 'float', width: 1, values: Float64Array.from({ length: 32 }, () => 10 * r()) },
    } : {},
    results: {
      energy: -107.9 - r(),
      forces: Float64Array.from({ length: 96 }, () => r() - 0.5),
      stress: Float64Array.from({ length: 6 }, () => 0.01 * (r() - 0.5)),
    },
  }));
}

export function writeFrames(path: string, frames: Atoms[]): string {
  writeFileSync(path, writeExtxyz(frames));
  return path;
}

/** The real `autopipe` as a child process, for races and kills. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((res) => {
    child.once('close', (status, signal) => res({ status, signal, stdout, stderr }));
  });
  return { child, done };
}
