/**
 * Planning the embedding check: the explored frame that gave the selection most centres, a
 * reference (the frame itself, or a much larger sub-cell per centre when the frame is too large
 * for DFT), and sub-cells around the centres for each setting of a ladder (both box shapes ×
 * buffers), each one pw.x task at the campaign's DFT settings and k-point rule. Every task keeps
 * the forces of only the atoms the comparison needs: the sub-cells' core atoms.
 */
import type { Atoms } from '../../atoms/atoms.js';
import { natoms } from '../../atoms/atoms.js';
import type { Config } from '../../config/types.js';
import { readExtxyz } from '../../formats/extxyz.js';
import { readDumpFrames } from '../../formats/lammps-dump.js';
import { atomIndexOfId, embedAtom, indexFrame, type EmbedParams } from '../../embed/extract.js';
import type { BoxShape } from '../../embed/box.js';
import { StageError } from '../../errors/errors.js';
import type { Cursor } from '../../state/cursor.js';
import { attemptDir, taskId, type PlannedTask, type StageContext } from '../kind.js';
import { elementsOf, keptPotential, selectedFile, stageOf } from '../kept.js';
import { attemptFiles, gammaOnlyMetalWarning, type LabelSpec } from '../label/plan.js';
import { coreAtoms } from '../../embed/fidelity.js';

export interface CheckSetting { setting: string; box: BoxShape; buffer: number }

/** A check task: the reference or one sub-cell, and which of its atoms' forces are kept (index in the structure, parent id). */
export interface CheckSpec extends LabelSpec {
  role: 'reference' | 'subcell';
  setting: string | null;
  /** The centre's parent id. null: the whole frame, the reference of every centre. */
  centre: number | null;
  pick: number[];
  ids: number[];
}

/** What a check keeps of a finished task: its DFT wall time, size and the picked forces (eV/Å). */
export interface CheckForces { role: CheckSpec['role']; setting: string | null; centre: number | null; seconds: number; natoms: number; ids: number[]; f: number[] }

export interface CheckData {
  /** Why this stage checks nothing (the settings were checked already; the check is off; nothing to check). */
  skipped?: string;
  /** Whether it is the loop's note that its sub-cells were never checked (said once). */
  unchecked?: boolean;
  /** What was checked: the embedding and DFT settings, as one key. */
  key?: string;
  frame?: { source: string; index: number; natoms: number; centres: number[] };
  reference?: 'frame' | 'subcell';
  target?: number;
  /** The setting autopipe.yaml has. */
  configured?: string;
  settings?: CheckSetting[];
  /** Settings left out, with why (a sub-cell as large as the reference). */
  left_out?: string[];
  forces?: Record<string, CheckForces>;
  /** How many structures the selection before it chose (the budget's projection for the next labelling). */
  labels_next?: number;
}

export function settingName(box: BoxShape, buffer: number): string {
  return `${box}, buffer ${buffer} Å`;
}

/** What a check stands for: the embedding settings and the DFT level its labels are made at. */
export function checkKey(config: Config): string {
  const { rcut, mask_radius, min_distance } = config.embedding;
  const { parameters, pseudopotentials, kspacing, kpoints, gamma_trick } = config.dft;
  return JSON.stringify({ rcut, mask_radius, min_distance, parameters, pseudopotentials, kspacing, kpoints, gamma_trick });
}

/** The ladder: the boxes (the configured one first) over the buffers (null: the configured one, rcut / 2 and rcut). */
export function checkSettings(config: Config): CheckSetting[] {
  const e = config.embedding;
  const buffers = [...new Set(e.check.buffers ?? [e.buffer, e.rcut / 2, e.rcut])].sort((a, b) => a - b);
  const boxes: BoxShape[] = [...new Set([e.box, ...e.check.boxes])];
  return boxes.flatMap((box) => buffers.map((buffer) => ({ setting: settingName(box, buffer), box, buffer })));
}

