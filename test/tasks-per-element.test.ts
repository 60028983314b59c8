/**
 * dft.tasks_per_element: several labelling tasks run one after another in one array element.
 * The planning (pure), the job script (real bash), the observation of tasks that share an
 * element, the local executor, and on the real test cluster: an array of elements, a queue limit
 * that one packed array fits under, a failing task in the middle of an element.
 */
import { expect } from 'chai';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { arraySpec, elementsOf, planArrays } from '../lib/loop/arrays.js';
import { jobScript } from '../lib/loop/wrapper.js';
import { explainVanished, fromQueue } from '../lib/loop/observe.js';
import type { Executor } from '../lib/exec/executor.js';
import { parseConfigText } from '../lib/config/load.js';
import { compileTemplate } from '../lib/templates/render.js';
import { readCursor, type Cursor } from '../lib/state/cursor.js';
import { writeExtxyz } from '../lib/formats/extxyz.js';
import { makeAtoms } from '../lib/atoms/atoms.js';
import { expandTaskIds, type QueueEntry } from '../lib/slurm/commands.js';
import { plannedLabelCursor } from './support/loop.js';
import { project, structures } from './support/labelling.js';
import { autopipe } from './support/al-training.js';
import { clusterEnv, jobNamesRun } from './support/cluster.js';
import { tmpDir } from './support/tools.js';

const NOW = 1795000000;
const RES = { nodes: 1, ntasks: 1, cpus_per_task: 1, time: '00:10:00', partition: null, account: null, mem: null, extra: [], modules: [] };
const cursorOf = (dir: string): Cursor => readCursor(join(dir, '.autopipe', 'cursor.json'))!;
const ino = (p: string) => statSync(p).ino;

function planned(yaml: string, n: number, maxArraySize = 10) {
  const { config } = parseConfigText(`dft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF, Si: Si.pz-vbc.UPF}\n${yaml}`, 'autopipe.yaml');
  let k = 0;
  const script = compileTemplate('{{dft_command}} -in pw.in > pw.out', 't');
  return plannedLabelCursor({
    candidates: structures(n).map((atoms, i) => ({ atoms, source: { file: 's.extxyz', frame: i + 1 } })), config,
    runRoot: '/r', maxArraySize, now: NOW, token: () => `tok${String(k++).padStart(7, '0')}`, render: (_n, c) => script(c),
  });
}

