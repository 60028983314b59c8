/**
 * The `local` executor (the embedded default): tasks run on this machine as detached
 * background processes with SLURM's array environment emulated. "Submitting" writes a marker;
 * every status query schedules: it starts waiting tasks while fewer than `maxConcurrent` run.
 * Each task writes its own pid file before anything else, so a later poll process sees it
 * even if the poll that started it died a moment later. A job is known by its script.
 *
 * A task's time limit (its resources' time, as sbatch --time) holds here too: a status query
 * that finds a task past it stops its process group (SIGTERM, then SIGKILL at the next query
 * after a grace), marks it local.timeout and reports it as SLURM reports a job that timed out.
 *
 * A task's job log is as on SLURM: the job script's stdout and stderr go to slurm.out in its
 * task folder (fetched with its outputs), and a task stopped at its time limit says so there.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Executor, Sentinels, SentinelQuery, PlannedFile, PlannedCopy, StageClaim, StageResult, SubmitRequest, SubmitResult } from './executor.js';
import { stageLocally } from './stage-local.js';
import type { JobRef } from '../slurm/job-ref.js';
import { localSentinels, localFetch, readSentinels, readPid } from './local-fs.js';
import { JOB_LOG, manifestLine, SENTINEL } from './manifest.js';
import { writeFileAtomic } from '../fsutil/atomic.js';
import type { QueueEntry } from '../slurm/commands.js';
import { isProcessAlive } from '../state/process.js';
import { parseTimeLimit } from '../slurm/limits.js';

interface Marker {
  script: string; chdir: string; jobName: string;
  /** Absent in markers written before version 3. */
  cpus?: number;
  /** The time limit (sbatch's form); absent in markers of an older autopipe. */
  time?: string;
}

/** Seconds between SIGTERM and SIGKILL for a task past its time limit (SLURM's KillWait default). */
const KILL_WAIT_S = 30;

export class LocalExecutor implements Executor {
  readonly kind = 'local' as const;

  constructor(private readonly runRoot: string, private readonly maxConcurrent: number, private readonly now: () => number = () => Date.now() / 1000) {}

  async stage(files: readonly PlannedFile[], copies: readonly PlannedCopy[] = [], claim?: StageClaim): Promise<StageResult> {
    return stageLocally(this.runRoot, files, copies, claim);
  }

  /** The marker and manifest of a job sit next to its script (<stage>/<token>.sbatch). */
  private sibling(script: string, ext: string): string {
    return join(this.runRoot, `${script.slice(0, -'.sbatch'.length)}.${ext}`);
  }

  async findSubmitted(jobNames: readonly string[]): Promise<Map<string, JobRef>> {
    void jobNames; // the marker is written with the submission itself (see submit)
    return new Map();
  }

  async submit(requests: readonly SubmitRequest[]): Promise<SubmitResult> {
    // the manifest has the tasks; concurrency is global (executor.max_concurrent)
    for (const s of requests) {
      const marker = this.sibling(s.script, 'submitted');
      if (!existsSync(marker)) {
        writeFileAtomic(marker, JSON.stringify({ script: s.script, chdir: s.chdir, jobName: s.jobName, cpus: s.resources.cpus_per_task, time: s.resources.time } satisfies Marker));
      }
    }
    return { jobs: requests.map((s) => ({ kind: 'local', script: s.script })) };
  }

