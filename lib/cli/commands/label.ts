/** `autopipe submit | poll | status | run`: the labelling stage, driven from a workstation or cron. */
import type { Argv } from 'yargs';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { isAbsolute, join, posix } from 'node:path';
import { openProject, type Project } from '../../label/project.js';
import { planLabelStage, type Candidate, type PlanInputs } from '../../label/plan.js';
import { plannedCursor, saveCursor, stageFilesLocally } from '../../label/apply.js';
import { pollLabelStage, submitIntents, countsOf, lastAttempt } from '../../label/poll.js';
import { openExecutor, maxArraySize, type OpenExecutor } from '../../exec/factory.js';
import { readCursor, type Cursor } from '../../state/cursor.js';
import { acquireLock } from '../../state/lock.js';
import { loadTemplate } from '../../templates/render.js';
import { readStructures } from '../../structures/read-any.js';
import { openDatabaseFile } from '../../db/db-file.js';
import type { AseDatabase } from '../../db/ase-db.js';
import { ConfigError, UsageError } from '../../errors/errors.js';
import { logger } from '../../log/logger.js';
import { out, printJson } from '../output.js';
import { recoveryReport, reportLines } from '../../recover/report.js';
import type { CliContext } from '../context.js';

/** Submission tokens: random, lowercase (they go into SLURM job names and file names). */
function newToken(): string {
  return randomBytes(8).toString('hex').slice(0, 10);
}

function candidatesOf(p: Project): Candidate[] {
  const file = p.config.structures;
  if (file === null) throw new ConfigError(p.configFile, ['structures: is required to label iteration 0 (an extxyz file of starting structures)']);
  const path = isAbsolute(file) ? file : join(p.dir, file);
  return [...readStructures(path)].map((atoms, k) => ({ atoms, source: { file, frame: k + 1 } }));
}