describe('tasks per element: planning (pure)', () => {
  it('7 tasks, 3 to an element, MaxArraySize 2: arrays of 2 elements (6 tasks) and 1 (1 task); placement by element; one manifest line per task; k × the time', () => {
    const p = planned('  tasks_per_element: 3\n  resources: {time: "00:40:00"}\n', 7, 2);
    const stage = p.cursor.stages[0];
    expect(stage.submissions.map((s) => [s.token, s.tasks.length, s.per_element, elementsOf(s), s.resources!.time])).to.deep.equal([
      ['tok0000007', 6, 3, 2, '02:00:00'], ['tok0000008', 1, 3, 1, '02:00:00']]);
    expect(stage.submissions.map((s) => arraySpec(elementsOf(s), 2))).to.deep.equal(['0-1%2', '0-0%2']);
    expect(stage.tasks.map((t) => [t.id, t.attempts[0].submission, t.attempts[0].array_index])).to.deep.equal([
      ['t0000', 'tok0000007', 0], ['t0001', 'tok0000007', 0], ['t0002', 'tok0000007', 0],
      ['t0003', 'tok0000007', 1], ['t0004', 'tok0000007', 1], ['t0005', 'tok0000007', 1], ['t0006', 'tok0000008', 0]]);
    // the attempt keeps a task's time: recovery.walltime scales that, and an element gets k times it
    expect(stage.tasks[0].attempts[0].resources).to.equal(undefined);
    const manifest = p.files.find((f) => f.path === 'iter-000/label/tok0000007.manifest')!.content;
    expect(manifest).to.equal(Array.from({ length: 6 }, (_, i) => `t000${i}/a1 tok000000${i}`).join('\n') + '\n');
    const script = p.files.find((f) => f.path === 'iter-000/label/tok0000007.sbatch')!.content as string;
    expect(script).to.include('#SBATCH --time=02:00:00').and.include('for ((line = SLURM_ARRAY_TASK_ID * 3 + 1; line <= SLURM_ARRAY_TASK_ID * 3 + 3; line++)); do')
      .and.include('\n(\npw.x -in pw.in > pw.out\n)\n');
  });

  it('tasks_per_element 1 (the default) plans exactly what was planned without it: no loop, no per_element, the same bytes', () => {
    const a = planned('', 5);
    const b = planned('  tasks_per_element: 1\n', 5);
    // all but the recorded section of autopipe.yaml (which says what the user wrote)
    const bare = (x: typeof a) => JSON.stringify({ files: x.files, stage: { ...x.cursor.stages[0], config: undefined } });
    expect(bare(b)).to.equal(bare(a));
    expect(a.cursor.stages[0].submissions[0]).to.not.have.property('per_element');
    const script = a.files.find((f) => f.path.endsWith('.sbatch'))!.content as string;
    expect(script).to.include('read -r task_dir token < <(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" tok0000005.manifest)').and.not.include('for ((');
    const j = { manifest: 'm', resources: RES, template: 'label.sh.hbs', about: 'x', payload: 'true' };
    expect(jobScript({ ...j, perElement: 1 })).to.equal(jobScript(j));
    // the golden scripts (test/golden) are checked unchanged by test/templates.test.ts
  });

  it('planArrays refuses a count that is not a whole number ≥ 1; the configuration refuses it at its field', () => {
    const inputs = { project: 'p', stageDir: 's', maxArraySize: 10, now: NOW, token: () => 'abcdefgh12', renderScript: () => '' };
    expect(() => planArrays([{ tasks: [{ id: 't', dir: 's/t/a1', token: 'x' }], resources: RES, perElement: 0 }], inputs)).to.throw(RangeError, /whole number ≥ 1, got 0/);
    for (const bad of ['0', '2.5', 'two']) {
      expect(() => parseConfigText(`dft:\n  tasks_per_element: ${bad}\n`, 'autopipe.yaml')).to.throw(/dft\.tasks_per_element/);
    }
  });
});

describe('tasks per element: tasks that share an element (observation, pure)', () => {
  const job = { kind: 'slurm' as const, id: '500' };
  const entry = (state: QueueEntry['state'], rawState: string): QueueEntry => ({ arrayJobId: '500', taskIds: [1], jobId: '502', state, rawState, reason: 'None', name: 'n' });
  it('while the element runs, a task not started yet waits behind its mates; one started runs', () => {
    expect(fromQueue(entry('running', 'RUNNING'), job, 1, false, true)).to.deep.equal({ state: 'pending', error_class: null, message: null });
    expect(fromQueue(entry('running', 'RUNNING'), job, 1, true, true)).to.deep.equal({ state: 'running', error_class: null, message: null });
  });
  it('an element that ended: the task it was running failed as the element did; one it never started failed as cancelled (retried unchanged), saying so', () => {
    expect(fromQueue(entry('timeout', 'TIMEOUT'), job, 1, true, true)).to.deep.include({ state: 'failed', error_class: 'walltime' });
    expect(fromQueue(entry('timeout', 'TIMEOUT'), job, 1, false, true)).to.deep.equal({ state: 'failed', error_class: 'cancelled', message: 'its array element 500_1 ended (TIMEOUT) before it started' });
    expect(fromQueue(entry('node_failure', 'NODE_FAIL'), job, 1, false, true)).to.deep.include({ error_class: 'node_failure', message: 'its array element 500_1 ended (NODE_FAIL) before it started' });
    // unpacked, as before
    expect(fromQueue(entry('timeout', 'TIMEOUT'), job, 1, false, false)).to.deep.include({ error_class: 'walltime' });
    expect(fromQueue(undefined, job, 1, false, true).message).to.match(/its array element ended before it started/);
  });
});

