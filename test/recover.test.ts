import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { parseConfigText } from '../lib/config/load.js';
import type { Config } from '../lib/config/types.js';
import type { Atoms } from '../lib/atoms/atoms.js';
import { pollPass, type PassResult } from '../lib/loop/pass.js';
import { passContext, plannedLabelCursor, labelOf } from './support/loop.js';
import type { StageRecord } from '../lib/state/cursor.js';
import { validateCursor } from '../lib/state/cursor.js';
import { memoryDatabase } from '../lib/db/db-file.js';
import { parsePwOutput } from '../lib/formats/espresso-out.js';
import { classifyOutput } from '../lib/stages/label/classes.js';
import { recoveryReport, reportLines } from '../lib/loop/report.js';
import { parseTimeLimit, formatTimeLimit, parseMemory, formatMemory } from '../lib/slurm/limits.js';
import { compileTemplate } from '../lib/templates/render.js';
import { FakeExecutor, type Outcome } from './support/fake-executor.js';
import { pwRuns, AL4, SI2 } from './support/pw-runs.js';

const NOW = 1795000000;
// the cutoff of the captured pw.x outputs the fake executor hands back (autopipe checks a label's output ran at its attempt's cutoff)
const BASE = 'name: rec\ndft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF, Si: Si.pz-vbc.UPF}\n  parameters: {ecutwfc: 15, electron_maxstep: 3}\n';

function config(extra = ''): Config {
  return parseConfigText(BASE + extra, 'autopipe.yaml').config;
}

/** A labelling stage on the fake executor, polled as cron would. */
async function campaign(cfg: Config, structures: Atoms[], outcome: (dir: string, pwIn: string) => Outcome) {
  const x = new FakeExecutor(outcome);
  const db = memoryDatabase();
  let k = 0;
  const token = () => `tok${String(k++).padStart(7, '0')}`;
  const renderScript = compileTemplate('{{dft_command}} -in pw.in > pw.out\n', 'fake.sh.hbs');
  const loop = { config: cfg, now: NOW, token, runRoot: '/run', maxArraySize: 3, render: (_name: string, c: object) => renderScript(c), candidates: structures.map((atoms, i) => ({ atoms, source: { file: 's.extxyz', frame: i + 1 } })) };
  const planned = plannedLabelCursor(loop);
  await x.stage(planned.files);
  // the labelling stage as last saved: it closes (into a summary) when it settles
  const state = { cursor: planned.cursor, saves: 0, label: labelOf(planned.cursor) as StageRecord };
  /** One poll; with dieAtSave, the process dies instead of its n-th cursor save. */
  const poll = async (opts: { dieAtSave?: number } = {}): Promise<PassResult> => {
    let saves = 0;
    const r = await pollPass(passContext({
      ...loop, executor: x, db: () => db,
      saveCursor: (c) => {
        if (++saves === opts.dieAtSave) throw new Error('killed before the cursor was saved');
        expect(validateCursor(c).ok, 'a valid cursor').to.equal(true);
        state.cursor = c;
        state.label = c.stages.find((s) => s.kind === 'label') ?? state.label;
        state.saves++;
      },
    }), state.cursor);
    state.cursor = r.cursor;
    state.label = r.cursor.stages.find((s) => s.kind === 'label') ?? state.label;
    return r;
  };
  return { x, db, state, poll };
}

function param(pwIn: string, name: string): string | undefined {
  return new RegExp(`^\\s*${name} = (.*)$`, 'm').exec(pwIn)?.[1];
}

