/**
 * Nothing silently wrong: each reproduction of what was found silently wrong (stale outputs
 * taken as new results, two DFT settings in one fit, a warm start that ignored the basis asked
 * for, campaigns that could not go on, what was found only after DFT was spent, internal errors
 * and hangs, a kind that touched eight places) as one case of a table. Each case checks the exit
 * code and the message, and that nothing on disk changed, or that the right thing did. On the
 * real components: pw.x, pacemaker and the ase engine on this machine (the local executor), the
 * one-node SLURM cluster, ASE as the judge of the database.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { autopipe } from './support/al-training.js';
import { editConfig, finishedCampaign, labelProject, movedCopy, snapshot } from './support/campaign.js';
import { clusterEnv } from './support/cluster.js';
import { cli, pythonJson, pythonUnder, ROOT, tmpDir, VENV_PYTHON } from './support/tools.js';
import { readCursor, type Cursor, type StageRecord } from '../lib/state/cursor.js';
import { acquireLock } from '../lib/state/lock.js';
import { potentialsOf } from '../lib/stages/kept.js';
import { exploreKind } from '../lib/stages/explore/index.js';
import { selectKind } from '../lib/stages/select/index.js';
import { lastErrorLine } from '../lib/stages/error-line.js';
import { judgeTrain } from '../lib/stages/train/judge.js';
import { potentialBasis } from '../lib/stages/train/basis.js';
import { levelDifferences, levelId, pwLevel } from '../lib/level/level.js';
import { readPwRunFacts } from '../lib/formats/espresso-out.js';
import { parseConfigText } from '../lib/config/load.js';
import { memoryDatabase } from '../lib/db/db-file.js';
import { pollPass } from '../lib/loop/pass.js';
import { transitions } from '../lib/loop/transition.js';
import { fromQueue, queueEntryOf } from '../lib/loop/observe.js';
import { parseQueueStatus } from '../lib/slurm/commands.js';
import { iterationLines } from '../lib/cli/status.js';
import { campaignOf } from '../lib/report/campaign.js';
import { REGISTRY } from '../lib/stages/registry.js';
import { defineLocalKind, type Registry, type StageKind } from '../lib/stages/kind.js';
import { StageError } from '../lib/errors/errors.js';
import { FakeExecutor } from './support/fake-executor.js';
import { passContext, plannedLabelCursor } from './support/loop.js';
import { pwRuns, AL4 } from './support/pw-runs.js';

const cursorOf = (dir: string): Cursor => readCursor(join(dir, '.autopipe', 'cursor.json')) as Cursor;
const workdir = (dir: string) => join(dir, '.autopipe');

interface Row { id: number; iteration: number; ecutwfc: number; level: string | null; embedded: boolean; task_dir: string; campaign: string | null }

/** The database as Debian's ASE reads it. */
function rows(dir: string): Row[] {
  return pythonJson<Row[]>(`
import sys, json, ase.db
print(json.dumps([dict(id=r.id, iteration=r.get('iteration'), ecutwfc=r.get('ecutwfc'), level=r.get('level'), embedded=bool(r.get('embedded')),
                       task_dir=r.data.get('task_dir'), campaign=r.get('campaign')) for r in ase.db.connect(sys.argv[1]).select()]))`, [join(workdir(dir), 'autopipe.db')]);
}

/** The ecutwfc pw.x ran a task folder's pw.out at. */
function ranAt(dir: string, taskDir: string): number | null {
  return readPwRunFacts(readFileSync(join(workdir(dir), 'run', taskDir, 'pw.out'), 'utf8')).ecutwfc;
}

/** The continuation of the finished campaign to two iterations with a basis of 6 functions and a new structure to explore: several cases read it. */
let continued: { dir: string; r: ReturnType<typeof autopipe>; before: Cursor } | undefined;
function continuation() {
  if (continued !== undefined) return continued;
  const dir = movedCopy(finishedCampaign());
  const before = cursorOf(dir);
  editConfig(dir, [/^ {2}max: 1$/m, '  max: 2'], ['functions_per_element: 8', 'functions_per_element: 6']);
  // the structure to explore replaced: the 255-atom vacancy cell with its atoms shifted (same file name)
  const text = readFileSync(join(dir, 'explore.extxyz'), 'utf8');
  writeFileSync(join(dir, 'explore.extxyz'), text.replace(/^(Al\s+)(-?\d+\.\d+)/gm, (_m, head: string, x: string) => `${head}${(Number(x) + 0.05).toFixed(8)}`));
  const r = autopipe(['run'], dir);
  return (continued = { dir, r, before });
}

interface Case { id: string; what: string; run: () => Promise<void> | void }

