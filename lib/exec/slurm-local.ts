/**
 * The `slurm` executor without `host`: autopipe runs on a login node that shares the run root
 * with the compute nodes. SLURM commands through a local runner; sentinels and outputs read
 * from the filesystem.
 */
import { join } from 'node:path';
import type { Executor, Sentinels, SentinelQuery, PlannedFile, PlannedCopy, SubmitRequest } from './executor.js';
import { localSentinels, localFetch } from './local-fs.js';
import type { Runner } from '../shell/runner.js';
import { stageLocally } from './stage-local.js';
import type { JobRef } from '../slurm/job-ref.js';
import {
  submitCommandLine, parseJobId, parseSubmitError, queueStatusCommand, parseQueueStatus, isInvalidJobId,
  accountingCommand, parseAccounting, isAccountingDisabled, type QueueEntry, type AccountingEntry,
} from '../slurm/commands.js';
import { SlurmError } from '../errors/errors.js';

export class SlurmLocalExecutor implements Executor {
  readonly kind = 'slurm' as const;

  constructor(private readonly runner: Runner, private readonly runRoot: string) {}

  async stage(files: readonly PlannedFile[], copies: readonly PlannedCopy[] = []): Promise<void> {
    stageLocally(this.runRoot, files, copies);
  }

  async findSubmitted(jobName: string): Promise<JobRef | undefined> {
    const r = await this.runner.run(['squeue', '--noheader', '--states=all', `--name=${jobName}`, '--format=%F']);
    if (r.status !== 0) throw new SlurmError(`squeue failed: ${r.stderr.trim() || `exit ${r.status}`}`, { hint: 'is SLURM reachable from here (SLURM_CONF, munge)?' });
    const id = r.stdout.split('\n').map((l) => l.trim()).find((l) => /^\d+$/.test(l));
    return id === undefined ? undefined : { kind: 'slurm', id };
  }

  async submit(s: SubmitRequest): Promise<JobRef> {
    const { jobName } = s;
    const argv = submitCommandLine({
      script: join(this.runRoot, s.script), jobName, chdir: join(this.runRoot, s.chdir), array: s.array, output: '/dev/null',
      partition: s.resources.partition, account: s.resources.account,
    });
    const r = await this.runner.run(argv);
    const id = r.status === 0 ? parseJobId(r.stdout) : undefined;
    if (id === undefined) {
      const e = parseSubmitError(r.stderr);
      throw new SlurmError(`sbatch refused ${jobName}: ${e.message}`, {
        hint: e.kind === 'invalid_partition' ? `check ${s.resourcesField}.partition in autopipe.yaml` : e.kind === 'invalid_array' ? 'set executor.max_array_size to what the cluster allows' : 'see the message above; nothing was submitted',
      });
    }
    return { kind: 'slurm', id };
  }

  async queue(jobs: readonly JobRef[]): Promise<QueueEntry[]> {
    const ids = jobs.flatMap((j) => (j.kind === 'slurm' ? [j.id] : []));
    if (ids.length === 0) return [];
    const r = await this.runner.run(queueStatusCommand({ jobIds: ids }));
    if (r.status !== 0) {
      if (isInvalidJobId(r.stderr)) return []; // every job left SLURM's memory: the sentinels tell
      throw new SlurmError(`squeue failed: ${r.stderr.trim() || `exit ${r.status}`}`);
    }
    return parseQueueStatus(r.stdout);
  }

  async sentinels(dirs: readonly SentinelQuery[]): Promise<Map<string, Sentinels>> {
    return localSentinels(this.runRoot, dirs);
  }

  /** sacct when there is accounting; `sacct -c` (the job-completion log) when it is disabled. */
  async accounting(jobs: readonly JobRef[], taskIds: readonly string[]): Promise<Map<string, AccountingEntry>> {
    const out = new Map<string, AccountingEntry>();
    const ids = jobs.flatMap((j) => (j.kind === 'slurm' ? [j.id] : []));
    if (ids.length === 0) return out;
    const r = await this.runner.run(accountingCommand(ids, false));
    if (r.status === 0) {
      for (const e of parseAccounting(r.stdout)) out.set(e.jobId, e); // "142_3"
      return out;
    }
    const raw = taskIds.filter((j) => /^\d+$/.test(j));
    if (!isAccountingDisabled(r.stderr) || raw.length === 0) return out; // no accounts: the sentinels must do
    const c = await this.runner.run(accountingCommand(raw, true));
    if (c.status === 0) for (const e of parseAccounting(c.stdout)) out.set(e.jobId, e);
    return out;
  }

  async fetch(dirs: readonly string[], names: readonly string[]): Promise<Map<string, Map<string, Buffer>>> {
    return localFetch(this.runRoot, dirs, names);
  }
}
