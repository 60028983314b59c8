/**
 * `submit --dry-run`: one stage of every kind that runs jobs, planned as iteration 0 from the
 * first kind on in loop order, each as the loop would plan it (its job scripts, manifests and
 * inputs). No job has run, so what a stage takes from an earlier one is a placeholder that says
 * it is one: the rows labelling would add (the structures it labels, energy and forces 0) for
 * training, a potential and active set for exploration. Nothing is staged, submitted or saved;
 * the placeholder rows live in a database in memory; the embedding check checks the largest
 * starting structure as if it were an explored frame. A kind that runs no job (select) is said,
 * not planned; a stage whose plan plans nothing says why (the check: its settings' reason).
 */
import type { PlannedFile } from '../exec/executor.js';
import type { Resources } from '../config/types.js';
import { makeAtoms, natoms, symbolsOf, type Atoms } from '../atoms/atoms.js';
import { readExtxyz, writeExtxyz } from '../formats/extxyz.js';
import { memoryDatabase } from '../db/db-file.js';
import type { AseDatabase } from '../db/ase-db.js';
import { EmbeddingError, StageError } from '../errors/errors.js';
import { embedAtom, indexFrame, type EmbedParams } from '../embed/extract.js';
import { potentialDir, runDir, selectedFile, type PotentialRecord } from '../stages/kept.js';
import { stageDirOf, type Candidate, type Registry, type StageContext, type StageKind } from '../stages/kind.js';
import type { Cursor, StageKindName, StageRecord, SubmissionRecord } from '../state/cursor.js';
import { planStage, type ArrayContext } from './enter.js';

/** The first line of every placeholder file: what it is, so that nobody takes it for a result. */
export const PLACEHOLDER = 'autopipe submit --dry-run PLACEHOLDER, not a result';

/** One kind's part of the dry run: what it would submit, or why it has nothing rendered. */
export type DryRunStage =
  | { kind: StageKindName; rendered: true; submissions: SubmissionRecord[]; resources: Resources; resourcesField: string; tasks: number; notes: string[] }
  | { kind: StageKindName; rendered: false; why: string };

export interface DryRunPlan { stages: DryRunStage[]; files: PlannedFile[] }

/** The kinds in loop order from `first` (each kind's next, until it comes round), then any kind not reached, in the registry's order. */
export function dryRunOrder(registry: Registry, first: StageKindName): StageKind[] {
  const out: StageKind[] = [];
  for (let k = registry.get(first); k !== undefined && !out.includes(k); k = registry.get(k.next.kind)) out.push(k);
  for (const k of registry.values()) if (!out.includes(k)) out.push(k);
  return out;
}

/** The elements the first fit would have: train.elements, else those of the structures labelled. */
function fitElements(ctx: StageContext, labelled: readonly Candidate[]): string[] {
  return ctx.config.train.elements ?? [...new Set(labelled.flatMap((c) => symbolsOf(c.atoms)))].sort();
}

/** What labelling of iteration 0 would add to the database, with energy and forces 0 and key placeholder=1: training's input. */
export function placeholderDatabase(structures: readonly Candidate[], validation: readonly Candidate[], now: number): AseDatabase {
  const db = memoryDatabase();
  const add = (c: Candidate, set: string | undefined) => {
    const a = c.atoms;
    const atoms = makeAtoms({ numbers: a.numbers, positions: a.positions, cell: a.cell, pbc: a.pbc, results: { energy: 0, forces: new Float64Array(3 * natoms(a)) } });
    db.write(atoms, { kvp: { placeholder: 1, iteration: 0, ...(set === undefined ? {} : { set }) }, data: { source: { file: c.source.file, frame: c.source.frame } }, now });
  };
  for (const c of structures) add(c, undefined);
  for (const c of validation) add(c, 'validation');
  return db;
}

/** A pacemaker potential's yaml as far as exploration reads it (its species blocks), and an active set, both saying what they are. */
export function placeholderPotential(elements: readonly string[]): { yaml: string; asi: string } {
  return {
    yaml: `# ${PLACEHOLDER}: the fit of the training stage writes output_potential.yaml here\nelements: [${elements.join(', ')}]\nbonds: {}\nembeddings: {}\nfunctions:\n${elements.map((e) => `  - speciesblock: ${e}\n`).join('')}`,
    asi: `${PLACEHOLDER}: pace_activeset writes the active set (output_potential.asi) here\n`,
  };
}