/** Why no check runs now, if none does: its settings were checked (when: auto) or the check is off. */
export function skipReason(c: Cursor, config: Config): { skipped: string; unchecked?: boolean } | undefined {
  const earlier = [...c.done, ...c.stages].filter((s) => s.kind === 'check').map((s) => s.data as CheckData);
  if (config.embedding.check.when === 'off') {
    const said = earlier.some((d) => d.unchecked === true);
    return { skipped: 'embedding.check.when is off: the sub-cells\' core forces were never compared with their frame\'s DFT', unchecked: !said };
  }
  const key = checkKey(config);
  if (earlier.some((d) => d.key === key && d.skipped === undefined)) return { skipped: 'these embedding and DFT settings were checked already' };
  return undefined;
}

/** The explored frame most of the selection's sub-cells were cut from, and their centres' ids. */
function checkedFrame(ctx: StageContext): { source: string; index: number; centres: number[] } | undefined {
  const file = selectedFile(ctx.iteration);
  const b = ctx.readFile(file, 'work');
  if (b === undefined) throw new StageError(`iteration ${ctx.iteration}'s selection (${file}) is missing from the work folder`);
  const groups = new Map<string, { source: string; index: number; centres: number[] }>();
  for (const s of readExtxyz(b.toString('utf8'), file)) {
    const { source, frame, centre_id: centre, embedded } = s.info;
    if (embedded !== true || typeof source !== 'string' || typeof frame !== 'number' || typeof centre !== 'number') continue;
    const key = `${source}#${frame}`;
    const g = groups.get(key) ?? { source, index: frame, centres: [] };
    g.centres.push(centre);
    groups.set(key, g);
  }
  return [...groups.values()].sort((x, y) => y.centres.length - x.centres.length)[0];
}

function frameAt(ctx: StageContext, source: string, index: number): Atoms {
  const dump = ctx.readFile(source, 'work');
  if (dump === undefined) throw new StageError(`${source} is missing from the work folder`);
  const types = elementsOf(keptPotential(ctx, ctx.iteration).yaml);
  let k = 0;
  for (const f of readDumpFrames([dump], { types }, source)) if (k++ === index) return f;
  throw new StageError(`${source} has no frame ${index} (it has ${k})`);
}

function params(config: Config, box: BoxShape, buffer: number): EmbedParams {
  const e = config.embedding;
  return { rcut: e.rcut, buffer, maskRadius: e.mask_radius ?? undefined, minDistance: e.min_distance, box };
}

