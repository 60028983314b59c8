import { expect } from 'chai';
import { rng } from './support/random.js';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { LocalExecutor } from '../lib/exec/local.js';
import { fromQueue } from '../lib/loop/observe.js';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { arraySpec } from '../lib/loop/arrays.js';
import { plannedLabelCursor } from './support/loop.js';
import { parseConfigText } from '../lib/config/load.js';
import { compileTemplate } from '../lib/templates/render.js';
import { acquireLock } from '../lib/state/lock.js';
import { readCursor } from '../lib/state/cursor.js';
import { ConfigError } from '../lib/errors/errors.js';
import { structures, project } from './support/labelling.js';
import { clusterEnv, jobNamesRun } from './support/cluster.js';
import { ROOT, tmpDir, pythonJson } from './support/tools.js';

const NOW = 1795000000;

function autopipe(args: string[], dir: string, env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), ...args, '-C', dir], { encoding: 'utf8', env });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function dbRows(db: string): Array<{ task: string; natoms: number; mask: number[] | null }> {
  return pythonJson(`
import sys, json, ase.db
print(json.dumps([{'task': r.task, 'natoms': r.natoms, 'mask': r.data['force_mask'].tolist() if 'force_mask' in r.data else None} for r in ase.db.connect(sys.argv[1]).select()]))`, [db]);
}

describe('labelling: plan (pure)', () => {
  it('one task per structure, arrays chunked to MaxArraySize and throttled, every file to stage', () => {
    const { config } = parseConfigText('dft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF, Si: Si.pz-vbc.UPF}\nexecutor: {array_throttle: 4}\n', 'autopipe.yaml');
    let n = 0;
    const script = compileTemplate('{{dft_command}} -in pw.in > pw.out', 't');
    const planned = plannedLabelCursor({
      candidates: structures(23).map((atoms, k) => ({ atoms, source: { file: 's.extxyz', frame: k + 1 } })), config,
      runRoot: "/r/it's", maxArraySize: 10, now: NOW, token: () => `tok${String(n++).padStart(7, '0')}`, render: (_n, c) => script(c),
    });
    const plan = { ...planned.cursor.stages[0], files: planned.files };
    expect(plan.tasks.map((t) => t.id).slice(0, 3)).to.deep.equal(['t0000', 't0001', 't0002']);
    expect(plan.submissions.map((s) => [s.token, s.job_name, s.tasks.length, s.job])).to.deep.equal([
      ['tok0000023', 'autopipe-tok0000023', 10, null], ['tok0000024', 'autopipe-tok0000024', 10, null], ['tok0000025', 'autopipe-tok0000025', 3, null]]);
    // each attempt's token (drawn before the arrays' tokens): the job writes it into its sentinels
    expect(plan.tasks[12].attempts[0]).to.deep.include({ dir: 'iter-000/label/t0012/a1', submission: 'tok0000024', array_index: 2, state: 'planned', token: 'tok0000012' });
    const manifest = plan.files.find((f) => f.path === 'iter-000/label/tok0000025.manifest')!;
    expect(manifest.content).to.equal('t0020/a1 tok0000020\nt0021/a1 tok0000021\nt0022/a1 tok0000022\n'); // relative: a run root may hold any character
    // autopipe's wrapper around the template: nothing by absolute path (the job starts in its stage folder)
    const job = plan.files.find((f) => f.path === 'iter-000/label/tok0000023.sbatch')!.content as string;
    expect(job).to.include('read -r task_dir token < <(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" tok0000023.manifest)').and.include('\n(\npw.x -in pw.in > pw.out\n)\n').and.not.include("/r/it");
    expect(plan.files.filter((f) => f.path.endsWith('pw.in'))).to.have.length(23);
    expect(plan.files.filter((f) => f.path.endsWith('structure.extxyz'))).to.have.length(23);
    expect(arraySpec(10, 4)).to.equal('0-9%4');
    expect(arraySpec(3, null)).to.equal('0-2');
    const { config: noSi } = parseConfigText('dft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF}\n', 'autopipe.yaml');
    expect(() => plannedLabelCursor({ candidates: structures(5).map((atoms, k) => ({ atoms, source: { file: 's', frame: k + 1 } })), config: noSi, runRoot: '/r', maxArraySize: 10, now: NOW, token: () => 'abcdefgh12', render: () => '' }))
      .to.throw(ConfigError, /no pseudopotential for Si/);
  });
});

