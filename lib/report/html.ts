/**
 * The report as one self-contained HTML page, pure: inline CSS and SVG, no script, nothing
 * fetched (a Content-Security-Policy says so to the browser too). It opens from a login node's
 * disk or a laptop without a network.
 */
import type { ReportData } from './gather.js';
import type { FailureClass } from '../state/failure-class.js';
import { configChanges, configLeaves } from '../config/changes.js';
import { escapeXml as esc } from './escape.js';
import { plotSvg } from './svg.js';
import { reportPlots } from './plots.js';
import { runsSection } from './runs.js';

/** The page's mark: `autopipe report` replaces only a file that carries it. */
export const GENERATOR = '<meta name="generator" content="autopipe report">';

export interface PageContext {
  /** When the report was made (Unix seconds, injected). */
  generatedAt: number;
  /** The project folder, as the user would find it. */
  projectDir: string;
  /** An attempt folder as a person would look for it (host:path over SSH). */
  where: (dir: string) => string;
}

const CSS = `body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:3px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}
th{background:#f4f4f4}td.text,th.text{text-align:left}.muted{color:#666}.stop{background:#fff7e0;border:1px solid #f0d48a;padding:6px 10px;display:inline-block}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px}
code,pre{font-size:12px}pre{background:#f7f7f7;padding:8px;overflow-x:auto}
details.runs{margin:6px 0}details.runs summary{cursor:pointer;font-size:14px}table.runs{margin:6px 0 10px}table.runs td{white-space:nowrap}table.runs td.wrap{white-space:normal}`;

const fixed = (v: number | null | undefined, d: number) => (v === null || v === undefined ? '–' : v.toFixed(d));

function classes(by: Partial<Record<FailureClass, { recovered: number; gave_up: number; retrying: number }>>): string {
  const e = Object.entries(by);
  if (e.length === 0) return '–';
  return e.map(([cls, n]) => `${esc(cls)}: ${n?.recovered ?? 0} recovered, ${n?.gave_up ?? 0} gave up${(n?.retrying ?? 0) > 0 ? `, ${n?.retrying} retrying` : ''}`).join('<br>');
}

function iterationTable(d: ReportData): string {
  const head = ['iteration', 'labelled: full cells', 'sub-cells', 'DFT core-hours', 'failures by class', 'level of theory of the fit', 'rows left out (other level)', 'E RMSE train', 'E RMSE test', 'F RMSE core train', 'F RMSE core test', 'F RMSE validation', 'exploration runs', 'frames explored', 'collected', 'largest γ', 'candidates', 'selected'];
  const rows = d.campaign.iterations.map((r) => [
    String(r.iteration), String(r.labelled.full), String(r.labelled.sub), r.dft_core_hours.toFixed(3), `<td class="text">${classes(r.failures.by_class)}</td>`,
    `<td class="text">${r.fit?.level == null ? '–' : `<code>${esc(r.fit.level)}</code>`}</td>`, r.fit == null ? '–' : String(r.fit.left_out ?? 0),
    fixed(r.fit?.train.energy_mev_per_atom, 1), fixed(r.fit?.test?.energy_mev_per_atom, 1), fixed(r.fit?.train.force_core_mev_per_a, 1), fixed(r.fit?.test?.force_core_mev_per_a, 1), fixed(r.fit?.validation?.force_rmse, 1),
    r.explore === null ? '–' : String(r.explore.runs), r.explore === null ? '–' : String(r.explore.frames_explored), r.explore === null ? '–' : String(r.explore.frames_collected),
    fixed(r.explore?.largest_gamma, 2), r.select === null ? '–' : String(r.select.candidates), r.select === null ? '–' : String(r.select.selected),
  ]);
  const cell = (v: string) => (v.startsWith('<td') ? v : `<td>${v}</td>`);
  return `<table id="iterations"><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>${rows.map((r) => `<tr class="iteration">${r.map(cell).join('')}</tr>`).join('')}</table>` +
    '<p class="muted">RMSE in meV/atom (energy) and meV/Å (force components on core atoms, mask 1); a test column is empty without a test split (train.test_fraction); validation: core atoms of the validation rows, which no fit sees (empty without a validation set). A fit uses only rows of one level of theory (<code>autopipe db levels</code> lists them); rows of another were left out, as counted.</p>';
}

