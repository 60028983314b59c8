/**
 * The `local` executor (the embedded default): tasks run on this machine as detached
 * background processes with SLURM's array environment emulated. "Submitting" writes a marker;
 * every status query schedules: it starts waiting tasks while fewer than `maxConcurrent` run.
 * Each task writes its own pid file before anything else, so a later poll process sees it
 * even if the poll that started it died a moment later. A job is known by its script.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Executor, Sentinels, SentinelQuery, PlannedFile, PlannedCopy, SubmitRequest, SubmitResult } from './executor.js';
import { stageLocally } from './stage-local.js';
import type { JobRef } from '../slurm/job-ref.js';
import { localSentinels, localFetch, readSentinels, readPid } from './local-fs.js';
import { writeFileAtomic } from '../fsutil/atomic.js';
import type { QueueEntry } from '../slurm/commands.js';
import { isProcessAlive } from '../state/process.js';

interface Marker { script: string; chdir: string; jobName: string; /** Absent in markers written before version 3. */ cpus?: number }

export class LocalExecutor implements Executor {
  readonly kind = 'local' as const;

  constructor(private readonly runRoot: string, private readonly maxConcurrent: number) {}

  async stage(files: readonly PlannedFile[], copies: readonly PlannedCopy[] = []): Promise<void> {
    stageLocally(this.runRoot, files, copies);
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
        writeFileAtomic(marker, JSON.stringify({ script: s.script, chdir: s.chdir, jobName: s.jobName, cpus: s.resources.cpus_per_task } satisfies Marker));
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
      const dirs = readFileSync(this.sibling(jobId, 'manifest'), 'utf8').split('\n').filter((l) => l !== '');
      return dirs.map((dir, index) => ({ jobId, marker, index, dir: join(stage, dir) }));
    });
    const state = (dir: string): 'done' | 'running' | 'lost' | 'waiting' => {
      if (readSentinels(dir, 'exitcode').exitcode !== undefined) return 'done';
      const pid = readPid(join(dir, 'local.pid'));
      if (pid !== undefined) return isProcessAlive(pid) ? 'running' : 'lost';
      return existsSync(join(dir, 'local.launched')) ? 'running' : 'waiting'; // launched a moment ago
    };
    let running = tasks.filter((t) => state(t.dir) === 'running').length;
    const out: QueueEntry[] = [];
    for (const t of tasks) {
      let s = state(t.dir);
      if (s === 'waiting' && running < this.maxConcurrent) {
        this.launch(t.jobId, t.marker, t.index, t.dir);
        running++;
        s = 'running';
      }
      if (s === 'running' || s === 'waiting') {
        out.push({ arrayJobId: t.jobId, taskIds: [t.index], jobId: `${t.jobId}_${t.index}`, state: s === 'running' ? 'running' : 'pending', rawState: s.toUpperCase(), reason: s === 'waiting' ? 'MaxConcurrent' : 'None', name: t.marker.jobName });
      }
    }
    return out; // finished and lost tasks are not in the queue, as with SLURM
  }

  private launch(jobId: string, m: Marker, index: number, dir: string): void {
    writeFileAtomic(join(dir, 'local.launched'), '');
    const child = spawn('bash', ['-c', 'echo $$ > local.pid.tmp && mv local.pid.tmp local.pid && cd "$0" && exec bash "$1"', join(this.runRoot, m.chdir), join(this.runRoot, m.script)], {
      cwd: dir,
      detached: true,
      stdio: 'ignore',
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
