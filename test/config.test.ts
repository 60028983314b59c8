import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateConfig, CONFIG_SCHEMA } from '../lib/config/validate.js';
import { parseConfigText } from '../lib/config/load.js';
import { configDocs } from '../lib/config/docs.js';
import { ConfigError, InputFormatError } from '../lib/errors/errors.js';
import { cli, tmpDir, ROOT } from './support/tools.js';

const MINIMAL = 'dft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF}\n';

function problemsOf(text: string): string[] {
  try {
    parseConfigText(text, 'autopipe.yaml');
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  return expect.fail('expected a ConfigError') as never;
}

describe('config', () => {
  it('fills every default of the whole design from a minimal file', () => {
    const { config, warnings } = parseConfigText(MINIMAL, 'autopipe.yaml');
    expect(config.executor.kind).to.equal('local');
    expect(config.dft.command).to.equal('pw.x');
    expect(config.dft.resources.time).to.equal('01:00:00');
    expect(config.recovery.scf_not_converged).to.deep.equal([{ mixing_beta: 0.3 }, { mixing_mode: 'local-TF', mixing_beta: 0.2 }, { diagonalization: 'cg', mixing_beta: 0.1, electron_maxstep: 300 }]);
    expect(config.recovery.walltime).to.deep.equal({ factor: 2, max: '48:00:00', retries: 2 });
    expect(config.embedding).to.deep.equal({ rcut: 5, buffer: 5, mask_radius: null, min_distance: 1.5, energy_weight: 0, box: 'lattice', target_force_error: 50, check: { when: 'auto', boxes: ['lattice', 'cube'], buffers: null, centres: 2, max_reference_atoms: 600 } });
    expect(config.selection.column).to.equal('f_pace_gamma');
    expect(config.explore.resources.ntasks).to.equal(1);
    expect(config.train.reference_energy).to.equal('auto');
    expect(config.iterations.max).to.equal(10);
    expect(warnings).to.deep.equal([]);
  });

  it('validateConfig is pure: it does not change its input', () => {
    const raw = { dft: { pseudopotentials: { Al: 'x' } } };
    const copy = structuredClone(raw);
    expect(validateConfig(raw).ok).to.equal(true);
    expect(raw).to.deep.equal(copy);
  });

  it('names the field path and line of every problem, in file order', () => {
    const text = [
      'name: my project',            // 1: pattern
      'executer:',                   // 2: typo of a section
      '  kind: local',               // 3
      'dft:',                        // 4
      '  pseudopotentials: {Al: Al.pz-vbc.UPF, Xx: a.UPF}', // 5
      '  parameters:',               // 6
      '    ecutwfc: thirty',         // 7: wrong type for pw.x
      '    ecutwfcc: 30',            // 8: typo of a pw.x variable
      '    nat: 4',                  // 9: owned by autopipe
      '  resources: {time: soon}',   // 10
      'embedding: {rcut: -1}',       // 11
      'selection: {lo: 30}',         // 12: lo >= hi is a semantic problem, reported once the schema passes
    ].join('\n');
    const p = problemsOf(text);
    expect(p).to.deep.equal([
      "name (line 1): 'my project' does not have the expected form (letters, digits, _ . -, at most 32)",
      p[1], // the unknown-field message with its list of fields, checked below
      'dft.parameters.ecutwfc (line 7): must be a number',
      "dft.parameters.ecutwfcc (line 8): not a pw.x input variable (did you mean 'ecutwfc'?)",
      'dft.parameters.nat (line 9): is set by autopipe for every task; remove it',
      "dft.resources.time (line 10): 'soon' does not have the expected form (SLURM time, e.g. 01:00:00 or 2-00:00:00)",
      'embedding.rcut (line 11): must be > 0',
    ]);
    expect(p[1]).to.match(/^executer \(line 2\): unknown field \(did you mean 'executor'\?\); top-level fields: version, name/);
    expect(problemsOf(MINIMAL + 'selection: {lo: 30}\n')).to.deep.equal(['selection.lo (line 3): must be below selection.hi (25)']);
    expect(problemsOf(MINIMAL + 'dft2: 1\n')[0]).to.match(/^dft2 \(line 3\): unknown field/);
    expect(problemsOf('dft:\n  pseudopotentials: {Xx: a.UPF}\n')).to.deep.equal(["dft.pseudopotentials.Xx (line 2): 'Xx' is not an element symbol"]);
  });

  it('recovery ladders: unknown pw.x parameter, negative factor, empty ladder', () => {
    expect(problemsOf(MINIMAL + 'recovery:\n  scf_not_converged:\n    - {mixing_betta: 0.1}\n')).to.deep.equal([
      "recovery.scf_not_converged.0.mixing_betta (line 5): not a pw.x input variable (did you mean 'mixing_beta'?)",
    ]);
    expect(problemsOf(MINIMAL + 'recovery:\n  walltime: {factor: -2}\n')).to.deep.equal(['recovery.walltime.factor (line 4): must be > 1']);
    expect(problemsOf(MINIMAL + 'recovery:\n  diagonalization: []\n')).to.deep.equal(['recovery.diagonalization (line 4): must NOT have fewer than 1 items']);
    expect(problemsOf(MINIMAL + 'recovery:\n  charge_wrong: [{mixing_beta: fast}]\n')).to.deep.equal(['recovery.charge_wrong.0.mixing_beta (line 4): must be a number']);
    // a cap autopipe could not read would be no cap at all
    expect(problemsOf(MINIMAL + 'recovery:\n  out_of_memory: {factor: 2, max: 64GB}\n  walltime: {factor: 2, max: two days}\n')).to.deep.equal([
      "recovery.out_of_memory.max (line 4): '64GB' does not have the expected form (SLURM memory, e.g. 4G or 500M)",
      "recovery.walltime.max (line 5): 'two days' does not have the expected form (SLURM time, e.g. 01:00:00 or 2-00:00:00)",
    ]);
  });

  it('warns when buffer < rcut', () => {
    const { warnings } = parseConfigText(MINIMAL + 'embedding: {rcut: 5, buffer: 3}\n', 'a.yaml');
    expect(warnings).to.deep.equal(['embedding.buffer (line 3): 3 < rcut (5): atoms between 3 and 5 Å from the centre have the periodic seam within the potential\'s cutoff; the embedding check (embedding.check) measures whether their labels still agree with their frame\'s DFT']);
  });

  it('YAML syntax errors and empty files', () => {
    expect(() => parseConfigText('dft:\n  a: [1,\n', 'x.yaml')).to.throw(InputFormatError, /^x\.yaml:3: not valid YAML/);
    expect(problemsOf('')).to.deep.equal(['dft: is required']);
    expect(problemsOf('- 1\n')).to.deep.equal(['(top level): must be a mapping of fields (name: value)']);
  });

  it('explore: ensembles, pressures and ramps; nonsense is refused with the field named before anything runs', () => {
    const ok = parseConfigText(MINIMAL + 'explore: {ensemble: npt_tri, pressures: [-10000, 0, 10000], temperatures: [300, [300, 1200]], pdamp: 0.5}\n', 'autopipe.yaml').config.explore;
    expect(ok).to.deep.include({ ensemble: 'npt_tri', pressures: [-10000, 0, 10000], temperatures: [300, [300, 1200]], pdamp: 0.5 });
    expect(parseConfigText(MINIMAL, 'autopipe.yaml').config.explore).to.deep.include({ ensemble: 'nvt', pressures: null, pdamp: 1 });
    const cases: Array<[string, string[]]> = [
      ['{temperatures: [-5]}', ['explore.temperatures.0 (line 3): must be > 0']],
      ['{temperatures: [0]}', ['explore.temperatures.0 (line 3): must be > 0']],
      ['{temperatures: [[600]]}', ['explore.temperatures.0 (line 3): a ramp is [start, stop] in K; [600] has 1 value(s): give two, or one temperature as a plain number']],
      ['{temperatures: [[300, 600, 900]]}', ['explore.temperatures.0 (line 3): a ramp is [start, stop] in K; [300, 600, 900] has 3 value(s): give two, or one temperature as a plain number']],
      ['{temperatures: [[300, -600]]}', ['explore.temperatures.0.1 (line 3): must be > 0']],
      ['{pressures: [10000]}', ['explore.pressures (line 3): is for NPT runs, but explore.ensemble is nvt (the cell is fixed, so no pressure can be held): set explore.ensemble to npt, npt_aniso or npt_tri, or remove explore.pressures']],
      ['{ensemble: npt, pressures: []}', ['explore.pressures (line 3): must NOT have fewer than 1 items']],
      ['{ensemble: npt, pressures: [1 GPa]}', ['explore.pressures.0 (line 3): must be a number']],
      ['{ensemble: npt, pdamp: 0.005}', ['explore.pdamp (line 3): 0.005 ps is shorter than 10 time steps (0.01 ps): the barostat would throw the cell apart; about 1000 time steps (1 ps) is the usual choice']],
      ['{ensemble: nph}', ['explore.ensemble (line 3): must be one of: nvt, npt, npt_aniso, npt_tri']],
    ];
    for (const [explore, want] of cases) expect(problemsOf(`${MINIMAL}explore: ${explore}\n`), explore).to.deep.equal(want);
    // a barostat needs a cell: the structures explored (here the initial ones) are read before any DFT is spent
    const dir = tmpDir();
    writeFileSync(join(dir, 'mixed.extxyz'), '2\nLattice="8 0 0 0 8 0 0 0 8" Properties=species:S:1:pos:R:3 pbc="T T T"\nAl 0 0 0\nAl 2.5 0 0\n2\nProperties=species:S:1:pos:R:3 pbc="F F F"\nAl 0 0 0\nAl 2.5 0 0\n');
    writeFileSync(join(dir, 'autopipe.yaml'), `structures: mixed.extxyz\n${MINIMAL}explore: {ensemble: npt}\n`);
    const r = cli(['config', 'check', join(dir, 'autopipe.yaml')]);
    expect(r.status, r.stderr).to.equal(78);
    expect(r.stderr).to.match(/explore\.ensemble \(line \d+\): npt \(a barostat\) needs periodic cells, and mixed\.extxyz frame\(s\) 1 are not periodic in x, y and z with a cell \(Lattice="…" pbc="T T T"\): explore periodic cells \(explore\.structures\), or set explore\.ensemble: nvt/);
  });

  it('docs/config.md is generated from the schema and up to date', () => {
    expect(readFileSync(join(ROOT, 'docs', 'config.md'), 'utf8')).to.equal(configDocs(CONFIG_SCHEMA));
    // every field has a description
    const undocumented: string[] = [];
    const walk = (s: Record<string, unknown>, path: string) => {
      const props = (s.$ref !== undefined ? (CONFIG_SCHEMA.definitions as Record<string, Record<string, unknown>>)[String(s.$ref).split('/').pop()!] : s).properties as Record<string, Record<string, unknown>> | undefined;
      for (const [k, v] of Object.entries(props ?? {})) {
        if (typeof v.description !== 'string' || v.description.length < 10) undocumented.push(`${path}${k}`);
        walk(v, `${path}${k}.`);
      }
    };
    walk(CONFIG_SCHEMA, '');
    expect(undocumented).to.deep.equal([]);
  });

  it('autopipe config check: the resolved config, or every error with exit 78 and no stack trace', function () {
    this.timeout(30000);
    const dir = tmpDir();
    writeFileSync(join(dir, 'autopipe.yaml'), MINIMAL);
    const ok = cli(['config', 'check'], { cwd: dir });
    expect(ok.status).to.equal(0);
    expect(ok.stdout).to.match(/executor:\n {2}kind: local/);
    const json = JSON.parse(cli(['config', 'check', join(dir, 'autopipe.yaml'), '--json']).stdout);
    expect(json.dft.kspacing).to.equal(0.25);
    writeFileSync(join(dir, 'bad.yaml'), MINIMAL + 'dft_typo: 1\n');
    const bad = cli(['config', 'check', join(dir, 'bad.yaml')]);
    expect(bad.status).to.equal(78);
    expect(bad.stderr).to.include('dft_typo (line 3): unknown field');
    expect(bad.stderr).to.include('what to do:');
    expect(bad.stderr).not.to.match(/\n\s+at /);
    expect(bad.stdout).to.equal('');
    const missing = cli(['config', 'check', join(dir, 'nope.yaml')]);
    expect(missing.status).to.equal(74);
    expect(missing.stderr).to.match(/nope\.yaml: cannot read the configuration \(ENOENT\)/);
  });
});
