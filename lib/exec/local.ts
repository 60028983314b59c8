/**
 * The `local` executor (the embedded default): tasks run on this machine as detached
 * background processes with SLURM's array environment emulated. "Submitting" writes a marker;
 * every status query schedules: it starts waiting tasks while fewer than `maxConcurrent` run.
 * Each task writes its own pid file before anything else, so a later poll process sees it
 * even if the poll that started it died a moment later. Job ids look like local:<stage>/<token>.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Executor, Sentinels } from './executor.js';
import type { PlannedFile, PlannedCopy } from '../label/plan.js';
import { stageLocally } from '../label/apply.js';
import { localSentinels, localFetch, readSentinels, readPid } from './local-fs.js';
import { writeFileAtomic } from '../fsutil/atomic.js';
import type { QueueEntry } from '../slurm/commands.js';
import { isProcessAlive } from '../state/process.js';

interface Marker { script: string; chdir: string; jobName: string }

export class LocalExecutor implements Executor {
  readonly kind = 'local' as const;

  constructor(private readonly runRoot: string, private readonly maxConcurrent: number, private readonly cpusPerTask: number) {}

  async stage(files: readonly PlannedFile[], copies: readonly PlannedCopy[] = []): Promise<void> {
    stageLocally(this.runRoot, files, copies);
  }

  private markerPath(jobId: string): string {
    return join(this.runRoot, `${jobId.slice('local:'.length)}.submitted`);
  }

  async findSubmitted(jobName: string): Promise<string | undefined> {
    void jobName; // the marker is written with the submission itself (see submit)
    return undefined;
  }

  async submit(jobName: string, script: string, array: string, chdir: string): Promise<string> {
    void array; // the manifest has the tasks; concurrency is global (executor.max_concurrent)
    const token = posix.basename(script, '.sbatch');
    const jobId = `local:${posix.join(posix.dirname(script), token)}`;
    const marker = this.markerPath(jobId);
    if (!existsSync(marker)) writeFileAtomic(marker, JSON.stringify({ script, chdir, jobName } satisfies Marker));
    return jobId;
  }

  /** Schedules, then reports waiting and running tasks the way squeue would. */
  async queue(jobIds: readonly string[]): Promise<QueueEntry[]> {
    const jobs = jobIds.filter((j) => j.startsWith('local:') && existsSync(this.markerPath(j)));
    const tasks = jobs.flatMap((jobId) => {
      const marker = JSON.parse(readFileSync(this.markerPath(jobId), 'utf8')) as Marker;
      const manifest = join(this.runRoot, `${jobId.slice('local:'.length)}.manifest`);
      const stage = join(this.runRoot, posix.dirname(jobId.slice('local:'.length)));
      const dirs = readFileSync(manifest, 'utf8').split('\n').filter((l) => l !== '');
      return dirs.map((dir, index) => ({ jobId, marker, index, dir: join(stage, dir) }));
    });
    const state = (dir: string): 'done' | 'running' | 'lost' | 'waiting' => {
      if (readSentinels(dir).exitcode !== undefined) return 'done';
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
        SLURM_CPUS_PER_TASK: String(this.cpusPerTask), SLURM_SUBMIT_DIR: join(this.runRoot, m.chdir), SLURM_JOB_NAME: m.jobName,
      },
    });
    child.unref();
  }

  async sentinels(dirs: readonly string[]): Promise<Map<string, Sentinels>> {
    return localSentinels(this.runRoot, dirs);
  }

  async fetch(dirs: readonly string[], names: readonly string[]): Promise<Map<string, Map<string, string>>> {
    return localFetch(this.runRoot, dirs, names);
  }
}
