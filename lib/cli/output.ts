/**
 * Results go to stdout through here. A reader that goes away (`autopipe db ls big.db | head -1`)
 * ends the command quietly: `out` says so at once, so that a loop can stop, and the EPIPE that
 * Node reports afterwards ends the process without a trace (installed by the CLI's main).
 */

/** Write to stdout; false once the reader has closed the pipe. */
export function out(text: string): boolean {
  if (!process.stdout.writable) return false;
  process.stdout.write(text);
  return process.stdout.writable;
}

export function printJson(value: unknown): boolean {
  return out(JSON.stringify(value, null, 2) + '\n');
}

/**
 * A JSON array written one item at a time, the same text as printJson of the whole array, so a
 * long listing never sits in memory.
 */
export function jsonArrayWriter(): { item(value: unknown): boolean; end(): boolean } {
  let first = true;
  return {
    item(value) {
      const text = JSON.stringify(value, null, 2).replace(/\n/g, '\n  ');
      const open = out(`${first ? '[\n' : ',\n'}  ${text}`);
      first = false;
      return open;
    },
    end() {
      return out(first ? '[]\n' : '\n]\n');
    },
  };
}

/** A closed stdout or stderr ends the command quietly, with the status it has so far. */
export function endQuietlyOnClosedPipe(): void {
  const quiet = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  };
  process.stdout.on('error', quiet);
  process.stderr.on('error', quiet);
}
