/**
 * Issue 22 §3: SLURM's output of every array element is kept in its attempt folder (slurm.out,
 * fetched with the outputs, over SSH too) and its last lines are quoted when a task fails with no
 * output of its own. Real SLURM (the test cluster), real pw.x for the task that succeeds.
 */
import { expect } from 'chai';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { jobLogTail, quoteJobLog } from '../lib/stages/error-line.js';
import { validateConfig } from '../lib/config/validate.js';
import { jobScript } from '../lib/loop/wrapper.js';
import { stageLog, SlurmLocalExecutor } from '../lib/exec/slurm-local.js';
import { LocalExecutor } from '../lib/exec/local.js';
import { LocalRunner } from '../lib/shell/runner.js';
import { JOB_LOG, SENTINEL, STAGE_LOG } from '../lib/exec/manifest.js';
import { project } from './support/labelling.js';
import { clusterEnv } from './support/cluster.js';
import { ROOT, tmpDir } from './support/tools.js';

// what Lmod prints for a module the cluster does not have; then the payload stops, as `set -e` would
const LMOD = 'Lmod has detected the following error:  The following module(s) are unknown: "quantum-espresso/7.2"';

function autopipe(args: string[], dir: string, env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), ...args, '-C', dir], { encoding: 'utf8', env });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const files = (o: Record<string, string>) => new Map(Object.entries(o).map(([k, v]) => [k, Buffer.from(v)]));

describe('job logs: the tail of slurm.out in a failure (pure)', () => {
  it('quotes the last 5 non-blank lines, each cut at 160 characters, control characters made blanks, on one line', () => {
    const log = ['one', 'two', '', 'three', 'four\r', `five ${'x'.repeat(300)}`, 'six \u001b[31mred\u001b[0m', '   ', ''].join('\n');
    const tail = jobLogTail(files({ [JOB_LOG]: log })) as string;
    expect(tail.startsWith('slurm.out ends: "two" | "three" | "four" | "five xxx')).to.equal(true);
    expect(tail).to.include(`"five ${'x'.repeat(154)}…"`).and.include('"six  [31mred [0m"');
    expect(tail).not.to.match(/[\n\r\u001b]/);
    expect(jobLogTail(files({ [JOB_LOG]: ' \n\n' }))).to.equal(undefined);
    expect(jobLogTail(files({}))).to.equal(undefined);
  });

  it('is added only when the program left no output of its own; a success is left alone', () => {
    const failed = { ok: false as const, failure: { cls: 'unknown' as const, message: 'no pw.x output (exit 1); see pw.err' } };
    expect(quoteJobLog(failed, files({ [JOB_LOG]: `${LMOD}\n`, 'pw.out': '' }), ['pw.out'])).to.deep.equal({ ok: false, failure: { cls: 'unknown', message: `no pw.x output (exit 1); see pw.err; slurm.out ends: ${JSON.stringify(LMOD)}` } });
    expect(quoteJobLog(failed, files({ [JOB_LOG]: LMOD, 'pw.out': 'Program PWSCF v.6.7 starts\n' }), ['pw.out'])).to.equal(failed);
    expect(quoteJobLog(failed, files({ 'pw.out': '' }), ['pw.out'])).to.equal(failed); // no log: as judged
    // train: pacemaker.out empty but pacemaker.err has the error: that is output of its own
    expect(quoteJobLog(failed, files({ [JOB_LOG]: LMOD, 'pacemaker.out': '', 'pacemaker.err': 'ValueError: x' }), ['pacemaker.out', 'pacemaker.err'])).to.equal(failed);
    const ok = { ok: true as const, result: 1 };
    expect(quoteJobLog(ok, files({ [JOB_LOG]: LMOD }), ['pw.out'])).to.equal(ok);
  });

  it('pw.x\'s stderr first, then the job log, when a kind names both (labelling: a scratch folder that could not be made)', () => {
    const failed = { ok: false as const, failure: { cls: 'unknown' as const, message: 'no pw.x output (exit 1); see pw.err' } };
    const err = 'autopipe: cannot make a folder under dft.scratch (/scratch/me) on node7';
    const quoted = quoteJobLog(failed, files({ 'pw.err': `${err}\n`, [JOB_LOG]: `${LMOD}\n` }), ['pw.out'], ['pw.err', JOB_LOG]);
    expect(quoted.ok ? '' : quoted.failure.message).to.equal(`no pw.x output (exit 1); see pw.err; pw.err ends: ${JSON.stringify(err)}; slurm.out ends: ${JSON.stringify(LMOD)}`);
    const onlyLog = quoteJobLog(failed, files({ 'pw.err': '', [JOB_LOG]: LMOD }), ['pw.out'], ['pw.err', JOB_LOG]);
    expect(onlyLog.ok ? '' : onlyLog.failure.message).to.equal(`no pw.x output (exit 1); see pw.err; slurm.out ends: ${JSON.stringify(LMOD)}`);
  });

  it('sbatch --output is the stage folder\'s slurm-%A_%a.out, absolute, a % of the folder doubled', () => {
    expect(stageLog('/runs/100%/iter-000/label')).to.equal('/runs/100%%/iter-000/label/slurm-%A_%a.out');
    expect(STAGE_LOG.pattern).to.equal('slurm-%A_%a.out');
  });

  it('the sentinel names and the log\'s are written in one place (lib/exec/manifest.ts)', () => {
    // every other file names them through SENTINEL and JOB_LOG
    const lib = join(ROOT, 'lib');
    const literal = /'(?:started|exitcode|slurm\.out)'|["/](?:started|exitcode)(?:\.tmp)?["]|> (?:started|exitcode)\b/;
    const offenders: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.ts') && !p.endsWith(join('exec', 'manifest.ts'))) {
          readFileSync(p, 'utf8').split('\n').forEach((l, k) => {
            if (literal.test(l) && !/^\s*(\/\/|\*)/.test(l)) offenders.push(`${p}:${k + 1}: ${l.trim()}`);
          });
        }
      }
    };
    walk(lib);
    expect(offenders).to.deep.equal([]);
    expect(SENTINEL).to.deep.equal({ started: 'started', exitcode: 'exitcode' });
  });
});

