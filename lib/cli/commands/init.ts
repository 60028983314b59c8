/** `autopipe init DIR`: a commented, valid autopipe.yaml and the default templates to edit. */
import type { Argv } from 'yargs';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve, relative, isAbsolute } from 'node:path';
import { parseConfigText } from '../../config/load.js';
import { writeFileAtomic, makeDirs } from '../../fsutil/atomic.js';
import { DEFAULT_TEMPLATES } from '../../templates/render.js';
import { readStructures } from '../../structures/read-any.js';
import { symbolsOf } from '../../atoms/atoms.js';
import { isElementSymbol } from '../../atoms/elements.js';
import { FileAccessError, UsageError } from '../../errors/errors.js';
import { logger } from '../../log/logger.js';

export interface InitOptions {
  executor: 'local' | 'slurm';
  host?: string; port?: number; user?: string; identity?: string; knownHosts?: string;
  remoteRoot?: string; partition?: string; pseudoDir: string;
  pseudo: Record<string, string>;
  /** What kind each pseudopotential is (pseudoKind); missing: not known, treated as ultrasoft or PAW. */
  pseudoKinds?: Record<string, PseudoKind>;
  structures?: string;
}

export type PseudoKind = 'NC' | 'US' | 'PAW' | 'unknown';

/**
 * A pseudopotential's kind from its UPF header (pseudo_type="…" in UPF 2, the type word of UPF
 * 1's PP_HEADER), else from its name (kjpaw, rrkjus, uspp, van: the usual names), else unknown.
 */
export function pseudoKind(text: string | undefined, file: string): PseudoKind {
  const typed = /pseudo_type\s*=\s*"\s*(NC|SL|US|USPP|PAW)\s*"/i.exec(text ?? '') ?? /<PP_HEADER>[^<]{0,200}?\b(NC|US|PAW)\b/.exec(text ?? '');
  const t = typed?.[1].toUpperCase();
  if (t !== undefined) return t === 'PAW' ? 'PAW' : t.startsWith('US') ? 'US' : 'NC';
  if (/paw/i.test(file)) return 'PAW';
  if (/rrkjus|uspp|van[_.-]|[._-]us[._-]/i.test(file)) return 'US';
  return 'unknown';
}

/**
 * ecutwfc and ecutrho for the pseudopotentials, with why. pw.x's default ecutrho is 4 × ecutwfc,
 * right for norm-conserving ones; an ultrasoft or PAW augmentation charge needs 8–12 ×, so it is
 * written out whenever any is (or may be) ultrasoft or PAW. The values are a start: the
 * pseudopotential's own header or its library (SSSP, pslibrary) suggests the cutoffs to converge.
 */
export function initCutoffs(kinds: readonly PseudoKind[]): string {
  if (kinds.length > 0 && kinds.every((k) => k === 'NC')) {
    return `    ecutwfc: 40                              # Ry; converge it for your pseudopotentials (their header suggests one)
                                             # norm-conserving only: pw.x's default ecutrho, 4 × ecutwfc, is right`;
  }
  return `    ecutwfc: 40                              # Ry; converge it for your pseudopotentials (their header suggests one)
    ecutrho: 320                             # Ry, 8 × ecutwfc: ultrasoft and PAW densities need 8–12 × (pw.x's 4 × is too low)`;
}

/** A YAML scalar that reads back as exactly this string (JSON strings are YAML). */
const y = (s: string) => JSON.stringify(s);