async function withLock<T>(p: Project, ctx: CliContext, fn: () => Promise<T>): Promise<T> {
  mkdirSync(p.workdir, { recursive: true });
  const lock = acquireLock(p.lockPath, ctx.now());
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

/** The project's job script, compiled when first rendered (a poll without retries renders none). */
function labelScript(p: Project): PlanInputs['renderScript'] {
  let render: PlanInputs['renderScript'] | undefined;
  return (context) => (render ??= loadTemplate('label.sbatch.hbs', join(p.dir, p.config.executor.templates)))(context);
}

/** Open the executor (an SSH connection with a host), run fn, always close it. */
async function withExecutor<T>(p: Project, fn: (x: OpenExecutor) => Promise<T>): Promise<T> {
  const x = await openExecutor(p);
  try {
    return await fn(x);
  } finally {
    x.close();
  }
}

async function submit(p: Project, ctx: CliContext, dryRun: boolean): Promise<Cursor | undefined> {
  const existing = readCursor(p.cursorPath);
  return withExecutor(p, async (x) => {
    const submitCtx = { executor: x.executor, config: p.config, now: ctx.now(), saveCursor: (c: Cursor) => saveCursor(p.cursorPath, c, ctx.now()) };
    if (existing !== undefined && !dryRun) {
      const c = await submitIntents(submitCtx, existing, []);
      logger.info(`iteration ${c.iteration} is already planned (${c.tasks.length} tasks); every submission is in: see autopipe status`);
      return c;
    }
    const plan = planLabelStage({
      iteration: 0, candidates: candidatesOf(p), config: p.config, runRoot: dryRun ? join(p.workdir, 'dry-run') : p.runRoot,
      maxArraySize: await maxArraySize(p, x.runner), now: ctx.now(), token: newToken, configFile: p.configFile,
      renderScript: labelScript(p),
    });
    if (dryRun) {
      const dir = join(p.workdir, 'dry-run');
      stageFilesLocally(dir, plan.files);
      for (const s of plan.submissions) logger.info(`would submit ${s.job_name}: ${s.tasks.length} task(s), script ${join(dir, 'iter-000', 'label', `${s.token}.sbatch`)}`);
      logger.info(`rendered ${plan.files.length} file(s) into ${dir}; nothing submitted`);
      return undefined;
    }
    await x.executor.stage(plan.files); // one transfer
    // the intents go to disk before anything is submitted
    let cursor = plannedCursor(p.config.name, 0, plan, ctx.now());
    saveCursor(p.cursorPath, cursor, ctx.now());
    const changes: string[] = [];
    cursor = await submitIntents(submitCtx, cursor, changes);
    for (const line of changes) logger.info(line);
    return cursor;
  });
}

async function poll(p: Project, ctx: CliContext): Promise<{ changes: string[]; complete: boolean; cursor: Cursor; roundTrips: number }> {
  const cursor = readCursor(p.cursorPath);
  if (cursor === undefined) throw new UsageError(`nothing to poll in ${p.dir}: no cursor yet`, { hint: 'run autopipe submit first' });
  let db: AseDatabase | undefined;
  const openDb = () => (db ??= openDatabaseFile(p.dbPath, { create: true, busyTimeoutMs: ctx.dbBusyTimeoutMs }));
  try {
    return await withExecutor(p, async (x) => {
      const r = await pollLabelStage({
        cursor, executor: x.executor, db: openDb, config: p.config, now: ctx.now(), user: ctx.user,
        saveCursor: (c) => saveCursor(p.cursorPath, c, ctx.now()),
        retries: {
          runRoot: p.runRoot, now: ctx.now(), token: newToken, maxArraySize: () => maxArraySize(p, x.runner),
          renderScript: labelScript(p),
        },
      });
      // the poll saved its cursor itself (after its merges, before and after each submission)
      return { ...r, roundTrips: x.roundTrips() };
    });
  } finally {
    db?.close();
  }
}

export function statusJson(c: Cursor) {
  const jobOf = new Map(c.submissions.map((s) => [s.token, s.job_id]));
  return {
    iteration: c.iteration,
    stage: c.stage,
    tasks: c.tasks.map((t) => {
      const a = lastAttempt(t);
      return {
        id: t.id, state: a.state, attempt: a.attempt, job_id: jobOf.get(a.submission ?? '') ?? null, error_class: a.error_class, dir: a.dir,
        failures: t.attempts.filter((x) => x.state === 'failed').map((x) => ({ attempt: x.attempt, error_class: x.error_class, message: x.message, action: x.action ?? null })),
        gave_up: t.gave_up ?? null,
      };
    }),
    counts: countsOf(c),
    ...recoveryReport(c),
  };
}

/** Where an attempt folder is, for a person to look: host:path over SSH. */
function whereOf(p: Project): (dir: string) => string {
  const host = p.config.executor.host;
  return (dir) => (host === null ? join(p.runRoot, dir) : `${host}:${posix.join(p.runRoot, dir)}`);
}

const dirOption = { alias: 'C', type: 'string', describe: 'the project folder (with autopipe.yaml); default: here' } as const;

export function labelCommands(y: Argv, ctx: CliContext): Argv {
  return y
    .command('submit', 'plan the labelling stage and submit it', (a) => a.option('dir', dirOption).option('dry-run', { type: 'boolean', default: false, describe: 'render everything into <workdir>/dry-run, submit nothing' }),
      async (argv) => {
        const p = openProject(argv.dir);
        await withLock(p, ctx, () => submit(p, ctx, argv['dry-run']));
      })
    .command('poll', 'one cron-safe pass: submit what is due, read what finished, merge it', (a) => a.option('dir', dirOption).option('json', { type: 'boolean', default: false }),
      async (argv) => {
        const p = openProject(argv.dir);
        const r = await withLock(p, ctx, () => poll(p, ctx));
        if (argv.json) printJson({ changes: r.changes, complete: r.complete, counts: countsOf(r.cursor), ssh_round_trips: r.roundTrips });
        else for (const line of r.changes) out(`${line}\n`); // quiet when nothing changed
      })
    .command('status', 'where the iteration, stage and every task stand', (a) => a.option('dir', dirOption).option('json', { type: 'boolean', default: false }),
      (argv) => {
        const p = openProject(argv.dir);
        const c = readCursor(p.cursorPath);
        if (c === undefined) throw new UsageError(`no cursor in ${p.workdir}: nothing submitted yet`, { hint: 'run autopipe submit' });
        const s = statusJson(c);
        if (argv.json) {
          printJson(s);
          return;
        }
        out(`iteration ${c.iteration}, stage ${c.stage}: ${Object.entries(s.counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ')}\n`);
        for (const line of reportLines(s, whereOf(p))) out(`${line}\n`);
        out('tasks:\n');
        for (const t of s.tasks) {
          const history = t.failures.map((f) => f.error_class).join(' → ');
          out(`  ${t.id}  ${t.state.padEnd(9)} attempt ${t.attempt}  job ${t.job_id ?? '-'}${t.error_class === null ? '' : `  ${t.error_class}`}${history === '' ? '' : `  (failed: ${history})`}\n`);
        }
      })
    .command('run', 'submit, then poll every few seconds until the stage is complete', (a) => a.option('dir', dirOption),
      async (argv) => {
        const p = openProject(argv.dir);
        if (!existsSync(p.cursorPath)) await withLock(p, ctx, () => submit(p, ctx, false));
        for (;;) {
          const r = await withLock(p, ctx, () => poll(p, ctx));
          for (const line of r.changes) logger.info(line);
          if (r.complete) {
            const counts = countsOf(r.cursor);
            logger.info(`stage complete: ${counts.done} done, ${counts.failed} failed; database ${p.dbPath}`);
            return;
          }
          await new Promise((res) => setTimeout(res, 1000 * p.config.executor.poll_interval));
        }
      });
}
