/**
 * What the report shows, gathered from the cursor, the database's cells and the files kept in
 * the work folder (each run's summary.json, the last fit's metrics.txt). Pure: the files come
 * through readWork, so a test hands them in.
 */
import type { Cursor } from '../state/cursor.js';
import type { LabelledCell } from '../db/ase-db.js';
import type { Registry } from '../stages/kind.js';
import { readPacemakerMetrics } from '../formats/pacemaker-metrics.js';
import { campaignOf, type Campaign } from './campaign.js';
import type { Box } from './svg.js';

export interface ReportInput {
  cursor: Cursor;
  cells: readonly LabelledCell[];
  registry: Registry;
  readWork: (path: string) => Buffer | undefined;
  /** Today's thresholds, for explorations that did not record theirs. */
  gammaCollect: number;
  gammaStop: number;
}

export interface GammaOfIteration {
  iteration: number;
  /** Each explored frame's largest γ, over the iteration's runs. */
  values: number[];
  /** Runs whose summary has no per-frame grades (written before autopipe recorded them). */
  runsWithout: number;
}

export interface ReportData {
  campaign: Campaign;
  gammas: GammaOfIteration[];
  /** The last fit's curve: loss per iteration of the fit, train (and test when it was split). */
  loss: { iteration: number; dir: string; train: Array<[number, number]>; test: Array<[number, number]> } | null;
  cells: readonly LabelledCell[];
  gammaCollect: number;
  gammaStop: number;
}

function frameGammas(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  try {
    const g = (JSON.parse(text) as { frame_gammas?: unknown }).frame_gammas;
    return Array.isArray(g) && g.every((v) => typeof v === 'number') ? (g as number[]) : undefined;
  } catch {
    return undefined;
  }
}

function gammasOf(campaign: Campaign, readWork: ReportInput['readWork']): GammaOfIteration[] {
  return campaign.iterations.flatMap((it) => {
    if (it.explore == null) return [];
    const values: number[] = [];
    let runsWithout = 0;
    for (const file of it.explore.summaries) {
      const g = frameGammas(readWork(file)?.toString('utf8'));
      if (g === undefined) runsWithout++;
      else values.push(...g);
    }
    return [{ iteration: it.iteration, values, runsWithout }];
  });
}

function curve(text: string | undefined, name: string): Array<[number, number]> {
  if (text === undefined) return [];
  // the row's position is the x: iter_num starts again at each ladder or cycle step
  return readPacemakerMetrics(text, name).map((r, k) => [k, r.loss] as [number, number]).filter(([, v]) => Number.isFinite(v));
}

function lossOf(campaign: Campaign, readWork: ReportInput['readWork']): ReportData['loss'] {
  const last = campaign.iterations.filter((it) => it.fit != null).at(-1);
  if (last?.fit == null) return null;
  const dir = last.fit.dir;
  const read = (n: string) => readWork(`${dir}/${n}`)?.toString('utf8');
  return { iteration: last.iteration, dir, train: curve(read('metrics.txt'), `${dir}/metrics.txt`), test: curve(read('test_metrics.txt'), `${dir}/test_metrics.txt`) };
}

export function gatherReport(input: ReportInput): ReportData {
  const campaign = campaignOf(input.cursor, input.cells, input.registry);
  // the thresholds the last exploration ran with (today's when it recorded none)
  const last = campaign.iterations.filter((it) => it.explore != null).at(-1)?.explore;
  return {
    campaign,
    gammas: gammasOf(campaign, input.readWork),
    loss: lossOf(campaign, input.readWork),
    cells: input.cells,
    gammaCollect: last?.gamma_collect ?? input.gammaCollect,
    gammaStop: last?.gamma_stop ?? input.gammaStop,
  };
}

function quantile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

/** Min, quartiles and max of the values (none: undefined). */
export function boxOf(x: number, values: readonly number[]): Box | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  return { x, min: s[0], q1: quantile(s, 0.25), median: quantile(s, 0.5), q3: quantile(s, 0.75), max: s[s.length - 1], n: s.length };
}
