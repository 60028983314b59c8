/**
 * The `slurm` executor without `host`: autopipe runs on a login node that shares the run root
 * with the compute nodes. SLURM commands through a local runner; sentinels and outputs read
 * from the filesystem.
 */
import { join } from 'node:path';
import type { Executor, Sentinels, SentinelQuery, PlannedFile, PlannedCopy, StageClaim, StageResult, SubmitRequest, SubmitResult } from './executor.js';
import { shellJoin } from '../shell/quote.js';
import { localSentinels, localFetch } from './local-fs.js';
import { STAGE_LOG } from './manifest.js';
import type { Runner } from '../shell/runner.js';
import { stageLocally } from './stage-local.js';
import type { JobRef } from '../slurm/job-ref.js';
import {
  submitCommandLine, parseJobId, parseSubmitError, queueStatusCommand, parseQueueStatus, isInvalidJobId,
  accountingCommand, parseAccounting, isAccountingDisabled, type QueueEntry, type AccountingEntry,
} from '../slurm/commands.js';
import { SlurmError } from '../errors/errors.js';

/**
 * Where SLURM writes an array element's stdout and stderr (one file: no --error): the stage
 * folder, absolute, with SLURM's %A_%a (a % of the folder's own name doubled, so SLURM keeps
 * it). The job script links it into its task folder as slurm.out (lib/loop/wrapper.ts).
 */
export function stageLog(stageDir: string): string {
  return join(stageDir.replace(/%/g, '%%'), STAGE_LOG.pattern);
}

export class SlurmLocalExecutor implements Executor {
  readonly kind = 'slurm' as const;

  constructor(private readonly runner: Runner, private readonly runRoot: string) {}

  async stage(files: readonly PlannedFile[], copies: readonly PlannedCopy[] = [], claim?: StageClaim): Promise<StageResult> {
    return stageLocally(this.runRoot, files, copies, claim);
  }

  async findSubmitted(jobNames: readonly string[]): Promise<Map<string, JobRef>> {
    const out = new Map<string, JobRef>();
    if (jobNames.length === 0) return out;
    const r = await this.runner.run(['squeue', '--noheader', '--states=all', `--name=${jobNames.join(',')}`, '--format=%j %F']);
    if (r.status !== 0) throw new SlurmError(`squeue failed: ${r.stderr.trim() || `exit ${r.status}`}`, { hint: 'is SLURM reachable from here (SLURM_CONF, munge)?' });
    for (const line of r.stdout.split('\n')) {
      const [name, id] = line.trim().split(/\s+/);
      if (name !== undefined && id !== undefined && /^\d+$/.test(id) && jobNames.includes(name) && !out.has(name)) out.set(name, { kind: 'slurm', id });
    }
    return out;
  }

  /** One shell for every sbatch (one SSH round trip): each prints its job id; the first refusal ends it. */
  async submit(requests: readonly SubmitRequest[]): Promise<SubmitResult> {
    if (requests.length === 0) return { jobs: [] };
    const lines = requests.map((s) => `${shellJoin(submitCommandLine({
      script: join(this.runRoot, s.script), jobName: s.jobName, chdir: join(this.runRoot, s.chdir), array: s.array, output: stageLog(join(this.runRoot, s.chdir)),
      partition: s.resources.partition, account: s.resources.account,
    }))} || exit 1`);
    const r = await this.runner.run(['sh', '-c', lines.join('\n')]);
    const ids = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => parseJobId(l));
    const jobs: JobRef[] = [];
    for (const id of ids) {
      if (id === undefined) break;
      jobs.push({ kind: 'slurm', id });
    }
    if (jobs.length === requests.length) return { jobs };
    const s = requests[jobs.length];
    const e = parseSubmitError(r.stderr);
    return {
      jobs,
      ...(e.kind === 'queue_limit' ? { queueLimit: e.limit } : {}),
      refused: new SlurmError(`sbatch refused ${s.jobName}: ${e.message}`, {
        hint: e.kind === 'invalid_partition' ? `check ${s.resourcesField}.partition in autopipe.yaml` : e.kind === 'invalid_array' ? 'set executor.max_array_size to what the cluster allows' : 'see the message above; what went in before it is recorded',
      }),
    };
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
