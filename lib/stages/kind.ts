/**
 * A kind of stage (label, train, explore, select) is one unit: its folder declares its tasks,
 * the files of an attempt, its judge, its merge, the record it keeps of itself, its summary
 * line, its part of an iteration's row, the kind that follows it and its typed data. The stage
 * machine (lib/loop), status and the report use these declarations and never name a kind; the
 * CLI hands them the registry. A kind that runs jobs (label, train, explore) writes only what
 * runs; autopipe writes the job wrapper around it (lib/loop/wrapper.ts). A kind that runs no
 * job (select) runs when it is entered and is settled at once.
 *
 * A kind is written typed over its spec (what a task is), its data (what the stage records)
 * and its result (what a judged attempt yields); defineJobKind / defineLocalKind erase the
 * types once, where the kind joins the registry, so the loop handles them as JSON.
 */
import type { Config, Resources } from '../config/types.js';
import type { PlannedFile, PlannedCopy, FetchedFiles } from '../exec/executor.js';
import type { AttemptRecord, Cursor, JsonObject, Parameters, StageKindName, StageRecord, StageSummary, TaskRecord } from '../state/cursor.js';
import type { Failure, FailureClass } from '../state/failure-class.js';
import type { AseDatabase, LabelledCell } from '../db/ase-db.js';
import type { Atoms } from '../atoms/atoms.js';

/** Where an attempt's folder is, relative to the run root: iter-000/label/t0007/a1. */
export function attemptDir(stageDir: string, taskId: string, attempt: number): string {
  return `${stageDir}/${taskId}/a${attempt}`;
}

/** An iteration's folder name, in the run root and in the work folder: iter-007. */
export function iterationDir(iteration: number): string {
  return `iter-${String(iteration).padStart(3, '0')}`;
}

export function stageDirOf(iteration: number, kind: StageKindName): string {
  return `${iterationDir(iteration)}/${kind}`;
}

export function taskId(k: number): string {
  return `t${String(k).padStart(4, '0')}`;
}

/** A stage of the cursor: open (its tasks) or settled (its summary). */
export type AnyStage = StageRecord | StageSummary;

export function isOpen(s: AnyStage): s is StageRecord {
  return Array.isArray(s.tasks);
}

/** A stage as its kind sees it: its data typed (open or settled alike). */
export type Typed<S extends AnyStage, D> = S extends unknown ? Omit<S, 'data'> & { data: D } : never;

/** A stage whatever its data: what the helpers over records read. */
export type StageShape = Omit<StageRecord, 'data'> | Omit<StageSummary, 'data'>;

/** The section of autopipe.yaml a stage was planned with (what it recorded), else undefined (stages planned before autopipe recorded it). */
export function recordedSection<K extends keyof Config>(s: StageShape, section: K): Config[K] | undefined {
  return s.config?.[section] as Config[K] | undefined;
}

/** A structure to label, and where it came from. */
export interface Candidate { atoms: Atoms; source: { file: string; frame: number } }

/** What planning may read; everything but the database and the files given is pure data. */
export interface StageContext {
  cursor: Cursor;
  iteration: number;
  config: Config;
  configFile: string;
  now: number;
  /** The database (opened on first use). */
  db: () => AseDatabase;
  /** Renders one of the project's templates (templates/ or the project's copy). */
  render: (template: string, context: object) => string;
  /** A helper file shipped with autopipe (python/…), by name. */
  asset: (name: string) => string;
  /** A file by path relative to the work folder (a kept potential) or the project folder (train.initial_potential); undefined when missing. */
  readFile: (path: string, base: 'work' | 'project') => Buffer | undefined;
  /** The user's starting structures (structures: in autopipe.yaml). */
  initialStructures: () => Candidate[];
  /** The structures of validation.structures, every file in order (none: []). */
  validationStructures: () => Candidate[];
}

export interface PlannedTask<Spec = JsonObject> {
  id: string;
  about: string;
  spec: Spec;
  /** The first attempt's files (paths relative to the run root). */
  files: PlannedFile[];
}

export interface StagePlan<Spec = JsonObject, Data = JsonObject> {
  tasks: PlannedTask<Spec>[];
  /** Files the stage's attempts share (e.g. the training data), staged once. */
  shared: PlannedFile[];
  data: Data;
  /** Said when the stage is entered (e.g. how many rows a fit uses). */
  notes: string[];
}

/** A retry the kind's own ladder chose. */
export type KindStep =
  | { kind: 'retry'; parameters: Parameters; restartFrom: string | null; copies: PlannedCopy[]; action: string }
  | { kind: 'give_up'; reason: string };

export type Judged<Result = unknown> = { ok: true; result: Result } | { ok: false; failure: Failure };

/** A task as its kind sees it: its spec typed. */
export type KindTask<Spec> = Omit<TaskRecord, 'spec'> & { spec: Spec };

export interface Finished<Spec = JsonObject, Result = unknown> { task: KindTask<Spec>; attempt: AttemptRecord; result: Result }

