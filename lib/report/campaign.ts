/**
 * The campaign per iteration, pure: what `status` tables, `status --json` carries and the
 * report's table shows, from the cursor and the database's labelled cells. One function, so the
 * three never disagree.
 */
import type { Cursor, JsonObject, StageKindName } from '../state/cursor.js';
import type { FailureClass } from '../state/failure-class.js';
import type { LabelledCell } from '../db/ase-db.js';
import { isOpen, type AnyStage, type IterationParts, type Registry } from '../stages/kind.js';
import { recoveryReport, type ClassSummary, type GaveUp } from '../loop/report.js';

export type { FitErrors } from '../stages/kind.js';

/** One iteration: what each of its stages recorded (each kind gives its part), and the failures of all of them. */
export interface IterationSummary {
  iteration: number;
  /** Rows of the database from this iteration's labelling: whole cells and embedded sub-cells. */
  labelled: { full: number; sub: number };
  dft_core_hours: number;
  /** Tasks that failed at least once, over the iteration's stages: recovered or gave up (still retrying: neither). */
  failures: { recovered: number; gave_up: number; retrying: number; by_class: Partial<Record<FailureClass, { recovered: number; gave_up: number; retrying: number }>> };
  fit: NonNullable<IterationParts['fit']> | null;
  explore: NonNullable<IterationParts['explore']> | null;
  select: NonNullable<IterationParts['select']> | null;
  embedding_check: NonNullable<IterationParts['embedding_check']> | null;
}

export interface GaveUpTask extends GaveUp { iteration: number; kind: StageKindName }

export interface ConfigOfStage { iteration: number; kind: StageKindName; config: JsonObject }

export interface Campaign {
  project: string;
  iterations: IterationSummary[];
  gave_up: GaveUpTask[];
  /** Each stage's recorded sections of autopipe.yaml, in order (what changed is read from them). */
  configs: ConfigOfStage[];
  stopped: string | null;
}

function failuresOf(s: AnyStage): { failures: Partial<Record<FailureClass, ClassSummary>>; gaveUp: GaveUp[] } {
  if (isOpen(s)) {
    const r = recoveryReport(s.tasks);
    return { failures: r.failures, gaveUp: r.gave_up };
  }
  return { failures: s.failures as Partial<Record<FailureClass, ClassSummary>>, gaveUp: s.gave_up as unknown as GaveUp[] };
}

/** Stages of both lists in loop order: by iteration, then in the order they were planned (stages planned in one pass: in the registry's order). */
export function stagesInOrder(c: Cursor, registry?: Registry): AnyStage[] {
  const order = [...(registry?.keys() ?? [])];
  const rank = (s: AnyStage) => order.indexOf(s.kind);
  return [...c.done, ...c.stages].sort((x, y) => x.iteration - y.iteration || x.planned_at - y.planned_at || rank(x) - rank(y));
}

function iterationSummary(iteration: number, stages: readonly AnyStage[], cells: readonly LabelledCell[], registry: Registry): IterationSummary {
  const by: IterationSummary['failures']['by_class'] = {};
  for (const s of stages) {
    for (const [cls, n] of Object.entries(failuresOf(s).failures) as Array<[FailureClass, ClassSummary]>) {
      const b = (by[cls] ??= { recovered: 0, gave_up: 0, retrying: 0 });
      b.recovered += n.recovered; b.gave_up += n.gave_up; b.retrying += n.retrying;
    }
  }
  const sum = (k: 'recovered' | 'gave_up' | 'retrying') => Object.values(by).reduce((t, b) => t + (b?.[k] ?? 0), 0);
  // each kind's part, in loop order (a later stage of one kind would win; there is one per iteration)
  const each = stages.map((s) => registry.get(s.kind)?.iterationPart(s, { cells }) ?? {});
  const parts: IterationParts = Object.assign({}, ...each);
  return {
    iteration,
    labelled: parts.labelled ?? { full: 0, sub: 0 },
    // DFT spent by any of the iteration's stages (labelling, an embedding check)
    dft_core_hours: each.reduce((t, p) => t + (p.dft_core_hours ?? 0), 0),
    failures: { recovered: sum('recovered'), gave_up: sum('gave_up'), retrying: sum('retrying'), by_class: by },
    fit: parts.fit ?? null,
    explore: parts.explore ?? null,
    select: parts.select ?? null,
    embedding_check: parts.embedding_check ?? null,
  };
}

export function campaignOf(c: Cursor, cells: readonly LabelledCell[], registry: Registry): Campaign {
  const stages = stagesInOrder(c, registry);
  const iterations = [...new Set(stages.map((s) => s.iteration))].sort((a, b) => a - b);
  return {
    project: c.project,
    iterations: iterations.map((k) => iterationSummary(k, stages.filter((s) => s.iteration === k), cells, registry)),
    gave_up: stages.flatMap((s) => failuresOf(s).gaveUp.map((g) => ({ ...g, iteration: s.iteration, kind: s.kind }))),
    configs: stages.flatMap((s) => (s.config === undefined ? [] : [{ iteration: s.iteration, kind: s.kind, config: s.config }])),
    stopped: c.stopped?.reason ?? null,
  };
}

function num(v: number | null | undefined, digits: number): string {
  return v === null || v === undefined ? '-' : v.toFixed(digits);
}

/** The campaign's iterations as a text table for `status`: one row each. */
export function campaignTable(iterations: readonly IterationSummary[]): string[] {
  const head = ['iter', 'labelled full/sub', 'DFT core-h', 'failed: recovered/gave up', 'E RMSE meV/atom train/test', 'F RMSE core meV/Å train/test', 'F RMSE validation', 'runs', 'frames explored/collected', 'largest γ', 'candidates', 'selected'];
  const rows = iterations.map((r) => [
    String(r.iteration), `${r.labelled.full}/${r.labelled.sub}`, r.dft_core_hours.toFixed(3), `${r.failures.recovered}/${r.failures.gave_up}${r.failures.retrying > 0 ? ` (+${r.failures.retrying} retrying)` : ''}`,
    r.fit === null ? '-' : `${num(r.fit.train.energy_mev_per_atom, 1)}/${num(r.fit.test?.energy_mev_per_atom, 1)}`,
    r.fit === null ? '-' : `${num(r.fit.train.force_core_mev_per_a, 1)}/${num(r.fit.test?.force_core_mev_per_a, 1)}`,
    num(r.fit?.validation?.force_rmse, 1),
    r.explore === null ? '-' : String(r.explore.runs), r.explore === null ? '-' : `${r.explore.frames_explored}/${r.explore.frames_collected}`,
    r.explore === null ? '-' : r.explore.largest_gamma.toFixed(2), r.select === null ? '-' : String(r.select.candidates), r.select === null ? '-' : String(r.select.selected),
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((v, i) => (i === 0 ? v.padEnd(width[i]) : v.padStart(width[i]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}
