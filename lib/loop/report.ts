/**
 * What recovery did, from the cursor alone (pure): failed attempts per class and how their
 * tasks ended (recovered, still retrying, gave up), and the tasks that gave up with their last
 * error and folder.
 */
import type { TaskRecord } from '../state/cursor.js';
import { FAILURE_CLASSES, type FailureClass } from '../state/failure-class.js';

export interface ClassSummary { attempts: number; tasks: number; recovered: number; retrying: number; gave_up: number }

export interface GaveUp { task: string; attempt: number; error_class: FailureClass; message: string; dir: string; reason: string }

export interface RecoveryReport {
  failures: Partial<Record<FailureClass, ClassSummary>>;
  gave_up: GaveUp[];
}

export function recoveryReport(tasks: readonly TaskRecord[]): RecoveryReport {
  const failures: Partial<Record<FailureClass, ClassSummary>> = {};
  const gaveUp: GaveUp[] = [];
  for (const t of tasks) {
    const last = t.attempts[t.attempts.length - 1];
    const outcome: keyof ClassSummary = last.state === 'done' ? 'recovered' : (t.gave_up ?? null) !== null ? 'gave_up' : 'retrying';
    const seen = new Set<FailureClass>();
    for (const a of t.attempts) {
      if (a.state !== 'failed') continue;
      const cls = a.error_class ?? 'unknown';
      const s = (failures[cls] ??= { attempts: 0, tasks: 0, recovered: 0, retrying: 0, gave_up: 0 });
      s.attempts++;
      if (!seen.has(cls)) {
        seen.add(cls);
        s.tasks++;
        s[outcome]++;
      }
    }
    if (outcome === 'gave_up') {
      gaveUp.push({ task: t.id, attempt: last.attempt, error_class: last.error_class ?? 'unknown', message: last.message ?? '', dir: last.dir, reason: t.gave_up as string });
    }
  }
  // classes in their table order
  const ordered: Partial<Record<FailureClass, ClassSummary>> = {};
  for (const k of FAILURE_CLASSES) if (failures[k] !== undefined) ordered[k] = failures[k];
  return { failures: ordered, gave_up: gaveUp };
}

/** The report as lines for `autopipe status`; `where` turns an attempt folder into a path to look at. */
export function reportLines(r: RecoveryReport, where: (dir: string) => string): string[] {
  const lines: string[] = [];
  const entries = Object.entries(r.failures) as Array<[FailureClass, ClassSummary]>;
  if (entries.length > 0) {
    lines.push('failures by class (failed attempts; their tasks: recovered, retrying, gave up):');
    for (const [cls, s] of entries) {
      const outcomes = [[s.recovered, 'recovered'], [s.retrying, 'retrying'], [s.gave_up, 'gave up']].filter(([n]) => (n as number) > 0).map(([n, w]) => `${n} ${w}`);
      lines.push(`  ${cls.padEnd(18)} ${s.attempts} attempt${s.attempts === 1 ? '' : 's'}, ${s.tasks} task${s.tasks === 1 ? '' : 's'}: ${outcomes.join(', ')}`);
    }
  }
  if (r.gave_up.length > 0) {
    lines.push('gave up:');
    for (const g of r.gave_up) {
      lines.push(`  ${g.task}  a${g.attempt} ${g.error_class}: ${g.message}`);
      lines.push(`         ${g.reason}`);
      lines.push(`         folder ${where(g.dir)}`);
    }
  }
  return lines;
}
