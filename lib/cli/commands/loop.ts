/** `autopipe submit | poll | status | run | resume`: the loop's stages, driven from a workstation or cron. */
import type { Argv } from 'yargs';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { homeOf, openProject, type Project } from '../../project/project.js';
import { stageFilesLocally } from '../../exec/stage-local.js';
import { emptyCursor, newCampaignId, readCursor, type Cursor } from '../../state/cursor.js';
import { enterFirstStage, firstKind, pollPass, unstarted } from '../../loop/pass.js';
import { planDryRun, resourcesText } from '../../loop/dry-run.js';
import { stageDirOf } from '../../stages/kind.js';
import { elementsOf } from '../../loop/arrays.js';
import { loopContext } from '../loop-context.js';
import { LocalExecutor } from '../../exec/local.js';
import { LocalRunner } from '../../shell/runner.js';
import { maxArraySize } from '../../exec/factory.js';
import { queueWait, submitIntents } from '../../loop/submit.js';
import { resume, stopLine } from '../../loop/stop.js';
import { countsOf } from '../../state/tasks.js';
import { REGISTRY } from '../../stages/registry.js';
import { LoopStoppedError, UsageError } from '../../errors/errors.js';
import { logger, onEachMessage } from '../../log/logger.js';
import { ProgressLine, progressOf } from '../progress.js';
import { out, printJson } from '../output.js';
import { reportLines } from '../../loop/report.js';
import { iterationLines, standingLines, statusJson, waitingLine } from '../status.js';
import { labelledCellsOf } from '../cells.js';
import { whereOf } from '../where.js';
import { checkFreshStart } from '../campaign.js';
import { checkBeforeDft } from '../preflight.js';
import { openCampaign, withLock, withLoop } from '../session.js';
import { campaignTable } from '../../report/campaign.js';
import type { LabelledCell } from '../../db/ase-db.js';
import type { CliContext } from '../context.js';

/**
 * `submit --dry-run`: every stage of an iteration rendered into <workdir>/dry-run (lib/loop/dry-run.ts),
 * with placeholders for what earlier stages would make. Nothing is staged, submitted or saved, and
 * no SSH connection is made: MaxArraySize is executor.max_array_size, the local scontrol's, or
 * SLURM's default for a cluster behind a host.
 */
async function dryRun(p: Project, ctx: CliContext): Promise<void> {
  const dir = join(p.workdir, 'dry-run');
  const e = p.config.executor;
  const arraySize = e.host === null ? await maxArraySize(p, new LocalRunner()) : e.max_array_size ?? 1001;
  // the loop's context without an executor: planning never reaches one
  const l = loopContext(p, { executor: new LocalExecutor(dir, 1, ctx.now), runner: new LocalRunner(), roundTrips: () => 0, close: () => {} }, ctx);
  try {
    const c = emptyCursor(p.config.name, ctx.now(), newCampaignId());
    const first = firstKind(REGISTRY, p.config).kind;
    // a loop that starts at training fits the database's rows: read, as that fit would
    const sc = l.pass.stageContext(c);
    const plan = planDryRun(REGISTRY, first, sc, { ...l.pass.arrays, maxArraySize: arraySize }, first === 'train' && existsSync(p.dbPath) ? sc.db() : undefined);
    // a dry run's folder is its own: the previous one's files would mix with this one's tokens
    rmSync(dir, { recursive: true, force: true });
    stageFilesLocally(dir, plan.files);
    const stopAfter = p.config.iterations.stop_after;
    for (const s of plan.stages) {
      if (stopAfter !== null && plan.stages[plan.stages.findIndex((x) => x.kind === stopAfter) + 1] === s) logger.info(`iterations.stop_after is ${stopAfter}: the loop stops before the stages below, rendered for a look only`);
      if (!s.rendered) {
        logger.info(`${s.kind}: nothing rendered: ${s.why}`);
        continue;
      }
      for (const n of s.notes) logger.info(`${s.kind}: ${n}`);
      for (const x of s.submissions) logger.info(`would submit ${x.job_name}: ${x.tasks.length} task(s)${x.per_element === undefined ? '' : ` in ${elementsOf(x)} array element(s) of up to ${x.per_element}`} of ${s.kind} (${s.resourcesField}: ${resourcesText(x.resources ?? s.resources)}), script ${join(dir, stageDirOf(0, s.kind), `${x.token}.sbatch`)}`);
    }
    if (e.host !== null && e.max_array_size === null) logger.info(`arrays laid out for MaxArraySize ${arraySize} (SLURM's default; submit asks ${e.host}'s scontrol)`);
    logger.info(`rendered ${plan.files.length} file(s) into ${dir}; each stage's PLACEHOLDER.txt names its placeholder inputs; nothing submitted`);
  } finally {
    l.closeDb();
  }
}

