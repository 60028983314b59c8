/**
 * Planning the labelling stage, pure: candidates + config → one task per structure, each with
 * its first attempt's files. Layout under the run root:
 *   iter-000/label/t0007/a1/pw.in      one folder per task and attempt, with structure.extxyz
 *                                      (mask, provenance) and task.env (its pools); pw.out,
 *                                      pw.err, started and exitcode appear there when it runs
 */
import { posix } from 'node:path';
import type { Atoms } from '../../atoms/atoms.js';
import { natoms, symbolsOf } from '../../atoms/atoms.js';
import { meshFromSpacing, writePwInput, type KPoints } from '../../formats/espresso-in.js';
import { cellHeights } from '../../atoms/cell.js';
import { readExtxyz, writeExtxyz } from '../../formats/extxyz.js';
import type { Config } from '../../config/types.js';
import type { FetchedFiles, PlannedFile } from '../../exec/executor.js';
import type { Parameters, TaskRecord } from '../../state/cursor.js';
import { ConfigError, StructureError } from '../../errors/errors.js';
import { attemptDir, taskId, type Candidate, type PlannedTask } from '../kind.js';
import { defaultDiskIo } from './disk.js';
import { poolsFor, taskEnv } from './pools.js';

export function kpointsOf(config: Config): KPoints {
  const d = config.dft;
  return d.kpoints !== null ? { kind: 'mesh', mesh: d.kpoints } : { kind: 'spacing', spacing: d.kspacing, gammaTrick: d.gamma_trick };
}

/**
 * The files of one attempt folder: the structure as given (force_mask, provenance: pw.x's output
 * does not carry them), the pw.x input with the attempt's parameters on top of dft.parameters
 * (disk_io from dft.keep unless set), and task.env with the task's pools for its k-points.
 */
export function attemptFiles(atoms: Atoms, dir: string, parameters: Readonly<Parameters>, config: Config): PlannedFile[] {
  const kpoints = kpointsOf(config);
  return [
    { path: posix.join(dir, 'structure.extxyz'), content: writeExtxyz([atoms]) },
    {
      path: posix.join(dir, 'pw.in'),
      content: writePwInput(atoms, {
        parameters: { disk_io: defaultDiskIo(config.dft.keep), ...config.dft.parameters, ...parameters }, pseudopotentials: config.dft.pseudopotentials, pseudoDir: config.dft.pseudo_dir,
        kpoints, outdir: './out', prefix: 'pwscf',
      }),
    },
    { path: posix.join(dir, 'task.env'), content: taskEnv(poolsFor(atoms, kpoints, config)) },
  ];
}

/** What a labelling task is: the structure's source and size; `set: 'validation'` for a structure of validation.structures (its row is tagged, and no fit uses it). */
export interface LabelSpec { source: { file: string; frame: number }; natoms: number; set?: 'validation' }

/** `validation`: how many of the candidates, at the end, are validation structures. */
export function planLabelTasks(candidates: readonly Candidate[], config: Config, stageDir: string, configFile: string, validation = 0): PlannedTask<LabelSpec>[] {
  const missing = [...new Set(candidates.flatMap((c) => symbolsOf(c.atoms)))].filter((s) => config.dft.pseudopotentials[s] === undefined);
  if (missing.length > 0) {
    throw new ConfigError(configFile, [`dft.pseudopotentials: no pseudopotential for ${missing.join(', ')} (the structures to label contain them)`]);
  }
  // every structure pw.x cannot be given is collected, so that all of them are named at once
  const unusable: StructureError[] = [];
  const tasks = candidates.map((c, k): PlannedTask<LabelSpec> => {
    const id = taskId(k);
    let files: PlannedFile[] = [];
    try {
      files = attemptFiles(c.atoms, attemptDir(stageDir, id, 1), {}, config);
    } catch (err) {
      if (!(err instanceof StructureError)) throw err;
      unusable.push(new StructureError(`${c.source.file} frame ${c.source.frame}: ${err.message}`, { hint: err.hint, cause: err }));
    }
    const forValidation = k >= candidates.length - validation;
    return {
      id, about: `${forValidation ? 'validation: ' : ''}${c.source.file} frame ${c.source.frame}`, files,
      spec: { source: { ...c.source }, natoms: natoms(c.atoms), ...(forValidation ? { set: 'validation' as const } : {}) },
    };
  });
  if (unusable.length > 0) {
    const lines = unusable.map((e) => e.message);
    const hints = [...new Set(unusable.map((e) => e.hint).filter((h): h is string => h !== undefined))];
    throw new StructureError(`${lines.length} structure(s) cannot be labelled:\n  ${lines.slice(0, 10).join('\n  ')}${lines.length > 10 ? `\n  … and ${lines.length - 10} more` : ''}`, {
      hint: `${hints.join('; ')}; nothing was submitted`,
    });
  }
  return tasks;
}

/** A retry's files from the failed attempt's structure.extxyz (pw.x's output does not carry the mask), or why there are none. */
export function retryFromStructure(task: Pick<TaskRecord, 'attempts'>, failed: FetchedFiles, dir: string, parameters: Readonly<Parameters>, config: Config): PlannedFile[] | string {
  const last = task.attempts[task.attempts.length - 1];
  const text = failed.get('structure.extxyz')?.toString('utf8');
  let atoms;
  try {
    atoms = text === undefined ? undefined : readExtxyz(text, `${last.dir}/structure.extxyz`)[0];
  } catch {
    atoms = undefined;
  }
  if (atoms === undefined) return `${last.dir}/structure.extxyz cannot be read, so there is nothing to retry from`;
  return attemptFiles(atoms, dir, parameters, config);
}

/** A metal's cell thinner than this (Å) is not converged at the Γ point alone. */
export const GAMMA_ONLY_METAL_CELL = 15;

/**
 * The warning for structures a metal would be labelled at Γ only in: smearing occupations (a
 * metal, or treated as one) and a k-point rule that gives one point for a cell thinner than
 * GAMMA_ONLY_METAL_CELL along some axis. Their forces are then the Γ point's, not the metal's.
 */
export function gammaOnlyMetalWarning(structures: readonly Atoms[], config: Config): string | undefined {
  if (config.dft.parameters.occupations !== 'smearing') return undefined;
  const kp = kpointsOf(config);
  const thin = structures.filter((a) => {
    const mesh = kp.kind === 'mesh' ? kp.mesh : kp.kind === 'spacing' ? meshFromSpacing(a.cell, a.pbc, kp.spacing) : [1, 1, 1];
    return mesh.every((m) => m === 1) && Math.min(...cellHeights(a.cell)) < GAMMA_ONLY_METAL_CELL;
  });
  if (thin.length === 0) return undefined;
  const h = Math.min(...thin.map((a) => Math.min(...cellHeights(a.cell))));
  return `${thin.length} of ${structures.length} structure(s) are labelled at the Γ point only although occupations is smearing (a metal) and a cell is ${h.toFixed(1)} Å thin (under ${GAMMA_ONLY_METAL_CELL} Å): their forces are the Γ point's, not the metal's. Lower dft.kspacing (${kp.kind === 'spacing' ? `now ${kp.spacing}; ` : ''}about ${(2 * Math.PI / (2 * h)).toFixed(2)} 1/Å gives these cells 2 points along that axis), and keep one kspacing for the whole campaign`;
}