describe('labelling with real pw.x', function () {
  this.timeout(300000);

  it('slurm executor: 12 structures in two arrays (MaxArraySize 10), a hostile run root; masks in the database', () => {
    const env = { ...process.env, ...clusterEnv() };
    const dir = tmpDir();
    // quotes, $(…) and backquotes stay inert (a newline is refused by the configuration check)
    const remote = join(tmpDir(), "run it's $(touch pwned) `touch pwned`");
    project(dir, { kind: 'slurm', n: 12, remoteRoot: remote, name: 'slurmlabel' });
    const r = autopipe(['run'], dir, env);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/submitted slurmlabel-\w+ as job \d+ \(10 tasks; label\)/).and.match(/\(2 tasks; label\)/).and.match(/stage complete: 12 done, 0 failed/);
    const status = JSON.parse(autopipe(['status', '--json'], dir, env).stdout);
    expect(status.counts).to.deep.include({ done: 12, failed: 0 });
    expect(new Set(status.tasks.map((t: { job_id: string }) => t.job_id)).size).to.equal(2);
    const rows = dbRows(join(dir, '.autopipe', 'autopipe.db'));
    expect(rows.map((x) => x.task).sort()).to.deep.equal(Array.from({ length: 12 }, (_, k) => `t${String(k).padStart(4, '0')}`));
    expect(rows.find((x) => x.task === 't0000')!.mask).to.deep.equal([1, 1, 0, 0]);
    expect(rows.find((x) => x.task === 't0004')!.natoms).to.equal(2);
    expect(spawnSync('find', [join(remote, '..'), dir, '-name', 'pwned']).stdout.toString()).to.equal('');
  });

  it('slurm over SSH (127.0.0.1): 12 structures, hostile remote root, a constant number of round trips per poll', async () => {
    const c = clusterEnv();
    const dir = tmpDir();
    const remote = join(tmpDir(), "remote it's $(touch pwned)");
    project(dir, {
      kind: 'slurm', n: 12, remoteRoot: remote, name: 'sshlabel',
      executorLines: [`host: 127.0.0.1`, `port: ${c.AUTOPIPE_SSH_PORT}`, `user: ${c.AUTOPIPE_SSH_USER}`, `identity: ${JSON.stringify(c.AUTOPIPE_SSH_KEY)}`, `known_hosts: ${JSON.stringify(c.AUTOPIPE_SSH_KNOWN_HOSTS)}`],
    });
    // no SLURM_CONF here: everything goes through the SSH server (whose SetEnv has it)
    const env = { ...process.env };
    delete env.SLURM_CONF;
    const sub = autopipe(['submit'], dir, env);
    expect(sub.status, sub.stderr).to.equal(0);
    expect(sub.stderr).to.match(/submitted sshlabel-\w+ as job \d+ \(10 tasks; label\)/).and.match(/\(2 tasks; label\)/);
    const trips: number[] = [];
    for (let k = 0; k < 120; k++) {
      const r = autopipe(['poll', '--json'], dir, env);
      expect(r.status, r.stderr).to.equal(0);
      const j = JSON.parse(r.stdout);
      trips.push(j.ssh_round_trips);
      if (j.complete) break;
      await new Promise((res) => setTimeout(res, 1000));
    }
    expect(JSON.parse(autopipe(['status', '--json'], dir, env).stdout).counts).to.deep.include({ done: 12, failed: 0 });
    expect(Math.max(...trips)).to.be.at.most(3); // squeue, sentinel scan, one download: whatever the number of tasks
    expect(dbRows(join(dir, '.autopipe', 'autopipe.db'))).to.have.length(12);
    expect(spawnSync('find', [join(remote, '..'), dir, '-name', 'pwned']).stdout.toString()).to.equal('');
  });

  it('local executor: the same labelling without SLURM, at most max_concurrent at a time', () => {
    const dir = tmpDir();
    project(dir, { kind: 'local', n: 5 });
    const r = autopipe(['run'], dir);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/stage complete: 5 done, 0 failed/);
    expect(dbRows(join(dir, '.autopipe', 'autopipe.db'))).to.have.length(5);
    const pw = readFileSync(join(dir, '.autopipe', 'run', 'iter-000', 'label', 't0001', 'a1', 'pw.out'), 'utf8');
    expect(pw).to.include('JOB DONE.');
  });

  it('a second poll while one runs exits 75 at once with a clear message', () => {
    const dir = tmpDir();
    project(dir, { kind: 'local', n: 1 });
    expect(autopipe(['submit'], dir).status).to.equal(0);
    const sleeper = spawn('sleep', ['20']);
    const lock = acquireLock(join(dir, '.autopipe', 'lock'), NOW, sleeper.pid!);
    try {
      const r = autopipe(['poll'], dir);
      expect(r.status).to.equal(75);
      expect(r.stderr).to.match(/another autopipe \(pid \d+ on .*\) is working on this project/);
    } finally {
      lock.release();
      sleeper.kill();
    }
  });

  it('polls killed at random moments (SIGKILL) lose nothing and duplicate nothing', async () => {
    const env = { ...process.env, ...clusterEnv() };
    const dir = tmpDir();
    const name = `kill-${randomBytes(4).toString('hex')}`; // unique: sacct -c remembers earlier runs
    project(dir, { kind: 'slurm', n: 12, name });
    // the submit itself is killed too, mid-way, a few times
    const kill = async (args: string[], ms: number) => {
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), ...args, '-C', dir], { env, stdio: 'ignore' });
      const exited = new Promise((res) => child.once('exit', res)); // it may finish before the kill
      await new Promise((res) => setTimeout(res, ms));
      child.kill('SIGKILL');
      await exited;
    };
    // kill instants are drawn inside each command's duration measured on this machine now, so
    // the test checks crash safety whatever the machine's speed (a loaded one is slower)
    const draw = rng(4711);
    const timed = (args: string[]) => {
      const t0 = Date.now();
      const r = autopipe(args, dir, env);
      expect(r.status, r.stderr).to.equal(0);
      return Date.now() - t0;
    };
    const submitTime = timed(['submit', '--dry-run']) + 200; // plus sbatch
    for (let k = 0; k < 5; k++) await kill(['submit'], Math.floor(draw() * submitTime));
    // whatever the kills left (nothing, a plan, intents, some arrays in), an unkilled submit completes it
    timed(['submit']);
    const pollTime = timed(['poll']);
    for (let k = 0; k < 25; k++) await kill(['poll'], Math.floor(draw() * 1.2 * pollTime));
    for (let k = 0; k < 120; k++) {
      const r = autopipe(['poll', '--json'], dir, env);
      if (r.status === 0 && JSON.parse(r.stdout).complete === true) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    const cursor = readCursor(join(dir, '.autopipe', 'cursor.json'))!;
    expect(cursor.stages[0].tasks.map((t) => t.attempts.at(-1)!.state)).to.deep.equal(new Array(12).fill('done'));
    const rows = dbRows(join(dir, '.autopipe', 'autopipe.db'));
    expect(rows).to.have.length(12); // no task merged twice, none forgotten
    // no chunk submitted twice: SLURM saw each job name of ours once
    const perName = jobNamesRun(name, env);
    expect([...perName.keys()].sort()).to.deep.equal(cursor.stages[0].submissions.map((s) => s.job_name).sort());
    expect(cursor.stages[0].submissions.map((s) => perName.get(s.job_name))).to.deep.equal(cursor.stages[0].submissions.map((s) => s.tasks.length));
    expect(existsSync(join(dir, '.autopipe', 'lock'))).to.equal(false);
  });
});

