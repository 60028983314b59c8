/**
 * Planning the labelling stage, pure: candidates + config → tasks, submissions (job arrays
 * chunked to the cluster's MaxArraySize and throttled) and the exact files to stage. Nothing
 * is written here (apply.ts does that), nothing random or timed is hidden (token and now are
 * given).
 *
 * Layout under the run root (the cluster's view; for the local executor, this machine's):
 *   iter-000/label/t0007/a1/pw.in      one folder per task and attempt, with structure.extxyz
 *                                      (mask, provenance); pw.out, pw.err, started and
 *                                      exitcode appear there when it runs
 *   iter-000/label/<token>.manifest    array index → attempt folder (relative), one per line
 *   iter-000/label/<token>.sbatch      the job script (templates/label.sbatch.hbs)
 */
import { posix } from 'node:path';
import type { Atoms } from '../atoms/atoms.js';
import { natoms, symbolsOf } from '../atoms/atoms.js';
import { writePwInput, type KPoints } from '../formats/espresso-in.js';
import { writeExtxyz } from '../formats/extxyz.js';
import type { Config, Resources } from '../config/types.js';
import type { TaskRecord, SubmissionRecord } from '../state/cursor.js';
import { ConfigError, StructureError } from '../errors/errors.js';

export interface Candidate { atoms: Atoms; source: { file: string; frame: number } }

export interface PlannedFile { path: string; content: string }

/** A folder copied where the jobs run, at staging (paths relative to the run root). */
export interface PlannedCopy { from: string; to: string }

export interface LabelPlan {
  tasks: TaskRecord[];
  submissions: SubmissionRecord[];
  files: PlannedFile[];
}

export interface PlanInputs {
  iteration: number;
  candidates: readonly Candidate[];
  config: Config;
  /** The run root as the machine running the jobs sees it. */
  runRoot: string;
  maxArraySize: number;
  now: number;
  /** A fresh submission token ([a-z0-9]{10}), e.g. from crypto randomness. */
  token: () => string;
  /** Renders the job script for one submission (the label.sbatch template). */
  renderScript: (context: { resources: Resources; stage_dir: string; manifest: string; dft_command: string }) => string;
  configFile?: string;
}

export function iterationDir(iteration: number): string {
  return `iter-${String(iteration).padStart(3, '0')}`;
}

export function taskId(k: number): string {
  return `t${String(k).padStart(4, '0')}`;
}

export function kpointsOf(config: Config): KPoints {
  const d = config.dft;
  return d.kpoints !== null ? { kind: 'mesh', mesh: d.kpoints } : { kind: 'spacing', spacing: d.kspacing, gammaTrick: d.gamma_trick };
}

/** The array spec of one submission: "0-9%4". */
export function arraySpec(count: number, throttle: number | null): string {
  return `0-${count - 1}${throttle === null ? '' : `%${throttle}`}`;
}

/** The files of one attempt folder: the structure as given (force_mask, provenance: pw.x's output
 * does not carry them) and the pw.x input with the attempt's parameters on top of dft.parameters. */
export function attemptFiles(atoms: Atoms, dir: string, parameters: Readonly<Record<string, number | string | boolean>>, config: Config): PlannedFile[] {
  return [
    { path: posix.join(dir, 'structure.extxyz'), content: writeExtxyz([atoms]) },
    {
      path: posix.join(dir, 'pw.in'),
      content: writePwInput(atoms, {
        parameters: { ...config.dft.parameters, ...parameters }, pseudopotentials: config.dft.pseudopotentials, pseudoDir: config.dft.pseudo_dir,
        kpoints: kpointsOf(config), outdir: './out', prefix: 'pwscf',
      }),
    },
  ];
}

/** Tasks that run with the same job script (same resources): one or more arrays. */
export interface ArrayGroup { tasks: ReadonlyArray<{ id: string; dir: string }>; resources: Resources }

export interface ArraysPlan {
  submissions: SubmissionRecord[];
  files: PlannedFile[];
  /** Where each task landed: submission token and array index. */
  placement: Map<string, { token: string; index: number }>;
}

