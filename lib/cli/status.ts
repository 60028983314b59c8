/** What `status` and `poll --json` show, from the cursor (and, for the per-iteration table, the database's labelled cells); pure. */
import type { Cursor, JsonObject, StageRecord, StageSummary } from '../state/cursor.js';
import type { Registry } from '../stages/kind.js';
import type { Config } from '../config/types.js';
import { potentialLine, potentialsOf } from '../stages/kept.js';
import { REGISTRY } from '../stages/registry.js';
import { showJob } from '../slurm/job-ref.js';
import { countsOf, lastAttempt } from '../state/tasks.js';
import { recoveryReport } from '../loop/report.js';
import { queueWait } from '../loop/submit.js';
import { campaignOf, stagesInOrder } from '../report/campaign.js';
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

/** `cells`: the database's labelled cells (none when there is no database yet). */
export function statusJson(c: Cursor, cells: readonly LabelledCell[] = [], registry: Registry = REGISTRY) {
  const stages = c.stages.map(stageJson);
  // the newest open stage, as the flat fields of earlier versions (scripts read them)
  const current = stages.at(-1);
  return {
    iteration: c.iteration,
    campaign: c.id,
    stage: current?.kind ?? null,
    stopped: c.stopped,
    tasks: current?.tasks ?? [],
    counts: current?.counts ?? null,
    failures: current?.report.failures ?? {},
    gave_up: current?.report.gave_up ?? [],
    stages,
    done: c.done.map(doneJson),
    potentials: potentialsOf(c).map((p) => ({ ...p, summary: potentialLine(p) })),
    // per iteration, the numbers of the report's table
    iterations: campaignOf(c, cells, registry).iterations,
    // tasks whose sbatch a queue limit refused: tried again at each poll
    waiting_for_queue: queueWait(c) ?? null,
  };
}

/** The line `status` shows while tasks wait for the queue (sbatch refused them for a queue limit). */
export function waitingLine(c: Cursor, now: number): string | undefined {
  const w = queueWait(c);
  if (w === undefined) return undefined;
  const min = Math.max(0, Math.round((now - w.since) / 60));
  return `${w.tasks} task${w.tasks === 1 ? '' : 's'} wait${w.tasks === 1 ? 's' : ''} for the queue (sbatch refused them: ${w.reason}; for ${min} min): each poll submits what fits`;
}

/** Where the campaign stands as to each kind that says (the embedding check: were today's settings checked?). */
export function standingLines(c: Cursor, config: Config, registry: Registry = REGISTRY): string[] {
  const stages = stagesInOrder(c, registry);
  return [...registry.values()].flatMap((k) => {
    const line = k.standing?.(stages.filter((s) => s.kind === k.kind), config);
    return line === undefined ? [] : [line];
  });
}

/** Per iteration, in order: what each of its stages did, in one line each, from what it recorded (status, the end of `run`). */
export function iterationLines(c: Cursor, cells: readonly LabelledCell[] = [], registry: Registry = REGISTRY): string[] {
  const out: string[] = [];
  const lastConfig = new Map<string, JsonObject>();
  for (const s of stagesInOrder(c, registry)) {
    const head = `iteration ${s.iteration} ${s.kind.padEnd(7)}`;
    const kind = registry.get(s.kind);
    out.push(`${head} ${kind === undefined ? '(a kind of stage this autopipe does not have)' : kind.summaryLine(s, { cells })}`);
    if (s.config !== undefined) {
      const before = lastConfig.get(s.kind);
      if (before !== undefined) for (const change of configChanges(before, s.config)) out.push(`${' '.repeat(head.length + 1)}planned with a changed autopipe.yaml: ${change}`);
      lastConfig.set(s.kind, s.config);
    }
  }
  return out;
}
