/** `autopipe report`: the campaign as one self-contained HTML page (tables and inline SVG plots). */
import type { Argv } from 'yargs';
import { isAbsolute, join, resolve } from 'node:path';
import { openProject } from '../../project/project.js';
import { readCursor } from '../../state/cursor.js';
import { readKeptFile, writeFileAtomic } from '../../fsutil/atomic.js';
import { UsageError } from '../../errors/errors.js';
import { gatherReport } from '../../report/gather.js';
import { REGISTRY } from '../../stages/registry.js';
import { GENERATOR, reportHtml } from '../../report/html.js';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { labelledCellsOf } from '../cells.js';
import { whereOf } from '../where.js';
import { out } from '../output.js';
import type { CliContext } from '../context.js';

/** A file in the way that is not a report autopipe wrote (the database, autopipe.yaml, anyone's page) is never replaced without --force. */
function refuseToReplace(file: string, force: boolean): void {
  const st = statSync(file, { throwIfNoEntry: false });
  if (st === undefined) return;
  if (st.isDirectory()) throw new UsageError(`${file} is a folder`, { hint: 'give -o the name of the HTML file to write, e.g. report.html' });
  if (force) return;
  let head = '';
  try {
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(2048);
      head = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    head = '';
  }
  if (!head.includes(GENERATOR)) throw new UsageError(`${file} exists and is not a report autopipe wrote: refusing to replace it`, { hint: 'give -o another file (e.g. report.html), or --force to replace it anyway' });
}

export function reportCommand(y: Argv, ctx: CliContext): Argv {
  return y.command('report', 'write the campaign as one HTML page: a table per iteration, plots, what gave up, the configuration', (a) => a
    .option('dir', { alias: 'C', type: 'string', describe: 'the project folder (with autopipe.yaml); default: here' })
    .option('output', { alias: 'o', type: 'string', describe: 'the HTML file to write; default: report.html in the project folder' })
    .option('force', { type: 'boolean', default: false, describe: 'replace FILE even when it is not a report autopipe wrote' }),
  (argv) => {
    const p = openProject(argv.dir);
    const cursor = readCursor(p.cursorPath);
    if (cursor === undefined) throw new UsageError(`no cursor in ${p.workdir}: nothing to report yet`, { hint: 'run autopipe submit (or autopipe run) first' });
    const data = gatherReport({
      cursor, cells: labelledCellsOf(p, ctx), registry: REGISTRY,
      readWork: (path) => readKeptFile(join(p.workdir, path), 'a file the campaign kept'),
      gammaCollect: p.config.explore.gamma_collect, gammaStop: p.config.explore.gamma_stop,
    });
    const file = argv.output === undefined ? join(p.dir, 'report.html') : isAbsolute(argv.output) ? argv.output : resolve(argv.output);
    refuseToReplace(file, argv.force);
    writeFileAtomic(file, reportHtml(data, { generatedAt: ctx.now(), projectDir: p.dir, where: whereOf(p) }));
    out(`${file}\n`);
  });
}
