/**
 * Where `autopipe run` is: the iteration, the stage, its tasks done / running / pending / failed
 * and the time since it started. On a terminal one line is redrawn in place; to a pipe or a file
 * (cron's mail) a plain line is written only when what it says changes, the clock aside.
 */
import type { Cursor } from '../state/cursor.js';
import { countsOf, phaseOf } from '../state/tasks.js';

export interface Progress {
  iteration: number;
  stage: string | null;
  done: number;
  running: number;
  pending: number;
  failed: number;
}

/** The newest open stage with tasks still going (else the newest), and its tasks: stragglers of a stage before one that runs are left to status. */
export function progressOf(c: Cursor): Progress {
  // the newest stage with work still going (an embedding check may outlast the loop), else the newest
  const s = [...c.stages].reverse().find((x) => x.tasks.some((t) => phaseOf(t) === 'open')) ?? c.stages.at(-1);
  const n = countsOf(s?.tasks ?? []);
  return { iteration: s?.iteration ?? c.iteration, stage: s?.kind ?? null, done: n.done, running: n.running, pending: n.planned + n.submitted + n.pending, failed: n.failed };
}

export function elapsedText(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m ${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** What the line says, without the clock: a pipe gets a new line only when this changes. */
export function progressText(p: Progress): string {
  const tasks = p.done + p.running + p.pending + p.failed === 0 ? 'no job' : `${p.done} done, ${p.running} running, ${p.pending} pending, ${p.failed} failed`;
  return `iteration ${p.iteration} · ${p.stage ?? 'no open stage'} · ${tasks}`;
}

export interface ProgressStream { isTTY?: boolean; columns?: number; write(text: string): unknown }

/** Draws the progress on one stream; the clock is the caller's (elapsed seconds are passed in). */
export class ProgressLine {
  private shown = '';
  private said = '';
  private progress: Progress | undefined;

  constructor(private readonly stream: ProgressStream) {}

  get tty(): boolean {
    return this.stream.isTTY === true;
  }

  /** A new state of the loop. */
  update(p: Progress, elapsed: number): void {
    this.progress = p;
    if (this.tty) return this.draw(elapsed);
    const text = progressText(p);
    if (text === this.said) return;
    this.said = text;
    this.stream.write(`${text} · ${elapsedText(elapsed)}\n`);
  }

  /** The clock moved (a terminal only: a pipe is told of changes, not of time). */
  tick(elapsed: number): void {
    if (this.tty && this.progress !== undefined) this.draw(elapsed);
  }

  /** Take the line off the terminal, so that a message can be written in its place. */
  clear(): void {
    if (this.tty && this.shown !== '') this.stream.write('\r\x1b[K');
    this.shown = '';
  }

  private draw(elapsed: number): void {
    if (this.progress === undefined) return;
    const width = Math.max(20, (this.stream.columns || 80) - 1); // a wrapped line could not be redrawn; a terminal of no size says 0
    const line = `${progressText(this.progress)} · ${elapsedText(elapsed)}`;
    this.shown = line.length > width ? `${line.slice(0, width - 1)}…` : line;
    this.stream.write(`\r\x1b[K${this.shown}`);
  }
}