/** A frame as a LAMMPS text dump (general triclinic box, an element column): what an exploration run keeps. */
export function dumpOf(a: Atoms): string {
  const c = Array.from(a.cell);
  const rows = [0, 1, 2].map((i) => `${c[3 * i]} ${c[3 * i + 1]} ${c[3 * i + 2]} 0`);
  const symbols = symbolsOf(a);
  const atoms = symbols.map((s, k) => `${k + 1} ${s} ${a.positions[3 * k]} ${a.positions[3 * k + 1]} ${a.positions[3 * k + 2]}`);
  return ['ITEM: TIMESTEP', '0', 'ITEM: NUMBER OF ATOMS', String(symbols.length), 'ITEM: BOX BOUNDS abc origin pp pp pp', ...rows, 'ITEM: ATOMS id element x y z', ...atoms, ''].join('\n');
}

/** Exploration's starting structures (explore.structures, else the initial ones), as its plan reads them. */
function explorationStarts(ctx: StageContext, structures: readonly Candidate[]): Atoms[] {
  const file = ctx.config.explore.structures;
  const b = file === null ? undefined : ctx.readFile(file, 'project');
  return b === undefined || file === null ? structures.map((c) => c.atoms) : readExtxyz(b.toString('utf8'), file);
}

/** Whether the selection would cut a sub-cell around atom `id` (else it labels the frame whole: a box as large as the frame). */
function cutsSubcell(frame: Atoms, id: number, config: StageContext['config']): boolean {
  const e = config.embedding;
  const p: EmbedParams = { rcut: e.rcut, buffer: e.buffer, maskRadius: e.mask_radius ?? undefined, minDistance: e.min_distance, box: e.box };
  try {
    return embedAtom(frame, id - 1, p, indexFrame(frame, p)).kind === 'subcell';
  } catch (err) {
    if (err instanceof EmbeddingError) return false; // a frame embedding refuses: the selection would have nothing of it either
    throw err;
  }
}

/**
 * What the embedding check reads of an exploration and its selection: the largest starting
 * structure standing for an explored frame (kept as run t0000's dump), and a selection of
 * embedding.check.centres atoms of it, spread over its ids, as sub-cells (embedded) or, with
 * selection.embed false or a frame no larger than a sub-cell, the frame whole (then the check has
 * nothing to check, as in the loop).
 */
export function placeholderSelection(starts: readonly Atoms[], config: StageContext['config']): Map<string, Buffer> {
  const frame = [...starts].filter((a) => a.pbc.every(Boolean)).sort((x, y) => natoms(y) - natoms(x))[0];
  if (frame === undefined) return new Map();
  const dump = `${runDir(0, 't0000')}/frames.dump`;
  const n = natoms(frame);
  const centres = [...new Set(Array.from({ length: Math.min(config.embedding.check.centres, n) }, (_, k) => 1 + Math.floor((k * n) / Math.max(1, config.embedding.check.centres))))];
  const chosen = (config.selection.embed ? centres : [centres[0]]).map((id) => makeAtoms({
    numbers: frame.numbers, positions: frame.positions, cell: frame.cell, pbc: frame.pbc,
    info: { placeholder: true, source: dump, frame: 0, centre_id: id, embedded: config.selection.embed && cutsSubcell(frame, id, config) },
  }));
  return new Map([[dump, Buffer.from(dumpOf(frame))], [selectedFile(0), Buffer.from(writeExtxyz(chosen))]]);
}

/** The cursor exploration plans from: a settled fit of iteration 0 whose potential is the placeholder. */
function cursorWithPotential(c: Cursor, now: number): Cursor {
  const potential: PotentialRecord = { iteration: 0, dir: potentialDir(0), rows: 0, row_ids: [], metrics: {}, duration_s: null, warm_start_from: null };
  const fit: StageRecord = { kind: 'train', iteration: 0, planned_at: now, tasks: [], submissions: [], data: { potential: potential as unknown as StageRecord['data'] }, followed: false, config: {} };
  return { ...c, iteration: 0, stages: [fit] };
}

/**
 * The dry run's plan. `ctx`: the project's context (its config, templates, structures); the
 * work folder it would read is replaced by the placeholders. `database`: the rows a first fit
 * takes when the loop starts at training (iterations.start: train), read, never written; else
 * the placeholder rows. A loop that starts at exploration explores with train.initial_potential,
 * as it would. A stage whose plan refuses (a StageError: too few atoms for the basis, a missing
 * train.initial_potential) is said as the stage's line: it is what the real stage would say.
 */
