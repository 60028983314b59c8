/**
 * What can be checked before DFT is spent, from the files autopipe.yaml names (`config check`,
 * and `submit` before a new campaign): the starting structures of the labelling and of the
 * exploration, what the first fit will be given (its elements, their reference energies, enough
 * atomic environments for its basis), an initial potential's basis, and, where the jobs run on
 * this machine, that train.python is a Python with the venv's packages. Each problem names its
 * field and says what to do; the caller lists them all at once.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { openDatabaseFile } from '../db/db-file.js';
import { SYMBOLS } from '../atoms/elements.js';
import { isAbsolute, join } from 'node:path';
import type { Project } from '../project/project.js';
import type { Problem } from '../config/validate.js';
import type { Atoms } from '../atoms/atoms.js';
import { natoms, symbolsOf } from '../atoms/atoms.js';
import { cellVolume } from '../atoms/cell.js';
import { readStructures } from '../structures/read-any.js';
import { readKeptFile } from '../fsutil/atomic.js';
import { basisDifferences, potentialBasis } from '../stages/train/basis.js';
import { referenceEnergyGaps } from '../stages/train/plan.js';
import { noStartLevelText, startLevel } from '../stages/train/start.js';
import { asiOf } from '../stages/kept.js';
import { AutopipeError, ConfigError } from '../errors/errors.js';
import { formatProblem } from '../config/load.js';
import { templatePath } from '../templates/render.js';
import { readFileSync } from 'node:fs';
import { validationFiles } from '../config/types.js';

function structuresAt(p: Project, field: string, file: string, problems: Problem[]): Atoms[] | undefined {
  const path = isAbsolute(file) ? file : join(p.dir, file);
  try {
    const frames = [...readStructures(path)];
    if (frames.length === 0) problems.push({ path: field, message: `${file} holds no structure` });
    return frames;
  } catch (err) {
    if (!(err instanceof AutopipeError)) throw err;
    problems.push({ path: field, message: `${file} cannot be read: ${err.message}` });
    return undefined;
  }
}

/** MD needs a box: every starting frame periodic in all three directions, with a cell of volume. */
/**
 * Frames that are not periodic in x, y and z with a cell (ASE's indices), as one problem of
 * field: `${what}, and ${file} frame(s) … are not …: ${fix}`.
 */
function periodicProblems(frames: readonly Atoms[], field: string, file: string, why = { what: '', fix: 'MD in autopipe explores periodic cells' }): Problem[] {
  const bad = frames.flatMap((a, k) => (a.pbc.every(Boolean) && Math.abs(cellVolume(a.cell)) > 1e-6 ? [] : [k])); // ASE's index
  return bad.length === 0 ? [] : [{ path: field, message: `${why.what}${file} frame(s) ${bad.slice(0, 5).join(', ')} are not periodic in x, y and z with a cell (Lattice="…" pbc="T T T"): ${why.fix}` }];
}

function count(frames: readonly Atoms[]): Map<string, number> {
  const n = new Map<string, number>();
  for (const a of frames) for (const s of symbolsOf(a)) n.set(s, (n.get(s) ?? 0) + 1);
  return n;
}

/** train.python, run here (the local executor, or a login node that shares the software): can it import what the training job needs? */
function pythonProblem(p: Project): Problem | undefined {
  if (p.config.executor.host !== null) return undefined;
  const python = p.config.train.python;
  const r = spawnSync('/bin/sh', ['-c', `${python} -c "import numpy, pandas, ase" 2>&1`], { encoding: 'utf8', timeout: 60_000 });
  if (r.status === 0) return undefined;
  const why = (r.stdout ?? '').trim().split('\n').at(-1) ?? `exit ${r.status ?? '?'}`;
  return { path: 'train.python', message: `'${python}' cannot import numpy, pandas and ase (${why}): give the Python of the venv scripts/install-venv.sh makes (/opt/autopipe/venv/bin/python), or one with those packages` };
}

/** Atoms of each element in the database's rows with energies (none when there is no database yet). */
function labelledInDatabase(p: Project): Map<string, number> {
  if (!existsSync(p.dbPath)) return new Map();
  const db = openDatabaseFile(p.dbPath, {});
  try {
    return new Map([...db.atomsPerElementLabelled()].map(([z, n]) => [SYMBOLS[z] ?? 'X', n]));
  } finally {
    db.close();
  }
}

/**
 * What iteration 0's first stage (iterations.start) needs (label: the structures, which planning
 * asks for, so that a config without them still checks); train, labelled
 * rows in the database at the level of theory of today's dft settings (the fit would otherwise
 * take none, or mix levels); explore, the initial potential's active set; and whatever it starts
 * at, exploration its starting structures.
 */
