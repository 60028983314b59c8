/**
 * The embedding check: are the labels the sub-cells get the forces DFT gives the same atoms in
 * the frame they were cut from? After a selection, pw.x labels that explored frame (or a much
 * larger sub-cell standing for it) and sub-cells around its centres over a ladder of settings,
 * at the campaign's DFT settings and k-point rule. The figures (lib/stages/check/table.ts) are
 * in the poll's output, status and the report. It runs once per embedding and DFT setting and
 * never holds the loop up: the next iteration's labelling starts beside it. Its labels are a
 * measurement, not training data: nothing goes into the database.
 */
import { parsePwOutput, pwWallSeconds } from '../../formats/espresso-out.js';
import { stageCoreSeconds, stageCounts } from '../../state/tasks.js';
import { defineJobKind } from '../kind.js';
import { classifyOutput } from '../label/classes.js';
import { pwTask } from '../label/pw-task.js';
import { quoteJobLog } from '../error-line.js';
import { JOB_LOG } from '../../exec/manifest.js';
import { forcesAt } from '../../embed/fidelity.js';
import { checkKey, planCheck, settingName, type CheckData, type CheckForces, type CheckSpec } from './plan.js';
import { checkFigures, checkLine } from './table.js';

export const checkKind = defineJobKind<CheckSpec, CheckData, CheckForces>({
  kind: 'check',
  noun: 'embedding check',
  runs: 'jobs',
  configSections: ['dft', 'embedding', 'recovery'],
  next: { kind: 'label', nextIteration: true },
  spendsDft: true,
  measures: true,
  labelsNext: (stage) => stage.data.labels_next ?? 0,
  // pw.x in a task folder, as labelling runs it
  ...pwTask,
  plan(ctx, stageDir) {
    const { tasks, data, notes } = planCheck(ctx, stageDir);
    return { tasks, shared: [], data, notes };
  },
  judge(files, exitcode, task) {
    const text = files.get('pw.out')?.toString('utf8') ?? '';
    const out = parsePwOutput(text);
    if (out.status !== 'ok' || out.forces === undefined) return quoteJobLog({ ok: false, failure: classifyOutput(out, exitcode) }, files, ['pw.out'], ['pw.err', JOB_LOG]);
    const forces = out.forces;
    const { role, setting, centre, ids, pick, natoms } = task.spec;
    const seconds = pwWallSeconds(text);
    if (seconds === null) return { ok: false, failure: { cls: 'corrupt_output', message: 'pw.out has no closing timing line (PWSCF … WALL)' } };
    return { ok: true, result: { role, setting, centre, seconds, natoms, ids, f: forcesAt(forces, pick) } };
  },
  // a measurement: nothing for the database
  merge: () => [],
  record: (stage, done) => ({ forces: { ...(stage.data.forces ?? {}), ...Object.fromEntries(done.map((d) => [d.task.id, d.result])) } }),
  // the labelling of the next iteration does not wait for the check
  followsEarly: () => true,
  // failed as labelling says it: a task whose last attempt failed (for good once the stage is settled)
  summaryLine: (stage) => `${checkLine(stage.data, stageCounts(stage).failed)}; ${(stageCoreSeconds(stage) / 3600).toFixed(3)} core-hours`,
  iterationPart(stage) {
    const d = stage.data;
    if (d.skipped !== undefined) return {};
    const f = checkFigures(d);
    return { dft_core_hours: stageCoreSeconds(stage) / 3600, embedding_check: { target: d.target ?? null, configured: d.configured ?? null, cheapest: f.cheapest?.setting ?? null, rows: f.rows.map((r) => ({ ...r })) } };
  },
  standing(stages, config) {
    const key = checkKey(config);
    const ran = stages.filter((s) => s.data.skipped === undefined);
    const today = ran.filter((s) => s.data.key === key).at(-1);
    if (today !== undefined) return `embedding: today's settings were checked in iteration ${today.iteration}: ${checkLine(today.data)}`;
    const why = config.embedding.check.when === 'off' ? 'embedding.check.when is off' : 'the next selection checks them';
    return `embedding: today's settings (${settingName(config.embedding.box, config.embedding.buffer)}; dft and embedding as in autopipe.yaml) were never checked against their frame's DFT (${why})${ran.length > 0 ? `; iteration ${ran.at(-1)?.iteration}'s check was of other settings` : ''}`;
  },
});