describe('job logs: the job script links the stage folder\'s log into the task folder (real bash)', () => {
  const RES = { nodes: 1, ntasks: 1, cpus_per_task: 1, time: '00:10:00', partition: null, account: null, mem: null, extra: [], modules: [] };

  /** Runs the job script as SLURM would for array element 0 of job 77: in the stage folder, its output in slurm-77_0.out there. */
  function runJob(stage: string): { status: number; stageLog: string } {
    writeFileSync(join(stage, 'tok.manifest'), 't0000/a1 attempt0000\n');
    const script = jobScript({ manifest: 'tok.manifest', resources: RES, template: 'label.sh.hbs', about: 'test', payload: 'echo "to stdout"\necho "to stderr" >&2\nexit 3' });
    writeFileSync(join(stage, 'job.sbatch'), script);
    const stageLog = join(stage, 'slurm-77_0.out');
    const r = spawnSync('bash', ['-c', 'exec bash job.sbatch >> "$0" 2>&1', stageLog], { cwd: stage, env: { ...process.env, SLURM_ARRAY_JOB_ID: '77', SLURM_ARRAY_TASK_ID: '0' } });
    return { status: r.status ?? -1, stageLog };
  }
  const ino = (p: string) => spawnSync('stat', ['-c', '%i', p], { encoding: 'utf8' }).stdout.trim();

  it('a hard link on one filesystem: the same file under both names, both streams in it', () => {
    const stage = tmpDir();
    mkdirSync(join(stage, 't0000', 'a1'), { recursive: true });
    const r = runJob(stage);
    expect(r.status).to.equal(3);
    const log = join(stage, 't0000', 'a1', JOB_LOG);
    expect(readFileSync(log, 'utf8')).to.equal('to stdout\nto stderr\n');
    expect(ino(log)).to.equal(ino(r.stageLog));
    expect(readFileSync(join(stage, 't0000', 'a1', SENTINEL.exitcode), 'utf8')).to.equal('3 attempt0000\n');
  });

  it('a copy at the end where a hard link is impossible (the task folder on another filesystem, /dev/shm)', () => {
    const stage = tmpDir();
    const elsewhere = join('/dev/shm', `autopipe-joblog-${process.pid}-${Date.now()}`);
    mkdirSync(elsewhere, { recursive: true });
    mkdirSync(join(stage, 't0000'));
    spawnSync('ln', ['-s', elsewhere, join(stage, 't0000', 'a1')]);
    expect(spawnSync('stat', ['-f', '-c', '%T', elsewhere], { encoding: 'utf8' }).stdout.trim()).to.equal('tmpfs'); // not the stage folder's
    const r = runJob(stage);
    expect(r.status).to.equal(3);
    expect(readFileSync(join(elsewhere, JOB_LOG), 'utf8')).to.equal('to stdout\nto stderr\n');
    expect(ino(join(elsewhere, JOB_LOG))).not.to.equal(ino(r.stageLog));
    spawnSync('rm', ['-rf', elsewhere]);
  });
});