describe('tasks per element: an element that left the queue (SLURM\'s accounts)', () => {
  it('a packed task it never started is failed as cancelled, one it was running as the element ended', async () => {
    const job = { kind: 'slurm' as const, id: '600' };
    const executor = { accounting: async () => new Map([['600_0', { jobId: '600_0', name: 'n', state: 'timeout' as const, rawState: 'TIMEOUT', exitCode: 0, signal: 0 }]]) } as unknown as Executor;
    const attempt = (dir: string) => ({ attempt: 1, dir, submission: 's', array_index: 0, parameters: {}, state: 'failed' as const, error_class: 'unknown' as const, message: null, token: 'x' });
    const out = await explainVanished(executor, [
      { task: 'a', job, attempt: attempt('a'), sentinels: { started: 100, output: 150 }, timeLimit: '00:02:00', progressFile: 'pw.out', packed: true },
      { task: 'b', job, attempt: attempt('b'), sentinels: {}, timeLimit: '00:02:00', progressFile: 'pw.out', packed: true },
    ]);
    expect(out.get('a')).to.deep.include({ error_class: 'walltime' });
    expect(out.get('b')).to.deep.include({ state: 'failed', error_class: 'cancelled', message: "its array element 600_0 ended (TIMEOUT in SLURM's accounts) before it started" });
  });
});

describe('tasks per element: the job script (real bash)', () => {
  /** Runs element `index` of a packed script as SLURM would: in the stage folder, its output in slurm-88_<index>.out there. */
  function runElement(stage: string, index: number, k: number): number {
    const script = jobScript({ manifest: 'tok.manifest', resources: RES, perElement: k, template: 'label.sh.hbs', about: 'test', payload: 'echo "ran $(basename "$(dirname "$PWD")")"\n[ ! -f fail ] || exit 7\necho "$MY_VALUE" > value' });
    writeFileSync(join(stage, 'job.sbatch'), script);
    const r = spawnSync('bash', ['-c', 'exec bash job.sbatch >> "$0" 2>&1', join(stage, `slurm-88_${index}.out`)], { cwd: stage, env: { ...process.env, SLURM_ARRAY_JOB_ID: '88', SLURM_ARRAY_TASK_ID: String(index) } });
    return r.status ?? -1;
  }

  it('element 0 of 3 runs its three tasks in turn: a failing middle one does not stop the third; each its own sentinels, task.env and the element\'s log; element 1 holds the last two', () => {
    const stage = tmpDir();
    const ids = ['t0000', 't0001', 't0002', 't0003', 't0004'];
    for (const [i, t] of ids.entries()) {
      mkdirSync(join(stage, t, 'a1'), { recursive: true });
      writeFileSync(join(stage, t, 'a1', 'task.env'), `MY_VALUE=v${i}\n`);
    }
    writeFileSync(join(stage, 't0001', 'a1', 'fail'), '');
    writeFileSync(join(stage, 'tok.manifest'), ids.map((t, i) => `${t}/a1 at${i}`).join('\n') + '\n');
    expect(runElement(stage, 0, 3)).to.equal(7); // its last failure's status
    expect(runElement(stage, 1, 3)).to.equal(0);
    const exit = (t: string) => readFileSync(join(stage, t, 'a1', 'exitcode'), 'utf8');
    expect(ids.map(exit)).to.deep.equal(['0 at0\n', '7 at1\n', '0 at2\n', '0 at3\n', '0 at4\n']);
    expect(ids.map((t) => readFileSync(join(stage, t, 'a1', 'started'), 'utf8').split(' ')[1])).to.deep.equal(['at0\n', 'at1\n', 'at2\n', 'at3\n', 'at4\n']);
    // task.env is each task's own: nothing leaks from one task to the next
    expect(['t0000', 't0002', 't0003', 't0004'].map((t) => readFileSync(join(stage, t, 'a1', 'value'), 'utf8'))).to.deep.equal(['v0\n', 'v2\n', 'v3\n', 'v4\n']);
    // one log per element, linked into each of its task folders
    expect(readFileSync(join(stage, 'slurm-88_0.out'), 'utf8')).to.equal('ran t0000\nran t0001\nran t0002\n');
    expect(['t0000', 't0001', 't0002'].map((t) => ino(join(stage, t, 'a1', 'slurm.out')))).to.deep.equal(Array(3).fill(ino(join(stage, 'slurm-88_0.out'))));
    expect(ino(join(stage, 't0004', 'a1', 'slurm.out'))).to.equal(ino(join(stage, 'slurm-88_1.out')));
  });

  it('a task whose folder is missing is said in the log and skipped; the next runs', () => {
    const stage = tmpDir();
    mkdirSync(join(stage, 't0001', 'a1'), { recursive: true });
    writeFileSync(join(stage, 'tok.manifest'), 't0000/a1 at0\nt0001/a1 at1\n');
    expect(runElement(stage, 0, 2)).to.equal(1);
    expect(readFileSync(join(stage, 'slurm-88_0.out'), 'utf8')).to.match(/autopipe: no task folder for line 1 in .*tok\.manifest\nran t0001\n$/);
    expect(readFileSync(join(stage, 't0001', 'a1', 'exitcode'), 'utf8')).to.equal('0 at1\n');
  });
});

