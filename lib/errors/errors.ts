/**
 * Every error a user can meet. The CLI's one top-level catch maps the class to an exit code
 * and prints `message` (plus `hint`); stack traces only with --verbose.
 *
 * A message says what is wrong and where (file:line or a config path); `hint` says what to do.
 */

export interface Where {
  /** File the problem is in, as the user named it. */
  file?: string;
  /** 1-based line in that file. */
  line?: number;
}

export class AutopipeError extends Error {
  /** Process exit code for this class of error. */
  readonly exitCode: number = 1;
  readonly hint?: string;
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** Command-line misuse (bad flag value, missing argument). */
export class UsageError extends AutopipeError {
  override readonly exitCode = 64; // EX_USAGE
}

/** The content of an input file is wrong: a parse or format error at a place in a file. */
export class InputFormatError extends AutopipeError {
  override readonly exitCode = 65; // EX_DATAERR
  readonly file?: string;
  readonly line?: number;
  constructor(message: string, where: Where = {}, options: { hint?: string; cause?: unknown } = {}) {
    super(formatWhere(where) + message, options);
    this.file = where.file;
    this.line = where.line;
  }
}

/** autopipe.yaml does not validate. Holds every problem, each as `path (line N): message`. */
export class ConfigError extends AutopipeError {
  override readonly exitCode = 78; // EX_CONFIG
  readonly problems: readonly string[];
  constructor(file: string, problems: readonly string[]) {
    super(`${file}: invalid configuration:\n  ${problems.join('\n  ')}`, {
      hint: 'fix the fields named above; `autopipe config check` lists every field and its meaning in docs/config.md',
    });
    this.problems = problems;
  }
}

/** A file or folder cannot be read or written. */
export class FileAccessError extends AutopipeError {
  override readonly exitCode = 74; // EX_IOERR
}

/** A value cannot go into the ASE database (reserved key, wrong type, broken file). */
export class DatabaseError extends AutopipeError {
  override readonly exitCode = 65;
}

/** Another program holds the database's write lock longer than the busy timeout: try again later. */
export class DatabaseBusyError extends AutopipeError {
  override readonly exitCode = 75; // EX_TEMPFAIL, like the project lock
}

/** A structure cannot be used as asked: no atoms, no cell, atoms on one site, a k-mesh no one could run. */
export class StructureError extends AutopipeError {
  override readonly exitCode = 65; // EX_DATAERR
}

/** A structure cannot be embedded or selected from as asked (non-periodic frame, unknown atom). */
export class EmbeddingError extends AutopipeError {
  override readonly exitCode = 65;
}

/** A stage cannot be planned from what there is (a fit with no rows, elements left out). */
export class StageError extends AutopipeError {
  override readonly exitCode = 65; // EX_DATAERR
}

/** Another autopipe holds the project's lock: try again later (cron will). */
export class LockHeldError extends AutopipeError {
  override readonly exitCode = 75; // EX_TEMPFAIL
}

/** The checkpoint (cursor) cannot be used as it is. */
export class CursorError extends AutopipeError {
  override readonly exitCode = 65;
}

/**
 * A campaign's files are not what its checkpoint says they are: another campaign's run root, a
 * copied project, a missing database. Nothing was changed; the message says how to go on.
 */
export class CampaignError extends AutopipeError {
  override readonly exitCode = 65; // EX_DATAERR
}

/** `autopipe run` ended because the loop stopped on a failure (a stage gave up or could not start): scripts and cron can tell it from a rule's stop (exit 0). */
export class LoopStoppedError extends AutopipeError {
  override readonly exitCode = 3;
}

/** SLURM refused a command or could not be reached (sbatch, squeue). */
export class SlurmError extends AutopipeError {
  override readonly exitCode = 69; // EX_UNAVAILABLE
}

/** The SSH connection to the cluster failed or was refused (host key, authentication, network). */
export class SshError extends AutopipeError {
  override readonly exitCode = 69; // EX_UNAVAILABLE
}

/** Some of the inputs were skipped; the rest was done. */
export class PartialFailure extends AutopipeError {
  override readonly exitCode = 2;
}

/**
 * A user's value as a message shows it: control characters escaped (a newline must not break
 * the message), cut to `max` characters (a 5 MB name is not echoed whole).
 */
export function shown(value: string, max = 80): string {
  const escaped = JSON.stringify(value).slice(1, -1);
  return escaped.length > max ? `${escaped.slice(0, max - 1)}…` : escaped;
}

export function formatWhere(where: Where): string {
  if (where.file === undefined) return where.line === undefined ? '' : `line ${where.line}: `;
  return where.line === undefined ? `${where.file}: ` : `${where.file}:${where.line}: `;
}

/** Exit code for anything thrown: ours by class, anything else is an internal error (70). */
export function exitCodeOf(err: unknown): number {
  return err instanceof AutopipeError ? err.exitCode : 70; // EX_SOFTWARE
}
