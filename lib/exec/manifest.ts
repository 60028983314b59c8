/**
 * A job array's manifest (<stage>/<token>.manifest): array index k is line k + 1, a task folder
 * (relative to the stage folder) and its attempt's token; and the sentinels a job writes
 * (started, exitcode): a number and the attempt's token. Names and tokens autopipe generates
 * have no blanks, so one line holds both.
 */

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
