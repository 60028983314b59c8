/**
 * What a submission became, as a closed type (never a protocol inside a string): a SLURM job,
 * a job of the local executor (known by its script, relative to the run root), or a job that
 * ran but that SLURM had already forgotten when autopipe asked (its tasks' sentinels prove it).
 */
export type JobRef =
  | { kind: 'slurm'; id: string }
  | { kind: 'local'; script: string }
  | { kind: 'forgotten' };

/** How a person reads it, in messages and `status`. */
export function showJob(j: JobRef | null): string {
  if (j === null) return '-';
  switch (j.kind) {
    case 'slurm': return j.id;
    case 'local': return `local ${j.script.replace(/\.sbatch$/, '')}`;
    case 'forgotten': return '(forgotten by SLURM)';
  }
}

/** The key its tasks carry in a queue listing (QueueEntry.arrayJobId); a forgotten job has none. */
export function queueKey(j: JobRef | null): string | undefined {
  if (j === null) return undefined;
  return j.kind === 'slurm' ? j.id : j.kind === 'local' ? j.script : undefined;
}

/** Version-2 cursors wrote job ids as strings: 'unknown' (forgotten), 'local:<stage>/<token>', digits. */
export function jobRefFromV2(id: string | null): JobRef | null {
  if (id === null) return null;
  if (id === 'unknown') return { kind: 'forgotten' };
  if (id.startsWith('local:')) return { kind: 'local', script: `${id.slice('local:'.length)}.sbatch` };
  return { kind: 'slurm', id };
}