describe('labelling: an SSH connection cut in the middle of a poll', function () {
  this.timeout(300000);

  it('the poll fails with a clear message (exit 69); the next one carries on: nothing lost, nothing twice', async () => {
    const c = clusterEnv();
    const { preparedSshProject } = await import('./support/prepared.js');
    const n = 400;
    const dir = preparedSshProject(n, c);
    const env = { ...process.env };
    delete env.SLURM_CONF;
    let cut = 0;
    for (const delay of [0, 100, 250, 400, 600]) {
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), 'poll', '-C', dir], { env });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      let done = false;
      const exited = new Promise<number>((res) => child.once('exit', (code) => { done = true; res(code ?? -1); }));
      // wait for the poll's SSH session on the server, then end it: the connection drops mid-poll
      while (!done && spawnSync('pgrep', ['-f', 'sshd: .*@notty']).status !== 0) await new Promise((res) => setTimeout(res, 10));
      await new Promise((res) => setTimeout(res, delay));
      spawnSync('pkill', ['-f', 'sshd: .*@notty']);
      const code = await exited;
      if (code === 69) {
        cut++;
        expect(stderr).to.match(/SSH|cannot connect|connection/i);
        expect(stderr).not.to.match(/\n\s+at /);
      }
      if (code === 0) break; // this poll got through before the cut: everything merged
    }
    expect(cut, 'no poll was cut').to.be.greaterThan(0);
    const last = autopipe(['poll', '--json'], dir, env);
    expect(last.status, last.stderr).to.equal(0);
    expect(JSON.parse(last.stdout).counts.done).to.equal(n);
    const rows = dbRows(join(dir, '.autopipe', 'autopipe.db'));
    expect(rows).to.have.length(n);
    expect(new Set(rows.map((r) => r.task)).size).to.equal(n);
  });
});

