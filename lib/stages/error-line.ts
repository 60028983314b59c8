/**
 * How a job's program stopped, for the kinds whose programs are Python (pacemaker, the ase
 * exploration engine): the line that says why, from the end of its outputs, and the exit codes
 * that mean the same for every program (it never started; it was SIGKILLed); and, for any kind,
 * the job log's last lines when the program left no output of its own.
 */
import type { Failure, FailureClass } from '../state/failure-class.js';
import type { FetchedFiles } from '../exec/executor.js';
import { JOB_LOG } from '../exec/manifest.js';
import type { Judged } from './kind.js';

/**
 * Lines that say why a program stopped: a Python exception, an ERROR or CRITICAL log line,
 * argparse's "prog: error: …" (pacemaker's own usage errors), a shell's "…: command not found"
 * or "No such file or directory", a crash (Segmentation fault, Killed), and autopipe's helpers.
 */
const ERROR_LINE = /^(?:[A-Za-z_.]*(?:Error|Exception)\b.*|.*\b(?:ERROR|CRITICAL)\b.*|[\w./-]+: error: .*|.*: (?:command not found|No such file or directory)|.*\b(?:Segmentation fault|Killed|Aborted)\b.*|autopipe_(?:train|explore): .*)$/;

/** The last line that reads as an error, from the end of the first text that has one (stderr first). */
export function lastErrorLine(...texts: Array<string | undefined>): string | undefined {
  for (const t of texts) {
    if (t === undefined) continue;
    const lines = t.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    for (let i = lines.length - 1; i >= 0; i--) if (ERROR_LINE.test(lines[i])) return lines[i].slice(0, 300);
  }
  return undefined;
}

/**
 * A job's exit that says the program never ran (126 not executable, 127 not found) or was
 * SIGKILLed (137, most often for memory); undefined for any other exit. `program` names it
 * ("the MD engine"), `settings` the configuration to check, `run` what was killed ("the fit").
 */
export function exitFailure(exitcode: number, err: string | undefined, p: { cls: FailureClass; program: string; settings: string; run: string }): Failure | undefined {
  if (exitcode === 126 || exitcode === 127) {
    return { cls: p.cls, message: `${p.program} could not start (exit ${exitcode}: ${exitcode === 127 ? 'not found' : 'not executable'}); check ${p.settings}${err === undefined ? '' : `: ${err}`}` };
  }
  if (exitcode === 137) return { cls: 'out_of_memory', message: `${p.run} was killed (exit 137, SIGKILL: most often for memory)${err === undefined ? '' : `; last error: ${err}`}` };
  return undefined;
}

/** A Python that lacks a package the job needs ("No module named 'numpy'"): the setting to fix, said with the error. */
export function missingModule(err: string | undefined, setting: string): string | undefined {
  const m = /No module named '([\w.]+)'/.exec(err ?? '');
  return m === null ? undefined : `${setting} cannot import ${m[1]} (${err}): give it the Python of the venv scripts/install-venv.sh makes (/opt/autopipe/venv/bin/python), or one with ${m[1]}`;
}

/** Lines of the job log quoted, and how much of each: a failure's message stays one short line. */
const LOG_LINES = 5;
const LOG_LINE_CHARS = 160;

/**
 * A log's last lines (by default the job log, SLURM's output of the array element: a module that
 * failed to load, a time limit, a memory kill), as one line: 'slurm.out ends: "…" | "…"';
 * undefined when it is missing or holds nothing but blanks.
 */
export function jobLogTail(files: FetchedFiles, name: string = JOB_LOG): string | undefined {
  const text = files.get(name)?.toString('utf8');
  if (text === undefined) return undefined;
  // control characters (a progress bar's \r, colour codes) would break the one line
  const lines = text.split(/\r\n|\n|\r/).map((l) => l.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim()).filter((l) => l !== '');
  if (lines.length === 0) return undefined;
  const cut = (l: string) => (l.length > LOG_LINE_CHARS ? `${l.slice(0, LOG_LINE_CHARS - 1)}…` : l);
  return `${name} ends: ${lines.slice(-LOG_LINES).map((l) => JSON.stringify(cut(l))).join(' | ')}`;
}

/**
 * A failed attempt whose program left no output of its own (`own`: each file missing or blank,
 * e.g. pw.out when the job stopped before pw.x ran) has the last lines of its logs added to the
 * message (`logs`: the program's stderr, when it is fetched, then the job log): what they say is
 * all there is to go by. Anything else as judged.
 */
export function quoteJobLog<R>(j: Judged<R>, files: FetchedFiles, own: readonly string[], logs: readonly string[] = [JOB_LOG]): Judged<R> {
  if (j.ok || own.some((n) => (files.get(n)?.toString('utf8').trim() ?? '') !== '')) return j;
  const tails = logs.map((n) => jobLogTail(files, n)).filter((t): t is string => t !== undefined);
  return tails.length === 0 ? j : { ok: false, failure: { ...j.failure, message: `${j.failure.message}; ${tails.join('; ')}` } };
}
