/**
 * The report's exploration runs, pure: per iteration, a table of its runs (where each started,
 * under what conditions, what it explored and collected, its largest γ, the temperature of its
 * last explored frame and the volume per atom it saw), folded but for the newest iteration's.
 */
import type { ReportData } from './gather.js';
import { escapeXml as esc } from './escape.js';

const dash = (v: string | null) => (v === null ? '–' : esc(v));

const HEAD = `<tr><th class="text">run</th><th class="text">start structure</th><th class="text">ensemble</th><th class="text">conditions</th><th>steps run</th><th>frames explored</th><th>collected</th><th>largest γ</th><th>final temperature, K</th><th>volume, Å³/atom</th><th class="text">ended early</th></tr>`;

export function runsSection(d: ReportData): string {
  const explored = d.campaign.iterations.filter((r) => r.explore !== null && r.explore.run_list.length > 0);
  if (explored.length === 0) return '<p id="runs">No exploration run has finished.</p>';
  const newest = explored[explored.length - 1].iteration;
  return explored.map((r) => {
    const e = r.explore as NonNullable<typeof r.explore>;
    const rows = e.run_list.map((x) => `<tr class="run"><td class="text">${esc(x.task)}</td><td class="text wrap">${dash(x.start)}</td><td class="text">${dash(x.ensemble)}</td><td class="text">${dash(x.conditions)}</td>` +
      `<td>${x.steps_run}</td><td>${x.explored}</td><td>${x.collected}</td><td>${x.max_gamma.toFixed(2)}</td><td>${x.temperature_last === null ? '–' : x.temperature_last.toFixed(0)}</td>` +
      `<td>${x.volume_per_atom === null ? '–' : x.volume_per_atom[0] === x.volume_per_atom[1] ? x.volume_per_atom[0].toFixed(2) : `${x.volume_per_atom[0].toFixed(2)}–${x.volume_per_atom[1].toFixed(2)}`}</td><td class="text wrap">${dash(x.ended)}</td></tr>`).join('');
    const about = `iteration ${r.iteration}: ${e.run_list.length} run(s)${e.conditions === null ? '' : `; ${esc(e.conditions)}`}`;
    return `<details class="runs" data-iteration="${r.iteration}"${r.iteration === newest ? ' open' : ''}><summary>${about}</summary><table class="runs">${HEAD}${rows}</table></details>`;
  }).join('\n') +
    '\n<p class="muted">Conditions: the thermostat\'s target (a ramp from → to over the run) and, under NPT, the barostat\'s pressure. Final temperature: the instantaneous temperature of the run\'s last explored frame; volume: per atom, smallest–largest over its explored frames. – : not recorded (runs of an older autopipe).</p>';
}