/** The text of autopipe.yaml, pure. */
export function initConfigText(o: InitOptions): string {
  const pp = Object.entries(o.pseudo).map(([el, file]) => `    ${el}: ${y(file)}`).join('\n');
  return `# autopipe project. Every field, its default and its meaning: docs/config.md, or
# \`autopipe config check\` to see this file with every default filled in.
name: autopipe
${o.structures === undefined ? '# structures: initial.extxyz                 # the structures of iteration 0 (extxyz)' : `structures: ${y(o.structures)}`}

executor:
  kind: ${o.executor}                              # local: this machine; slurm: sbatch/squeue
${o.executor === 'local' ? '  max_concurrent: 2                        # tasks running at once on this machine' : `  array_throttle: 20                       # at most this many tasks of one array at once (%N)
  # max_array_size: 1000                   # default: MaxArraySize from scontrol show config`}
${o.host === undefined ? '  # host: login.cluster.example            # a remote cluster over SSH' : `  host: ${y(o.host)}`}
${o.port === undefined ? '' : `  port: ${o.port}\n`}${o.user === undefined ? '' : `  user: ${y(o.user)}\n`}${o.identity === undefined ? '' : `  identity: ${y(o.identity)}\n`}${o.knownHosts === undefined ? '' : `  known_hosts: ${y(o.knownHosts)}\n`}${o.remoteRoot === undefined ? '  # remote_root: /scratch/me/autopipe       # where task folders live (default .autopipe/run)' : `  remote_root: ${y(o.remoteRoot)}`}
  templates: templates                     # your copies of the job scripts (edit them)

dft:
  command: pw.x                            # on a cluster e.g. "srun pw.x"
  pseudo_dir: ${y(o.pseudoDir)}
  pseudopotentials:
${pp}
  kspacing: 0.25                           # 1/Å, 2π included (VASP's KSPACING)
  parameters:                              # pw.x input variables, flat
${initCutoffs(Object.keys(o.pseudo).map((el) => o.pseudoKinds?.[el] ?? 'unknown'))}
    occupations: smearing
    smearing: mv
    degauss: 0.02
  resources:
    time: "01:00:00"
${o.partition === undefined ? '    # partition: compute' : `    partition: ${y(o.partition)}`}
    # account: my-project
    # modules: ["module load quantum-espresso"]

embedding:                                 # sub-cells around uncertain atoms: docs/embedding.md
  rcut: 5.0                                # the potential's cutoff
  buffer: 5.0                              # the box is at least 2 (rcut + buffer) thick
  box: lattice                             # whole crystal periods of the frame; cube for liquids
  target_force_error: 50                   # meV/Å: what the embedding check holds the sub-cells to
selection: {column: f_pace_gamma, lo: 5, hi: 25, max_candidates: 200}

recovery:                                  # failed pw.x tasks are retried by poll: docs/recovery.md
  max_attempts: 4                          # per task, the first included
  # walltime: {factor: 2, max: "24:00:00", retries: 2}    # cap: the partition's MaxTime
  # out_of_memory: {factor: 2, max: "64G", retries: 2}    # needs dft.resources.mem
`;
}

/** The functional a UPF file name announces: Al.pz-vbc.UPF → pz, Si.pbe-nl-….UPF → pbe. */
function functionalOf(file: string): string {
  return (/^[A-Za-z]{1,2}[._]([a-z0-9]+)/i.exec(file)?.[1] ?? '').toLowerCase();
}

/**
 * Pseudopotential files in a folder for the given elements (El.*.UPF), all of one functional
 * (mixing LDA and PBE pseudopotentials is a physics error): PBE if every element has one, then
 * PZ, then any other shared one; the first file by name within it.
 */
export function findPseudopotentials(dir: string, elements: readonly string[]): { found: Record<string, string>; missing: string[]; functional?: string } {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => /\.upf$/i.test(f)).sort() : [];
  const of = (el: string) => files.filter((name) => new RegExp(`^${el}[._-]`).test(name));
  const missing = elements.filter((el) => of(el).length === 0);
  if (missing.length > 0 || elements.length === 0) return { found: {}, missing };
  const shared = [...new Set(of(elements[0]).map(functionalOf))].filter((fn) => elements.every((el) => of(el).some((f) => functionalOf(f) === fn)));
  const functional = ['pbe', 'pz'].find((fn) => shared.includes(fn)) ?? shared.sort()[0];
  if (functional === undefined) return { found: {}, missing: [...elements] };
  const found: Record<string, string> = {};
  for (const el of elements) found[el] = of(el).find((f) => functionalOf(f) === functional) as string;
  return { found, missing: [], functional };
}

export function initCommand(yargs: Argv): Argv {
  return yargs.command('init <dir>', 'write DIR/autopipe.yaml (commented, valid) and copy the default templates into DIR/templates', (a) => a
    .positional('dir', { type: 'string', demandOption: true })
    .option('executor', { choices: ['local', 'slurm'] as const, default: 'local' as const })
    .option('host', { type: 'string' }).option('port', { type: 'number' }).option('user', { type: 'string' })
    .option('identity', { type: 'string' }).option('known-hosts', { type: 'string' })
    .option('remote-root', { type: 'string' }).option('partition', { type: 'string' })
    .option('pseudo-dir', { type: 'string', default: '/usr/share/espresso/pseudo' })
    .option('pseudo', { type: 'string', array: true, describe: 'El=FILE (repeatable); default: found in --pseudo-dir for the elements of --structures' })
    .option('structures', { type: 'string', describe: 'extxyz with the structures of iteration 0' }),
  (argv) => {
    const dir = resolve(argv.dir);
    const file = join(dir, 'autopipe.yaml');
    if (existsSync(file)) throw new UsageError(`${file} exists already; autopipe init never overwrites it`, { hint: 'edit it, or init another folder' });
    if (argv.host !== undefined && argv['remote-root'] === undefined) {
      throw new UsageError('--host needs --remote-root: the folder on the cluster where task folders live', { hint: 'e.g. --remote-root /scratch/$USER/autopipe' });
    }
    if (argv.host !== undefined && argv.executor !== 'slurm') throw new UsageError('--host goes with --executor slurm');
    const pseudo: Record<string, string> = {};
    for (const p of argv.pseudo ?? []) {
      const [el, f] = p.split('=', 2);
      if (!isElementSymbol(el ?? '') || !f) throw new UsageError(`--pseudo ${p}: give El=FILE, e.g. --pseudo Al=Al.pz-vbc.UPF`);
      pseudo[el] = f;
    }
    let structures: string | undefined;
    if (argv.structures !== undefined) {
      const src = resolve(argv.structures);
      const elements = [...new Set([...readStructures(src, { format: 'extxyz' })].flatMap(symbolsOf))];
      const { found, missing, functional } = findPseudopotentials(argv['pseudo-dir'], elements.filter((e) => pseudo[e] === undefined));
      if (missing.length > 0) throw new UsageError(`no pseudopotentials of one functional for ${missing.join(', ')} in ${argv['pseudo-dir']}`, { hint: 'give --pseudo El=FILE or --pseudo-dir' });
      Object.assign(pseudo, found);
      if (functional !== undefined) logger.info(`pseudopotentials (${functional}): ${Object.entries(found).map(([e, f]) => `${e}=${f}`).join(' ')}`);
      structures = relative(dir, src).startsWith('..') || isAbsolute(relative(dir, src)) ? src : relative(dir, src);
    }
    if (Object.keys(pseudo).length === 0) throw new UsageError('give --pseudo El=FILE for each element, or --structures to find them in --pseudo-dir');
    const pseudoKinds = Object.fromEntries(Object.entries(pseudo).map(([el, f]) => [el, pseudoKind(readHeader(join(argv['pseudo-dir'], f)), f)]));
    const text = initConfigText({
      pseudoKinds, executor: argv.executor, host: argv.host, port: argv.port, user: argv.user, identity: argv.identity, knownHosts: argv['known-hosts'],
      remoteRoot: argv['remote-root'], partition: argv.partition, pseudoDir: argv['pseudo-dir'], pseudo, structures,
    });
    parseConfigText(text, file); // never write a file that does not validate
    const templates = join(dir, 'templates');
    makeFolder(dir, 'the project folder');
    makeFolder(templates, 'the templates folder');
    for (const t of readdirSync(DEFAULT_TEMPLATES).filter((f) => f.endsWith('.hbs'))) {
      const dest = join(templates, t);
      if (!existsSync(dest)) writeFileAtomic(dest, readFileSync(join(DEFAULT_TEMPLATES, t)));
    }
    writeFileAtomic(file, text); // last: a project with autopipe.yaml is a whole one
    logger.info(`wrote ${file} and ${join(dir, 'templates')}/; check it with: autopipe config check ${file}`);
  });
}

/** The start of a UPF file, where its header says its kind; undefined when it cannot be read here (a cluster's path). */
function readHeader(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').slice(0, 20000);
  } catch {
    return undefined;
  }
}

/** A folder, made if missing; a file in its place or a folder that cannot be made is a clean error. */
function makeFolder(path: string, what: string): void {
  if (existsSync(path) && !statSync(path).isDirectory()) {
    throw new UsageError(`${path}: is a file, but ${what} must be a folder`, { hint: 'give another DIR, or move the file away' });
  }
  try {
    makeDirs(path);
  } catch (err) {
    throw new FileAccessError(`cannot make ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {
      hint: 'check that the parent folder exists and is writable', cause: err,
    });
  }
}
