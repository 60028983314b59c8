/**
 * Recovery on the real components: real pw.x failures (electron_maxstep too small for a rattled
 * Al cell, a pseudopotential file that does not exist), a real SLURM TIMEOUT, a real scancel and a node really set
 * down. Faults are injected per structure by a wrapper around pw.x (inject.sh below): it only
 * sleeps, so that SLURM's time limit, scancel and the node failure meet a running task.
 */
import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { makeAtoms, type Atoms } from '../lib/atoms/atoms.js';
import { writeExtxyz } from '../lib/formats/extxyz.js';
import { readCursor, type StageRecord } from '../lib/state/cursor.js';
import type { JobRef } from '../lib/slurm/job-ref.js';
import { structures } from './support/labelling.js';
import { SI2, MISSING_PSEUDO } from './support/pw-runs.js';
import { clusterEnv, jobNamesRun } from './support/cluster.js';
import { ROOT, tmpDir, pythonJson } from './support/tools.js';
import { rng } from './support/random.js';

const INJECT = `#!/bin/bash
# test wrapper around pw.x: structures whose extxyz comment says inject=slow sleep past a one-minute
# limit (but not a two-minute one); inject=hold sleeps in its first attempt folder only
case "$(sed -n 2p structure.extxyz)" in
  *inject=slow*) sleep 105 ;;
  *inject=hold*) if [ "$(basename "$PWD")" = a1 ]; then sleep 300; fi ;;
esac
exec "$@"
`;

/** Rattled fcc Al (needs 4 SCF iterations here) and primitive Al (needs 3). */
const AL4 = structures(2)[1];
function al1(info: Record<string, string> = {}, h = 2.025): Atoms {
  return makeAtoms({ numbers: [13], positions: [0, 0, 0], cell: [0, h, h, h, 0, h, h, h, 0], pbc: [true, true, true], info });
}

function autopipe(args: string[], dir: string, env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), ...args, '-C', dir], { encoding: 'utf8', env });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function writeProject(dir: string, atoms: Atoms[], lines: string[]): void {
  writeFileSync(join(dir, 'structures.extxyz'), writeExtxyz(atoms));
  writeFileSync(join(dir, 'inject.sh'), INJECT);
  writeFileSync(join(dir, 'autopipe.yaml'), [
    `name: rec-${randomBytes(3).toString('hex')}`,
    'structures: structures.extxyz',
    'iterations: {stop_after: label}',
    'dft:',
    `  command: bash ${join(dir, 'inject.sh')} pw.x`,
    // Si structures fail in pw.x for real, as input errors: their pseudopotential does not exist
    `  pseudopotentials: {Al: Al.pz-vbc.UPF, Si: ${MISSING_PSEUDO}}`,
    '  kpoints: [2, 2, 2]',
    // too few SCF steps for the rattled cell, enough for the primitive one
    '  parameters: {ecutwfc: 12, occupations: smearing, smearing: mv, degauss: 0.05, electron_maxstep: 3}',
    ...lines, '',
  ].join('\n'));
}

/** The labelling stage, as the cursor on disk holds it. */
function cursorOf(dir: string): StageRecord {
  return readCursor(join(dir, '.autopipe', 'cursor.json'))!.stages[0];
}

/** A SLURM job id of a submission. */
function slurmId(j: JobRef | null): string {
  if (j?.kind !== 'slurm') throw new Error(`not a SLURM job: ${JSON.stringify(j)}`);
  return j.id;
}

const sleep = (s: number) => new Promise((res) => setTimeout(res, 1000 * s));

/** squeue's view of one array: index → state, for the tasks it still remembers. */
function arrayStates(jobId: string, env: NodeJS.ProcessEnv): Map<number, string> {
  const r = spawnSync('squeue', ['-h', '-t', 'all', '-j', jobId, '-o', '%K %T'], { env, encoding: 'utf8' });
  return new Map(r.stdout.split('\n').filter((l) => /^\d+ /.test(l)).map((l) => [Number(l.split(' ')[0]), l.split(' ')[1]]));
}

async function pollUntilComplete(dir: string, env: NodeJS.ProcessEnv, seconds: number): Promise<string[]> {
  const changes: string[] = [];
  for (let k = 0; k < seconds / 2; k++) {
    const r = autopipe(['poll', '--json'], dir, env);
    expect(r.status, r.stderr).to.equal(0);
    const j = JSON.parse(r.stdout) as { complete: boolean; changes: string[] };
    changes.push(...j.changes);
    if (j.complete) return changes;
    await sleep(2);
  }
  expect.fail(`not complete after ${seconds} s:\n${changes.join('\n')}`);
}