describe('job logs: resources.extra may not move them (validateConfig)', () => {
  const problems = (extra: string[], section = 'dft') => {
    const r = validateConfig({ dft: { pseudopotentials: { Al: 'Al.pz-vbc.UPF' } }, [section]: { ...(section === 'dft' ? { pseudopotentials: { Al: 'Al.pz-vbc.UPF' } } : {}), resources: { extra } } });
    return r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`);
  };

  it('--output, --error, their abbreviations and -o/-e are refused at their field path, saying where the logs are', () => {
    for (const [x, what] of [['--output=/dev/null', 'output'], ['--error=err.txt', 'error output'], ['--out=x', 'output'], ['--err', 'error output'], ['-o', 'output'], ['-e x.err', 'error output']] as const) {
      const p = problems(['--qos=short', x]);
      expect(p, x).to.have.length(1);
      expect(p[0], x).to.match(/^dft\.resources\.extra\.1: /).and.include(`would send SLURM's ${what} elsewhere`).and.include('in its attempt folder as slurm.out').and.include('remove this entry');
    }
    expect(problems(['--output=o.txt'], 'train')[0]).to.match(/^train\.resources\.extra\.0: '--output=o\.txt' would send/);
    expect(problems(['--output=o.txt'], 'explore')[0]).to.match(/^explore\.resources\.extra\.0: /);
    // options that only look alike are kept: --open-mode, --exclusive, --oversubscribe
    expect(problems(['--open-mode=append', '--exclusive', '--oversubscribe', '--qos=short'])).to.deep.equal([]);
  });
});

/** A labelling project of two Al cells whose template fails like a missing module for array index 0 only. */
function failingModuleProject(kind: 'local' | 'slurm', name: string, executorLines: string[] = []): string {
  const dir = tmpDir();
  project(dir, { kind, n: 2, name, executorLines });
  // no retry of an unknown failure: the stage settles with it
  writeFileSync(join(dir, 'autopipe.yaml'), `${readFileSync(join(dir, 'autopipe.yaml'), 'utf8')}recovery: {unknown: 0}\n`);
  mkdirSync(join(dir, 'templates'), { recursive: true });
  const template = readFileSync(join(ROOT, 'templates', 'label.sh.hbs'), 'utf8');
  writeFileSync(join(dir, 'templates', 'label.sh.hbs'), `[ "$SLURM_ARRAY_TASK_ID" != 0 ] || { echo 'loading quantum-espresso/7.2'; echo '${LMOD}' >&2; exit 1; }\n${template}`);
  return dir;
}

/** Runs the campaign to its end and checks the logs: the failed task's quoted, the succeeded one's kept. */
function runAndCheck(dir: string, env: NodeJS.ProcessEnv, runRoot: string): void {
  const r = autopipe(['run'], dir, env);
  expect(r.stderr).to.match(/stage complete: 1 done, 1 failed/);
  const failedDir = join(runRoot, 'iter-000', 'label', 't0000', 'a1');
  const okDir = join(runRoot, 'iter-000', 'label', 't0001', 'a1');
  // both streams, in order, in the attempt folder
  expect(readFileSync(join(failedDir, JOB_LOG), 'utf8')).to.equal(`loading quantum-espresso/7.2\n${LMOD}\n`);
  expect(existsSync(join(okDir, JOB_LOG))).to.equal(true);
  expect(readFileSync(join(okDir, 'pw.out'), 'utf8')).to.include('JOB DONE.');
  // the poll's line for the failure quotes the log
  const quoted = `slurm.out ends: "loading quantum-espresso/7.2" | ${JSON.stringify(LMOD)}`;
  const line = r.stderr.split('\n').find((l) => /label t0000: \w+ → failed/.test(l));
  expect(line, r.stderr).to.be.a('string').and.include('(unknown: no pw.x output (exit 1)').and.include(quoted);
  // status shows it as recorded
  const status = JSON.parse(autopipe(['status', '--json'], dir, env).stdout);
  const t0 = status.tasks.find((t: { id: string }) => t.id === 't0000');
  expect(t0.failures[0].message).to.include(quoted);
}

