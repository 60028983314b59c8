/** Sentinels and outputs of attempt folders on this machine's filesystem. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Sentinels, SentinelQuery } from './executor.js';
import { parseSentinel, SENTINEL } from './manifest.js';

/** A file's text, or undefined when it is not a readable file (missing, a folder, no permission). */
function textOf(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function number(path: string): number | undefined {
  return parseSentinel(textOf(path))?.value;
}

export function readSentinels(dir: string, progress: string): Sentinels {
  const out: Sentinels = {};
  const started = parseSentinel(textOf(join(dir, SENTINEL.started)));
  const exitcode = parseSentinel(textOf(join(dir, SENTINEL.exitcode)));
  if (started !== undefined) out.started = started.value;
  if (started?.token !== undefined) out.startedBy = started.token;
  if (exitcode !== undefined) out.exitcode = exitcode.value;
  if (exitcode?.token !== undefined) out.exitBy = exitcode.token;
  const output = statSync(join(dir, progress), { throwIfNoEntry: false });
  if (output !== undefined) out.output = Math.floor(output.mtimeMs / 1000);
  return out;
}

export function localSentinels(root: string, dirs: readonly SentinelQuery[]): Map<string, Sentinels> {
  return new Map(dirs.map((d) => [d.dir, readSentinels(join(root, d.dir), d.progress)]));
}

export function localFetch(root: string, dirs: readonly string[], names: readonly string[]): Map<string, Map<string, Buffer>> {
  return new Map(dirs.map((d) => [d, new Map(names.flatMap((n) => {
    const p = join(root, d, n);
    return existsSync(p) ? [[n, readFileSync(p)] as [string, Buffer]] : [];
  }))]));
}

export function readPid(path: string): number | undefined {
  return number(path);
}
