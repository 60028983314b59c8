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
