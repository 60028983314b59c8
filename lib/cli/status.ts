/** What `status` and `poll --json` show, from the cursor (and, for the per-iteration table, the database's labelled cells); pure. */
import type { Config } from '../config/types.js';
import type { Cursor, JsonObject, StageRecord, StageSummary, PotentialRecord } from '../state/cursor.js';
import { selectionLine } from '../stages/select/index.js';
import { runResultsOf, runTotals } from '../stages/kept.js';
import { showJob } from '../slurm/job-ref.js';
import { countsOf, lastAttempt } from '../loop/tasks.js';
import { recoveryReport } from '../loop/report.js';
import { campaignOf, stageCoreSeconds, stagesInOrder } from '../report/campaign.js';
import { configChanges } from '../config/changes.js';
import type { LabelledCell } from '../db/ase-db.js';

function stageJson(s: StageRecord) {
  const jobOf = new Map(s.submissions.map((x) => [x.token, x.job]));
  const report = recoveryReport(s.tasks);
  return {
    kind: s.kind, iteration: s.iteration, followed: s.followed, data: s.data,
    tasks: s.tasks.map((t) => {
      const a = lastAttempt(t);
      return {
        id: t.id, about: t.about, state: a.state, attempt: a.attempt, job_id: showJob(jobOf.get(a.submission ?? '') ?? null), job_ref: jobOf.get(a.submission ?? '') ?? null,
        error_class: a.error_class, dir: a.dir,
        failures: t.attempts.filter((x) => x.state === 'failed').map((x) => ({ attempt: x.attempt, error_class: x.error_class, message: x.message, action: x.action ?? null })),
        gave_up: t.gave_up ?? null,
      };
    }),
    counts: countsOf(s.tasks),
    report,
  };
}

function doneJson(d: StageSummary) {
  const n = Object.entries(d.counts).filter(([, k]) => k > 0).map(([k, v]) => `${v} ${k}`).join(', ');
  const rows = typeof d.data.rows === 'number' ? `, ${d.data.rows} rows` : '';
  return { ...d, summary: `${d.tasks} task${d.tasks === 1 ? '' : 's'} (${n})${rows}` };
}

function mev(v: unknown): string {
  return typeof v === 'number' ? (v * 1000).toFixed(1) : '-';
}

function potentialJson(p: PotentialRecord) {
  const m = p.metrics as { train?: Record<string, unknown>; test?: Record<string, unknown> };
  const split = (name: string, x: Record<string, unknown> | undefined) => (x === undefined ? '' : `; ${name}: energy ${mev(x.energy_rmse_per_atom)} meV/atom, force ${mev(x.force_rmse_core)} meV/Å on ${String(x.core_atoms ?? '-')} core atoms`);
  return { ...p, summary: `${p.rows} rows (ids ${p.row_ids.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ')})${split('train', m.train)}${split('test', m.test)}; ${p.duration_s ?? '-'} s${p.warm_start_from === null ? '' : `, warm start from ${p.warm_start_from}`}` };
}

/** `cells`: the database's labelled cells (none when there is no database yet). */
export function statusJson(c: Cursor, cells: readonly LabelledCell[] = []) {
  const stages = c.stages.map(stageJson);
  // the newest open stage, as the flat fields of earlier versions (scripts read them)
  const current = stages.at(-1);
  return {
    iteration: c.iteration,
    stage: current?.kind ?? null,
    stopped: c.stopped,
    tasks: current?.tasks ?? [],
    counts: current?.counts ?? null,
    failures: current?.report.failures ?? {},
    gave_up: current?.report.gave_up ?? [],
    stages,
    done: c.done.map(doneJson),
    potentials: c.potentials.map(potentialJson),
    // per iteration, the numbers of the report's table
    iterations: campaignOf(c, cells).iterations,
  };
}

/** Per iteration, in order: what each of its stages did, in one line each (status, the end of `run`). */
export function iterationLines(c: Cursor, config: Config): string[] {
  const stages = stagesInOrder(c);
  const out: string[] = [];
  const lastConfig = new Map<string, JsonObject>();
  for (const s of stages) {
    const head = `iteration ${s.iteration} ${s.kind.padEnd(7)}`;
    // an open stage has its tasks; a done one their summary
    const counts = Array.isArray(s.tasks) ? countsOf(s.tasks) : (s as StageSummary).counts;
    const hours = stageCoreSeconds(s) / 3600;
    if (s.kind === 'label') out.push(`${head} ${counts.done} structure(s) labelled${counts.failed > 0 ? `, ${counts.failed} failed for good` : ''}; ${hours.toFixed(3)} core-hours`);
    if (s.kind === 'train') {
      const pot = c.potentials.find((p) => p.iteration === s.iteration);
      out.push(`${head} ${pot === undefined ? 'no potential yet' : `${pot.dir}: ${potentialJson(pot).summary}`}`);
    }
    if (s.kind === 'explore') {
      const r = Object.values(runResultsOf(s.data));
      const t = runTotals(r);
      out.push(`${head} ${r.length} run(s): ${t.explored} frames explored, ${t.collected} collected, largest γ ${t.maxGamma.toFixed(2)}, ${r.filter((x) => x.stopped_early).length} stopped early at gamma_stop`);
    }
    if (s.kind === 'select') out.push(`${head} ${selectionLine(s.iteration, s.data, config).replace(/^iteration \d+: /, '')}`);
    if (s.config !== undefined) {
      const before = lastConfig.get(s.kind);
      if (before !== undefined) for (const change of configChanges(before, s.config)) out.push(`${' '.repeat(head.length + 1)}planned with a changed autopipe.yaml: ${change}`);
      lastConfig.set(s.kind, s.config);
    }
  }
  return out;
}