export function planDryRun(registry: Registry, first: StageKindName, ctx: StageContext, arrays: ArrayContext, database?: AseDatabase): DryRunPlan {
  const structures = ctx.config.structures === null ? [] : ctx.initialStructures();
  const validation = ctx.validationStructures();
  const db = placeholderDatabase(structures, validation, ctx.now);
  try {
    const pot = placeholderPotential(fitElements(ctx, [...structures, ...validation]));
    const work = new Map<string, Buffer>([
      [`${potentialDir(0)}/output_potential.yaml`, Buffer.from(pot.yaml)],
      [`${potentialDir(0)}/output_potential.asi`, Buffer.from(pot.asi)],
      ...placeholderSelection(explorationStarts(ctx, structures), ctx.config),
    ]);
    const fromData = database !== undefined;
    const fromPotential = first === 'explore';
    const placeholders: PlannedFile[] = [
      ...(fromData ? [] : [{ path: `${stageDirOf(0, 'train')}/PLACEHOLDER.txt`, content: `${PLACEHOLDER}: inputs/train.extxyz holds the structures iteration 0 labels, with energy 0 and forces 0; the real fit takes their DFT labels from the database\n` }]),
      ...(fromPotential ? [] : [{ path: `${stageDirOf(0, 'explore')}/PLACEHOLDER.txt`, content: `${PLACEHOLDER}: inputs/potential.yaml and potential.asi stand for the fit of iteration 0, which the real exploration runs with\n` }]),
      { path: `${stageDirOf(0, 'check')}/PLACEHOLDER.txt`, content: `${PLACEHOLDER}: the frame checked is the largest starting structure, standing for an explored frame, and its centres are atoms spread over its ids, standing for the selection's; the real check labels the explored frame that gave the selection most centres\n` },
    ];
    const sc: StageContext = {
      ...ctx, iteration: 0, db: () => database ?? db, cursor: fromPotential ? ctx.cursor : cursorWithPotential(ctx.cursor, ctx.now),
      readFile: (path, base) => (base === 'work' ? work.get(path) : ctx.readFile(path, base)),
      initialStructures: () => {
        if (ctx.config.structures === null) throw new StageError('structures: is null, so there is nothing to label in iteration 0', { hint: 'labelling of a later iteration takes what the selection chose' });
        return structures;
      },
    };
    const stages: DryRunStage[] = [];
    const files: PlannedFile[] = [];
    for (const kind of dryRunOrder(registry, first)) {
      if (kind.runs === 'local') {
        const before = [...registry.values()].find((k) => k.next.kind === kind.kind);
        stages.push({ kind: kind.kind, rendered: false, why: `runs no job: the poll runs it here once ${before === undefined ? 'the stage before it' : `the ${before.noun}`} has settled` });
        continue;
      }
      try {
        const p = planStage(kind, 0, sc, arrays);
        if (p.stage.tasks.length === 0) {
          stages.push({ kind: kind.kind, rendered: false, why: typeof p.stage.data.skipped === 'string' ? p.stage.data.skipped : 'it plans no task from placeholders' });
          continue;
        }
        files.push(...p.files, ...placeholders.filter((f) => f.path.startsWith(`${stageDirOf(0, kind.kind)}/`)));
        stages.push({ kind: kind.kind, rendered: true, submissions: p.stage.submissions, resources: kind.resources(ctx.config), resourcesField: kind.resourcesField, tasks: p.stage.tasks.length, notes: p.notes });
      } catch (err) {
        if (!(err instanceof StageError)) throw err;
        const why = `${err.message}${err.hint === undefined ? '' : ` (${err.hint})`}`;
        stages.push({ kind: kind.kind, rendered: false, why });
      }
    }
    return { stages, files };
  } finally {
    db.close();
  }
}

/** Resources in one phrase: "partition compute, 1 node × 16 tasks × 1 CPU, 32G, 02:00:00". */
export function resourcesText(r: Resources): string {
  const parts = [
    ...(r.partition === null ? [] : [`partition ${r.partition}`]),
    ...(r.account === null ? [] : [`account ${r.account}`]),
    `${r.nodes} node(s) × ${r.ntasks} task(s) × ${r.cpus_per_task} CPU(s)`,
    ...(r.mem === null ? [] : [`mem ${r.mem}`]),
    `time ${r.time}`,
    ...r.extra,
  ];
  return parts.join(', ');
}