  /** Schedules, then reports waiting and running tasks the way squeue would. */
  async queue(refs: readonly JobRef[]): Promise<QueueEntry[]> {
    const scripts = refs.flatMap((j) => (j.kind === 'local' && existsSync(this.sibling(j.script, 'submitted')) ? [j.script] : []));
    const tasks = scripts.flatMap((jobId) => {
      const marker = JSON.parse(readFileSync(this.sibling(jobId, 'submitted'), 'utf8')) as Marker;
      const stage = join(this.runRoot, posix.dirname(jobId));
      const dirs = readFileSync(this.sibling(jobId, 'manifest'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => manifestLine(l).dir);
      return dirs.map((dir, index) => ({ jobId, marker, index, dir: join(stage, dir) }));
    });
    const state = (dir: string): 'done' | 'running' | 'lost' | 'waiting' | 'timeout' => {
      if (readSentinels(dir, SENTINEL.exitcode).exitcode !== undefined) return 'done';
      if (existsSync(join(dir, 'local.timeout'))) return 'timeout';
      const pid = readPid(join(dir, 'local.pid'));
      if (pid !== undefined) return isProcessAlive(pid) ? 'running' : 'lost';
      return existsSync(join(dir, 'local.launched')) ? 'running' : 'waiting'; // launched a moment ago
    };
    for (const t of tasks) this.enforceTimeLimit(t.dir, t.marker, state(t.dir));
    let running = tasks.filter((t) => state(t.dir) === 'running').length;
    const out: QueueEntry[] = [];
    for (const t of tasks) {
      let s = state(t.dir);
      if (s === 'timeout') {
        // as squeue shows a job that timed out (for MinJobAge): the attempt fails as walltime
        out.push({ arrayJobId: t.jobId, taskIds: [t.index], jobId: `${t.jobId}_${t.index}`, state: 'timeout', rawState: 'TIMEOUT', reason: `time limit ${t.marker.time ?? '-'}`, name: t.marker.jobName });
        continue;
      }
      if (s === 'waiting' && running < this.maxConcurrent) {
        this.launch(t.jobId, t.marker, t.index, t.dir);
        running++;
        s = 'running';
      }
      if (s === 'running' || s === 'waiting') {
        out.push({ arrayJobId: t.jobId, taskIds: [t.index], jobId: `${t.jobId}_${t.index}`, state: s === 'running' ? 'running' : 'pending', rawState: s.toUpperCase(), reason: s === 'waiting' ? 'MaxConcurrent' : 'None', name: t.marker.jobName });
      } else if (s === 'done') {
        // as squeue shows a finished job for MinJobAge: a task that ended between the pass's
        // sentinel scan and this query is waited for (the next scan finds its exitcode), never
        // taken for one that left without it
        out.push({ arrayJobId: t.jobId, taskIds: [t.index], jobId: `${t.jobId}_${t.index}`, state: 'completed', rawState: 'COMPLETED', reason: 'None', name: t.marker.jobName });
      }
    }
    return out; // lost tasks are not in the queue: they left without their exitcode
  }

  /** A running task past its time limit: its process group stopped (SIGTERM; SIGKILL after KILL_WAIT_S), marked local.timeout. */
  private enforceTimeLimit(dir: string, m: Marker, s: string): void {
    const limit = m.time === undefined ? undefined : parseTimeLimit(m.time);
    if (limit === undefined || (s !== 'running' && s !== 'timeout')) return;
    const pid = readPid(join(dir, 'local.pid'));
    if (pid === undefined) return;
    const since = statSync(join(dir, 'local.launched'), { throwIfNoEntry: false })?.mtimeMs;
    const marked = statSync(join(dir, 'local.timeout'), { throwIfNoEntry: false })?.mtimeMs;
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig); // the task's whole process group: the job script and its program
      } catch {
        // already gone
      }
    };
    if (marked !== undefined) {
      if (isProcessAlive(pid) && this.now() - marked / 1000 > KILL_WAIT_S) signal('SIGKILL');
      return;
    }
    if (since === undefined || this.now() - since / 1000 <= limit) return;
    writeFileAtomic(join(dir, 'local.timeout'), `${Math.round(this.now())}\n`);
    // as slurmstepd writes it into the job's output
    appendFileSync(join(dir, JOB_LOG), `autopipe: *** task stopped at ${new Date(this.now() * 1000).toISOString()} due to its time limit (${m.time ?? '-'}) ***\n`);
    signal('SIGTERM');
  }

  private launch(jobId: string, m: Marker, index: number, dir: string): void {
    writeFileAtomic(join(dir, 'local.launched'), '');
    // the job's stdout and stderr, as SLURM keeps them (sbatch --output, one file for both)
    const log = openSync(join(dir, JOB_LOG), 'a');
    try {
      this.spawnTask(jobId, m, index, dir, log);
    } finally {
      closeSync(log); // the child holds its own copy
    }
  }

  private spawnTask(jobId: string, m: Marker, index: number, dir: string, log: number): void {
    const child = spawn('bash', ['-c', 'echo $$ > local.pid.tmp && mv local.pid.tmp local.pid && cd "$0" && exec bash "$1"', join(this.runRoot, m.chdir), join(this.runRoot, m.script)], {
      cwd: dir,
      detached: true,
      stdio: ['ignore', log, log],
      env: {
        ...process.env,
        SLURM_ARRAY_JOB_ID: jobId, SLURM_ARRAY_TASK_ID: String(index), SLURM_JOB_ID: `${jobId}_${index}`,
        SLURM_CPUS_PER_TASK: String(m.cpus ?? 1), SLURM_SUBMIT_DIR: join(this.runRoot, m.chdir), SLURM_JOB_NAME: m.jobName,
      },
    });
    child.unref();
  }

  async sentinels(dirs: readonly SentinelQuery[]): Promise<Map<string, Sentinels>> {
    return localSentinels(this.runRoot, dirs);
  }

  async fetch(dirs: readonly string[], names: readonly string[]): Promise<Map<string, Map<string, Buffer>>> {
    return localFetch(this.runRoot, dirs, names);
  }
}