/**
 * A new campaign: checked (no earlier campaign's files, the files autopipe.yaml names), its
 * checkpoint saved with its new id before anything is staged (a submit killed later goes on
 * with the same id), then its first stage entered and submitted.
 */
async function submit(p: Project, ctx: CliContext): Promise<Cursor> {
  let fresh: Cursor | undefined;
  if (!existsSync(p.cursorPath)) {
    checkFreshStart(p);
    checkBeforeDft(p);
    fresh = emptyCursor(p.config.name, ctx.now(), newCampaignId(), homeOf(p));
  }
  const { cursor, notes } = fresh === undefined ? openCampaign(p, 'submit') : { cursor: fresh, notes: [] };
  return withLoop(p, ctx, async (l) => {
    const changes: string[] = [...notes];
    let c: Cursor;
    if (unstarted(cursor)) {
      if (fresh === undefined) checkBeforeDft(p);
      c = await enterFirstStage(l.pass, cursor, changes);
    } else {
      c = await submitIntents(l.pass, cursor, changes);
    }
    for (const line of changes) logger.info(line);
    if (c.stopped !== null) logger.info(`the loop stopped: ${stopLine(c.stopped)}`);
    else if (!unstarted(cursor)) logger.info(`iteration ${c.iteration} is under way (${c.stages.map((s) => s.kind).join(', ') || 'no open stage'}); ${queueWait(c) === undefined ? 'every submission is in' : 'some wait for the queue'}: see autopipe status`);
    return c;
  });
}

async function poll(p: Project, ctx: CliContext) {
  const { cursor, notes } = openCampaign(p, 'poll');
  return withLoop(p, ctx, async (l, x) => {
    // a submit killed before its first stage was saved: the pass enters it
    const start: string[] = [];
    const from = unstarted(cursor) ? await enterFirstStage(l.pass, cursor, start) : cursor;
    const r = await pollPass(l.pass, from);
    r.changes.unshift(...start);
    return { ...r, changes: [...notes, ...r.changes], roundTrips: x.roundTrips() };
  });
}

/** `autopipe resume`: the stop lifted and what gave up given a fresh attempt, then one pass. */
async function resumeCampaign(p: Project, ctx: CliContext) {
  const { cursor, notes } = openCampaign(p, 'resume');
  const r = resume(cursor);
  if (r.changes.length === 0) throw new UsageError('the loop has not stopped and no task gave up: there is nothing to resume', { hint: 'autopipe status shows where it stands; autopipe run or poll goes on' });
  return withLoop(p, ctx, async (l, x) => {
    l.pass.saveCursor(r.cursor);
    const pass = await pollPass(l.pass, r.cursor);
    return { ...pass, changes: [...notes, ...r.changes, ...pass.changes], roundTrips: x.roundTrips() };
  });
}

const dirOption = { alias: 'C', type: 'string', describe: 'the project folder (with autopipe.yaml); default: here' } as const;

function printStatus(p: Project, c: Cursor, cells: readonly LabelledCell[], now: number): void {
  const s = statusJson(c, cells);
  for (const line of campaignTable(s.iterations)) out(`${line}\n`);
  out('\n');
  for (const line of iterationLines(c, cells)) out(`${line}\n`);
  for (const line of standingLines(c, p.config)) out(`${line}\n`);
  for (const st of s.stages.filter((x) => x.tasks.length > 0)) { // a select stage runs no job: its line is above
    out(`iteration ${st.iteration}, stage ${st.kind}${st.followed ? ' (stragglers; the next stage has started)' : ''}: ${Object.entries(st.counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ')}\n`);
    for (const line of reportLines(st.report, whereOf(p))) out(`${line}\n`);
    out('tasks:\n');
    for (const t of st.tasks) {
      const history = t.failures.map((f) => f.error_class).join(' → ');
      out(`  ${t.id}  ${t.state.padEnd(9)} attempt ${t.attempt}  job ${t.job_id}${t.error_class === null ? '' : `  ${t.error_class}`}${history === '' ? '' : `  (failed: ${history})`}\n`);
    }
  }
  const waiting = waitingLine(c, now);
  if (waiting !== undefined) out(`${waiting}\n`);
  if (c.stopped !== null) out(`stopped: ${stopLine(c.stopped)}\n`);
}

/** The end of `run`: what each stage did, why the loop stopped; a stop on a failure exits 3 (LoopStoppedError). */
function finish(p: Project, ctx: CliContext, c: Cursor): void {
  for (const s of c.stages.filter((x) => x.tasks.length > 0)) {
    const n = countsOf(s.tasks);
    logger.info(`stage complete: ${n.done} done, ${n.failed} failed (${s.kind} of iteration ${s.iteration})`);
  }
  for (const line of iterationLines(c, labelledCellsOf(p, ctx))) logger.info(line);
  for (const line of standingLines(c, p.config)) logger.info(line);
  const stop = c.stopped;
  if (stop?.by === 'failure') throw new LoopStoppedError(`the loop stopped: ${stop.reason}; database ${p.dbPath}`, { hint: 'fix the cause, then run autopipe resume (autopipe status shows what gave up and where)' });
  logger.info(`the loop stopped: ${stop === null ? '-' : stopLine(stop)}; database ${p.dbPath}`);
}

