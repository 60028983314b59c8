/**
 * The autopipe command line: commands are registered here; every error ends in the one catch
 * below, which prints what/where/what-to-do and exits with the error class's code.
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { userInfo } from 'node:os';
import { AutopipeError, UsageError, exitCodeOf } from '../errors/errors.js';
import { logger, setVerbose } from '../log/logger.js';
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

type Register = (y: Argv, ctx: CliContext) => Argv;

/** A numeric option that is not a finite number (`--rcut Infinity`, `--lo abc`) is a usage error. */
function refuseNonFiniteNumbers(argv: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(argv)) {
    if (key === '_' || key === '$0' || /[A-Z]/.test(key)) continue; // yargs' camelCase copies of kebab-case options
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (typeof v === 'number' && !Number.isFinite(v)) {
        throw new UsageError(`--${key}: ${Number.isNaN(v) ? 'not a number' : `${v} is not a finite number`}`, { hint: `give --${key} a finite number` });
      }
    }
  }
}

/**
 * Each command's module, loaded only when it is the one asked for: a command's start-up then
 * pays for its own code, not for every other command's (SSH, templates, schemas, …).
 */
const COMMANDS: ReadonlyArray<{ names: readonly string[]; load: () => Promise<Register> }> = [
  { names: ['config'], load: async () => { const m = await import('./commands/config.js'); return (y) => y.command('config', 'check autopipe.yaml', m.configCommands); } },
  { names: ['qe'], load: async () => { const m = await import('./commands/qe.js'); return (y) => y.command('qe', 'pw.x files: parse outputs, write inputs', m.qeCommands); } },
  { names: ['db'], load: async () => { const m = await import('./commands/db.js'); return (y, ctx) => y.command('db', 'the ASE database: add, ls, export, check', (a) => m.dbCommands(a, ctx)); } },
  { names: ['convert'], load: async () => (await import('./commands/convert.js')).convertCommand },
  { names: ['embed', 'select'], load: async () => (await import('./commands/embed.js')).embedCommands },
  { names: ['submit', 'poll', 'status', 'run', 'resume'], load: async () => (await import('./commands/loop.js')).loopCommands },
  { names: ['train'], load: async () => (await import('./commands/train.js')).trainCommand },
  { names: ['report'], load: async () => (await import('./commands/report.js')).reportCommand },
  { names: ['init'], load: async () => (await import('./commands/init.js')).initCommand },
];

export async function buildCli(argv: string[], ctx: CliContext): Promise<Argv> {
  const y: Argv = yargs(argv)
    .scriptName('autopipe')
    .usage('autopipe <command> — active learning of ACE potentials with pw.x, LAMMPS and SLURM')
    .option('verbose', { type: 'boolean', default: false, describe: 'debug messages and stack traces' })
    .middleware((a) => setVerbose(a.verbose === true))
    .middleware(refuseNonFiniteNumbers)
    .demandCommand(1, 'name a command (autopipe --help lists them)')
    .strict()
    .recommendCommands()
    .help()
    .version()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  // the first word that is not an option names the command; without one (--help, a typo) all load
  const first = argv.find((a) => !a.startsWith('-'));
  const asked = COMMANDS.filter((c) => first !== undefined && c.names.includes(first));
  const registers = await Promise.all((asked.length > 0 ? asked : COMMANDS).map((c) => c.load()));
  return registers.reduce<Argv>((acc, register) => register(acc, ctx), y);
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
    await (await buildCli(argv, ctx)).parseAsync();
    return 0;
  } catch (err) {
    return report(err, verbose);
  }
}

/** A message line is never longer than this: whatever value slipped into it, it is cut. */
const MAX_LINE = 500;

function clipLines(text: string): string {
  return text.split('\n').map((l) => (l.length > MAX_LINE ? `${l.slice(0, MAX_LINE - 1)}…` : l)).join('\n');
}

function report(err: unknown, verbose: boolean): number {
  if (err instanceof AutopipeError) {
    process.stderr.write(`autopipe: ${clipLines(err.message)}\n`);
    if (err instanceof UsageError) process.stderr.write('  (autopipe --help lists the commands and options)\n');
    if (err.hint !== undefined) process.stderr.write(`  what to do: ${clipLines(err.hint)}\n`);
  } else {
    process.stderr.write(`autopipe: internal error: ${clipLines((err as Error)?.message ?? String(err))}\n  please report it with the output of --verbose\n`);
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