describe('labelling: an intent whose job SLURM has forgotten', function () {
  this.timeout(120000);

  it('is recognised by its tasks\' sentinels and not submitted again', async () => {
    const c = clusterEnv();
    const { preparedSshProject } = await import('./support/prepared.js');
    const dir = preparedSshProject(3, c);
    // turn the prepared submission back into an intent: as if sbatch ran and the poll died before saving the id
    const path = join(dir, '.autopipe', 'cursor.json');
    const cursor = readCursor(path)!;
    cursor.stages[0].submissions[0].job = null;
    cursor.stages[0].submissions[0].submitted_at = null;
    const { writeCursor } = await import('../lib/state/cursor.js');
    writeCursor(path, cursor);
    const env = { ...process.env };
    delete env.SLURM_CONF;
    const r = autopipe(['poll', '--json'], dir, env);
    expect(r.status, r.stderr).to.equal(0);
    const j = JSON.parse(r.stdout);
    expect(j.changes[0]).to.equal(`found ${cursor.stages[0].submissions[0].job_name} already run (its tasks' sentinels exist; SLURM no longer knows the job): not submitting it again`);
    expect(j.counts.done).to.equal(3);
    const rows = pythonJson<Array<{ embedded: boolean; n_core: number }>>(`
import sys, json, ase.db
print(json.dumps([{'embedded': r.embedded, 'n_core': r.n_core} for r in ase.db.connect(sys.argv[1]).select()]))`, [join(dir, '.autopipe', 'autopipe.db')]);
    expect(rows).to.deep.equal([{ embedded: false, n_core: 4 }, { embedded: false, n_core: 4 }, { embedded: false, n_core: 4 }]);
  });
});

