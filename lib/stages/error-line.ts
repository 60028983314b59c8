/**
 * The line that says why a job's program stopped, from the end of its outputs: what the kinds
 * whose programs are Python (pacemaker, the ase exploration engine) show as a failure's message.
 */
const ERROR_LINE = /^(?:[A-Za-z_.]*(?:Error|Exception)\b.*|.*\b(?:ERROR|CRITICAL)\b.*|autopipe_(?:train|explore): .*)$/;

/** The last line that reads as an error, from the end of the first text that has one (stderr first). */
export function lastErrorLine(...texts: Array<string | undefined>): string | undefined {
  for (const t of texts) {
    if (t === undefined) continue;
    const lines = t.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    for (let i = lines.length - 1; i >= 0; i--) if (ERROR_LINE.test(lines[i])) return lines[i].slice(0, 300);
  }
  return undefined;
}