function gaveUpTable(d: ReportData, ctx: PageContext): string {
  const g = d.campaign.gave_up;
  if (g.length === 0) return '<p id="gave-up">No task gave up.</p>';
  return `<table id="gave-up"><tr><th class="text">iteration</th><th class="text">stage</th><th class="text">task</th><th>attempt</th><th class="text">class</th><th class="text">last error</th><th class="text">folder</th></tr>${g.map((x) =>
    `<tr><td class="text">${x.iteration}</td><td class="text">${esc(x.kind)}</td><td class="text">${esc(x.task)}</td><td>${x.attempt}</td><td class="text">${esc(x.error_class)}</td><td class="text">${esc(x.message)}<br><span class="muted">${esc(x.reason)}</span></td><td class="text"><code>${esc(ctx.where(x.dir))}</code></td></tr>`).join('')}</table>`;
}

function configSection(d: ReportData): string {
  const first = new Map<string, string>();
  const changes: string[] = [];
  const last = new Map<string, Record<string, unknown>>();
  for (const s of d.campaign.configs) {
    const before = last.get(s.kind);
    if (before === undefined) for (const [k, v] of configLeaves(s.config, '', new Map())) first.set(k, v);
    else for (const c of configChanges(before, s.config)) changes.push(`<li>iteration ${s.iteration}, ${esc(s.kind)}: <code>${esc(c)}</code></li>`);
    last.set(s.kind, s.config);
  }
  if (first.size === 0) return '<p>No stage recorded its configuration (stages planned before autopipe recorded it).</p>';
  const lines = [...first].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}: ${v}`).join('\n');
  return `<p>${changes.length === 0 ? 'Nothing changed in autopipe.yaml between the iterations.' : 'What changed between the iterations:'}</p>${changes.length === 0 ? '' : `<ul id="config-changes">${changes.join('')}</ul>`}` +
    `<details><summary>The configuration each kind of stage was first planned with</summary><pre id="config-first">${esc(lines)}</pre></details>`;
}

/** What the learning curve says, first: the validation error of each potential, or that learning is not measured. */
function learning(d: ReportData): string {
  const fits = d.campaign.iterations.filter((r) => r.fit !== null);
  const measured = fits.filter((r) => typeof r.fit?.validation?.force_rmse === 'number');
  if (fits.length === 0) return '';
  if (measured.length === 0) return '<p id="learning">Learning is not measured: no potential was evaluated on a validation set (<code>validation:</code> in autopipe.yaml), so nothing here says whether a potential is better than the one before; the fit\'s own train and test errors rise as harder data is added.</p>';
  const v = measured.at(-1)?.fit?.validation;
  return `<p id="learning">Validation force RMSE on core atoms: ${measured.map((r) => `iteration ${r.iteration} ${r.fit?.validation?.force_rmse?.toFixed(1)}`).join(', ')} meV/Å (${v?.core_atoms ?? 0} core atoms of ${v?.rows ?? 0} rows no fit saw).</p>`;
}

function notes(d: ReportData): string {
  const without = d.gammas.filter((g) => g.runsWithout > 0).map((g) => `iteration ${g.iteration}: ${g.runsWithout} run(s)`);
  return without.length === 0 ? '' : `<p class="muted">No per-frame γ recorded (runs of an older autopipe): ${esc(without.join('; '))}.</p>`;
}

export function reportHtml(d: ReportData, ctx: PageContext): string {
  const when = new Date(ctx.generatedAt * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const stop = d.campaign.stopped === null ? '<p class="stop">The loop is running.</p>' : `<p class="stop" id="stopped">The loop stopped: ${esc(d.campaign.stopped)}</p>`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
${GENERATOR}
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>autopipe report: ${esc(d.campaign.project)}</title>
<style>${CSS}</style></head>
<body>
<h1>autopipe report: ${esc(d.campaign.project)}</h1>
<p class="muted">${esc(ctx.projectDir)} · made ${when} · ${d.campaign.iterations.length} iteration(s)</p>
${stop}
${learning(d)}
<h2>Iterations</h2>
${iterationTable(d)}
<h2>Plots</h2>
<div class="plots">
${reportPlots(d).map(plotSvg).join('\n')}
</div>
${notes(d)}
<h2>Exploration runs</h2>
${runsSection(d)}
<h2>Tasks that gave up</h2>
${gaveUpTable(d, ctx)}
<h2>Configuration</h2>
${configSection(d)}
</body></html>
`;
}