async function run(dirArg: string | undefined, ctx: CliContext): Promise<void> {
  const said = new Set<string>();
  const first = openProject(dirArg, said);
  const started = ctx.now();
  // the terminal's line is taken off before any message and drawn again after the pass
  const progress = new ProgressLine(process.stderr);
  onEachMessage(() => progress.clear());
  try {
    if (!existsSync(first.cursorPath)) await withLock(first, ctx, () => submit(first, ctx), { wait: true });
    for (;;) {
      // autopipe.yaml is read again for every pass, as cron's polls do: an edit applies from the next stage planned
      const p = openProject(dirArg, said);
      // a cron poll beside run holds the lock for a moment: wait for it
      const r = await withLock(p, ctx, () => poll(p, ctx), { wait: true });
      // on a terminal a task's routine moves are the progress line's counts; a pipe gets every change
      for (const line of r.changes) if (!(progress.tty && r.routine.has(line))) logger.info(line);
      if (r.finished) return finish(p, ctx, r.cursor);
      progress.update(progressOf(r.cursor), ctx.now() - started);
      await sleepTicking(p.config.executor.poll_interval, ctx.now, () => progress.tick(ctx.now() - started));
    }
  } finally {
    progress.clear();
    onEachMessage(undefined);
  }
}

export function loopCommands(y: Argv, ctx: CliContext): Argv {
  return y
    .command('submit', 'plan the first stage and submit it (or submit what is only an intent)', (a) => a.option('dir', dirOption).option('dry-run', { type: 'boolean', default: false, describe: 'render everything into <workdir>/dry-run, submit nothing' }),
      async (argv) => {
        const p = openProject(argv.dir);
        await withLock(p, ctx, () => (argv['dry-run'] ? dryRun(p, ctx) : submit(p, ctx).then(() => undefined)));
      })
    .command('poll', 'one cron-safe pass: submit what is due, read what finished, merge it, start the next stage', (a) => a.option('dir', dirOption).option('json', { type: 'boolean', default: false }),
      async (argv) => {
        const p = openProject(argv.dir);
        const r = await withLock(p, ctx, () => poll(p, ctx));
        if (argv.json) {
          const st = statusJson(r.cursor);
          printJson({ changes: r.changes, complete: r.finished, finished: r.finished, stopped: r.cursor.stopped, counts: st.counts, stages: st.stages.map((s) => ({ kind: s.kind, iteration: s.iteration, counts: s.counts })), waiting_for_queue: st.waiting_for_queue, ssh_round_trips: r.roundTrips });
        }
        else for (const line of r.changes) out(`${line}\n`); // quiet when nothing changed
      })
    .command('resume', 'go on after the loop stopped on a failure you fixed: what gave up gets a fresh attempt, then one pass', (a) => a.option('dir', dirOption),
      async (argv) => {
        const p = openProject(argv.dir);
        const r = await withLock(p, ctx, () => resumeCampaign(p, ctx));
        for (const line of r.changes) out(`${line}\n`);
        out(r.cursor.stopped === null ? 'the loop goes on: autopipe run, or poll from cron, carries it on\n' : `the loop stopped again: ${stopLine(r.cursor.stopped)}\n`);
      })
    .command('status', 'where every iteration, stage and task stands', (a) => a.option('dir', dirOption).option('json', { type: 'boolean', default: false }),
      (argv) => {
        const p = openProject(argv.dir);
        const c = readCursor(p.cursorPath);
        if (c === undefined) throw new UsageError(`no cursor in ${p.workdir}: nothing submitted yet`, { hint: 'run autopipe submit' });
        const cells = labelledCellsOf(p, ctx);
        if (argv.json) printJson(statusJson(c, cells));
        else printStatus(p, c, cells, ctx.now());
      })
    .command('run', 'submit, then poll every few seconds until the loop stops (exit 3 when it stopped on a failure)', (a) => a.option('dir', dirOption),
      (argv) => run(argv.dir, ctx));
}

/** Sleep, calling tick once a second (the terminal's clock). */
async function sleepTicking(seconds: number, now: () => number, tick: () => void): Promise<void> {
  const end = now() + seconds;
  for (let left = seconds; left > 0; left = end - now()) {
    await new Promise((res) => setTimeout(res, 1000 * Math.min(1, left)));
    tick();
  }
}