/** Where merging writes: the database, and files kept in the work folder (atomically, never overwritten). */
export interface MergeSink {
  db: () => AseDatabase;
  keep: (path: string, content: Buffer) => void;
  config: Config;
  now: number;
  user: string | null;
  /** The campaign's id: every row it writes carries it. */
  campaign: string;
}

/** Force errors over core atoms, meV/Å: RMSE per component and the largest error of one atom (the norm of its force error). */
export interface ForceErrors { core_atoms: number; force_rmse: number | null; force_max: number | null }

/** A potential on the validation set, meV/atom and meV/Å; `energy_shifted`: after removing the mean energy difference (the fit's reference energies shift it). */
export interface ValidationErrors extends ForceErrors {
  rows: number;
  energy_rows: number;
  energy: number | null;
  energy_shifted: number | null;
  elements: Record<string, ForceErrors>;
}

/** Errors of a fit, in meV/atom and meV/Å (force components on core atoms). */
export interface FitErrors { energy_mev_per_atom: number | null; force_core_mev_per_a: number | null }

/**
 * One iteration's row in status's table and the report. Each kind fills its own part from
 * what its stage recorded; the campaign merges the parts without knowing who gave which.
 */
export interface IterationParts {
  /** Rows of the database from the iteration's labelling: whole cells and embedded sub-cells. */
  labelled?: { full: number; sub: number };
  dft_core_hours?: number;
  /** `dir`: the potential's folder in the work folder (the report's loss curve reads it); the level of theory of its rows and how many rows of other levels it left out. */
  fit?: { train: FitErrors; test: FitErrors | null; dir: string; level: string | null; left_out: number; validation?: ValidationErrors | null };
  /**
   * `summaries`: each run's summary.json in the work folder (the report's γ distribution); thresholds as the stage ran them;
   * `conditions`: what the runs explored in words when they were not all NVT at one temperature (null: they were, or none said);
   * `run_list`: each finished run (the report's table of runs).
   */
  explore?: {
    runs: number; frames_explored: number; frames_collected: number; largest_gamma: number; gamma_collect: number | null; gamma_stop: number | null; summaries: string[];
    conditions: string | null; run_list: ExploreRun[];
  };
  select?: { candidates: number; selected: number };
  /** The embedding check's figures per setting (the report's error-against-cost plot). */
  embedding_check?: EmbeddingCheckPart;
}

/** One finished exploration run as the report lists it; null: not recorded (runs of an older autopipe). */
export interface ExploreRun {
  task: string;
  /** Its starting structure: "s.extxyz frame 2". */
  start: string | null;
  /** "NVT", "NPT", "NPT ANISO"; and its target in words: "600 K", "300→900 K, 10000 bar". */
  ensemble: string | null;
  conditions: string | null;
  steps_run: number; explored: number; collected: number; max_gamma: number;
  /** Why it ended before its full length (gamma_stop, the MD blew up), else null. */
  ended: string | null;
  /** K, instantaneous, of its last explored frame. */
  temperature_last: number | null;
  /** Å³ per atom over its explored frames: [smallest, largest]. */
  volume_per_atom: [number, number] | null;
}

/** What an embedding check found: per setting, the core-force error of its sub-cells against the reference and their DFT time against the reference's. */
export interface EmbeddingCheckPart {
  target: number | null;
  configured: string | null;
  cheapest: string | null;
  rows: Array<{ setting: string; subcells: number; atoms: number; coreAtoms: number; rmse: number; max: number; seconds: number; costShare: number }>;
}

/** What a kind's presentation may read besides its own stage. */
export interface CampaignView { cells: readonly LabelledCell[] }

/** The stage that follows a settled one of this kind: its kind, in the same or the next iteration. */
export interface Next { kind: StageKindName; nextIteration: boolean }

/** What every kind declares, whether it runs jobs or not. */
interface KindBase<Data> {
  readonly kind: StageKindName;
  /** The stage's name in a sentence: 'labelling', 'training'. */
  readonly noun: string;
  /** The sections of autopipe.yaml its planning reads: recorded with each stage it plans (history is what was recorded). */
  readonly configSections: readonly (keyof Config)[];
  readonly next: Next;
  /** Its attempts' core-hours are DFT: the campaign's budget (iterations.max_dft_core_hours) counts them. */
  readonly spendsDft?: boolean;
  /** Its DFT is a measurement, not labels (the embedding check): the budget counts its core-hours but not its tasks as labelled structures. */
  readonly measures?: boolean;
  /** Pure: how many structures the next iteration will label after this settled stage (select: those it chose); the budget's projection. */
  labelsNext?(stage: Typed<AnyStage, Data>): number;
  /** Pure: why this settled stage ends the loop (explore: converged; select: nothing to label; train: the validation error's rules), or undefined; `earlier`: the stages of this kind before it, in loop order. */
  stopReason?(stage: Typed<StageRecord, Data>, config: Config, earlier: ReadonlyArray<Typed<AnyStage, Data>>): string | undefined;
  /** Pure: one line of what the stage did, from what it recorded (status, the end of run). */
  summaryLine(stage: Typed<AnyStage, Data>, view: CampaignView): string;
  /** Pure: its part of the iteration's row. */
  iterationPart(stage: Typed<AnyStage, Data>, view: CampaignView): IterationParts;
  /** Pure: where the campaign stands as to this kind, over all its stages, against today's autopipe.yaml (the check: whether today's settings were checked, and what that gave); status and the end of `run` say it. */
  standing?(stages: ReadonlyArray<Typed<AnyStage, Data>>, config: Config): string | undefined;
}