describe('recovery: limits and classes', () => {
  it('SLURM time limits and memory sizes: parsed, scaled, written back', () => {
    expect(['5', '5:30', '01:00:00', '2-00', '2-12:30', '1-00:00:01'].map(parseTimeLimit)).to.deep.equal([300, 330, 3600, 172800, 217800, 86401]);
    expect(parseTimeLimit('1:2:3:4')).to.equal(undefined);
    expect([60, 7200, 86400 + 61, 0.5].map(formatTimeLimit)).to.deep.equal(['00:01:00', '02:00:00', '1-00:01:01', '00:00:01']);
    expect(['2G', '512', '512M', '1T', '1024K'].map(parseMemory)).to.deep.equal([2048, 512, 512, 1048576, 1]);
    expect([4096, 1536, 1000.2].map(formatMemory)).to.deep.equal(['4G', '1536M', '1001M']);
  });

  it('classifies real pw.x outputs with their exit codes (JOB DONE after an SCF failure is not success)', () => {
    const runs = pwRuns();
    const text = (p: string) => readFileSync(p, 'utf8');
    expect(classifyOutput(parsePwOutput(text(runs.alFail)), 0)).to.deep.include({ cls: 'scf_not_converged' }); // QE 7 exits 0 here
    expect(classifyOutput(parsePwOutput(text(runs.badPseudo)), 1).cls).to.equal('input_error');
    const overlap = classifyOutput(parsePwOutput(text(runs.overlap)), 1);
    expect(overlap.cls).to.equal('input_error');
    expect(overlap.message).to.match(/check_atoms.*overlap/);
    const cut = text(runs.al).slice(0, text(runs.al).indexOf('iteration #  2'));
    expect(classifyOutput(parsePwOutput(cut), 137).cls).to.equal('out_of_memory');
    expect(classifyOutput(parsePwOutput(cut), 1).cls).to.equal('unknown');
    expect(classifyOutput(parsePwOutput(''), 127)).to.deep.include({ cls: 'pw_error' });
    expect(classifyOutput(parsePwOutput(''), 0).cls).to.equal('unknown');
    const alloc = text(runs.al).slice(0, text(runs.al).indexOf('iteration #  2')) + ' %%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%\n     Error in routine allocate_fft (1):\n     cannot allocate psic\n %%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%\n';
    expect(classifyOutput(parsePwOutput(alloc), 1).cls).to.equal('out_of_memory');
  });

  it('a version-1 cursor is read with its free-form classes mapped onto the closed set', () => {
    const c = { version: 1, project: 'p', iteration: 0, stage: 'label', updated_at: NOW, submissions: [], tasks: [{ id: 't0000', source: { file: 'f', frame: 1 }, natoms: 1, merged: false, attempts: [{ attempt: 1, dir: 'd', submission: null, array_index: null, parameters: {}, state: 'failed', error_class: 'fatal', message: 'x' }] }] };
    const v = validateCursor(c);
    expect(v.ok && v.cursor.stages[0].tasks[0].attempts[0].error_class).to.equal('pw_error');
  });
});

