/**
 * SLURM commands as pure builders (argv) and parsers (text in, data out); a runner (local
 * process or SSH) executes them. Parsers are tested on text captured from real SLURM 22.05.
 */
import { slurmState, type SlurmState } from './states.js';

// ---- sbatch ---------------------------------------------------------------------------------

export interface SubmitOptions {
  script: string;
  jobName: string;
  /** The job's working folder (without it, the job runs wherever sbatch ran). */
  chdir: string;
  /** e.g. "0-99%20" */
  array?: string;
  /** SLURM's file name pattern for the job's stdout and stderr (both: no --error is given). */
  output?: string;
  partition?: string | null;
  account?: string | null;
  time?: string;
  mem?: string | null;
  nodes?: number;
  ntasks?: number;
  cpusPerTask?: number;
  extra?: readonly string[];
}

export function submitCommandLine(o: SubmitOptions): string[] {
  const argv = ['sbatch', '--parsable', `--job-name=${o.jobName}`, `--chdir=${o.chdir}`];
  if (o.array !== undefined) argv.push(`--array=${o.array}`);
  if (o.output !== undefined) argv.push(`--output=${o.output}`);
  if (o.partition) argv.push(`--partition=${o.partition}`);
  if (o.account) argv.push(`--account=${o.account}`);
  if (o.time !== undefined) argv.push(`--time=${o.time}`);
  if (o.mem) argv.push(`--mem=${o.mem}`);
  if (o.nodes !== undefined) argv.push(`--nodes=${o.nodes}`);
  if (o.ntasks !== undefined) argv.push(`--ntasks=${o.ntasks}`);
  if (o.cpusPerTask !== undefined) argv.push(`--cpus-per-task=${o.cpusPerTask}`);
  argv.push(...(o.extra ?? []), o.script);
  return argv;
}

/** The job id from `sbatch --parsable` ("123" or "123;cluster"). */
export function parseJobId(stdout: string): string | undefined {
  const m = /^(\d+)(;\S+)?\s*$/.exec(stdout.trim());
  return m?.[1];
}

export type SubmitErrorKind = 'queue_limit' | 'invalid_partition' | 'invalid_array' | 'invalid_time' | 'unsatisfiable' | 'other';

/**
 * A limit on how many jobs may wait or run (QOSMaxSubmitJobPerUserLimit, AssocMaxSubmitJobLimit,
 * QOSMaxSubmitJobPerAccountLimit, AssocGrpSubmitJobsLimit …): sbatch names it on the line before
 * "Job violates accounting/QOS policy". That policy line alone is no queue limit: a job too long
 * or too large for its QOS gets it too, and never fits however long it waits.
 */
const QUEUE_LIMIT = /\b((?:QOS|Assoc)\w*Submit\w*Limit)\b/;

/** Why sbatch refused a job, from its stderr; `limit`: the queue limit's name (kind queue_limit). */
export function parseSubmitError(stderr: string): { kind: SubmitErrorKind; message: string; limit?: string } {
  const lines = stderr.split('\n').map((l) => l.replace(/^sbatch: error: /, '').trim()).filter((l) => l !== '' && !/^exit \d+$/.test(l));
  const message = lines.join('; ') || 'sbatch failed without a message';
  const limit = QUEUE_LIMIT.exec(stderr)?.[1];
  if (limit !== undefined) return { kind: 'queue_limit', message, limit };
  const kind: SubmitErrorKind = /invalid partition/i.test(stderr) ? 'invalid_partition'
    : /Invalid job array specification/i.test(stderr) ? 'invalid_array'
      : /Invalid --time specification/i.test(stderr) ? 'invalid_time'
        : /Requested node configuration is not available/i.test(stderr) ? 'unsatisfiable' : 'other';
  return { kind, message };
}

// ---- squeue ---------------------------------------------------------------------------------

/** %F array job id, %K array task id(s), %A the task's own job id, %T state, %r reason, %j name. */
export const SQUEUE_FORMAT = '%F|%K|%A|%T|%r|%j';

export function queueStatusCommand(filter: { jobIds: readonly string[] } | { user: string }): string[] {
  const argv = ['squeue', '--noheader', '--states=all', `--format=${SQUEUE_FORMAT}`];
  return 'jobIds' in filter ? [...argv, `--jobs=${filter.jobIds.join(',')}`] : [...argv, `--user=${filter.user}`];
}

