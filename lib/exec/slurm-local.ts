/**
 * The `slurm` executor without `host`: autopipe runs on a login node that shares the run root
 * with the compute nodes. SLURM commands through a local runner; sentinels and outputs read
 * from the filesystem.
 */
import { join } from 'node:path';
import type { Executor, Sentinels } from './executor.js';
import { localSentinels, localFetch } from './local-fs.js';
import type { Runner } from './runner.js';
import type { PlannedFile, PlannedCopy } from '../label/plan.js';
import { stageLocally } from '../label/apply.js';
import {
  submitCommandLine, parseJobId, parseSubmitError, queueStatusCommand, parseQueueStatus, isInvalidJobId,
  accountingCommand, parseAccounting, isAccountingDisabled, type QueueEntry, type AccountingEntry,
} from '../slurm/commands.js';
import { SlurmError } from '../errors/errors.js';
import type { Resources } from '../config/types.js';

export class SlurmLocalExecutor implements Executor {
  readonly kind = 'slurm' as const;

  constructor(private readonly runner: Runner, private readonly runRoot: string, private readonly resources: Resources) {}

  async stage(files: readonly PlannedFile[], copies: readonly PlannedCopy[] = []): Promise<void> {
    stageLocally(this.runRoot, files, copies);
  }

  async findSubmitted(jobName: string): Promise<string | undefined> {
    const r = await this.runner.run(['squeue', '--noheader', '--states=all', `--name=${jobName}`, '--format=%F']);
    if (r.status !== 0) throw new SlurmError(`squeue failed: ${r.stderr.trim() || `exit ${r.status}`}`, { hint: 'is SLURM reachable from here (SLURM_CONF, munge)?' });
    return r.stdout.split('\n').map((l) => l.trim()).find((l) => /^\d+$/.test(l));
  }

  async submit(jobName: string, script: string, array: string, chdir: string): Promise<string> {
    const argv = submitCommandLine({
      script: join(this.runRoot, script), jobName, chdir: join(this.runRoot, chdir), array, output: '/dev/null',
      partition: this.resources.partition, account: this.resources.account,
    });
    const r = await this.runner.run(argv);
    const id = r.status === 0 ? parseJobId(r.stdout) : undefined;
    if (id === undefined) {
      const e = parseSubmitError(r.stderr);
      throw new SlurmError(`sbatch refused ${jobName}: ${e.message}`, {
        hint: e.kind === 'invalid_partition' ? 'check dft.resources.partition in autopipe.yaml' : e.kind === 'invalid_array' ? 'set executor.max_array_size to what the cluster allows' : 'see the message above; nothing was submitted',
      });
    }
    return id;
  }

  async queue(jobIds: readonly string[]): Promise<QueueEntry[]> {
    const ids = jobIds.filter((j) => /^\d+$/.test(j)); // 'unknown': a job SLURM had forgotten when we looked
    if (ids.length === 0) return [];
    const r = await this.runner.run(queueStatusCommand({ jobIds: ids }));
    if (r.status !== 0) {
      if (isInvalidJobId(r.stderr)) return []; // every job left SLURM's memory: the sentinels tell
      throw new SlurmError(`squeue failed: ${r.stderr.trim() || `exit ${r.status}`}`);
    }
    return parseQueueStatus(r.stdout);
  }

  async sentinels(dirs: readonly string[]): Promise<Map<string, Sentinels>> {
    return localSentinels(this.runRoot, dirs);
  }

  /** sacct when there is accounting; `sacct -c` (the job-completion log) when it is disabled. */
  async accounting(arrayJobIds: readonly string[], taskIds: readonly string[]): Promise<Map<string, AccountingEntry>> {
    const out = new Map<string, AccountingEntry>();
    const ids = arrayJobIds.filter((j) => /^\d+$/.test(j));
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

  async fetch(dirs: readonly string[], names: readonly string[]): Promise<Map<string, Map<string, string>>> {
    return localFetch(this.runRoot, dirs, names);
  }
}
