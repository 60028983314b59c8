/**
 * `autopipe train --export FILE`: the DataFrame the training stage would fit, for users who run
 * pacemaker by hand. The rows and weights are the stage's own (stages/train/dataset.ts); the
 * DataFrame is written by the same helper the job runs (python/autopipe_train.py), with a local
 * Python that has ASE and pandas (the venv's by default).
 */
import type { Argv } from 'yargs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { openProject } from '../../project/project.js';
import { openDatabaseFile } from '../../db/db-file.js';
import { leftOutLines, trainingSet } from '../../stages/train/dataset.js';
import { fittableRows, validationIds } from '../../stages/train/validation.js';
import { currentLevel } from '../../stages/kept.js';
import { readCursor } from '../../state/cursor.js';
import { levelSummary } from '../../level/level.js';
import { checkFittable, HELPER } from '../../stages/train/plan.js';
import { FileAccessError, StageError, UsageError } from '../../errors/errors.js';
import { logger } from '../../log/logger.js';
import { out } from '../output.js';
import { ASSETS } from '../loop-context.js';
import type { CliContext } from '../context.js';

interface ExportSummary { rows: number; reference_energy: Record<string, number> }

/** Run the helper's `dataframe` with a Python given as shell code (train.python may load a module first). */
function runHelper(python: string, args: string[]): ExportSummary {
  // the arguments travel as "$@", never through the shell's parser
  const r = spawnSync('/bin/sh', ['-c', `${python} "$@"`, 'sh', join(ASSETS, HELPER), 'dataframe', ...args], { encoding: 'utf8' });
  if (r.error !== undefined) throw new FileAccessError(`could not start /bin/sh for ${python}: ${r.error.message}`);
  if (r.status !== 0) {
    const last = (r.stderr || r.stdout).trim().split('\n').at(-1) ?? '';
    throw new StageError(`the DataFrame helper failed under ${python} (exit ${r.status}): ${last}`, {
      hint: 'give --python a Python with ASE and pandas (the venv of scripts/install-venv.sh has them)',
    });
  }
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as ExportSummary;
  } catch (err) {
    throw new StageError(`the DataFrame helper under ${python} printed no summary (its last line: ${last.slice(0, 200)})`, { cause: err, hint: 'check that --python (or train.python) runs a Python, not another program' });
  }
}

export function trainCommand(y: Argv, ctx: CliContext): Argv {
  return y.command('train', 'the training set: write pacemaker\'s DataFrame of the database, weights included', (a) => a
    .option('dir', { alias: 'C', type: 'string', describe: 'the project folder (with autopipe.yaml); default: here' })
    .option('export', { type: 'string', demandOption: true, describe: 'the DataFrame file to write (gzip pickle, e.g. data.pckl.gzip)' })
    .option('python', { type: 'string', describe: 'a Python with ASE and pandas; default: train.python of autopipe.yaml' })
    .option('level', { type: 'string', describe: 'the level of theory of the rows to export (a level id, or all); default: the campaign\'s current one, as the next fit would take' })
    .option('force', { type: 'boolean', default: false, describe: 'replace FILE if it exists' }),
  (argv) => {
    const p = openProject(argv.dir);
    const target = resolve(argv.export);
    const existing = statSync(target, { throwIfNoEntry: false });
    if (existing?.isDirectory() === true) throw new FileAccessError(`${target} is a folder`, { hint: 'give the name of the file to write, e.g. data.pckl.gzip' });
    if (existing !== undefined && !argv.force) throw new UsageError(`${target} exists`, { hint: 'give another name, or --force to replace it' });
    if (!existsSync(dirname(target))) throw new FileAccessError(`${dirname(target)}: no such folder`, { hint: 'create it first' });
    const db = openDatabaseFile(p.dbPath, { busyTimeoutMs: ctx.dbBusyTimeoutMs });
    // the rows of one level of theory, as the next fit of the campaign would take them
    const cursor = readCursor(p.cursorPath);
    const level = argv.level === 'all' ? null : argv.level ?? (cursor === undefined ? null : currentLevel(cursor, cursor.iteration));
    let set;
    let validation: Set<number>;
    try {
      // the validation rows are never fitted: the export leaves them out as a fit does
      const rows = [...db.select()];
      validation = validationIds(rows, db, p.config, ctx.now());
      set = trainingSet(fittableRows(rows, validation), p.config.embedding.energy_weight, level);
    } finally {
      db.close();
    }
    if (validation.size > 0) logger.info(`${validation.size} validation row(s) left out (set=validation${p.config.validation.rows === null ? '' : ` or validation.rows: ${p.config.validation.rows}`}): no fit sees them`);
    for (const s of set.skipped) logger.warn(`row ${s.id} left out: ${s.why}`);
    if (level !== null) logger.info(`level of theory ${level}${set.levelOf === undefined ? '' : `: ${levelSummary(set.levelOf)}`}`);
    for (const line of leftOutLines(set)) logger.warn(`left out for their level of theory: ${line}`);
    checkFittable(set, `the export of ${p.dbPath}`);
    // the helper writes into a temporary folder next to FILE; the rename is atomic
    const tmp = mkdtempSync(join(dirname(target), `.${basename(target)}.`));
    try {
      writeFileSync(join(tmp, 'train.extxyz'), set.frames.join(''));
      writeFileSync(join(tmp, 'reference_energy.json'), JSON.stringify(p.config.train.reference_energy) + '\n');
      const summary = runHelper(argv.python ?? p.config.train.python, [join(tmp, 'train.extxyz'), join(tmp, 'reference_energy.json'), join(tmp, 'data.pckl.gzip')]);
      renameSync(join(tmp, 'data.pckl.gzip'), target);
      const refs = Object.entries(summary.reference_energy).map(([e, v]) => `${e} ${v.toFixed(6)} eV`).join(', ');
      out(`wrote ${target}: ${summary.rows} rows, ${set.coreAtoms} atoms with force weight, reference energies ${refs}\n`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}