export function planCheck(ctx: StageContext, stageDir: string): { tasks: PlannedTask<CheckSpec>[]; data: CheckData; notes: string[] } {
  const { config } = ctx;
  const labelsNext = Number(stageOf(ctx.cursor, 'select', ctx.iteration)?.data.selected ?? 0);
  if (ctx.iteration + 1 >= config.iterations.max) return { tasks: [], data: { skipped: 'the loop ends with this iteration (iterations.max): no sub-cell of it will be labelled', labels_next: labelsNext }, notes: [] };
  const skip = skipReason(ctx.cursor, config);
  if (skip !== undefined) return { tasks: [], data: { ...skip, labels_next: labelsNext }, notes: skip.unchecked === true ? [`iteration ${ctx.iteration}: ${skip.skipped}`] : [] };
  const chosen = checkedFrame(ctx);
  if (chosen === undefined) return { tasks: [], data: { skipped: 'the selection has no sub-cell (only whole frames): nothing to check', labels_next: labelsNext }, notes: [] };
  const frame = frameAt(ctx, chosen.source, chosen.index);
  const centres = chosen.centres.slice(0, config.embedding.check.centres);
  const structures: Planned[] = [];
  const leftOut: string[] = [];
  const settings = checkSettings(config);
  const kept: CheckSetting[] = [];
  const seen = new Set<string>();
  for (const s of settings) {
    const p = params(config, s.box, s.buffer);
    const index = indexFrame(frame, p);
    const cells = centres.map((c) => embedAtom(frame, atomIndexOfId(frame, c), p, index));
    const whole = cells.flatMap((r) => (r.kind === 'subcell' ? [] : [r.reason]))[0];
    if (whole !== undefined) { leftOut.push(`${s.setting}: ${whole}`); continue; }
    // a lattice box is whole periods: two buffers may give the same box
    const shape = cells.map((r) => (r.kind === 'subcell' ? `${natoms(r.atoms)}:${Array.from(r.atoms.cell).map((x) => x.toFixed(3)).join(',')}` : '')).join('|');
    if (seen.has(shape)) { leftOut.push(`${s.setting}: the same sub-cells as a smaller buffer`); continue; }
    seen.add(shape);
    kept.push(s);
    cells.forEach((r, k) => { if (r.kind === 'subcell') structures.push({ atoms: r.atoms, spec: { role: 'subcell', setting: s.setting, centre: centres[k], ...coreAtoms(r.atoms) } }); });
  }
  const reference = referenceCells(frame, centres, structures, kept, config);
  const all = [...reference.cells, ...structures];
  const tasks = all.map(({ atoms, spec }, k): PlannedTask<CheckSpec> => {
    const id = taskId(k);
    const about = spec.role === 'reference' ? `reference: ${spec.centre === null ? 'the whole frame' : `a large sub-cell around atom ${spec.centre}`}` : `${spec.setting}, centre ${spec.centre}`;
    return { id, about, spec: { ...spec, source: { file: chosen.source, frame: chosen.index }, natoms: natoms(atoms) }, files: attemptFiles(atoms, attemptDir(stageDir, id, 1), {}, config) };
  });
  const configured = settingName(config.embedding.box, config.embedding.buffer);
  const gamma = gammaOnlyMetalWarning(all.map((c) => c.atoms), config);
  return {
    tasks,
    data: {
      key: checkKey(config), frame: { source: chosen.source, index: chosen.index, natoms: natoms(frame), centres }, reference: reference.kind,
      target: config.embedding.target_force_error, configured, settings: kept, left_out: leftOut, forces: {}, labels_next: labelsNext,
    },
    notes: [`iteration ${ctx.iteration}: the embedding check labels ${reference.kind === 'frame' ? `frame ${chosen.index} of ${chosen.source} (${natoms(frame)} atoms)` : `a large sub-cell around each centre of frame ${chosen.index} of ${chosen.source}`} and ${structures.length} sub-cells around ${centres.length} centre(s) (${kept.length} settings); the labelling goes on beside it`, ...(gamma === undefined ? [] : [`iteration ${ctx.iteration}: the embedding check: ${gamma}`])],
  };
}

/** Indices in `atoms` of these parent ids: the first atom with each (a sub-cell lists its atoms nearest the centre first). */
function pickIds(atoms: Atoms, ids: readonly number[]): number[] {
  const own = atoms.arrays.parent_id?.values ?? atoms.arrays.id?.values;
  const at = new Map<number, number>();
  for (let k = natoms(atoms) - 1; k >= 0; k--) at.set(own === undefined ? k + 1 : Number(own[k]), k);
  return ids.map((id) => {
    const k = at.get(id);
    if (k === undefined) throw new StageError(`the check's reference has no atom ${id}`);
    return k;
  });
}

type Planned = { atoms: Atoms; spec: Omit<CheckSpec, 'source' | 'natoms'> };

/** The reference: the whole frame if DFT can take it, else per centre a sub-cell with a buffer of the largest checked one + rcut. */
function referenceCells(frame: Atoms, centres: number[], subcells: readonly Planned[], kept: CheckSetting[], config: Config): { kind: 'frame' | 'subcell'; cells: Planned[] } {
  const idsOf = (centre: number | null) => [...new Set(subcells.filter((s) => centre === null || s.spec.centre === centre).flatMap((s) => s.spec.ids))].sort((a, b) => a - b);
  const reference = (atoms: Atoms, centre: number | null): Planned => {
    const ids = idsOf(centre);
    return { atoms, spec: { role: 'reference', setting: null, centre, pick: pickIds(atoms, ids), ids } };
  };
  if (natoms(frame) <= config.embedding.check.max_reference_atoms) return { kind: 'frame', cells: [reference(frame, null)] };
  const buffer = Math.max(...kept.map((s) => s.buffer), config.embedding.buffer) + config.embedding.rcut;
  const p = params(config, config.embedding.box, buffer);
  const index = indexFrame(frame, p);
  return {
    kind: 'subcell',
    cells: centres.map((c) => {
      const r = embedAtom(frame, atomIndexOfId(frame, c), p, index);
      if (r.kind === 'rejected') throw new StageError(`the check's reference around atom ${c}: ${r.reason}`);
      return reference(r.atoms, c);
    }),
  };
}