describe('job logs: kept in the attempt folder and quoted on failure', function () {
  this.timeout(300000);

  it('slurm executor: the array element\'s output is the task folder\'s slurm.out (a hard link of the stage folder\'s slurm-<job>_<index>.out)', () => {
    const env = { ...process.env, ...clusterEnv() };
    const dir = failingModuleProject('slurm', 'joblogs');
    const root = join(dir, '.autopipe', 'run');
    runAndCheck(dir, env, root);
    const stage = join(root, 'iter-000', 'label');
    const logs = readdirSync(stage).filter((f) => /^slurm-\d+_\d\.out$/.test(f)).sort();
    expect(logs).to.have.length(2);
    // the same file under both names: SLURM's later lines go to the task folder's too
    const ino = (p: string) => spawnSync('stat', ['-c', '%i', p], { encoding: 'utf8' }).stdout.trim();
    expect(ino(join(stage, logs[0]))).to.equal(ino(join(stage, 't0000', 'a1', JOB_LOG)));
    expect(ino(join(stage, logs[1]))).to.equal(ino(join(stage, 't0001', 'a1', JOB_LOG)));
  });

  it('slurm over SSH: slurm.out comes back with the outputs and is quoted the same way', () => {
    const c = clusterEnv();
    const remote = join(tmpDir(), "remote it's");
    const dir = failingModuleProject('slurm', 'joblogssh', [
      `remote_root: ${JSON.stringify(remote)}`, 'host: 127.0.0.1', `port: ${c.AUTOPIPE_SSH_PORT}`, `user: ${c.AUTOPIPE_SSH_USER}`,
      `identity: ${JSON.stringify(c.AUTOPIPE_SSH_KEY)}`, `known_hosts: ${JSON.stringify(c.AUTOPIPE_SSH_KNOWN_HOSTS)}`,
    ]);
    const env = { ...process.env };
    delete env.SLURM_CONF; // everything through the SSH server
    runAndCheck(dir, env, remote);
  });

  it('local executor: the job script\'s stdout and stderr are slurm.out in the attempt folder, quoted alike', () => {
    const dir = failingModuleProject('local', 'jobloglocal');
    runAndCheck(dir, process.env, join(dir, '.autopipe', 'run'));
  });
});

describe('job logs: a task stopped at its time limit says so in its slurm.out', function () {
  this.timeout(300000);
  const RES = { nodes: 1, ntasks: 1, cpus_per_task: 1, time: '1', partition: null, account: null, mem: null, extra: [], modules: [] };

  /** A stage folder with one task folder and a job script whose payload outlives a 1-minute limit. */
  function stageWithSleeper(root: string, stage: string): void {
    mkdirSync(join(root, stage, 't0000', 'a1'), { recursive: true });
    writeFileSync(join(root, stage, 'tok0000001.manifest'), 't0000/a1 attempt001\n');
    writeFileSync(join(root, stage, 'tok0000001.sbatch'), jobScript({ manifest: 'tok0000001.manifest', resources: RES, template: 'label.sh.hbs', about: 'test', payload: 'echo "pw.x started"\nsleep 600' }));
  }

  it('slurm: slurmstepd\'s CANCELLED … DUE TO TIME LIMIT line, written after the link was made, is in the task folder\'s slurm.out', async () => {
    const env = { ...process.env, ...clusterEnv() };
    const root = tmpDir();
    const stage = 'iter-000/label';
    stageWithSleeper(root, stage);
    const x = new SlurmLocalExecutor(new LocalRunner(env), root);
    const sub = await x.submit([{ jobName: 'joblog-timeout', script: `${stage}/tok0000001.sbatch`, array: '0-0', chdir: stage, resources: RES, resourcesField: 'dft.resources' }]);
    expect(sub.refused).to.equal(undefined);
    const log = join(root, stage, 't0000', 'a1', JOB_LOG);
    let text = '';
    for (let t = 0; t < 240 && !text.includes('DUE TO TIME LIMIT'); t++) {
      await new Promise((r) => setTimeout(r, 1000));
      text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    }
    expect(text).to.match(/^pw\.x started\n.*\*\*\* JOB \d+ ON \S+ CANCELLED AT \S+ DUE TO TIME LIMIT \*\*\*\n$/s);
    const fetched = await x.fetch([`${stage}/t0000/a1`], [JOB_LOG]);
    expect(jobLogTail(fetched.get(`${stage}/t0000/a1`) as Map<string, Buffer>)).to.match(/^slurm\.out ends: "pw\.x started" \| ".*DUE TO TIME LIMIT \*\*\*"$/);
  });

  it('local: the executor stops it and adds its own line (its clock moved past the limit)', async () => {
    const root = tmpDir();
    const stage = 'iter-000/label';
    stageWithSleeper(root, stage);
    let now = Date.now() / 1000;
    const x = new LocalExecutor(root, 2, () => now);
    await x.submit([{ jobName: 'p-tok0000001', script: `${stage}/tok0000001.sbatch`, array: '0-0', chdir: stage, resources: RES, resourcesField: 'dft.resources' }]);
    const ref = { kind: 'local' as const, script: `${stage}/tok0000001.sbatch` };
    await x.queue([ref]); // launches it
    const log = join(root, stage, 't0000', 'a1', JOB_LOG);
    for (let t = 0; t < 100 && !(existsSync(log) && readFileSync(log, 'utf8').includes('pw.x started')); t++) await new Promise((r) => setTimeout(r, 100));
    now += 120;
    const q = await x.queue([ref]);
    expect(q.map((e) => e.state)).to.deep.equal(['timeout']);
    expect(readFileSync(log, 'utf8')).to.match(/^pw\.x started\nautopipe: \*\*\* task stopped at \S+ due to its time limit \(1\) \*\*\*\n/);
    now += 60;
    await x.queue([ref]); // SIGKILL after the grace, should SIGTERM not have ended it
  });
});