const CASES: Case[] = [
  // 1. Old outputs taken as the new attempt's
  {
    id: '1.1', what: 'labelled at ecutwfc 12, set 16, cursor and database removed: refused (an earlier campaign\'s files), nothing changed; once moved away, rows and pw.out both say 16',
    run: () => {
      const dir = labelProject();
      expect(autopipe(['run'], dir).status).to.equal(0);
      expect(rows(dir).map((r) => r.ecutwfc)).to.deep.equal([12, 12, 12]);
      editConfig(dir, ['ecutwfc: 12', 'ecutwfc: 16']);
      for (const f of readdirSync(workdir(dir)).filter((n) => n.startsWith('cursor.json') || n === 'autopipe.db')) rmSync(join(workdir(dir), f));
      const before = snapshot(dir);
      const r = autopipe(['run'], dir);
      expect(r.status, r.stderr).to.equal(65);
      expect(r.stderr).to.match(/holds the files of an earlier campaign whose checkpoint \(cursor\.json\) is gone: .*run\/ \(task folders\)/)
        .and.match(/what to do: .*mv .*\.autopipe .*\.autopipe\.old/).and.not.match(/\n\s+at /);
      expect(snapshot(dir)).to.deep.equal(before);
      renameSync(workdir(dir), `${workdir(dir)}.old`);
      expect(autopipe(['run'], dir).status).to.equal(0);
      const now = rows(dir);
      expect(now.map((r) => r.ecutwfc)).to.deep.equal([16, 16, 16]);
      for (const row of now) expect(ranAt(dir, row.task_dir), row.task_dir).to.equal(16);
    },
  },
  {
    id: '1.2', what: 'two projects with one remote_root: the second is refused at staging, naming the first\'s campaign; the first\'s files are untouched',
    run: () => {
      const env = { ...process.env, ...clusterEnv() };
      const root = join(tmpDir(), 'shared root');
      const tag = randomBytes(3).toString('hex');
      const executor = ['kind: slurm', `remote_root: ${JSON.stringify(root)}`];
      const a = labelProject({ name: `first-${tag}`, executor });
      const b = labelProject({ name: `second-${tag}`, executor });
      try {
        expect(autopipe(['submit'], a, env).status).to.equal(0);
        // what the first staged (its jobs may be running meanwhile: their outputs are theirs)
        const staged = () => new Map([...snapshot(root)].filter(([p]) => /(pw\.in|structure\.extxyz|\.manifest|\.sbatch|\.autopipe-campaign)$/.test(p)));
        const before = staged();
        const r = autopipe(['submit'], b, env);
        expect(r.status, r.stderr).to.equal(65);
        expect(r.stderr).to.match(new RegExp(`shared root holds another campaign's files \\(its \\.autopipe-campaign: ${cursorOf(a).id} project "first-${tag}"`))
          .and.match(/what to do: give this project a run root of its own \(executor\.remote_root\)/);
        expect(staged()).to.deep.equal(before);
        expect(cursorOf(b).stages, 'nothing of the second was planned into the shared root').to.deep.equal([]);
      } finally {
        spawnSync('scancel', ['--name', cursorOf(a).stages[0].submissions.map((s) => s.job_name).join(',')], { env });
      }
    },
  },
  {
    id: '1.3', what: 'a finished campaign given another basis and temperature, its cursor removed: refused before anything is planned; nothing changed',
    run: () => {
      const dir = movedCopy(finishedCampaign());
      editConfig(dir, ['functions_per_element: 8', 'functions_per_element: 6'], ['temperatures: [900]', 'temperatures: [300]']);
      rmSync(join(workdir(dir), 'cursor.json'));
      const before = snapshot(dir);
      const r = autopipe(['run'], dir);
      expect(r.status, r.stderr).to.equal(65);
      expect(r.stderr).to.match(/earlier campaign whose checkpoint \(cursor\.json\) is gone: cursor\.json\.bak\.\* \(an earlier checkpoint\), potentials\/, explore\/, select\/, run\/ \(task folders\)/)
        .and.match(/restore its checkpoint \(cp .*cursor\.json\.bak\.1 .*cursor\.json\)/);
      expect(snapshot(dir)).to.deep.equal(before);
    },
  },
  {
    id: '1.4', what: 'a project copied (cp -a) while its original still runs the campaign: the copy is refused and changes nothing; the jobs name no absolute path',
    run: () => {
      const original = movedCopy(finishedCampaign());
      const copy = tmpDir('autopipe-trust-');
      cpSync(original, copy, { recursive: true, preserveTimestamps: true });
      editConfig(copy, [/^ {2}max: 1$/m, '  max: 2']);
      const before = { copy: snapshot(copy), original: snapshot(original) };
      for (const args of [['run'], ['poll'], ['submit'], ['resume']]) {
        const r = autopipe(args, copy);
        expect(r.status, `${args[0]}: ${r.stderr}`).to.equal(65);
        expect(r.stderr).to.match(new RegExp(`this checkpoint is campaign ${cursorOf(original).id} of the project at ${original}/\\.autopipe, which still runs it there`))
          .and.match(/what to do: go on in .*; to start a new campaign in this copy, move its work folder away first/);
      }
      expect(snapshot(copy)).to.deep.equal(before.copy);
      expect(snapshot(original)).to.deep.equal(before.original);
      // every job script finds its folders from where it is started (sbatch --chdir): a copy's would run in its own
      const scripts = spawnSync('sh', ['-c', 'find "$1" -name "*.sbatch" -exec cat {} +', 'sh', join(workdir(original), 'run')], { encoding: 'utf8' }).stdout;
      expect(scripts).to.match(/read -r task_dir token/).and.not.include(original);
    },
  },
  // 2. Two DFT settings in one fit
  {
    id: '2.1', what: 'ecutwfc changed between iterations: the fit takes only rows of the new level, says which it left out (run, status, train --export), and stops rather than mix',
    run: () => {
      const dir = movedCopy(finishedCampaign());
      editConfig(dir, [/^ {2}max: 1$/m, '  max: 2'], ['ecutwfc: 12', 'ecutwfc: 14']);
      const r = autopipe(['run'], dir);
      expect(r.status, r.stderr).to.equal(3);
      const levels = [...new Set(rows(dir).map((x) => x.level))];
      expect(levels, 'two levels, told apart').to.have.length(2);
      expect(r.stderr).to.match(/training of iteration 1 cannot start: iteration 1's fit: every row is an embedded sub-cell with energy weight 0.*left out for their level of theory: 6 row\(s\) at level L[0-9a-f]{7} \(.*ecutwfc 12 → 14/)
        .and.match(/what to do: fix the cause, then run autopipe resume/);
      const status = autopipe(['status'], dir).stdout;
      expect(status).to.match(/stopped: training of iteration 1 cannot start: .*ecutwfc 12 → 14.*\(to go on: fix the cause named above, then run autopipe resume\)/);
      // the export takes what the next fit would, and refuses what it would refuse, saying the same
      const exported = autopipe(['train', '--export', join(dir, 'data.pckl.gzip')], dir);
      expect(exported.status, exported.stderr).to.equal(65);
      expect(exported.stderr).to.match(/level of theory L[0-9a-f]{7}: PWSCF v\.\S+, ecutwfc 14/).and.match(/left out for their level of theory: 6 row\(s\) at level L[0-9a-f]{7} \(.*ecutwfc 12 → 14/)
        .and.match(/every row is an embedded sub-cell with energy weight 0/);
      const all = autopipe(['train', '--export', join(dir, 'data.pckl.gzip'), '--level', 'all'], dir);
      expect(all.status, all.stderr).to.equal(0);
      // the six whole cells of iteration 0 and the sub-cells its selection chose, both levels
      const selected = Number([...cursorOf(dir).done, ...cursorOf(dir).stages].find((s) => s.kind === 'select' && s.iteration === 0)?.data.selected);
      expect(all.stdout).to.include(`: ${6 + selected} rows,`);
    },
  },
  {
    id: '2.2', what: 'kspacing, pseudopotential, code and physics parameters make the level; the SCF\'s own knobs do not',
    run: () => {
      const facts = readPwRunFacts(readFileSync(pwRuns().al, 'utf8'));
      const dft = parseConfigText('dft: {pseudopotentials: {Al: Al.pz-vbc.UPF}, kspacing: 1.0, parameters: {ecutwfc: 15, smearing: mv, degauss: 0.02}}\n', 'a.yaml').config.dft;
      const base = pwLevel(dft, {}, facts);
      expect(levelId(pwLevel(dft, { mixing_beta: 0.3, diagonalization: 'cg', startingpot: 'file' }, facts)), 'a recovery rung is the same level').to.equal(levelId(base));
      expect(levelId(pwLevel({ ...dft, parameters: { ...dft.parameters, ecutrho: 60 } }, {}, facts)), 'ecutrho given as its default').to.equal(levelId(base));
      const denser = pwLevel({ ...dft, kspacing: 0.6 }, {}, facts);
      expect(levelDifferences(base, denser)).to.deep.equal(['kpoints.kspacing 1 → 0.6']);
      const otherCode = pwLevel(dft, {}, { ...facts, code: 'PWSCF v.7.2' });
      expect(levelDifferences(base, otherCode)).to.deep.equal(['code "PWSCF v.6.7MaX" → "PWSCF v.7.2"']);
      const otherPseudo = pwLevel(dft, {}, { ...facts, pseudopotentials: { Al: { file: 'Al.pz-vbc.UPF', md5: '0'.repeat(32) } } });
      expect(levelDifferences(base, otherPseudo)[0]).to.match(/^pseudopotentials\.Al\.md5 "[0-9a-f]{32}" → "0{32}"$/);
      expect(levelDifferences(base, pwLevel(dft, { degauss: 0.05 }, facts)), 'a rung that changes the physics is another level').to.deep.equal(['degauss 0.02 → 0.05']);
    },
  },
  {
    id: '2.3', what: 'imported rows with energies declare their level (an id of the database, a JSON file of one, or none) or are refused',
    run: () => {
      const db = join(finishedCampaign(), '.autopipe', 'autopipe.db');
      const mine = join(tmpDir(), 'import.db');
      cpSync(db, mine);
      const before = snapshot(mine);
      const refused = cli(['db', 'add', mine, pwRuns().al]);
      expect(refused.status, refused.stderr).to.equal(64);
      expect(refused.stderr).to.match(/1 input row\(s\) carry energies, and a row with an energy must declare the level of theory it was computed at/).and.match(/what to do: give --level ID/);
      expect(snapshot(mine)).to.deep.equal(before);
      const levels = JSON.parse(cli(['db', 'levels', mine, '--json']).stdout) as Array<{ id: string; rows: number }>;
      expect(levels).to.have.length(1);
      expect(cli(['db', 'add', mine, pwRuns().al, '--level', levels[0].id]).status).to.equal(0);
      expect(cli(['db', 'add', mine, pwRuns().si, '--level', 'none']).status).to.equal(0);
      expect(cli(['db', 'add', mine, pwRuns().al, '--level', 'L0000000']).stderr).to.match(/--level L0000000: the database has no row of that level/);
      const after = JSON.parse(cli(['db', 'levels', mine, '--json']).stdout) as Array<{ id: string | null; rows: number }>;
      // the campaign's six cells, its four validation frames and one sub-cell, then the import
      expect(after.map((l) => [l.id, l.rows])).to.deep.equal([[levels[0].id, 11], [null, 1]]);
    },
  },
  // 3. A warm start that ignores the basis asked for
  {
    id: '3.1', what: 'another basis after iteration 0: the fit starts from scratch, says why, and what is kept describes the potential made',
    run: () => {
      const { dir, r } = continuation();
      expect(r.status, r.stderr).to.equal(0);
      const fit = cursorOf(dir).done.find((s) => s.kind === 'train' && s.iteration === 1) as unknown as { data: { cold_start: string; warm_start_from: string | null } };
      expect(fit.data.cold_start).to.equal('the basis changed since potentials/iter-000/output_potential.yaml (Al functions 8 → 6): this fit starts from scratch, not from it');
      expect(fit.data.warm_start_from).to.equal(null);
      expect(r.stderr).to.include(fit.data.cold_start);
      const kept = join(workdir(dir), 'potentials', 'iter-001');
      expect(readFileSync(join(kept, 'log.txt'), 'utf8')).not.to.match(/Target potential loaded/);
      expect(readFileSync(join(kept, 'input.yaml'), 'utf8')).to.match(/number_of_functions_per_element: 6/);
      expect(potentialBasis(readFileSync(join(kept, 'output_potential.yaml'), 'utf8'))?.functions).to.deep.equal({ Al: 6 });
    },
  },
  // 4. More that is silently wrong
  {
    id: '4.1', what: 'the database removed mid-campaign: refused (no new empty database), saying to restore it or start over',
    run: () => {
      const dir = movedCopy(finishedCampaign());
      rmSync(join(workdir(dir), 'autopipe.db'));
      const before = snapshot(dir);
      for (const args of [['run'], ['poll']]) {
        const r = autopipe(args, dir);
        expect(r.status, r.stderr).to.equal(65);
        expect(r.stderr).to.match(/autopipe\.db is missing, but this campaign merged 10 labelled structure\(s\) into it/).and.match(/what to do: restore the database from a backup/);
      }
      expect(snapshot(dir)).to.deep.equal(before);
    },
  },
  {
    id: '4.2', what: 'selection.types [Cu] on an Al potential: refused by config check, and by the select stage of a running campaign',
    run: () => {
      const dir = movedCopy(finishedCampaign());
      editConfig(dir, ['selection:\n', 'selection:\n  types: [Cu]\n']);
      const r = cli(['config', 'check', join(dir, 'autopipe.yaml')]);
      expect(r.status, r.stderr).to.equal(78);
      expect(r.stderr).to.match(/selection\.types \(line \d+\): \[Cu\] are not the elements of the potential \(\[Al\], in that order\)/);
      const ctx = {
        cursor: cursorOf(dir), iteration: 0, config: { ...parseConfigText(readFileSync(join(dir, 'autopipe.yaml'), 'utf8'), 'autopipe.yaml').config }, configFile: 'autopipe.yaml', now: 0,
        db: () => memoryDatabase(), render: () => '', asset: () => '', initialStructures: () => [], validationStructures: () => [],
        readFile: (p: string) => (existsSync(join(workdir(dir), p)) ? readFileSync(join(workdir(dir), p)) : undefined),
      };
      expect(() => (selectKind as Extract<StageKind, { runs: 'local' }>).run(ctx)).to.throw(StageError, /selection\.types \[Cu\] are not the elements of the potential that wrote iteration 0's dumps \(\[Al\]\)/);
    },
  },
  {
    id: '4.3', what: 'an empty frames.dump whose summary says 9 collected: an error of the run (corrupt_output), not a reason to stop',
    run: () => {
      const summary = { steps_run: 400, frames_explored: 41, frames_collected: 9, max_gamma: 7, stopped_early: false, all_gamma_zero: false, last_good_step: 390 };
      const files = new Map([['summary.json', Buffer.from(JSON.stringify(summary))], ['frames.dump', Buffer.from('')]]);
      const task = { id: 't0000', about: '', spec: { engine: 'ase' }, attempts: [] };
      expect(exploreKind.judge(files, 0, task, task.attempts[0], {} as StageRecord)).to.deep.equal({
        ok: false, failure: { cls: 'corrupt_output', message: 'summary.json says 9 frame(s) collected, but frames.dump holds 0' },
      });
    },
  },
  {
    id: '4.4', what: 'report -o onto the database or autopipe.yaml: refused unless --force, nothing replaced; a report replaces its own',
    run: () => {
      const dir = movedCopy(finishedCampaign());
      for (const target of [join(workdir(dir), 'autopipe.db'), join(dir, 'autopipe.yaml')]) {
        const before = readFileSync(target);
        const r = autopipe(['report', '-o', target], dir);
        expect(r.status, r.stderr).to.equal(64);
        expect(r.stderr).to.match(/exists and is not a report autopipe wrote: refusing to replace it/).and.match(/what to do: give -o another file .*or --force/);
        expect(readFileSync(target).equals(before)).to.equal(true);
      }
      expect(autopipe(['report'], dir).status).to.equal(0);
      expect(autopipe(['report'], dir).status, 'its own report is replaced').to.equal(0);
    },
  },
  {
    id: '4.5', what: 'explore.extxyz replaced under the same name: the runs start from the new structure, said so, instead of going on from the old one',
    run: () => {
      const { dir, r } = continuation();
      expect(r.stderr).to.match(/1 of them start afresh: iteration 0 ran none from the same structure \(by content\)/);
      const stage = cursorOf(dir).done.find((s) => s.kind === 'explore' && s.iteration === 1) as unknown as { data: { runs: Record<string, string> } };
      const before = continuation().before.done.find((s) => s.kind === 'explore' && s.iteration === 0) as unknown as { data: { runs: Record<string, string> } };
      expect(Object.values(stage.data.runs)).not.to.deep.equal(Object.values(before.data.runs));
      const start = readFileSync(join(workdir(dir), 'run', 'iter-001', 'explore', 't0000', 'a1', 'start.extxyz'), 'utf8');
      const given = readFileSync(join(dir, 'explore.extxyz'), 'utf8');
      expect(start.split('\n')[2].trim().split(/\s+/).slice(1, 4).map(Number)).to.deep.equal(given.split('\n')[2].trim().split(/\s+/).slice(1, 4).map(Number));
    },
  },
  {
    id: '4.6', what: 'status and the report show past stages with the thresholds they ran with, not today\'s',
    run: () => {
      const dir = movedCopy(finishedCampaign());
      editConfig(dir, ['gamma_collect: 1.5', 'gamma_collect: 2.5'], ['lo: 1.5', 'lo: 2.5'], ['hi: 50', 'hi: 1000000']);
      const status = autopipe(['status'], dir);
      expect(status.status, status.stderr).to.equal(0);
      expect(status.stdout).to.match(/iteration 0 explore .*collected \(γ ≥ 1\.5\)/).and.match(/iteration 0 select .*collected \(γ ≥ 1\.5\), \d+ candidate atoms in \[1\.5, 50\)/)
        .and.not.match(/2\.5|1000000/);
      expect(autopipe(['report'], dir).status).to.equal(0);
      expect(readFileSync(join(dir, 'report.html'), 'utf8')).to.include('gamma_collect 1.5').and.not.include('gamma_collect 2.5');
    },
  },
  {
    id: '4.7', what: 'the reference energies are kept with the potential: its energy plus them is pw.x\'s total energy',
    run: () => {
      const dir = finishedCampaign();
      const pot = potentialsOf(cursorOf(dir))[0];
      const kept = JSON.parse(readFileSync(join(workdir(dir), pot.dir, 'reference_energy.json'), 'utf8')) as Record<string, number>;
      expect(pot.reference_energy).to.deep.equal(kept);
      expect(autopipe(['status'], dir).stdout).to.match(new RegExp(`reference energies Al ${kept.Al.toFixed(4)} eV`));
      // the potential's energy of each labelled cell, turned back into a DFT total with the kept energies
      const r = JSON.parse(pythonUnder(VENV_PYTHON, `
import sys, json, ase.db
from pyace import PyACECalculator
refs = json.load(open(sys.argv[2]))
calc = PyACECalculator(sys.argv[3])
out = []
for row in ase.db.connect(sys.argv[1]).select():
    a = row.toatoms(); dft = row.energy; a.calc = calc
    out.append([(a.get_potential_energy() + sum(refs[s] for s in a.get_chemical_symbols()) - dft) / len(a), len(a)])
print(json.dumps(out))`, [join(workdir(dir), 'autopipe.db'), join(workdir(dir), pot.dir, 'reference_energy.json'), join(workdir(dir), pot.dir, 'output_potential.yaml')])) as Array<[number, number]>;
      const rmse = Math.sqrt(r.reduce((s, [d]) => s + d * d, 0) / r.length);
      const fitted = (pot.metrics as { train: { energy_rmse_per_atom: number } }).train.energy_rmse_per_atom;
      expect(rmse, 'as close to pw.x as the fit is').to.be.below(fitted * 1.5 + 1e-4);
    },
  },
  // 5. A stopped campaign that cannot go on
  {
    id: '5.1', what: 'iterations.max raised after the loop stopped there: the stop is taken again with today\'s autopipe.yaml and the loop goes on',
    run: () => {
      const { dir, r, before } = continuation();
      expect(before.stopped?.reason).to.match(/^iterations\.max \(1\) reached/);
      expect(r.stderr).to.match(/the stop "iterations\.max \(1\) reached: iteration 0's candidates are kept for a next iteration" no longer holds with today's autopipe\.yaml: going on/);
      expect(cursorOf(dir).stopped).to.deep.include({ by: 'rule', reason: 'iterations.max (2) reached: iteration 1\'s candidates are kept for a next iteration' });
      expect(r.status).to.equal(0);
    },
  },
  {
    id: '5.2', what: 'submit on a stopped campaign says it stopped and how to go on, not "under way"',
    run: () => {
      const dir = movedCopy(finishedCampaign());
      const r = autopipe(['submit'], dir);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.match(/the loop stopped: iterations\.max \(1\) reached.*\(to go on: change that setting in autopipe\.yaml; autopipe run or poll then goes on by itself\)/).and.not.match(/under way/);
    },
  },
  {
    id: '5.3', what: 'a stage that gave up: run exits 3 and names autopipe resume; after the fix, resume gives what gave up a fresh attempt and the loop ends well',
    run: () => {
      const dir = labelProject({ dft: ['command: /opt/no/such/pw.x'] });
      const r = autopipe(['run'], dir);
      expect(r.status, r.stderr).to.equal(3);
      expect(r.stderr).to.match(/autopipe: the loop stopped: labelling of iteration 0 gave up on every task \(3\): pw_error is never retried.*could not start \(exit 127: not found\)/)
        .and.match(/what to do: fix the cause, then run autopipe resume/);
      expect(autopipe(['status'], dir).stdout).to.match(/stopped: .*\(to go on: fix the cause named above, then run autopipe resume\)/);
      editConfig(dir, ['  command: /opt/no/such/pw.x\n', '']);
      const resumed = autopipe(['resume'], dir);
      expect(resumed.status, resumed.stderr).to.equal(0);
      expect(resumed.stdout).to.match(/resuming: the loop had stopped: labelling of iteration 0 gave up/).and.match(/label t0000: gave up .*; a fresh attempt on resume/)
        .and.match(/label t0000: pw_error in a1, retried as a2 on autopipe resume/).and.match(/the loop goes on/);
      const done = autopipe(['run'], dir);
      expect(done.status, done.stderr).to.equal(0);
      expect(rows(dir)).to.have.length(3);
      // resuming a rule's stop takes the rule again: it still holds
      expect(autopipe(['resume'], dir).stdout).to.match(/the loop stopped again: iteration 0 is through label, and iterations\.stop_after is label/);
    },
  },
  {
    id: '5.4', what: 'run beside a cron poll that holds the lock: it waits for the lock instead of exiting 75',
    run: async () => {
      const dir = labelProject();
      mkdirSync(workdir(dir), { recursive: true });
      const poll = spawn('sleep', ['30']); // a poll of cron's, holding the lock
      const lock = acquireLock(join(workdir(dir), 'lock'), Date.now() / 1000, poll.pid);
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), 'run', '-C', dir]);
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number>((res) => child.once('exit', (code) => res(code ?? -1)));
      await new Promise((res) => setTimeout(res, 3000));
      expect(stderr).to.match(/waiting for the project's lock: another autopipe \(pid \d+ on .*\) is working on this project/);
      lock.release();
      poll.kill();
      expect(await exited, stderr).to.equal(0);
      expect(rows(dir)).to.have.length(3);
    },
  },
  // 6. Checked before DFT is spent
  ...([
    ['6.1', 'train.reference_energy names an element the data has not', [/^train:.*\n/m, 'train:\n  reference_energy: {Al: -56.3, Cu: -3.7}\n'], /train\.reference_energy \(line \d+\): names Cu, which the fit will not have/],
    ['6.1', 'train.reference_energy misses an element of the data', [/^train:.*\n/m, 'train:\n  reference_energy: {Cu: -3.7}\n'], /train\.reference_energy \(line \d+\): has no value for Al, an element of the fit/],
    ['6.2', 'train.elements has an element without data', [/^train:.*\n/m, 'train:\n  elements: [Al, Cu]\n'], /train\.elements \(line \d+\): Cu has no atom in structures/],
    ['6.3', 'explore.structures is missing', ['explore.extxyz', 'gone.extxyz'], /explore\.structures \(line \d+\): gone\.extxyz cannot be read: .*no such file/],
    ['6.3', 'validation.structures is missing', [/^ {2}structures: validation\.extxyz/m, '  structures: [validation.extxyz, gone-validation.extxyz]'], /validation\.structures\.1 \(line \d+\): gone-validation\.extxyz cannot be read: .*no such file/],
    ['6.4', 'a first fit with fewer atomic environments than the basis has functions', ['functions_per_element: 8', 'functions_per_element: 400'], /train\.functions_per_element \(line \d+\): 400 functions per element, but the first fit gets 186 Al atoms from structures .*set it to at most 186/],
    ['6.5', 'explore.timestep in fs instead of ps', [/^explore:.*\n/m, 'explore:\n  timestep: 1\n'], /explore\.timestep \(line \d+\): 1 ps is not an MD time step \(1 fs is 0\.001 ps\)/],
    ['6.5', 'explore.tdamp of 1e-9 ps', [/^explore:.*\n/m, 'explore:\n  tdamp: 1.0e-9\n'], /explore\.tdamp \(line \d+\): 1e-9 ps is shorter than 10 time steps/],
    ['6.6', 'train.python without the venv\'s numpy', [/^train:.*\n/m, 'train:\n  python: /usr/bin/python3 -S\n'], /train\.python \(line \d+\): '\/usr\/bin\/python3 -S' cannot import numpy, pandas and ase \(ModuleNotFoundError: No module named 'numpy'\)/],
    ['6.6', 'a garbage train.initial_potential', [/^train:.*\n/m, 'train:\n  initial_potential: garbage.yaml\n'], /train\.initial_potential \(line \d+\): garbage\.yaml is not a pacemaker potential/],
  ] as const).map(([id, what, edit, message]): Case => ({
    id, what: `${what}: config check and submit refuse it, naming the field; nothing is submitted`,
    run: () => {
      const dir = movedCopy(finishedCampaign());
      rmSync(workdir(dir), { recursive: true });
      writeFileSync(join(dir, 'garbage.yaml'), 'this: is not a potential\n');
      editConfig(dir, [edit[0], edit[1]]);
      const check = cli(['config', 'check', join(dir, 'autopipe.yaml')]);
      expect(check.status, check.stderr).to.equal(78);
      expect(check.stderr).to.match(message);
      const submit = autopipe(['submit'], dir);
      expect(submit.status, submit.stderr).to.equal(78);
      expect(submit.stderr).to.match(message);
      expect(existsSync(join(workdir(dir), 'cursor.json')), 'nothing submitted').to.equal(false);
    },
  })),
  {
    id: '6.3', what: 'a non-periodic explore.structures: refused before DFT, not after MD wrote a box of nan',
    run: () => {
      const dir = movedCopy(finishedCampaign());
      rmSync(workdir(dir), { recursive: true });
      writeFileSync(join(dir, 'molecule.extxyz'), '2\nProperties=species:S:1:pos:R:3 pbc="F F F"\nAl 0 0 0\nAl 2.5 0 0\n');
      editConfig(dir, ['explore.extxyz', 'molecule.extxyz']);
      const r = cli(['config', 'check', join(dir, 'autopipe.yaml')]);
      expect(r.status, r.stderr).to.equal(78);
      expect(r.stderr).to.match(/explore\.structures \(line \d+\): molecule\.extxyz frame\(s\) 0 are not periodic in x, y and z with a cell/);
    },
  },
  {
    id: '6.5', what: 'an MD that blows up keeps the frames it collected before, and says where and why',
    run: () => {
      const dir = finishedCampaign();
      const run = tmpDir();
      const pot = join(workdir(dir), 'potentials', 'iter-000');
      cpSync(join(dir, 'explore.extxyz'), join(run, 'start.extxyz'));
      // a thermostat far too strong for its time step (what explore.tdamp now refuses): the atoms are thrown together;
      // every frame is collected (gamma_collect 0), so what was collected before the blow-up does not hang on the fit's γ
      writeFileSync(join(run, 'task.json'), JSON.stringify({ temperature: 900, seed: 3, steps: 400, timestep: 2, dump_every: 10, gamma_collect: 0, gamma_stop: 1e9, types: ['Al'], friction: 5 }));
      const r = spawnSync(VENV_PYTHON, ['-W', 'ignore', join(ROOT, 'python', 'autopipe_explore.py'), 'run', 'task.json', 'start.extxyz', join(pot, 'output_potential.yaml'), join(pot, 'output_potential.asi')], { cwd: run, encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
      const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as { frames_collected: number; stopped_early: boolean; blew_up: { step: number; why: string } };
      expect(summary.blew_up.why).to.match(/distance|non-finite/);
      expect(summary.stopped_early).to.equal(true);
      expect(r.stderr).to.match(/autopipe_explore: the MD blew up .*the \d+ frame\(s\) collected before it are kept/);
      const dumped = (readFileSync(join(run, 'frames.dump'), 'utf8').match(/ITEM: TIMESTEP/g) ?? []).length;
      expect(dumped).to.equal(summary.frames_collected).and.be.greaterThan(0);
      const files = new Map(['summary.json', 'frames.dump', 'last.extxyz'].filter((n) => existsSync(join(run, n))).map((n) => [n, readFileSync(join(run, n))] as const));
      const task = { id: 't0000', about: '', spec: { engine: 'ase' }, attempts: [] };
      expect(exploreKind.judge(files, 0, task, task.attempts[0], {} as StageRecord)).to.have.property('ok', true);
    },
  },
  {
    id: '6.5', what: 'the lammps engine\'s blow-up (LAMMPS\'s "Lost atoms"): the run ends there with what it collected, not an error that loses it',
    run: () => {
      const frame = (step: number, g: number) => `ITEM: TIMESTEP\n${step}\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 4.05\n0 4.05\n0 4.05\nITEM: ATOMS id type x y z v_pace_gamma\n1 1 0.1 0.2 0.3 ${g}\n`;
      // as Debian's lmp prints a blow-up (captured text), after three checks of templates/explore.lammps.hbs
      const out = 'autopipe: check 0 0.1\nautopipe: check 10 0.3\nautopipe: check 20 0.5\nERROR: Lost atoms: original 32 current 30 (src/thermo.cpp:488)\nLast command: run 10 post no\n';
      const files = new Map([
        ['explore.out', Buffer.from(out)], ['frames.dump', Buffer.from(frame(10, 0.3) + frame(20, 0.5))], ['good.dump', Buffer.from(frame(0, 0.1))],
        ['task.json', Buffer.from(JSON.stringify({ gamma_collect: 0.25, types: ['Al'] }))],
      ]);
      const task = { id: 't0000', about: '', spec: { engine: 'lammps' }, attempts: [] };
      const j = exploreKind.judge(files, 1, task, task.attempts[0], {} as StageRecord) as { ok: true; result: { summary: { frames_collected: number; stopped_early: boolean; blew_up: { step: number; why: string } }; files: Map<string, Buffer> } };
      expect(j.ok, JSON.stringify(j)).to.equal(true);
      expect(j.result.summary).to.deep.include({ frames_collected: 2, stopped_early: true, blew_up: { step: 20, why: 'ERROR: Lost atoms: original 32 current 30 (src/thermo.cpp:488)' } });
      expect(j.result.files.get('frames.dump')?.toString()).to.include('f_pace_gamma');
    },
  },
  {
    id: '6.7', what: 'pacemaker\'s lowercase "pacemaker: error:" and an engine\'s shell error are error lines, named in the failure',
    run: () => {
      const usage = 'usage: pacemaker [-h] [-o OUTPUT] input\npacemaker: error: unrecognized arguments: --bogus\n';
      expect(lastErrorLine(usage)).to.equal('pacemaker: error: unrecognized arguments: --bogus');
      expect(judgeTrain(new Map([['pacemaker.err', Buffer.from(usage)]]), 2)).to.deep.equal({ ok: false, failure: { cls: 'pacemaker_error', message: 'exit 2: pacemaker: error: unrecognized arguments: --bogus' } });
      expect(lastErrorLine('Loading…\nbash: line 12: lmp_bogus: command not found\n')).to.equal('bash: line 12: lmp_bogus: command not found');
      const numpy = 'Traceback (most recent call last):\n  File "x.py", line 1\nModuleNotFoundError: No module named \'numpy\'\n';
      expect(judgeTrain(new Map([['pacemaker.err', Buffer.from(numpy)]]), 1)).to.have.nested.property('failure.message').that.matches(/^train\.python \(or train\.command's Python\) cannot import numpy/);
    },
  },
  // 7. Exit 70, hangs
  {
    id: '7.1', what: '.autopipe as a plain file: a clean error naming it, nothing changed',
    run: () => {
      const dir = labelProject();
      writeFileSync(workdir(dir), 'not a folder\n');
      for (const args of [['run'], ['submit'], ['poll']]) {
        const r = autopipe(args, dir);
        expect(r.status, `${args[0]}: ${r.stderr}`).to.be.oneOf([64, 74]);
        expect(r.stderr).to.match(/\.autopipe is not a folder|no cursor yet/).and.not.match(/internal error|\n\s+at /);
      }
      expect(readFileSync(workdir(dir), 'utf8')).to.equal('not a folder\n');
    },
  },
  {
    id: '7.2', what: 'a kept summary.json, metrics.txt or output_potential.yaml that is a folder: a clean error naming the file and what to do',
    run: () => {
      for (const kept of ['explore/iter-000/t0000/summary.json', 'potentials/iter-000/metrics.txt']) {
        const dir = movedCopy(finishedCampaign());
        rmSync(join(workdir(dir), kept));
        mkdirSync(join(workdir(dir), kept));
        const r = autopipe(['report'], dir);
        expect(r.status, r.stderr).to.equal(74);
        expect(r.stderr).to.include(`${join(workdir(dir), kept)} is not a file (a folder)`).and.match(/what to do: move it away/).and.not.match(/internal error/);
      }
      const dir = movedCopy(finishedCampaign());
      editConfig(dir, [/^ {2}max: 1$/m, '  max: 2']);
      const pot = join(workdir(dir), 'potentials', 'iter-000', 'output_potential.yaml');
      rmSync(pot);
      mkdirSync(pot);
      const r = autopipe(['run'], dir);
      expect(r.status, r.stderr).to.equal(74);
      expect(r.stderr).to.include(`${pot} is not a file (a folder)`).and.not.match(/internal error/);
    },
  },
  {
    id: '7.3', what: 'the local executor enforces the time limit: a hung task is stopped and classified walltime',
    run: () => {
      const dir = labelProject({ dft: ['command: "sleep 600; pw.x"', 'resources: {time: "0:02"}'], extra: ['recovery: {walltime: {factor: 2, retries: 0}}'] });
      const t0 = Date.now();
      const r = autopipe(['run'], dir);
      expect(r.status, r.stderr).to.equal(3);
      expect(Date.now() - t0, 'stopped at its limit, not after 600 s').to.be.below(90_000);
      const attempts = cursorOf(dir).stages[0].tasks.map((t) => t.attempts.at(-1)!);
      for (const a of attempts) expect(a).to.deep.include({ state: 'failed', error_class: 'walltime', message: 'the local executor: TIMEOUT (time limit 0:02)' });
      expect(spawnSync('pgrep', ['-f', 'sleep 600']).status, 'no task left running').to.equal(1);
    },
  },
  {
    id: '7.4', what: 'one task whose outputs make its judge throw is that attempt\'s corrupt_output; the others are merged',
    run: async () => {
      const cfg = parseConfigText('name: iso\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}, parameters: {ecutwfc: 15}}\n', 'autopipe.yaml').config;
      const al = readFileSync(pwRuns().al, 'utf8');
      // a distinct energy per task, so that each is a row of its own (merging is by content)
      const x = new FakeExecutor((dir) => ({ exitcode: 0, pwOut: al.replace(/^(!\s+total energy\s+=\s+)(-?\d+\.\d+)/m, (_m, head: string, e: string) => `${head}${(Number(e) - Number(/t(\d+)/.exec(dir)?.[1]) * 1e-6).toFixed(8)}`) }));
      const db = memoryDatabase();
      let k = 0;
      const loop = { config: cfg, now: 1795000000, token: () => `tok${String(k++).padStart(7, '0')}`, runRoot: '/run', maxArraySize: 10, candidates: [0, 1, 2].map((i) => ({ atoms: AL4, source: { file: 's', frame: i + 1 } })) };
      const planned = plannedLabelCursor(loop);
      await x.stage(planned.files);
      // task t0001's structure.extxyz, as it comes back, cannot be read
      x.files.set('iter-000/label/t0001/a1/structure.extxyz', '4\nLattice="broken\n');
      const r = await pollPass(passContext({ ...loop, executor: x, db: () => db, saveCursor: () => {} }), planned.cursor);
      const states = r.cursor.stages[0].tasks.map((t) => [t.id, t.attempts[0].state, t.attempts[0].error_class]);
      expect(states.filter(([id]) => id !== 't0001').every(([, s]) => s === 'done')).to.equal(true);
      expect(r.cursor.stages[0].tasks[1].attempts[0]).to.deep.include({ state: 'failed', error_class: 'corrupt_output' });
      expect(r.cursor.stages[0].tasks[1].attempts[0].message).to.match(/^its outputs could not be read: .*structure\.extxyz/);
      expect(db.count()).to.equal(2);
    },
  },
  {
    id: '7.4', what: 'a queue line that does not parse neither stops the pass nor fails a task: its job\'s tasks keep waiting',
    run: () => {
      const entries = parseQueueStatus('Welcome to the cluster (maintenance on Monday)\n7001|N/A|7001|RUNNING|None|ap-tok\n7002 garbled by a wrapper\n');
      expect(entries.map((e) => [e.arrayJobId, e.state])).to.deep.equal([['7001', 'running'], ['7002', 'unknown']]);
      expect(fromQueue(queueEntryOf(entries, { kind: 'slurm', id: '7002' }, 3), { kind: 'slurm', id: '7002' }, 3, true)).to.deep.equal({ state: 'running', error_class: null, message: null });
    },
  },
  // 8. A stage kind as one unit
  {
    id: '8.1', what: 'a new kind is one folder: a toy kind joins the registry, and the loop, status and the campaign carry it without a change of theirs',
    run: () => {
      const validate = defineLocalKind<{ checked: number }>({
        kind: 'validate', noun: 'validation', runs: 'local', configSections: ['train'], next: { kind: 'explore', nextIteration: false },
        run: () => ({ data: { checked: 7 }, notes: [], keep: [] }),
        summaryLine: (s) => `${s.data.checked} structures checked`,
        iterationPart: () => ({}),
      });
      const train = REGISTRY.get('train') as StageKind;
      const kinds: Array<[string, StageKind]> = [...REGISTRY].map(([name, k]): [string, StageKind] => [name, name === 'train' ? { ...train, next: { kind: 'validate', nextIteration: false } } as StageKind : k]);
      const registry: Registry = new Map<string, StageKind>([...kinds, ['validate', validate]]);
      const fit: StageRecord = { kind: 'train', iteration: 0, planned_at: 1, followed: false, submissions: [], data: {}, tasks: [{ id: 't0000', about: '', spec: {}, attempts: [{ attempt: 1, dir: 'x', submission: null, array_index: null, parameters: {}, state: 'done', error_class: null, message: null }] }] };
      const cursor: Cursor = { version: 4, project: 'p', id: 'c0ffee000001', home: null, iteration: 0, updated_at: 1, stages: [fit], done: [], stopped: null };
      expect(transitions(cursor, parseConfigText('name: p\ndft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\n', 'a.yaml').config, registry)).to.deep.equal([{ kind: 'enter', stage: 'validate', iteration: 0, after: 0 }, { kind: 'close', index: 0 }]);
      const withValidation: Cursor = { ...cursor, stages: [{ kind: 'validate', iteration: 0, planned_at: 2, followed: false, submissions: [], data: { checked: 7 }, tasks: [] }] };
      expect(iterationLines(withValidation, [], registry)).to.deep.equal(['iteration 0 validate 7 structures checked']);
      expect(campaignOf(withValidation, [], registry).iterations).to.have.length(1);
    },
  },
];

describe('nothing silently wrong: each reproduction of issue 18 (real pw.x, pacemaker, ASE, SLURM)', function () {
  this.timeout(600000);
  for (const c of CASES) it(`${c.id} ${c.what}`, c.run);
});
