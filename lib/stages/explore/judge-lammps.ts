/**
 * A finished run of the lammps engine, pure: LAMMPS leaves its check lines ("autopipe: check
 * STEP GRADE VOLUME TEMPERATURE PRESSURE", templates/explore.lammps.hbs), frames.dump with the
 * grade as f_pace_gamma and good.dump (its last good frame, with velocities); from them come the
 * same files the ase engine writes: summary.json, frames.dump, last.extxyz with momenta (and
 * candidates.json as the job made it). An input made from autopipe's template before 2026-12
 * (checks of STEP GRADE only, the grade as v_pace_gamma, no velocities) is read too.
 */
import type { FetchedFiles } from '../../exec/executor.js';
import { readDumpFrames } from '../../formats/lammps-dump.js';
import { writeExtxyz } from '../../formats/extxyz.js';
import { makeAtoms, type Atoms, type PerAtomArray } from '../../atoms/atoms.js';
import { ATOMIC_MASSES } from '../../atoms/elements.js';
import { ASE_VELOCITY_PER_ANGSTROM_PS } from '../../units/units.js';
import { AutopipeError } from '../../errors/errors.js';
import type { Judged } from '../kind.js';
import { exitFailure, lastErrorLine } from '../error-line.js';
import { judgeSummary, type RunResult, type RunSummary } from './judge.js';

interface Check { step: number; gamma: number; volume?: number; temperature?: number }

/** LAMMPS's own words when the dynamics came apart. */
const BLOW_UP = /Lost atoms|Out of range atoms|Non-numeric atom coords|Non-numeric (?:pressure|positions|box dimensions)|Atom .* out of range|tilted box too far|box dimension (?:is|became) (?:negative|too small)/i;

/** fix halt's own line when gamma_stop was reached (the template's fix is named gamma_stop), or the old template's. */
const HALTED = /^(?:WARNING: )?Fix halt condition for fix-id gamma_stop met|^autopipe: gamma_stop reached/m;

function checksOf(...texts: Array<string | undefined>): Check[] {
  for (const t of texts) {
    const found = [...(t ?? '').matchAll(/^autopipe: check (\d+) (\S+)(?: (\S+) (\S+) (\S+))?\s*$/gm)].map((m) => ({
      step: Number(m[1]), gamma: Number(m[2]), ...(m[3] === undefined ? {} : { volume: Number(m[3]), temperature: Number(m[4]) }),
    }));
    if (found.length > 0) return found;
  }
  return [];
}

/** pacemaker's name for the grade: write_dump can only name it after the atom variable. */
export function renameGradeColumn(dump: string): string {
  return dump.replace(/^(ITEM: ATOMS .*?)\bv_pace_gamma\b/gm, '$1f_pace_gamma');
}