describe('labelling: a job that leaves SLURM without its exitcode, explained by the accounts', function () {
  this.timeout(400000);

  it('a task killed at its time limit is failed as walltime from sacct -c once squeue has forgotten it', async () => {
    const env = { ...process.env, ...clusterEnv() };
    const dir = tmpDir();
    project(dir, { kind: 'slurm', n: 1, name: `tmo-${randomBytes(3).toString('hex')}` });
    const yaml = readFileSync(join(dir, 'autopipe.yaml'), 'utf8').replace('dft:\n', 'dft:\n  command: "sleep 600; pw.x"\n  resources: {time: "00:01:00"}\n') + 'recovery: {walltime: {factor: 2, retries: 0}}\n';
    spawnSync('sh', ['-c', 'cat > "$1"', 'sh', join(dir, 'autopipe.yaml')], { input: yaml });
    expect(autopipe(['submit'], dir, env).status).to.equal(0);
    const jobId = (readCursor(join(dir, '.autopipe', 'cursor.json'))!.stages[0].submissions[0].job as { id: string }).id;
    // one poll while it runs: it learns the task's own SLURM id
    for (let k = 0; k < 60; k++) {
      const r = JSON.parse(autopipe(['poll', '--json'], dir, env).stdout);
      if (r.counts.running === 1) break;
      await new Promise((res) => setTimeout(res, 1000));
    }
    expect(readCursor(join(dir, '.autopipe', 'cursor.json'))!.stages[0].tasks[0].attempts[0].slurm_id).to.match(/^\d+$/);
    // then nothing until SLURM has forgotten the job (time limit, then MinJobAge): squeue cannot say why any more
    for (let k = 0; k < 300; k++) {
      if (spawnSync('squeue', ['-h', '-j', jobId], { env, encoding: 'utf8' }).status !== 0) break;
      await new Promise((res) => setTimeout(res, 1000));
    }
    const r = JSON.parse(autopipe(['poll', '--json'], dir, env).stdout);
    expect(r.counts.failed).to.equal(1);
    const a = readCursor(join(dir, '.autopipe', 'cursor.json'))!.stages[0].tasks[0].attempts[0];
    expect(a.error_class).to.equal('walltime');
    expect(a.message).to.match(/SLURM accounts: TIMEOUT/);
    expect(readCursor(join(dir, '.autopipe', 'cursor.json'))!.stages[0].tasks[0].gave_up).to.match(/walltime, and all recovery\.walltime\.retries \(0\) are used/);
  });
});

describe('local executor: a task that ends between the pass\'s sentinel scan and its queue query', () => {
  it('is shown as completed (waited for, as SLURM shows a finished job for MinJobAge), never as gone without its exitcode', async () => {
    const root = tmpDir();
    const x = new LocalExecutor(root, 2);
    const stage = 'iter-000/label';
    mkdirSync(join(root, stage, 't0000', 'a1'), { recursive: true });
    writeFileSync(join(root, stage, 'tok0000001.manifest'), 't0000/a1 attempt001\n');
    writeFileSync(join(root, stage, 'tok0000001.sbatch'), '#!/bin/bash\n');
    await x.submit([{ jobName: 'p-tok0000001', script: `${stage}/tok0000001.sbatch`, array: '0-0', chdir: stage, resources: parseConfigText('dft: {pseudopotentials: {Al: Al.pz-vbc.UPF}}\n', 'a.yaml').config.dft.resources, resourcesField: 'dft.resources' }]);
    // the task ran and wrote its exitcode after the scan that saw none
    writeFileSync(join(root, stage, 't0000', 'a1', 'local.launched'), '');
    writeFileSync(join(root, stage, 't0000', 'a1', 'exitcode'), '0 attempt001\n');
    const q = await x.queue([{ kind: 'local', script: `${stage}/tok0000001.sbatch` }]);
    expect(q.map((e) => [e.taskIds, e.state])).to.deep.equal([[[0], 'completed']]);
    expect(fromQueue(q[0], { kind: 'local', script: `${stage}/tok0000001.sbatch` }, 0, true)).to.deep.equal({ state: 'running', error_class: null, message: null });
  });
});