describe('tasks per element with real pw.x', function () {
  this.timeout(600000);
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, ...clusterEnv() });
  const stageOf = (root: string) => join(root, 'iter-000', 'label');

  /** Every task's own sentinels (its attempt's token) and pw.out, and one log per element shared by its tasks. */
  function checkFolders(c: Cursor, root: string): void {
    const tasks = c.stages[0].tasks;
    expect(tasks.length).to.be.greaterThan(0);
    for (const t of tasks) {
      for (const a of t.attempts) {
        const dir = join(root, a.dir);
        expect(readFileSync(join(dir, 'started'), 'utf8').trim().split(' ')[1], `${a.dir} started`).to.equal(a.token);
        expect(readFileSync(join(dir, 'exitcode'), 'utf8').trim().split(' ')[1], `${a.dir} exitcode`).to.equal(a.token);
        expect(existsSync(join(dir, 'pw.out')), `${a.dir} pw.out`).to.equal(true);
      }
    }
    const logs = new Map<string, number>();
    for (const t of tasks) {
      const a = t.attempts[0];
      const key = `${a.submission}_${a.array_index}`;
      const i = ino(join(root, a.dir, 'slurm.out'));
      if (logs.has(key)) expect(i, `${a.dir} slurm.out is its element's`).to.equal(logs.get(key));
      logs.set(key, i);
    }
  }

  it('local executor: 4 tasks, 3 to an element: 2 elements at most max_concurrent at a time, every task merged, the element\'s log in each task folder', () => {
    const dir = tmpDir();
    project(dir, { kind: 'local', n: 4, dftLines: ['tasks_per_element: 3'] });
    const r = autopipe(['run'], dir);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/\(4 tasks in 2 array elements of up to 3; label\)/).and.match(/stage complete: 4 done, 0 failed/);
    const root = join(dir, '.autopipe', 'run');
    const c = cursorOf(dir);
    checkFolders(c, root);
    // the local executor keeps a packed element's own files in the stage folder, under SLURM's log name, linked into its task folders
    const token = c.stages[0].submissions[0].token;
    expect(c.stages[0].submissions[0].per_element).to.equal(3);
    expect(existsSync(join(stageOf(root), `slurm-${token}_1.local.pid`))).to.equal(true);
    expect(ino(join(root, c.stages[0].tasks[3].attempts[0].dir, 'slurm.out'))).to.equal(ino(join(stageOf(root), `slurm-${token}_1.out`)));
  });

  it('slurm: 6 tasks with tasks_per_element 3 go in as one array of 2 elements; each task its own sentinels and pw.out; all merged', () => {
    const name = `tp${randomBytes(3).toString('hex')}`;
    const dir = tmpDir();
    const root = join(tmpDir(), 'run');
    project(dir, { kind: 'slurm', n: 6, name, remoteRoot: root, dftLines: ['tasks_per_element: 3'] });
    const s = autopipe(['submit'], dir, env());
    expect(s.status, s.stderr).to.equal(0);
    expect(s.stderr).to.match(new RegExp(`submitted ${name}-\\w+ as job (\\d+) \\(6 tasks in 2 array elements of up to 3; label\\)`));
    const job = /as job (\d+)/.exec(s.stderr)![1];
    // SLURM holds an array of two elements (sbatch --array=0-1%2), each with 3 × dft.resources.time (1 h by default)
    const sq = spawnSync('scontrol', ['show', 'job', job], { env: env(), encoding: 'utf8' }).stdout;
    expect([...sq.matchAll(/ArrayTaskId=(\S+)/g)].flatMap((m) => expandTaskIds(m[1]) ?? []).sort()).to.deep.equal([0, 1]);
    expect([...new Set([...sq.matchAll(/TimeLimit=(\S+)/g)].map((m) => m[1]))]).to.deep.equal(['03:00:00']);
    const r = autopipe(['run'], dir, env());
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/stage complete: 6 done, 0 failed/);
    const c = cursorOf(dir);
    const sub = c.stages[0];
    expect(JSON.parse(autopipe(['status', '--json'], dir, env()).stdout).counts).to.deep.include({ done: 6, failed: 0 });
    // the job-completion log: the array ran as two elements, once each
    const subs = sub.submissions;
    expect(subs.map((x) => [x.tasks.length, x.per_element])).to.deep.equal([[6, 3]]);
    expect(jobNamesRun(name, env()).get(subs[0].job_name)).to.equal(2);
    checkFolders(c, root);
  });

  it('slurm under a queue limit of 3 jobs (QOS capped): 9 tasks, 3 to an element, go in as one submission that one task per element could not', () => {
    const e = clusterEnv();
    expect(e.AUTOPIPE_TEST_QOS).to.equal('capped');
    expect(e.AUTOPIPE_TEST_QOS_MAX_SUBMIT).to.equal('3');
    // one task per element: an array of 9 jobs, refused
    const plain = tmpDir();
    project(plain, { kind: 'slurm', n: 9, name: `tq${randomBytes(3).toString('hex')}`, remoteRoot: join(tmpDir(), 'run'), dftLines: ['resources: {extra: ["--qos=capped"]}'] });
    const p = autopipe(['submit'], plain, env());
    expect(p.status, p.stderr).to.equal(0);
    expect(p.stderr).to.match(/9 tasks wait for the queue: sbatch refused \S+ \(QOSMaxSubmitJobPerUserLimit\)/);
    // three to an element: 3 jobs, accepted at once, every task merged
    const name = `tq${randomBytes(3).toString('hex')}`;
    const dir = tmpDir();
    const root = join(tmpDir(), 'run');
    project(dir, { kind: 'slurm', n: 9, name, remoteRoot: root, dftLines: ['tasks_per_element: 3', 'resources: {extra: ["--qos=capped"]}'] });
    const s = autopipe(['submit'], dir, env());
    expect(s.status, s.stderr).to.equal(0);
    expect(s.stderr).to.match(/\(9 tasks in 3 array elements of up to 3; label\)/).and.not.match(/wait for the queue/);
    const r = autopipe(['run'], dir, env());
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/stage complete: 9 done, 0 failed/).and.not.match(/wait for the queue/);
    const c = cursorOf(dir);
    const stage = c.stages[0];
    expect(jobNamesRun(name, env()).get(stage.submissions[0].job_name)).to.equal(3);
    checkFolders(c, root);
  });

  it('slurm: a task failing in the middle of its element (electron_maxstep too small for it) does not stop its mates, and is retried until it converges', () => {
    const name = `tf${randomBytes(3).toString('hex')}`;
    const dir = tmpDir();
    const root = join(tmpDir(), 'run');
    project(dir, { kind: 'slurm', n: 1, name, remoteRoot: root, dftLines: ['tasks_per_element: 3'] });
    // primitive Al converges in 3 SCF steps, the rattled fcc cell needs 4: it fails in the middle of element 0
    const al1 = () => makeAtoms({ numbers: [13], positions: [0, 0, 0], cell: [0, 2.025, 2.025, 2.025, 0, 2.025, 2.025, 2.025, 0], pbc: [true, true, true] });
    writeFileSync(join(dir, 'structures.extxyz'), writeExtxyz([al1(), structures(2)[1], al1()]));
    const yaml = readFileSync(join(dir, 'autopipe.yaml'), 'utf8').replace('degauss: 0.05}', 'degauss: 0.05, electron_maxstep: 3}');
    expect(yaml).to.include('electron_maxstep: 3');
    writeFileSync(join(dir, 'autopipe.yaml'), yaml);
    const r = autopipe(['run'], dir, env());
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/\(3 tasks in 1 array element of up to 3; label\)/);
    expect(r.stderr).to.match(/label t0001: scf_not_converged in a1, retried as a2/).and.match(/stage complete: 3 done, 0 failed/);
    const c = cursorOf(dir);
    const stage = c.stages[0];
    const t = (id: string) => stage.tasks.find((x) => x.id === id)!;
    // its mates, before and after it in the element, each done in their first attempt
    expect([t('t0000').attempts.length, t('t0002').attempts.length]).to.deep.equal([1, 1]);
    expect(t('t0001').attempts[0]).to.deep.include({ state: 'failed', error_class: 'scf_not_converged', array_index: 0, submission: t('t0000').attempts[0].submission });
    expect(t('t0001').attempts.length).to.be.greaterThan(1);
    expect(t('t0001').attempts.at(-1)!.state).to.equal('done');
    // the three ran in one element: t0002 started after t0001 ended
    const at = (id: string, f: string) => Number(readFileSync(join(root, t(id).attempts[0].dir, f), 'utf8').split(' ')[0]);
    expect(at('t0002', 'started')).to.be.at.least(Number(statSync(join(root, t('t0001').attempts[0].dir, 'exitcode')).mtimeMs / 1000 | 0));
    expect(readFileSync(join(root, t('t0001').attempts[0].dir, 'exitcode'), 'utf8')).to.not.match(/^0 /);
    expect(jobNamesRun(name, env()).get(stage.submissions[0].job_name)).to.equal(1);
    checkFolders(c, root);
  });
  it('slurm: an element that ends at its time limit (TIMEOUT) while its first task runs: that task failed as walltime, the one it never started as cancelled, saying so; both retried and labelled', () => {
    const name = `tt${randomBytes(3).toString('hex')}`;
    const dir = tmpDir();
    const root = join(tmpDir(), 'run');
    // a wrapper around pw.x: the first structure's first attempt sleeps past its element's limit (2 × 1 min)
    writeFileSync(join(dir, 'hold.sh'), '#!/bin/bash\ncase "$PWD" in */t0000/a1) sleep 300 ;; esac\nexec "$@"\n');
    project(dir, { kind: 'slurm', n: 2, name, remoteRoot: root, dftLines: ['tasks_per_element: 2', 'resources: {time: "1"}', `command: bash ${join(dir, 'hold.sh')} pw.x`] });
    const r = autopipe(['run'], dir, env());
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/\(2 tasks in 1 array element of up to 2; label\)/);
    expect(r.stderr).to.match(/label t0000: \w+ → failed \(walltime: SLURM: TIMEOUT/);
    expect(r.stderr).to.match(/label t0001: \w+ → failed \(cancelled: its array element \d+_0 ended \(TIMEOUT\) before it started\)/);
    expect(r.stderr).to.match(/label t0000: walltime in a1, retried as a2 with time 00:02:00/).and.match(/label t0001: cancelled in a1, retried as a2 unchanged/);
    expect(r.stderr).to.match(/stage complete: 2 done, 0 failed/);
    const stage = cursorOf(dir).stages[0];
    expect(stage.tasks.map((t) => t.attempts.map((a) => [a.state, a.error_class]))).to.deep.equal([[['failed', 'walltime'], ['done', null]], [['failed', 'cancelled'], ['done', null]]]);
    // the never-started task's first folder has no sentinel at all; the retries of different resources went in as two arrays
    expect(existsSync(join(root, stage.tasks[1].attempts[0].dir, 'started'))).to.equal(false);
    expect(stage.submissions.map((x) => [x.tasks, x.resources!.time])).to.deep.equal([[['t0000', 't0001'], '00:02:00'], [['t0000'], '00:04:00'], [['t0001'], '00:02:00']]);
  });
});