export function judgeLammps(files: FetchedFiles, exitcode: number): Judged<RunResult> {
  const text = (n: string) => files.get(n)?.toString('utf8');
  const out = text('explore.out');
  const err = lastErrorLine(text('explore.err'), out, text('explore.log'));
  const stopped = exitFailure(exitcode, err, { cls: 'explore_error', program: 'LAMMPS', settings: 'explore.command', run: 'the run' });
  if (stopped !== undefined) return { ok: false, failure: stopped };
  const all = checksOf(out, text('explore.log'));
  // the dynamics blew up (LAMMPS lost atoms, or a grade stopped being a number): the run ends there, what it collected before is kept
  const nonFinite = all.findIndex((c) => !Number.isFinite(c.gamma));
  const lost = exitcode !== 0 && err !== undefined && BLOW_UP.test(err) && all.length > 0;
  const blewUp = nonFinite >= 0 ? { step: all[nonFinite].step, why: 'a non-finite extrapolation grade' } : lost ? { step: all[all.length - 1].step, why: err as string } : undefined;
  if (exitcode !== 0 && blewUp === undefined) {
    if (err === undefined) return { ok: false, failure: { cls: 'unknown', message: `LAMMPS ended with exit ${exitcode} and no error line; see explore.out` } };
    const noPace = /Unrecognized (?:pair|fix|compute) style '?pace/.test(err) ? ' (this LAMMPS has no ML-PACE package: build it with ML-PACE, or set explore.engine: ase)' : '';
    return { ok: false, failure: { cls: 'explore_error', message: `exit ${exitcode}: ${err}${noPace}` } };
  }
  const checks = nonFinite >= 0 ? all.slice(0, nonFinite) : all;
  if (checks.length === 0) return { ok: false, failure: blewUp !== undefined ? { cls: 'explore_error', message: `the MD blew up before its first check (${blewUp.why})` } : { cls: 'unknown', message: 'LAMMPS printed no "autopipe: check" line: is explore.in made from templates/explore.lammps.hbs?' } };
  let task: { gamma_collect: number; types: string[] };
  try {
    task = JSON.parse(text('task.json') ?? '') as typeof task;
  } catch {
    return { ok: false, failure: { cls: 'unknown', message: 'the run folder has no readable task.json' } };
  }
  const good = checks.filter((c) => c.gamma < task.gamma_collect);
  const summary: RunSummary = {
    steps_run: checks[checks.length - 1].step, frames_explored: checks.length, frames_collected: checks.length - good.length,
    max_gamma: Math.max(...checks.map((c) => c.gamma)), stopped_early: blewUp !== undefined || HALTED.test(out ?? '') || HALTED.test(text('explore.log') ?? ''),
    all_gamma_zero: checks.every((c) => c.gamma === 0), last_good_step: good.at(-1)?.step ?? null,
    frame_gammas: checks.map((c) => c.gamma),
    ...cellAndHeat(checks, atomsIn(text('start.extxyz'))),
    ...(blewUp === undefined ? {} : { blew_up: blewUp }),
  };
  const made = new Map<string, Buffer>([['summary.json', Buffer.from(JSON.stringify(summary, null, 1) + '\n')]]);
  const frames = text('frames.dump');
  if (frames !== undefined) made.set('frames.dump', Buffer.from(renameGradeColumn(frames)));
  // made by autopipe_explore.py candidates after lmp (selection.method d-optimal); judgeSummary checks it is there when asked for
  for (const name of ['candidates.json', 'task.json']) {
    const b = files.get(name);
    if (b !== undefined) made.set(name, b);
  }
  const last = files.get('good.dump');
  if (last !== undefined && summary.last_good_step !== null) {
    try {
      const f = [...readDumpFrames([last], { types: task.types }, 'good.dump')].at(-1);
      if (f !== undefined) made.set('last.extxyz', Buffer.from(writeExtxyz([makeAtoms({ numbers: f.numbers, positions: f.positions, cell: f.cell, pbc: f.pbc, arrays: momentaOf(f), info: { timestep: summary.last_good_step } })])));
    } catch (e) {
      if (!(e instanceof AutopipeError)) throw e;
      return { ok: false, failure: { cls: 'unknown', message: `good.dump cannot be read: ${e.message}` } };
    }
  }
  return judgeSummary(summary, made);
}

/** The number of atoms of the run's start (an extxyz's first line). */
function atomsIn(extxyz: string | undefined): number | undefined {
  const n = Number((extxyz ?? '').split('\n', 1)[0].trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** The volume range per atom, each frame's temperature and the last one, from the checks that carry them. */
function cellAndHeat(checks: readonly Check[], atoms: number | undefined): Pick<RunSummary, 'volume_per_atom' | 'temperature_last' | 'frame_temperatures'> {
  const full = checks.filter((c) => c.volume !== undefined && Number.isFinite(c.volume) && c.temperature !== undefined);
  if (full.length === 0 || atoms === undefined) return {};
  const v = full.map((c) => (c.volume as number) / atoms);
  const sig = (x: number, d: number) => Number(x.toPrecision(d));
  return {
    volume_per_atom: [sig(Math.min(...v), 6), sig(Math.max(...v), 6)],
    temperature_last: sig(full[full.length - 1].temperature as number, 4),
    frame_temperatures: full.map((c) => sig(c.temperature as number, 4)),
  };
}

/** ASE momenta (amu·Å per ASE time unit) from a dump frame's vx vy vz (Å/ps); none without them. */
function momentaOf(f: Atoms): Record<string, PerAtomArray> {
  const [vx, vy, vz] = (['vx', 'vy', 'vz'] as const).map((k) => f.arrays[k]?.values);
  if (vx === undefined || vy === undefined || vz === undefined) return {};
  const n = f.numbers.length;
  const values = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) {
    const m = ATOMIC_MASSES[f.numbers[i]] * ASE_VELOCITY_PER_ANGSTROM_PS;
    values[3 * i] = m * Number(vx[i]); values[3 * i + 1] = m * Number(vy[i]); values[3 * i + 2] = m * Number(vz[i]);
  }
  return { momenta: { kind: 'float', width: 3, values } };
}
