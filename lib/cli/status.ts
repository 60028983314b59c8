/** What `status` and `poll --json` show, from the cursor alone (pure). */
import type { Cursor, StageRecord, StageSummary, PotentialRecord } from '../state/cursor.js';
import { showJob } from '../slurm/job-ref.js';
import { countsOf, lastAttempt } from '../loop/tasks.js';
import { recoveryReport } from '../loop/report.js';

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

export function statusJson(c: Cursor) {
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
  };
}