function rows(db: string): Array<Record<string, unknown>> {
  return pythonJson(`
import sys, json, ase.db
print(json.dumps([dict(r.key_value_pairs, natoms=r.natoms, failures=r.data.get('failures', [])) for r in ase.db.connect(sys.argv[1]).select()]))`, [db]);
}

describe('recovery with real pw.x and SLURM', function () {
  this.timeout(600000);
  const slurmProjects: string[] = [];
  // a failed test leaves no sleeping task behind to slow the tests after it
  afterEach(() => {
    const env = { ...process.env, ...clusterEnv() };
    for (const dir of slurmProjects.splice(0)) {
      const ids = (readCursor(join(dir, '.autopipe', 'cursor.json'))?.stages[0]?.submissions ?? []).flatMap((x) => (x.job?.kind === 'slurm' ? [x.job.id] : []));
      if (ids.length > 0) spawnSync('scancel', ids, { env });
    }
  });

  it('local executor: a real SCF failure climbs the whole ladder and converges on rung 3; an input error is not retried', async () => {
    const dir = tmpDir();
    writeProject(dir, [AL4, SI2, al1()], ['executor: {kind: local, max_concurrent: 2, poll_interval: 0.3}', 'recovery: {restart_from_charge_density: false}']);
    const r = autopipe(['run'], dir, process.env);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/stage complete: 2 done, 1 failed/);
    const [scf, input, ok] = cursorOf(dir).tasks;
    expect(scf.attempts.map((a) => [a.state, a.error_class])).to.deep.equal([
      ['failed', 'scf_not_converged'], ['failed', 'scf_not_converged'], ['failed', 'scf_not_converged'], ['done', null]]);
    expect(input.attempts).to.have.length(1);
    expect(input.gave_up).to.match(/^input_error is never retried/);
    expect(ok.attempts).to.have.length(1);
    const run = join(dir, '.autopipe', 'run', 'iter-000', 'label');
    for (const a of [1, 2, 3]) expect(readFileSync(join(run, 't0000', `a${a}`, 'pw.out'), 'utf8'), `a${a} kept`).to.include('convergence NOT achieved');
    const db = rows(join(dir, '.autopipe', 'autopipe.db'));
    expect(db).to.have.length(2);
    const recovered = db.find((x) => x.task === 't0000')!;
    expect(recovered).to.deep.include({ attempt: 4, mixing_beta: 0.1, mixing_mode: 'local-TF', diagonalization: 'cg', electron_maxstep: 300 });
    expect(recovered.failures).to.have.length(3);
    const status = autopipe(['status'], dir, process.env).stdout;
    expect(status).to.match(/scf_not_converged\s+3 attempts, 1 task: 1 recovered/).and.match(/input_error\s+1 attempt, 1 task: 1 gave up/);
    expect(status).to.include(`folder ${join(run, 't0001', 'a1')}`).and.match(/t0001  a1 input_error: Error in routine readpp/);
  });

  it('over SSH: an SCF failure, a TIMEOUT, a cancelled task and an input error in one array; three retry arrays from one poll; all recoverable ones labelled', async () => {
    const c = clusterEnv();
    const env = { ...process.env, ...c };
    const dir = tmpDir();
    const remote = join(tmpDir(), "remote it's");
    // array order: the two long ones start first; at most two run at a time (two CPUs, throttle 2)
    // (distinct cells: identical results would be one row, the database merges by content)
    writeProject(dir, [al1({ inject: 'slow' }), al1({ inject: 'hold' }, 2.0), AL4, SI2], [
      '  resources: {time: "00:01:00"}',
      'executor:',
      '  kind: slurm',
      '  array_throttle: 2',
      `  host: 127.0.0.1\n  port: ${c.AUTOPIPE_SSH_PORT}\n  user: ${c.AUTOPIPE_SSH_USER}`,
      `  identity: ${JSON.stringify(c.AUTOPIPE_SSH_KEY)}\n  known_hosts: ${JSON.stringify(c.AUTOPIPE_SSH_KNOWN_HOSTS)}`,
      `  remote_root: ${JSON.stringify(remote)}`,
    ]);
    expect(autopipe(['submit'], dir, env).status).to.equal(0);
    slurmProjects.push(dir);
    const jobId = slurmId(cursorOf(dir).submissions[0].job);
    // one poll while tasks 0 and 1 run (as cron would: it learns their SLURM ids), before anything fails
    const started = (t: string) => existsSync(join(remote, `iter-000/label/${t}/a1/started`));
    for (let k = 0; k < 60 && !(started('t0000') && started('t0001')); k++) await sleep(1);
    const early = autopipe(['poll', '--json'], dir, env);
    expect(early.status, early.stderr).to.equal(0);
    expect(JSON.parse(early.stdout).counts).to.deep.include({ running: 2, failed: 0 });
    // then the test cancels task 1; tasks 2 and 3 fail by themselves; the time limit ends task 0
    expect(spawnSync('scancel', [`${jobId}_1`], { env }).status).to.equal(0);
    const ended = (s: string | undefined) => s === undefined || !['RUNNING', 'PENDING', 'COMPLETING'].includes(s);
    for (let k = 0; k < 150 && !(ended(arrayStates(jobId, env).get(0)) && existsSync(join(remote, 'iter-000/label/t0003/a1/exitcode'))); k++) await sleep(1);
    expect(ended(arrayStates(jobId, env).get(0)), 'task 0 ended').to.equal(true);
    const first = autopipe(['poll', '--json'], dir, env);
    expect(first.status, first.stderr).to.equal(0);
    const changes = (JSON.parse(first.stdout) as { changes: string[] }).changes.join('\n');
    expect(changes).to.match(/t0000: .*walltime.*retried as a2 with time 00:02:00/s);
    expect(changes).to.match(/t0001: cancelled in a1, retried as a2 unchanged/);
    expect(changes).to.match(/t0002: scf_not_converged in a1, retried as a2 with rung 1 of recovery\.scf_not_converged \(mixing_beta=0\.3\), from a1's charge density/);
    expect(changes).to.match(/t0003: gave up \(input_error is never retried/);
    const cur = cursorOf(dir);
    expect(cur.submissions, 'three retry arrays, one per need').to.have.length(4);
    expect(new Set(cur.tasks.slice(0, 3).map((t) => t.attempts[1].submission)).size).to.equal(3);
    expect(cur.submissions.slice(1).every((s) => s.job !== null)).to.equal(true);
    expect(readFileSync(join(remote, 'iter-000/label', `${cur.tasks[0].attempts[1].submission}.sbatch`), 'utf8')).to.include('#SBATCH --time=00:02:00\n');

    const rest = await pollUntilComplete(dir, env, 300);
    const done = cursorOf(dir);
    expect(done.tasks.map((t) => [t.attempts.length, t.attempts[t.attempts.length - 1].state])).to.deep.equal([[2, 'done'], [2, 'done'], [2, 'done'], [1, 'failed']]);
    expect(done.tasks[0].attempts[1].resources).to.deep.equal({ time: '00:02:00' });
    expect(readFileSync(join(remote, 'iter-000/label/t0002/a2/pw.out'), 'utf8')).to.include('The initial density is read from file');
    const db = rows(join(dir, '.autopipe', 'autopipe.db'));
    expect(db.map((x) => x.task).sort()).to.deep.equal(['t0000', 't0001', 't0002']);
    expect(db.find((x) => x.task === 't0002')).to.deep.include({ attempt: 2, mixing_beta: 0.3, startingpot: 'file' });
    const status = JSON.parse(autopipe(['status', '--json'], dir, env).stdout) as { failures: Record<string, unknown>; gave_up: Array<{ task: string; dir: string }> };
    expect(status.failures).to.deep.equal({
      scf_not_converged: { attempts: 1, tasks: 1, recovered: 1, retrying: 0, gave_up: 0 },
      walltime: { attempts: 1, tasks: 1, recovered: 1, retrying: 0, gave_up: 0 },
      cancelled: { attempts: 1, tasks: 1, recovered: 1, retrying: 0, gave_up: 0 },
      input_error: { attempts: 1, tasks: 1, recovered: 0, retrying: 0, gave_up: 1 },
    });
    expect(status.gave_up.map((g) => [g.task, g.dir])).to.deep.equal([['t0003', 'iter-000/label/t0003/a1']]);
    void rest;
  });

  it('polls killed at random moments (SIGKILL) while retries are planned and submitted: every array once, every task once', async () => {
    const env = { ...process.env, ...clusterEnv() };
    const dir = tmpDir();
    const al4s = structures(8);
    writeProject(dir, [al4s[1], al4s[3], SI2, al1(), al1({}, 2.0), al4s[7]], ['executor: {kind: slurm, array_throttle: 2}']);
    expect(autopipe(['submit'], dir, env).status).to.equal(0);
    slurmProjects.push(dir);
    // kill instants inside a poll's duration measured now (a loaded machine polls slower)
    const t0 = Date.now();
    expect(autopipe(['poll'], dir, env).status).to.equal(0);
    const pollMs = Date.now() - t0;
    const draw = rng(20261201);
    for (let k = 0; k < 25; k++) {
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), 'poll', '-C', dir], { env, stdio: 'ignore' });
      const exited = new Promise((res) => child.once('exit', res));
      await sleep(Math.floor(draw() * 1.5 * pollMs) / 1000);
      child.kill('SIGKILL');
      await exited;
    }
    await pollUntilComplete(dir, env, 120);
    const cursor = readCursor(join(dir, ".autopipe", "cursor.json"))!;
    const ends = cursor.stages[0].tasks.map((t) => t.attempts.at(-1)!.state);
    expect(ends).to.deep.equal(['done', 'done', 'failed', 'done', 'done', 'done']);
    for (const k of [0, 1, 5]) {
      expect(cursor.stages[0].tasks[k].attempts[0].error_class, `t000${k} failed first`).to.equal('scf_not_converged');
      expect(cursor.stages[0].tasks[k].attempts.map((a) => a.attempt), 'attempts numbered once each').to.deep.equal(cursor.stages[0].tasks[k].attempts.map((_, i) => i + 1));
    }
    expect(rows(join(dir, '.autopipe', 'autopipe.db'))).to.have.length(5);
    // every submission in the cursor reached SLURM exactly once, with all its tasks; no other did
    const perName = jobNamesRun(cursor.project, env);
    expect([...perName.keys()].sort()).to.deep.equal(cursor.stages[0].submissions.map((x) => x.job_name).sort());
    expect(cursor.stages[0].submissions.map((x) => perName.get(x.job_name))).to.deep.equal(cursor.stages[0].submissions.map((x) => x.tasks.length));
    expect(cursor.stages[0].submissions.length, 'retry arrays were submitted').to.be.greaterThan(1);
  });

  it('a node set down under a running task: NODE_FAIL, retried in a new folder, labelled', async () => {
    const env = { ...process.env, ...clusterEnv() };
    const dir = tmpDir();
    writeProject(dir, [al1({ inject: 'hold' })], ['executor: {kind: slurm, poll_interval: 1}']);
    expect(autopipe(['submit'], dir, env).status).to.equal(0);
    slurmProjects.push(dir);
    const jobId = slurmId(cursorOf(dir).submissions[0].job);
    try {
      for (let k = 0; k < 60 && arrayStates(jobId, env).get(0) !== 'RUNNING'; k++) await sleep(1);
      expect(spawnSync('scontrol', ['update', 'nodename=localhost', 'state=down', 'reason=autopipe-recovery-test'], { env }).status).to.equal(0);
      for (let k = 0; k < 30 && arrayStates(jobId, env).get(0) !== 'NODE_FAIL'; k++) await sleep(1);
      expect(arrayStates(jobId, env).get(0)).to.equal('NODE_FAIL');
    } finally {
      // ReturnToService=2 brings it back when slurmd registers; resume in case it has not yet
      spawnSync('scontrol', ['update', 'nodename=localhost', 'state=resume'], { env });
    }
    const changes = await pollUntilComplete(dir, env, 120);
    expect(changes.join('\n')).to.match(/t0000: node_failure in a1, retried as a2 unchanged \(node_failure 1 of 2\)/);
    const t = cursorOf(dir).tasks[0];
    expect(t.attempts.map((a) => [a.dir, a.state, a.error_class])).to.deep.equal([['iter-000/label/t0000/a1', 'failed', 'node_failure'], ['iter-000/label/t0000/a2', 'done', null]]);
    expect(rows(join(dir, '.autopipe', 'autopipe.db'))).to.have.length(1);
  });
});
