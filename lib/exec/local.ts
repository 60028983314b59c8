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
 *
 * What runs is an array element, as on SLURM: one task, or k that the job script runs one after
 * another (SubmitRequest.perElement). A packed element's own files (pid, launch and time-limit
 * marks) and its log sit in the stage folder under SLURM's log name (slurm-<token>_<index>.out,
 * with SLURM_ARRAY_JOB_ID the submission's token), which the job script links into each task
 * folder; it is done when every task of it wrote its exitcode.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
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
  /** Tasks per array element; absent: 1. */
  perElement?: number;
}

/** An array element: its tasks' folders, and where its own files are (a task folder's for one task, the stage folder's for several). */
interface Element {
  jobId: string; marker: Marker; index: number; dirs: string[];
  /** The job id its script sees (SLURM_ARRAY_JOB_ID): the submission's token. */
  token: string;
  files: { pid: string; launched: string; timeout: string; log: string };
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
        writeFileAtomic(marker, JSON.stringify({ script: s.script, chdir: s.chdir, jobName: s.jobName, cpus: s.resources.cpus_per_task, time: s.resources.time, ...(s.perElement === undefined ? {} : { perElement: s.perElement }) } satisfies Marker));
      }
    }
    return { jobs: requests.map((s) => ({ kind: 'local', script: s.script })) };
  }

  /** The elements of a submitted job: its manifest's task folders, k to an element. */
  private elementsOf(jobId: string): Element[] {
    const marker = JSON.parse(readFileSync(this.sibling(jobId, 'submitted'), 'utf8')) as Marker;
    const stage = join(this.runRoot, posix.dirname(jobId));
    const token = posix.basename(jobId, '.sbatch');
    const dirs = readFileSync(this.sibling(jobId, 'manifest'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => join(stage, manifestLine(l).dir));
    const k = marker.perElement ?? 1;
    const out: Element[] = [];
    for (let index = 0; index * k < dirs.length; index++) {
      const mine = dirs.slice(index * k, index * k + k);
      // one task: its own folder holds everything, as always; several: the stage folder, by SLURM's log name
      const own = k === 1 ? { home: mine[0], log: JOB_LOG, prefix: 'local' } : { home: stage, log: `slurm-${token}_${index}.out`, prefix: `slurm-${token}_${index}.local` };
      out.push({
        jobId, marker, index, dirs: mine, token,
        files: { pid: join(own.home, `${own.prefix}.pid`), launched: join(own.home, `${own.prefix}.launched`), timeout: join(own.home, `${own.prefix}.timeout`), log: join(own.home, own.log) },
      });
    }
    return out;
  }

  /** Schedules, then reports waiting and running elements the way squeue would. */
  async queue(refs: readonly JobRef[]): Promise<QueueEntry[]> {
    const scripts = refs.flatMap((j) => (j.kind === 'local' && existsSync(this.sibling(j.script, 'submitted')) ? [j.script] : []));
    const elements = scripts.flatMap((jobId) => this.elementsOf(jobId));
    const state = (e: Element): 'done' | 'running' | 'lost' | 'waiting' | 'timeout' => {
      if (e.dirs.every((dir) => readSentinels(dir, SENTINEL.exitcode).exitcode !== undefined)) return 'done';
      if (existsSync(e.files.timeout)) return 'timeout';
      const pid = readPid(e.files.pid);
      if (pid !== undefined) return isProcessAlive(pid) ? 'running' : 'lost';
      return existsSync(e.files.launched) ? 'running' : 'waiting'; // launched a moment ago
    };
    for (const e of elements) this.enforceTimeLimit(e, state(e));
    let running = elements.filter((e) => state(e) === 'running').length;
    const out: QueueEntry[] = [];
    for (const e of elements) {
      let s = state(e);
      const entry = { arrayJobId: e.jobId, taskIds: [e.index], jobId: `${e.jobId}_${e.index}`, name: e.marker.jobName };
      if (s === 'timeout') {
        // as squeue shows a job that timed out (for MinJobAge): the attempt fails as walltime
        out.push({ ...entry, state: 'timeout', rawState: 'TIMEOUT', reason: `time limit ${e.marker.time ?? '-'}` });
        continue;
      }
      if (s === 'waiting' && running < this.maxConcurrent) {
        this.launch(e);
        running++;
        s = 'running';
      }
      if (s === 'running' || s === 'waiting') {
        out.push({ ...entry, state: s === 'running' ? 'running' : 'pending', rawState: s.toUpperCase(), reason: s === 'waiting' ? 'MaxConcurrent' : 'None' });
      } else if (s === 'done') {
        // as squeue shows a finished job for MinJobAge: a task that ended between the pass's
        // sentinel scan and this query is waited for (the next scan finds its exitcode), never
        // taken for one that left without it
        out.push({ ...entry, state: 'completed', rawState: 'COMPLETED', reason: 'None' });
      }
    }
    return out; // lost elements are not in the queue: they left without their tasks' exitcodes
  }

  /** A running element past its time limit: its process group stopped (SIGTERM; SIGKILL after KILL_WAIT_S), marked local.timeout. */
  private enforceTimeLimit(e: Element, s: string): void {
    const m = e.marker;
    const limit = m.time === undefined ? undefined : parseTimeLimit(m.time);
    if (limit === undefined || (s !== 'running' && s !== 'timeout')) return;
    const pid = readPid(e.files.pid);
    if (pid === undefined) return;
    const since = statSync(e.files.launched, { throwIfNoEntry: false })?.mtimeMs;
    const marked = statSync(e.files.timeout, { throwIfNoEntry: false })?.mtimeMs;
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig); // the element's whole process group: the job script and its program
      } catch {
        // already gone
      }
    };
    if (marked !== undefined) {
      if (isProcessAlive(pid) && this.now() - marked / 1000 > KILL_WAIT_S) signal('SIGKILL');
      return;
    }
    if (since === undefined || this.now() - since / 1000 <= limit) return;
    writeFileAtomic(e.files.timeout, `${Math.round(this.now())}\n`);
    // as slurmstepd writes it into the job's output
    appendFileSync(e.files.log, `autopipe: *** task stopped at ${new Date(this.now() * 1000).toISOString()} due to its time limit (${m.time ?? '-'}) ***\n`);
    signal('SIGTERM');
  }

  private launch(e: Element): void {
    writeFileAtomic(e.files.launched, '');
    // the job's stdout and stderr, as SLURM keeps them (sbatch --output, one file for both)
    const log = openSync(e.files.log, 'a');
    try {
      this.spawnElement(e, log);
    } finally {
      closeSync(log); // the child holds its own copy
    }
  }

  private spawnElement(e: Element, log: number): void {
    const { jobId, marker: m, index } = e;
    // the pid file first, where the element's own files are; then the script, in its stage folder
    const child = spawn('bash', ['-c', 'echo $$ > "$2.tmp" && mv "$2.tmp" "$2" && cd "$0" && exec bash "$1"', join(this.runRoot, m.chdir), join(this.runRoot, m.script), e.files.pid], {
      cwd: dirname(e.files.pid),
      detached: true,
      stdio: ['ignore', log, log],
      env: {
        ...process.env,
        SLURM_ARRAY_JOB_ID: e.token, SLURM_ARRAY_TASK_ID: String(index), SLURM_JOB_ID: `${jobId}_${index}`,
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
