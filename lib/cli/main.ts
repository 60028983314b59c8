/**
 * The autopipe command line: commands are registered here; every error ends in the one catch
 * below, which prints what/where/what-to-do and exits with the error class's code.
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { userInfo } from 'node:os';
import { AutopipeError, UsageError, exitCodeOf } from '../errors/errors.js';
import { logger, setVerbose } from '../log/logger.js';
import { configCommands } from './commands/config.js';
import { qeCommands } from './commands/qe.js';
import { dbCommands } from './commands/db.js';
import { convertCommand } from './commands/convert.js';
import { embedCommands } from './commands/embed.js';
import { labelCommands } from './commands/label.js';
import { initCommand } from './commands/init.js';
import { endQuietlyOnClosedPipe } from './output.js';
import { DEFAULT_BUSY_TIMEOUT_MS } from '../db/db-file.js';
import type { CliContext } from './context.js';

function currentUser(): string | null {
  try {
    return process.env.USER ?? userInfo().username;
  } catch {
    return null;
  }
}

export function buildCli(argv: string[], ctx: CliContext): Argv {
  const y = yargs(argv)
    .scriptName('autopipe')
    .usage('autopipe <command> — active learning of ACE potentials with pw.x, LAMMPS and SLURM')
    .option('verbose', { type: 'boolean', default: false, describe: 'debug messages and stack traces' })
    .middleware((a) => setVerbose(a.verbose === true))
    .command('config', 'check autopipe.yaml', configCommands)
    .command('qe', 'pw.x files: parse outputs, write inputs', qeCommands)
    .command('db', 'the ASE database: add, ls, export', (a) => dbCommands(a, ctx))
    .demandCommand(1, 'name a command (autopipe --help lists them)')
    .strict()
    .recommendCommands()
    .help()
    .version()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  return initCommand(labelCommands(embedCommands(convertCommand(y)), ctx));
}

/** AUTOPIPE_DB_TIMEOUT: seconds a database writer waits for another program's lock. */
function dbBusyTimeoutMs(env: NodeJS.ProcessEnv): number {
  const raw = env.AUTOPIPE_DB_TIMEOUT;
  if (raw === undefined || raw === '') return DEFAULT_BUSY_TIMEOUT_MS;
  const s = Number(raw);
  if (!Number.isFinite(s) || s < 0 || s > 86400) {
    throw new UsageError(`AUTOPIPE_DB_TIMEOUT=${raw.slice(0, 40)}: give the seconds to wait for a database lock (0 to 86400)`);
  }
  return Math.round(s * 1000);
}

export async function main(argv = hideBin(process.argv)): Promise<number> {
  const verbose = argv.includes('--verbose');
  endQuietlyOnClosedPipe();
  try {
    const ctx: CliContext = { now: () => Date.now() / 1000, user: currentUser(), dbBusyTimeoutMs: dbBusyTimeoutMs(process.env) };
    await buildCli(argv, ctx).parseAsync();
    return 0;
  } catch (err) {
    return report(err, verbose);
  }
}

function report(err: unknown, verbose: boolean): number {
  if (err instanceof AutopipeError) {
    process.stderr.write(`autopipe: ${err.message}\n`);
    if (err instanceof UsageError) process.stderr.write('  (autopipe --help lists the commands and options)\n');
    if (err.hint !== undefined) process.stderr.write(`  what to do: ${err.hint}\n`);
  } else {
    process.stderr.write(`autopipe: internal error: ${(err as Error)?.message ?? String(err)}\n  please report it with the output of --verbose\n`);
  }
  if (verbose) {
    let e: unknown = err;
    while (e instanceof Error) {
      logger.debug(e.stack ?? e.message);
      e = e.cause;
    }
  }
  return exitCodeOf(err);
}