function startProblems(p: Project): Problem[] {
  const c = p.config;
  const start = c.iterations.start;
  const problems: Problem[] = [];
  if (start === 'train') {
    if (!existsSync(p.dbPath)) {
      problems.push({ path: 'iterations.start', message: `train fits the labelled rows of the database, and ${p.dbPath} does not exist: import them first (autopipe db import ${p.dbPath} FILE --level …), or start at label with structures:` });
    } else {
      const db = openDatabaseFile(p.dbPath, {});
      try {
        const s = startLevel(db.select(), c.dft);
        if (s.level === undefined) problems.push({ path: 'iterations.start', message: `train fits the labelled rows at the level of theory of today's dft settings, and ${noStartLevelText(s, p.dbPath)}: import rows computed at these settings (autopipe db import), set dft: to the settings of the rows, or start at label with structures:` });
      } finally {
        db.close();
      }
    }
  }
  if (start === 'explore' && c.train.initial_potential !== null) {
    const file = c.train.initial_potential;
    const asi = asiOf(file);
    if (existsSync(isAbsolute(file) ? file : join(p.dir, file)) && !existsSync(isAbsolute(asi) ? asi : join(p.dir, asi))) {
      problems.push({ path: 'train.initial_potential', message: `${asi} does not exist: iteration 0 explores with this potential (iterations.start: explore), and its extrapolation grade needs the active set beside it (pace_activeset ${file} writes it); make it, or start at label or train` });
    }
  }
  if (start !== 'label' && c.structures === null && c.explore.structures === null) {
    problems.push({ path: 'explore.structures', message: `iteration 0 explores after ${start === 'train' ? 'its fit' : 'it starts'} (iterations.start: ${start}) from explore.structures, else structures:, and both are null: give periodic starting cells in either` });
  }
  return problems;
}

/**
 * A project's own label.sh.hbs from before autopipe chose pw.x's disk and pools: without the
 * pw_disk lines, dft.scratch and dft.keep would be silently ignored (outdir piling up on the
 * run root); without $AUTOPIPE_NPOOL every task runs one pool. Both are checked before DFT.
 */
function labelTemplateProblems(p: Project): Problem[] {
  const path = templatePath('label.sh.hbs', join(p.dir, p.config.executor.templates));
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const d = p.config.dft;
  const problems: Problem[] = [];
  const disk = ['pw_disk.before', 'pw_disk.after'].filter((v) => !text.includes(v));
  if (disk.length > 0 && (d.scratch !== null || d.keep !== 'all')) {
    problems.push({ path: d.scratch !== null ? 'dft.scratch' : 'dft.keep', message: `${path} has no ${disk.map((v) => `{{{${v}}}}`).join(' / ')} line, so ${d.scratch !== null ? 'dft.scratch' : `dft.keep: ${d.keep}`} would be ignored (pw.x's outdir would stay in the attempt folders): put {{{pw_disk.before}}} on the line before the pw.x line and {{{pw_disk.after}}} on the line after it, as ${templatePath('label.sh.hbs')} does` });
  }
  if (!text.includes('AUTOPIPE_NPOOL') && d.pools !== 1) {
    problems.push({ path: 'dft.pools', message: `${path} does not pass -nk "\${AUTOPIPE_NPOOL:-1}" to pw.x, so every task would run one k-point pool: add it to the pw.x line, as ${templatePath('label.sh.hbs')} does, or set dft.pools: 1` });
  }
  return problems;
}

