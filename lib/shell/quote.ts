/**
 * The one way a value reaches a shell. Every argument is single-quoted (a single quote inside
 * becomes '\''), so quotes, $(…), backticks, globs, semicolons and newlines stay inert text.
 * Local commands run without a shell (argv); only SSH needs a command string, built here.
 */

/** A value as one shell word. */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new RangeError('a NUL byte cannot be passed to a shell');
  if (value !== '' && /^[A-Za-z0-9_./:=%@+,-]+$/.test(value)) return value; // nothing to protect
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** argv as one command line for `sh -c` (or an SSH command). */
export function shellJoin(argv: readonly string[]): string {
  if (argv.length === 0) throw new RangeError('an empty command');
  return argv.map(shellQuote).join(' ');
}

/**
 * dft.scratch: a path the job's shell expands: absolute, or starting with a variable ($TMPDIR,
 * ${SCRATCH}); letters, digits, / . _ - + , @ % : and $NAME / ${NAME} only, so that inside
 * double quotes nothing but those variables can expand (no quotes, backquotes, $( ), ;, spaces).
 */
export const SCRATCH_PATTERN = '^(?=/|\\$)([A-Za-z0-9_./+,@%:-]|\\$[A-Za-z_][A-Za-z0-9_]*|\\$\\{[A-Za-z_][A-Za-z0-9_]*\\})+$';
const SCRATCH = new RegExp(SCRATCH_PATTERN);

/** A path (dft.scratch) as one double-quoted shell word ($VARIABLES expand, nothing else can). */
export function shellPathWord(path: string): string {
  if (!SCRATCH.test(path)) throw new RangeError(`dft.scratch '${path}' is not a plain path with $VARIABLES`);
  return `"${path}"`;
}