/** Job arrays for groups of attempt folders: chunked to maxArraySize, one manifest and script each. */
export function planArrays(groups: readonly ArrayGroup[], p: Pick<PlanInputs, 'config' | 'runRoot' | 'maxArraySize' | 'now' | 'token' | 'renderScript'> & { stageDir: string }): ArraysPlan {
  const size = Math.max(1, p.maxArraySize);
  const out: ArraysPlan = { submissions: [], files: [], placement: new Map() };
  for (const g of groups) {
    for (let start = 0; start < g.tasks.length; start += size) {
      const chunk = g.tasks.slice(start, start + size);
      const token = p.token();
      if (!/^[a-z0-9]{8,}$/.test(token)) throw new RangeError(`a submission token must be [a-z0-9]{8,}, got '${token}'`);
      const manifest = posix.join(p.stageDir, `${token}.manifest`);
      // Paths relative to the stage folder: names we generate, so one per line is safe even when
      // the run root holds a newline.
      out.files.push({ path: manifest, content: chunk.map((t) => posix.relative(p.stageDir, t.dir)).join('\n') + '\n' });
      out.files.push({
        path: posix.join(p.stageDir, `${token}.sbatch`),
        content: p.renderScript({ resources: g.resources, stage_dir: posix.join(p.runRoot, p.stageDir), manifest: posix.join(p.runRoot, manifest), dft_command: p.config.dft.command }),
      });
      chunk.forEach((t, index) => out.placement.set(t.id, { token, index }));
      out.submissions.push({ token, job_name: `${p.config.name}-${token}`, tasks: chunk.map((t) => t.id), job_id: null, intent_at: p.now, submitted_at: null });
    }
  }
  return out;
}

export function planLabelStage(p: PlanInputs): LabelPlan {
  const { config } = p;
  const missing = [...new Set(p.candidates.flatMap((c) => symbolsOf(c.atoms)))].filter((s) => config.dft.pseudopotentials[s] === undefined);
  if (missing.length > 0) {
    throw new ConfigError(p.configFile ?? 'autopipe.yaml', [`dft.pseudopotentials: no pseudopotential for ${missing.join(', ')} (the structures to label contain them)`]);
  }
  const stageDir = posix.join(iterationDir(p.iteration), 'label');
  const files: PlannedFile[] = [];
  // every structure pw.x cannot be given is collected, so that all of them are named at once
  const unusable: StructureError[] = [];
  const tasks: TaskRecord[] = p.candidates.map((c, k) => {
    const id = taskId(k);
    const dir = posix.join(stageDir, id, 'a1');
    try {
      files.push(...attemptFiles(c.atoms, dir, {}, config));
    } catch (err) {
      if (!(err instanceof StructureError)) throw err;
      unusable.push(new StructureError(`${c.source.file} frame ${c.source.frame}: ${err.message}`, { hint: err.hint, cause: err }));
    }
    return {
      id, source: c.source, natoms: natoms(c.atoms), merged: false,
      attempts: [{ attempt: 1, dir, submission: null, array_index: null, parameters: {}, state: 'planned', error_class: null, message: null }],
    };
  });
  if (unusable.length > 0) {
    const lines = unusable.map((e) => e.message);
    const hints = [...new Set(unusable.map((e) => e.hint).filter((h): h is string => h !== undefined))];
    throw new StructureError(`${lines.length} structure(s) cannot be labelled:\n  ${lines.slice(0, 10).join('\n  ')}${lines.length > 10 ? `\n  … and ${lines.length - 10} more` : ''}`, {
      hint: `${hints.join('; ')}; nothing was submitted`,
    });
  }
  const arrays = planArrays([{ tasks: tasks.map((t) => ({ id: t.id, dir: t.attempts[0].dir })), resources: config.dft.resources }], { ...p, stageDir });
  for (const t of tasks) {
    const at = arrays.placement.get(t.id);
    if (at !== undefined) Object.assign(t.attempts[0], { submission: at.token, array_index: at.index });
  }
  return { tasks, submissions: arrays.submissions, files: [...files, ...arrays.files] };
}