describe('recovery: escalation through the poll (fake executor, real pw.x outputs)', () => {
  it('each retry\'s pw.x input carries the next rung, from the failed charge density; a later rung converges; the row records it', async () => {
    const { al, alFail } = pwRuns();
    // fails until electron_maxstep is lifted, like the real run (recovery-live.test.ts does it with pw.x)
    const c = await campaign(config(), [AL4], (_dir, pwIn) => (param(pwIn, 'electron_maxstep') === '300'
      ? { exitcode: 0, pwOut: readFileSync(al, 'utf8') } : { exitcode: 2, pwOut: readFileSync(alFail, 'utf8') }));
    const expected = [
      { mixing_beta: '0.3', startingpot: "'file'", mixing_mode: undefined, electron_maxstep: '3' },
      { mixing_beta: '0.2', startingpot: "'file'", mixing_mode: "'local-TF'", electron_maxstep: '3' },
      { mixing_beta: '0.1', startingpot: "'file'", mixing_mode: "'local-TF'", electron_maxstep: '300', diagonalization: "'cg'" },
    ];
    for (let k = 0; k < 3; k++) {
      const r = await c.poll();
      expect(r.changes.join('\n')).to.include(`rung ${k + 1} of recovery.scf_not_converged`);
      const pwIn = c.x.files.get(`iter-000/label/t0000/a${k + 2}/pw.in`)!;
      for (const [name, value] of Object.entries(expected[k])) expect(param(pwIn, name), `a${k + 2} ${name}`).to.equal(value);
      expect(c.x.copies[k]).to.deep.equal({ from: `iter-000/label/t0000/a${k + 1}/out/pwscf.save`, to: `iter-000/label/t0000/a${k + 2}/out/pwscf.save` });
      expect(c.state.label.tasks[0].attempts[k + 1]).to.deep.include({ restart_from: `iter-000/label/t0000/a${k + 1}`, state: 'submitted' });
      expect(c.x.files.get(`iter-000/label/t0000/a${k + 1}/pw.out`), 'earlier attempts untouched').to.equal(readFileSync(alFail, 'utf8'));
    }
    const r = await c.poll();
    expect(r.finished).to.equal(true);
    expect(r.merged).to.equal(1);
    expect(c.db.count()).to.equal(1);
    const row = c.db.get(1)!;
    expect(row.kvp).to.deep.include({ attempt: 4, mixing_beta: 0.1, mixing_mode: 'local-TF', diagonalization: 'cg', electron_maxstep: 300, startingpot: 'file' });
    expect((row.data as { failures: string[] }).failures).to.have.length(3);
    const report = recoveryReport(c.state.label.tasks);
    expect(report.failures).to.deep.equal({ scf_not_converged: { attempts: 3, tasks: 1, recovered: 1, retrying: 0, gave_up: 0 } });
  });

  it('an exhausted ladder gives up with the last error kept; max_attempts stops it sooner; nothing is retried beyond', async () => {
    const { alFail } = pwRuns();
    const fail = (): Outcome => ({ exitcode: 2, pwOut: readFileSync(alFail, 'utf8') });
    const long = await campaign(config('recovery: {max_attempts: 10, restart_from_charge_density: false}\n'), [AL4], fail);
    for (let k = 0; k < 6; k++) await long.poll();
    const t = long.state.label.tasks[0];
    expect(t.attempts).to.have.length(4);
    expect(t.gave_up).to.equal('scf_not_converged, and all 3 rung(s) of recovery.scf_not_converged are tried');
    expect(t.attempts[3]).to.deep.include({ state: 'failed', error_class: 'scf_not_converged', message: 'convergence NOT achieved after   3 iterations: stopping' });
    expect(t.attempts.every((a) => a.restart_from === undefined)).to.equal(true);
    expect(long.x.submitted).to.have.length(4);
    const lines = reportLines(recoveryReport(long.state.label.tasks), (d) => `/run/${d}`);
    expect(lines.join('\n')).to.include('t0000  a4 scf_not_converged: convergence NOT achieved').and.include('folder /run/iter-000/label/t0000/a4');
    const short = await campaign(config('recovery: {max_attempts: 2}\n'), [AL4], fail);
    for (let k = 0; k < 4; k++) await short.poll();
    expect(short.state.label.tasks[0].attempts).to.have.length(2);
    expect(short.state.label.tasks[0].gave_up).to.match(/all recovery\.max_attempts \(2\) attempts are used/);
  });

  it('walltime doubles the time up to the cap; memory doubles; unset memory, input and pw errors give up', async () => {
    const cfg = config('  resources: {time: "01:00:00"}\nrecovery: {max_attempts: 9, walltime: {factor: 2, max: "03:00:00", retries: 5}, out_of_memory: {factor: 2, max: "5G", retries: 5}}\n');
    const tmo = await campaign(cfg, [AL4], () => ({ slurm: 'TIMEOUT' }));
    for (let k = 0; k < 5; k++) await tmo.poll();
    // the header autopipe writes from the attempt's resources
    const limits = (x: FakeExecutor, s: { script: string }) => x.files.get(s.script)!.split('\n').filter((l) => /^#SBATCH --(time|mem)=/.test(l)).join(' ');
    const scripts = tmo.x.submitted.map((s) => limits(tmo.x, s));
    expect(scripts).to.deep.equal(['#SBATCH --time=01:00:00', '#SBATCH --time=02:00:00', '#SBATCH --time=03:00:00']);
    expect(tmo.state.label.tasks[0].gave_up).to.equal('walltime, and the time limit 03:00:00 is already recovery.walltime.max (03:00:00)');

    const oom = await campaign(config('  resources: {mem: "2G"}\nrecovery: {out_of_memory: {factor: 2, max: "5G", retries: 5}}\n'), [AL4], () => ({ slurm: 'OUT_OF_MEMORY' }));
    for (let k = 0; k < 5; k++) await oom.poll();
    expect(oom.x.submitted.map((s) => limits(oom.x, s))).to.deep.equal(['#SBATCH --time=01:00:00 #SBATCH --mem=2G', '#SBATCH --time=01:00:00 #SBATCH --mem=4G', '#SBATCH --time=01:00:00 #SBATCH --mem=5G']);
    const noMem = await campaign(config(), [AL4], () => ({ slurm: 'OUT_OF_MEMORY' }));
    await noMem.poll();
    expect(noMem.state.label.tasks[0].gave_up).to.match(/dft\.resources\.mem is not set/);

    const { overlap } = pwRuns();
    const bad = await campaign(config(), [AL4], () => ({ exitcode: 1, pwOut: readFileSync(overlap, 'utf8') }));
    const r = await bad.poll();
    expect(r.finished).to.equal(true);
    expect(bad.x.submitted).to.have.length(1);
    expect(bad.state.label.tasks[0].gave_up).to.match(/^input_error is never retried/);
    const notFound = await campaign(config(), [AL4], () => ({ exitcode: 127, pwOut: '' }));
    await notFound.poll();
    expect(notFound.state.label.tasks[0].gave_up).to.match(/^pw_error is never retried/);
  });

  it('an output that is not a label (NaN energy) is corrupt_output: never merged, retried like unknown', async () => {
    const good = readFileSync(pwRuns().al, 'utf8');
    const nan = good.replace(/^(!\s+total energy\s+=\s+)-?\d+\.\d+/m, '$1NaN');
    const c = await campaign(config('recovery: {unknown: 1}\n'), [AL4, SI2], (dir) => (dir.endsWith('/a1') ? { exitcode: 0, pwOut: nan } : { exitcode: 0, pwOut: good }));
    await c.poll();
    const first = c.state.label.tasks.map((t) => t.attempts[0]);
    expect(first.map((a) => a.error_class)).to.deep.equal(['corrupt_output', 'corrupt_output']);
    expect(first[0].message).to.match(/pw\.out line \d+: the total energy is not a number/);
    expect(first[0].action).to.equal('retried as a2 unchanged (corrupt_output 1 of 1)');
    expect(c.db.count(), 'nothing merged from a corrupt output').to.equal(0);
    await c.poll();
    expect(c.state.label.tasks.map((t) => t.attempts.at(-1)!.state)).to.deep.equal(['done', 'done']);
    expect(c.db.count()).to.equal(1); // both a2 outputs are the same real result: one row
    const row = [...c.db.select()][0];
    expect(Number.isFinite(row.atoms.results.energy)).to.equal(true);
  });

  it('a job gone with no record: walltime when its output grew until near the limit, else unknown', async () => {
    const cfg = config('  resources: {time: "00:10:00"}\n');
    const c = await campaign(cfg, [AL4, AL4], (dir) => (dir.endsWith('t0000/a1') ? { vanished: { started: NOW, output: NOW + 560 } }
      : dir.endsWith('t0001/a1') ? { vanished: { started: NOW, output: NOW + 100 } } : { exitcode: 0, pwOut: readFileSync(pwRuns().al, 'utf8') }));
    await c.poll();
    const [slow, other] = c.state.label.tasks;
    expect(slow.attempts[0]).to.deep.include({ error_class: 'walltime' });
    expect(slow.attempts[0].message).to.match(/pw\.out grew for 560 s of the 600 s limit/);
    expect(slow.attempts[1].resources).to.deep.equal({ time: '00:20:00' });
    expect(other.attempts[0].error_class).to.equal('unknown');
  });

  it('node failure, cancellation and unknown: the same again, as often as configured', async () => {
    const seen = new Map<string, number>();
    const c = await campaign(config('recovery: {node_failure: 2, cancelled: 1, unknown: 1}\n'), [AL4, AL4, AL4], (dir) => {
      const task = dir.split('/')[2];
      seen.set(task, (seen.get(task) ?? 0) + 1);
      return task === 't0000' ? { slurm: 'NODE_FAIL' } : task === 't0001' ? { slurm: 'CANCELLED by 0' } : { exitcode: 1, pwOut: '' };
    });
    for (let k = 0; k < 5; k++) await c.poll();
    expect(Object.fromEntries(seen)).to.deep.equal({ t0000: 3, t0001: 2, t0002: 2 });
    const [a, b, u] = c.state.label.tasks;
    expect(a.gave_up).to.equal('node_failure, and all recovery.node_failure (2) retries are used');
    expect(b.gave_up).to.equal('cancelled, and all recovery.cancelled (1) retries are used');
    expect(u.gave_up).to.equal('unknown, and all recovery.unknown (1) retries are used');
    expect(a.attempts[0].action).to.equal('retried as a2 unchanged (node_failure 1 of 2)');
    expect(a.attempts.every((x) => Object.keys(x.parameters).length === 0)).to.equal(true);
  });

  it('failures of several classes in one array: retried as one array per need, in the same poll; a poll killed before saving submits nothing twice', async () => {
    const { alFail, overlap, al } = pwRuns();
    const cfg = config('  resources: {time: "00:30:00", mem: "1G"}\n');
    const byTask: Record<string, Outcome> = {
      t0000: { exitcode: 2, pwOut: readFileSync(alFail, 'utf8') },
      t0001: { slurm: 'TIMEOUT' },
      t0002: { slurm: 'NODE_FAIL' },
      t0003: { exitcode: 1, pwOut: readFileSync(overlap, 'utf8') },
      t0004: { slurm: 'OUT_OF_MEMORY' },
      t0005: { slurm: 'PREEMPTED' },
      t0006: { exitcode: 2, pwOut: readFileSync(alFail, 'utf8') },
    };
    const c = await campaign(cfg, [AL4, AL4, AL4, AL4, AL4, AL4, SI2], (dir) => (dir.endsWith('/a1') ? byTask[dir.split('/')[2]] : { exitcode: 0, pwOut: readFileSync(al, 'utf8') }));
    // the first pass submits the three initial arrays (MaxArraySize 3; one save for the batch), finds
    // every failure, stages the retries and dies before the cursor recording them is saved
    let died = false;
    await c.poll({ dieAtSave: 2 }).catch(() => { died = true; });
    expect(died).to.equal(true);
    expect(c.x.submitted).to.have.length(3);
    const r = await c.poll(); // the next cron run, from the cursor saved last
    expect(c.x.submitted, 'every array submitted once').to.have.length(3 + 4);
    const retries = c.x.submitted.slice(3).map((s) => s.dirs.map((d) => d.split('/')[2]).join(','));
    expect(retries).to.deep.equal(['t0000,t0006', 't0001', 't0002,t0005', 't0004']);
    expect(r.changes.filter((l) => /gave up/.test(l))).to.have.length(1);
    const final = await c.poll();
    expect(final.finished).to.equal(true);
    expect(recoveryReport(c.state.label.tasks).failures).to.deep.equal({
      scf_not_converged: { attempts: 2, tasks: 2, recovered: 2, retrying: 0, gave_up: 0 },
      walltime: { attempts: 1, tasks: 1, recovered: 1, retrying: 0, gave_up: 0 },
      out_of_memory: { attempts: 1, tasks: 1, recovered: 1, retrying: 0, gave_up: 0 },
      node_failure: { attempts: 1, tasks: 1, recovered: 1, retrying: 0, gave_up: 0 },
      cancelled: { attempts: 1, tasks: 1, recovered: 1, retrying: 0, gave_up: 0 },
      input_error: { attempts: 1, tasks: 1, recovered: 0, retrying: 0, gave_up: 1 },
    });
  });
});