export interface QueueEntry {
  arrayJobId: string;
  /** Task ids this line stands for (a pending range stands for several); null: not an array. */
  taskIds: number[] | null;
  jobId: string;
  state: SlurmState;
  rawState: string;
  reason: string;
  name: string;
}

/** Expand "2-7%2", "4", "1,3,5-6" into task ids; null for "N/A". */
export function expandTaskIds(spec: string): number[] | null {
  const s = spec.replace(/^\[|\]$/g, '').replace(/%\d+$/, '');
  if (s === 'N/A' || s === '') return null;
  const out: number[] = [];
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?(?::(\d+))?$/.exec(part);
    if (m === null) throw new RangeError(`cannot read array task ids '${spec}'`);
    const [a, b, step] = [Number(m[1]), Number(m[2] ?? m[1]), Number(m[3] ?? 1)];
    for (let k = a; k <= b; k += step) out.push(k);
  }
  return out;
}

export function parseQueueStatus(text: string): QueueEntry[] {
  const out: QueueEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const f = line.split('|');
    if (f.length < 6) {
      // not a line of our format: a job id at its head is one of ours whose state cannot be read (its tasks
      // keep waiting, never failed for it); anything else (a site's banner, a warning) is no job
      const id = /^\s*(\d+)\b/.exec(line)?.[1];
      if (id !== undefined) out.push({ arrayJobId: id, taskIds: null, jobId: id, rawState: 'UNPARSED', state: 'unknown', reason: `squeue printed '${line.trim().slice(0, 80)}'`, name: '' });
      continue;
    }
    out.push({
      arrayJobId: f[0], taskIds: expandTaskIds(f[1]), jobId: f[2], rawState: f[3], state: slurmState(f[3]), reason: f[4],
      name: f.slice(5).join('|'),
    });
  }
  return out;
}

/** squeue names a job that has left its memory (purged after MinJobAge) this way, exit 1. */
export function isInvalidJobId(stderr: string): boolean {
  return /Invalid job id specified/.test(stderr);
}

// ---- scontrol -------------------------------------------------------------------------------

export function showConfigCommand(): string[] {
  return ['scontrol', 'show', 'config'];
}

export function parseMaxArraySize(configText: string): number | undefined {
  const m = /^MaxArraySize\s*=\s*(\d+)\s*$/m.exec(configText);
  return m === null ? undefined : Number(m[1]);
}

// ---- sacct (optional: why a job vanished) ---------------------------------------------------

// Not End: sacct -c (SLURM 22.05) segfaults printing End when the job-completion log holds a
// record whose WorkDir contains a newline (the jobcomp plugin does not escape it).
export const SACCT_FIELDS = 'JobID,JobName,State,ExitCode';

/** `jobcomp`: read the job-completion file (`sacct -c`), for clusters without slurmdbd. No ids: all jobs. */
export function accountingCommand(jobIds: readonly string[], jobcomp: boolean): string[] {
  const argv = ['sacct', ...(jobcomp ? ['-c'] : []), '--noheader', '--parsable2', `--format=${SACCT_FIELDS}`];
  return jobIds.length === 0 ? argv : [...argv, `--jobs=${jobIds.join(',')}`];
}

export interface AccountingEntry { jobId: string; name: string; state: SlurmState; rawState: string; exitCode: number | null; signal: number | null }

export function parseAccounting(text: string): AccountingEntry[] {
  const out: AccountingEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const f = line.split('|');
    if (f.length < 4 || /\.(batch|extern|\d+)$/.test(f[0])) continue; // job steps: the job's own line says it
    const m = /^(\d+):(\d+)$/.exec(f[3]);
    out.push({
      jobId: f[0], name: f[1], rawState: f[2], state: slurmState(f[2]),
      exitCode: m === null ? null : Number(m[1]), signal: m === null ? null : Number(m[2]),
    });
  }
  return out;
}

/** Without slurmdbd, plain sacct says so and exits 1: fall back to `sacct -c`, or do without. */
export function isAccountingDisabled(stderr: string): boolean {
  return /accounting storage is disabled/i.test(stderr);
}