export function preflight(p: Project): Problem[] {
  const c = p.config;
  const problems: Problem[] = [...startProblems(p), ...labelTemplateProblems(p)];
  const initial = c.structures === null ? undefined : structuresAt(p, 'structures', c.structures, problems);
  const starts = c.explore.structures === null ? initial : structuresAt(p, 'explore.structures', c.explore.structures, problems);
  if (c.explore.structures !== null && starts !== undefined) problems.push(...periodicProblems(starts, 'explore.structures', c.explore.structures));
  // a barostat needs a cell in all three directions: the initial structures, explored when explore.structures is null, too
  else if (c.explore.ensemble !== 'nvt' && starts !== undefined && c.structures !== null) {
    problems.push(...periodicProblems(starts, 'explore.ensemble', c.structures, { what: `${c.explore.ensemble} (a barostat) needs periodic cells, and `, fix: 'explore periodic cells (explore.structures), or set explore.ensemble: nvt' }));
  }
  // the validation set is labelled with the first labelling: read, and its elements known, before any DFT
  const files = validationFiles(c);
  const validation = count(files.flatMap((file, i) => structuresAt(p, typeof c.validation.structures === 'string' ? 'validation.structures' : `validation.structures.${i}`, file, problems) ?? []));
  const first = count(initial ?? []);
  const explored = count(starts ?? []);
  // a campaign's database may hold rows already (imported, or an earlier campaign's): the first fit has them too
  const held = labelledInDatabase(p);
  const fitted = new Map(first);
  for (const [e, n] of held) fitted.set(e, (fitted.get(e) ?? 0) + n);
  const where = [...held.values()].some((n) => n > 0) ? 'structures and the rows already in the database' : 'structures';
  // a campaign that starts at explore with nothing labelled: the potential is of the elements it explores
  const dataElements = fitted.size === 0 && c.iterations.start === 'explore' ? [...explored.keys()].sort() : [...fitted.keys()].sort();
  for (const el of [...new Set([...first.keys(), ...explored.keys(), ...validation.keys()])].sort()) {
    if (c.dft.pseudopotentials[el] === undefined) problems.push({ path: 'dft.pseudopotentials', message: `no pseudopotential for ${el}, which the structures to ${first.has(el) ? 'label' : explored.has(el) ? 'explore (and later label)' : 'validate on (validation.structures)'} contain` });
  }
  // a campaign that stops after labelling never fits: what the fit needs is not asked of it
  const fits = c.iterations.stop_after !== 'label';
  if (fits && ((initial ?? []).length > 0 || c.iterations.start === 'train')) {
    const elements = c.train.elements ?? dataElements;
    const empty = elements.filter((e) => !fitted.has(e));
    if (empty.length > 0) problems.push({ path: 'train.elements', message: `${empty.join(', ')} has no atom in ${where} (${c.structures ?? '-'}): the first fit would have no data for it` });
    const missing = dataElements.filter((e) => !elements.includes(e));
    if (missing.length > 0) problems.push({ path: 'train.elements', message: `leaves out ${missing.join(', ')}, which ${where} contain` });
    const unexplorable = [...explored.keys()].filter((e) => !elements.includes(e));
    if (unexplorable.length > 0) problems.push({ path: 'explore.structures', message: `holds ${unexplorable.join(', ')}, which the potential will not have (its elements: ${elements.join(', ')})` });
    const unvalidated = [...validation.keys()].filter((e) => !elements.includes(e));
    if (unvalidated.length > 0) problems.push({ path: 'validation.structures', message: `hold ${unvalidated.join(', ')}, which the potential will not have (its elements: ${elements.join(', ')}): it cannot be evaluated on them` });
    const { without, extra } = referenceEnergyGaps(c.train.reference_energy, elements);
    if (without.length > 0) problems.push({ path: 'train.reference_energy', message: `has no value for ${without.join(', ')}, an element of the fit` });
    if (extra.length > 0) problems.push({ path: 'train.reference_energy', message: `names ${extra.join(', ')}, which the fit will not have (its elements: ${elements.join(', ')})` });
    const atoms = (e: string) => fitted.get(e) ?? 0;
    const fewest = Math.min(...elements.filter((e) => atoms(e) > 0).map(atoms));
    if (Number.isFinite(fewest) && fewest < c.train.functions_per_element) {
      const short = elements.filter((e) => atoms(e) < c.train.functions_per_element).map((e) => `${atoms(e)} ${e}`).join(', ');
      problems.push({ path: 'train.functions_per_element', message: `${c.train.functions_per_element} functions per element, but the first fit gets ${short} atoms from ${where} (${(initial ?? []).length} structure(s), ${(initial ?? []).reduce((n, a) => n + natoms(a), 0)} atoms): the active set needs at least as many atomic environments as functions; set it to at most ${fewest}, or give more structures` });
    }
    const types = c.selection.types;
    if (types !== null && c.train.elements === null && types.join(' ') !== elements.join(' ')) {
      problems.push({ path: 'selection.types', message: `[${types.join(', ')}] are not the elements of the potential ([${elements.join(', ')}], in that order): set selection.types: null` });
    }
  }
  if (fits && c.train.initial_potential !== null) {
    const file = c.train.initial_potential;
    let text: Buffer | undefined;
    try {
      text = readKeptFile(isAbsolute(file) ? file : join(p.dir, file), 'the potential train.initial_potential names');
    } catch (err) {
      if (!(err instanceof AutopipeError)) throw err;
      problems.push({ path: 'train.initial_potential', message: err.message });
    }
    const basis = text === undefined ? undefined : potentialBasis(text.toString('utf8'));
    if (text === undefined && problems.every((x) => x.path !== 'train.initial_potential')) problems.push({ path: 'train.initial_potential', message: `${file} does not exist` });
    else if (text !== undefined && basis === undefined) problems.push({ path: 'train.initial_potential', message: `${file} is not a pacemaker potential (no species blocks): give the output_potential.yaml of a fit, or null` });
    else if (basis !== undefined) {
      const asked = { elements: c.train.elements ?? dataElements, cutoff: c.train.cutoff, functions: Object.fromEntries((c.train.elements ?? dataElements).map((e) => [e, c.train.functions_per_element])) };
      const differs = basisDifferences(basis, asked);
      if (differs.length > 0) problems.push({ path: 'train.initial_potential', message: `${file} has another basis than train asks for (${differs.join(', ')}): pacemaker would keep the potential's; set train's to match, or train.initial_potential: null` });
    }
  }
  const python = fits ? pythonProblem(p) : undefined;
  if (python !== undefined) problems.push(python);
  return problems;
}

/** The preflight's problems, all at once, as a ConfigError with each field's line; nothing when there is none. */
export function checkBeforeDft(p: Project): void {
  const problems = preflight(p);
  if (problems.length > 0) throw new ConfigError(p.configFile, problems.map((x) => formatProblem(x, p.configLines)));
}