/** What a kind that runs no job yields when it is entered: the stage is settled at once. */
export interface LocalOutcome<Data = JsonObject> {
  data: Data;
  notes: string[];
  /** Files for the work folder (the next stage reads them), written atomically before the cursor records the stage. */
  keep: Array<{ path: string; content: string }>;
}

/** A kind that runs no job (select): entering it runs it here, in the poll. */
export interface LocalKindDef<Data> extends KindBase<Data> {
  readonly runs: 'local';
  run(ctx: StageContext): LocalOutcome<Data>;
}

export interface JobKindDef<Spec, Data, Result> extends KindBase<Data> {
  readonly runs: 'jobs';
  /** What runs in a task folder (templates/<name>): the program lines; autopipe writes the wrapper around it. */
  readonly template: string;
  /** The file whose growth shows a running task is alive ('pw.out', 'pacemaker.out'). */
  readonly progressFile: string;
  /** Files fetched from a finished or failed attempt, in the poll's one download. */
  readonly outputs: readonly string[];
  /** Where its SLURM resources are set (for messages): 'dft.resources'. */
  readonly resourcesField: string;
  resources(config: Config): Resources;
  /**
   * How many of its tasks run one after another in one array element (label:
   * dft.tasks_per_element); absent: one. resources() stays a task's: the element asks for this
   * many times its time.
   */
  tasksPerElement?(config: Config): number;
  /** What its template needs besides resources (label: dft_command). */
  scriptContext(config: Config): object;
  /** The stage's tasks and the files of their first attempts. */
  plan(ctx: StageContext, stageDir: string): StagePlan<Spec, Data>;
  /** A retry's files in `dir`, from the failed attempt's fetched files; a string says why there is nothing to retry from. */
  retryFiles(task: KindTask<Spec>, failed: FetchedFiles, dir: string, parameters: Parameters, ctx: StageContext, stage: Typed<StageRecord, Data>): PlannedFile[] | string;
  /** Pure: a finished attempt (it wrote its exitcode) from its outputs. */
  judge(files: FetchedFiles, exitcode: number, task: KindTask<Spec>, attempt: AttemptRecord, stage: Typed<StageRecord, Data>): Judged<Result>;
  /** Idempotent: what succeeded, into the sink. Returns lines for the poll's output. */
  merge(done: readonly Finished<Spec, Result>[], sink: MergeSink, stage: Typed<StageRecord, Data>): string[];
  /** Pure: what its own record keeps of what succeeded (train: the potential), as a patch of its data. */
  record?(stage: Typed<StageRecord, Data>, done: readonly Finished<Spec, Result>[]): Partial<Data>;
  /** A stage still running may be followed by the next one (label: training starts once train.min_new_structures are done). */
  followsEarly?(stage: Typed<StageRecord, Data>, config: Config): boolean;
  /** Classes of its own that no retry can cure, with why (label: input_error, pw.x rejected its input). */
  readonly neverRetried?: Partial<Record<FailureClass, string>>;
  /** What a retry keeps of the failed attempt's parameters (label: all but starting from a density); default: all. */
  carry?(attempt: AttemptRecord): Parameters;
  /** The kind's own remedy for a class (label: pw.x's mixing ladder); undefined: the generic rules. */
  escalate?(task: KindTask<Spec>, config: Config): KindStep | undefined;
}

/**
 * The loop's own work before measurements (the embedding check), each group in its order: the
 * order the loop submits jobs in and asks the executor about them, so that a queue taking them in
 * order (SLURM's, the local executor's) runs what carries the loop on first.
 */
export function measurementsLast<T extends { kind: { readonly measures?: boolean } }>(xs: readonly T[]): T[] {
  return [...xs.filter((x) => x.kind.measures !== true), ...xs.filter((x) => x.kind.measures === true)];
}

/** The kinds as the loop holds them: spec, data and result as JSON. */
export type JobStageKind = JobKindDef<JsonObject, JsonObject, unknown>;
export type LocalStageKind = LocalKindDef<JsonObject>;
export type StageKind = JobStageKind | LocalStageKind;

export type Registry = ReadonlyMap<StageKindName, StageKind>;

/**
 * The one place a kind's types are erased: the loop hands each method the records it stored
 * for this kind (a spec the kind planned, data it recorded, a result its judge returned).
 */
export function defineJobKind<Spec, Data, Result>(k: JobKindDef<Spec, Data, Result>): JobStageKind {
  return k as unknown as JobStageKind;
}

export function defineLocalKind<Data>(k: LocalKindDef<Data>): LocalStageKind {
  return k as unknown as LocalStageKind;
}
