/** The report's plots, as plot specs from the report's data (pure); the learning curve first. */
import type { ReportData } from './gather.js';
import type { IterationSummary } from './campaign.js';
import { boxOf } from './gather.js';
import type { Box, Layer, PlotSpec } from './svg.js';

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const TRAIN = '#1f77b4';
const TEST = '#ff7f0e';
const VALIDATION = '#2ca02c';

function series(name: string, color: string, points: Array<[number, number | null | undefined]>, opts: { dash?: boolean; markers?: boolean } = {}): Layer[] {
  const p = points.filter((x): x is [number, number] => typeof x[1] === 'number' && Number.isFinite(x[1]));
  return p.length === 0 ? [] : [{ kind: 'line', name, color, points: p, ...opts }];
}

/** Log10 only when the values span more than a decade: a narrow range reads better on a linear axis. */
function spansDecade(values: readonly number[]): boolean {
  const v = values.filter((x) => x > 0);
  return v.length > 0 && Math.max(...v) / Math.min(...v) > 10;
}

export function reportPlots(d: ReportData): PlotSpec[] {
  const it = d.campaign.iterations;
  const fits = it.filter((r) => r.fit !== null);
  const x = { label: 'iteration', integer: true };
  let total = 0;
  const cumulative = it.map((r): [number, number] => [r.iteration, (total += r.dft_core_hours)]);
  const boxes = d.gammas.map((g) => boxOf(g.iteration, g.values)).filter((b): b is Box => b !== undefined);
  // the cells the fits learn from: validation rows are not what embedding saves on
  const cells = d.cells.filter((c) => c.set !== 'validation');
  const iterations = [...new Set(cells.map((c) => c.iteration ?? -1))].sort((a, b) => a - b);
  const sizes = cells.map((c) => c.parent_natoms ?? c.natoms);
  const diagonal: Array<[number, number]> = sizes.length === 0 ? [] : [[Math.min(...sizes), Math.min(...sizes)], [Math.max(...sizes), Math.max(...sizes)]];
  const check = [...it].reverse().find((r) => r.embedding_check !== null && r.embedding_check.rows.length > 0);
  // the DFT spent through each iteration (its labels, and a check beside it), where each fit's validation error is placed
  const spentThrough = new Map(cumulative);
  return [
    {
      id: 'plot-force-rmse', title: 'Learning curve: force RMSE on core atoms', x, y: { label: 'meV/Å', zero: true },
      layers: [
        ...series('validation', VALIDATION, fits.map((r) => [r.iteration, r.fit?.validation?.force_rmse])),
        ...series('train', TRAIN, fits.map((r) => [r.iteration, r.fit?.train.force_core_mev_per_a])), ...series('test', TEST, fits.map((r) => [r.iteration, r.fit?.test?.force_core_mev_per_a]), { dash: true }),
      ],
    },
    {
      id: 'plot-learning-dft', title: 'Validation force RMSE against the DFT spent', x: { label: 'DFT core-hours through the iteration' }, y: { label: 'meV/Å', zero: true },
      layers: series('validation', VALIDATION, fits.map((r) => [spentThrough.get(r.iteration) ?? 0, r.fit?.validation?.force_rmse])),
    },
    {
      id: 'plot-energy-rmse', title: 'Energy RMSE', x, y: { label: 'meV/atom', zero: true },
      layers: [
        ...series('validation, less a constant shift', VALIDATION, fits.map((r) => [r.iteration, r.fit?.validation?.energy_shifted])),
        ...series('train', TRAIN, fits.map((r) => [r.iteration, r.fit?.train.energy_mev_per_atom])), ...series('test', TEST, fits.map((r) => [r.iteration, r.fit?.test?.energy_mev_per_atom]), { dash: true }),
      ],
    },
    {
      id: 'plot-dft-hours', title: 'DFT core-hours', x, y: { label: 'core-hours', zero: true },
      layers: it.length === 0 ? [] : [
        { kind: 'bars', name: 'per iteration', color: '#9ecae1', bars: it.map((r) => [r.iteration, r.dft_core_hours]) },
        { kind: 'line', name: 'cumulative', color: '#08519c', points: cumulative },
      ],
    },
    {
      id: 'plot-gamma', title: 'Extrapolation grade γ of explored frames (largest per frame)', x, y: { label: 'γ', log: true },
      layers: boxes.length === 0 ? [] : [
        { kind: 'boxes', name: 'γ', color: '#6a51a3', boxes },
        { kind: 'rule', name: `gamma_collect ${d.gammaCollect}`, color: '#2ca02c', y: d.gammaCollect },
        { kind: 'rule', name: `gamma_stop ${d.gammaStop}`, color: '#d62728', y: d.gammaStop },
      ],
    },
    {
      id: 'plot-cell-size', title: 'Atoms per labelled cell against its parent', x: { label: 'atoms in the parent frame' }, y: { label: 'atoms labelled', zero: true },
      layers: cells.length === 0 ? [] : [
        { kind: 'line', name: 'as large as the parent', color: '#bbbbbb', points: diagonal, dash: true, markers: false },
        ...iterations.map((k, n): Layer => {
          const mine = cells.filter((c) => (c.iteration ?? -1) === k);
          return {
            kind: 'points', name: k < 0 ? 'not autopipe\'s' : `iteration ${k}`, color: PALETTE[n % PALETTE.length],
            points: mine.map((c) => [c.parent_natoms ?? c.natoms, c.natoms]),
            titles: mine.map((c) => `row ${c.id}: ${c.natoms} atoms${c.embedded === true ? `, cut from ${c.parent_natoms ?? '?'}` : ', a whole cell'}`),
          };
        }),
      ],
    },
    {
      id: 'plot-loss', title: d.loss === null ? 'The fit\'s loss' : `The fit's loss, iteration ${d.loss.iteration}`, x: { label: 'step of the fit' },
      y: { label: 'loss', log: spansDecade([...(d.loss?.train ?? []), ...(d.loss?.test ?? [])].map((p) => p[1])) },
      layers: d.loss === null ? [] : [...series('train', TRAIN, d.loss.train, { markers: false }), ...series('test', TEST, d.loss.test, { dash: true, markers: false })],
    },
    checkPlot(check?.embedding_check ?? null, check?.iteration),
  ];
}

/** The embedding check: each setting's core-force error against its DFT cost, both boxes, with the target. */
function checkPlot(c: IterationSummary['embedding_check'], iteration: number | undefined): PlotSpec {
  const shapes = [...new Set((c?.rows ?? []).map((r) => r.setting.split(',')[0]))];
  return {
    id: 'plot-embedding-check', title: c === null ? 'Embedding check: core-force error against DFT cost' : `Embedding check (iteration ${iteration}): core-force error against DFT cost`,
    x: { label: 'DFT time of a sub-cell / the reference\'s' }, y: { label: 'core force RMSE, meV/Å', zero: true },
    layers: c === null ? [] : [
      ...shapes.map((shape, n): Layer => {
        const rows = c.rows.filter((r) => r.setting.split(',')[0] === shape);
        return { kind: 'points', name: shape, color: PALETTE[n % PALETTE.length], points: rows.map((r) => [r.costShare, r.rmse]), titles: rows.map((r) => `${r.setting}: ${r.rmse.toFixed(0)} meV/Å, ${r.atoms.toFixed(0)} atoms${r.setting === c.configured ? ' (configured)' : ''}`) };
      }),
      ...(c.target === null ? [] : [{ kind: 'rule' as const, name: `target ${c.target} meV/Å`, color: '#d62728', y: c.target }]),
    ],
  };
}
