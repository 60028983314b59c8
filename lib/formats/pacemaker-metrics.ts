/**
 * pacemaker's metrics tables (metrics.txt, test_metrics.txt in the fit's folder): a header line
 * of column names, then one row per iteration of the fit, columns separated by spaces.
 *   ladder_step cycle_step iter_num loss e_loss_contrib f_loss_contrib reg_loss rmse_epa rmse_f_comp …
 */
import { InputFormatError } from '../errors/errors.js';

export type MetricsTable = Array<Record<string, number>>;

export function readPacemakerMetrics(text: string, name: string): MetricsTable {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) return [];
  const columns = lines[0].trim().split(/\s+/);
  return lines.slice(1).map((line, k) => {
    const cells = line.trim().split(/\s+/);
    if (cells.length !== columns.length) throw new InputFormatError(`${cells.length} values for ${columns.length} columns`, { file: name, line: k + 2 }, { hint: 'is it a pacemaker metrics.txt? a fit still writing it may have cut its last line' });
    return Object.fromEntries(columns.map((c, i) => [c, Number(cells[i])]));
  });
}

/** The table as pacemaker writes it (tests; the column order is the first row's). */
export function writePacemakerMetrics(rows: MetricsTable): string {
  if (rows.length === 0) return '';
  const columns = Object.keys(rows[0]);
  return [columns.join(' '), ...rows.map((r) => columns.map((c) => String(r[c])).join(' '))].join('\n') + '\n';
}
