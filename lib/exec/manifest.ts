/**
 * A job array's manifest (<stage>/<token>.manifest): array index k is line k + 1, a task folder
 * (relative to the stage folder) and its attempt's token; and the sentinels a job writes
 * (started, exitcode): a number and the attempt's token. Names and tokens autopipe generates
 * have no blanks, so one line holds both.
 */

/**
 * The files a job writes in its task folder, named here only: the sentinels (the job wrapper
 * writes them, the executors read them) and the job's log (SLURM's output of its array element,
 * or the local executor's: stdout and stderr of the whole job script).
 */
export const SENTINEL = { started: 'started', exitcode: 'exitcode' } as const;
export const JOB_LOG = 'slurm.out';

/**
 * Where SLURM writes an array element's output (sbatch --output, relative to the stage folder):
 * SLURM's pattern, and the same name as the job script spells it from SLURM's variables. SLURM
 * opens it before the script runs, so the script finds it and links it into its task folder.
 */
export const STAGE_LOG = { pattern: 'slurm-%A_%a.out', shell: 'slurm-${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}.out' } as const;

/** A manifest: one line per task, its folder (relative to the stage folder) and its attempt's token. Names we generate: no blanks. */
export function manifestText(lines: ReadonlyArray<{ dir: string; token: string }>): string {
  return lines.map((l) => `${l.dir} ${l.token}`).join('\n') + '\n';
}

/** A manifest line's task folder (and token, absent in manifests of an older autopipe). */
export function manifestLine(line: string): { dir: string; token?: string } {
  const [dir, token] = line.trim().split(/\s+/);
  return token === undefined ? { dir } : { dir, token };
}

/** A sentinel file's text: its number and the token of the attempt that wrote it (none from an older autopipe's job); undefined when unreadable. */
export function parseSentinel(text: string | undefined): { value: number; token?: string } | undefined {
  const [value, token] = (text ?? '').trim().split(/\s+/);
  if (value === undefined || value === '' || !Number.isFinite(Number(value))) return undefined;
  return token === undefined ? { value: Number(value) } : { value: Number(value), token };
}
