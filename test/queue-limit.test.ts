/**
 * Queue limits on the real test cluster (slurmdbd accounting, QOS `capped`: MaxSubmitJobsPerUser
 * 3, asked for with --qos=capped in dft.resources.extra). A refused sbatch is no error of the
 * campaign: what fits goes in, the rest stays an intent that each poll tries again, `status`
 * says how many tasks wait, and the campaign completes with every task merged, each job run once.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readCursor, type Cursor } from '../lib/state/cursor.js';
import { autopipe } from './support/al-training.js';
import { clusterEnv, jobNamesRun } from './support/cluster.js';
import { project } from './support/labelling.js';
import { tmpDir } from './support/tools.js';

/** A labelling project of `n` structures on SLURM in arrays of `arrays`, under QOS capped. */
function cappedProject(name: string, n: number, arrays: number, runRoot = join(tmpDir('autopipe-qlimit-root-'), 'run')): string {
  const dir = tmpDir('autopipe-qlimit-');
  project(dir, { kind: 'slurm', n, name, remoteRoot: runRoot, executorLines: [`max_array_size: ${arrays}`], dftLines: ['resources: {extra: ["--qos=capped"]}'] });
  return dir;
}

const cursorOf = (dir: string): Cursor => readCursor(join(dir, '.autopipe', 'cursor.json'))!;
const waitingTokens = (c: Cursor) => c.stages.flatMap((s) => s.submissions.filter((x) => x.waiting !== undefined).map((x) => x.token));

describe('queue limits on the real cluster (QOS capped, MaxSubmitJobsPerUser)', function () {
  this.timeout(600000);
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, ...clusterEnv() });

  before(() => {
    const e = clusterEnv();
    expect(e.AUTOPIPE_TEST_QOS, 'scripts/test-cluster.sh start gives the cluster accounting and QOS capped').to.equal('capped');
    expect(e.AUTOPIPE_TEST_QOS_MAX_SUBMIT).to.equal('3');
  });

  it('6 tasks in arrays of 2 under a limit of 3 jobs: the first poll submits what fits, the rest wait and go in as jobs finish; every task is merged', () => {
    const name = `ql${randomBytes(3).toString('hex')}`;
    const dir = cappedProject(name, 6, 2);
    // submit: the first array (2 jobs) fits, the second would make 4: refused, kept as intents with the third
    const s = autopipe(['submit'], dir, env());
    expect(s.status, s.stderr).to.equal(0);
    expect(s.stderr).to.match(new RegExp(`submitted ${name}-\\w+ as job \\d+ \\(2 tasks; label\\)`));
    expect(s.stderr).to.match(new RegExp(`4 tasks wait for the queue: sbatch refused ${name}-\\w+ \\(QOSMaxSubmitJobPerUserLimit\\); tried again at the next poll`));
    const c0 = cursorOf(dir);
    const subs = c0.stages[0].submissions;
    expect(subs.map((x) => [x.tasks.length, x.job === null, x.waiting?.reason ?? null])).to.deep.equal([[2, false, null], [2, true, 'QOSMaxSubmitJobPerUserLimit'], [2, true, 'QOSMaxSubmitJobPerUserLimit']]);
    // status says so, in words and in JSON
    const st = autopipe(['status'], dir, env());
    expect(st.status, st.stderr).to.equal(0);
    expect(st.stdout).to.match(/^4 tasks wait for the queue \(sbatch refused them: QOSMaxSubmitJobPerUserLimit; for \d+ min\): each poll submits what fits$/m);
    const js = JSON.parse(autopipe(['status', '--json'], dir, env()).stdout);
    expect(js.waiting_for_queue).to.deep.include({ tasks: 4, reason: 'QOSMaxSubmitJobPerUserLimit' });
    // run: polls until the stage is through; the tokens and job names of the waiting intents never change
    const r = autopipe(['run'], dir, env());
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/stage complete: 6 done, 0 failed/);
    const c = cursorOf(dir);
    expect(waitingTokens(c)).to.deep.equal([]);
    const submitted = [...s.stderr.matchAll(/submitted (\S+) as job/g), ...r.stderr.matchAll(/submitted (\S+) as job/g)].map((m) => m[1]);
    expect(submitted.sort()).to.deep.equal(subs.map((x) => x.job_name).sort());
    // each array ran once, both of its tasks (sacct -c, the job-completion log)
    const ran = jobNamesRun(name, env());
    expect(subs.map((x) => ran.get(x.job_name))).to.deep.equal([2, 2, 2]);
    const st2 = JSON.parse(autopipe(['status', '--json'], dir, env()).stdout);
    expect(st2.waiting_for_queue).to.equal(null);
    expect(st2.counts).to.deep.include({ done: 6, failed: 0 });
    expect(st2.tasks.map((t: { attempt: number }) => t.attempt)).to.deep.equal([1, 1, 1, 1, 1, 1]);
  });

  it('a waiting intent whose sbatch went in before the pass that sent it died: found by its job name, never submitted twice', async () => {
    const name = `qk${randomBytes(3).toString('hex')}`;
    const root = join(tmpDir('autopipe-qlimit-root-'), 'run');
    const dir = cappedProject(name, 4, 2, root);
    const s = autopipe(['submit'], dir, env());
    expect(s.status, s.stderr).to.equal(0);
    expect(s.stderr).to.match(/2 tasks wait for the queue/);
    const [first, second] = cursorOf(dir).stages[0].submissions;
    // the first array leaves the queue; then a pass sends the waiting one and dies before saving
    for (let k = 0; k < 240 && spawnSync('squeue', ['--noheader', `--name=${first.job_name}`], { env: env(), encoding: 'utf8' }).stdout.trim() !== ''; k++) await new Promise((r) => setTimeout(r, 500));
    const stageDir = join(root, 'iter-000', 'label');
    const sb = spawnSync('sbatch', ['--parsable', `--job-name=${second.job_name}`, `--chdir=${stageDir}`, '--array=0-1', '--output=/dev/null', join(stageDir, `${second.token}.sbatch`)], { env: env(), encoding: 'utf8' });
    expect(sb.status, sb.stderr).to.equal(0);
    expect(cursorOf(dir).stages[0].submissions[1]).to.deep.include({ job: null, token: second.token });
    const r = autopipe(['run'], dir, env());
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.include(`found ${second.job_name} already submitted as job ${sb.stdout.trim()}`);
    expect(r.stderr).to.not.match(/submitted \S+ as job/);
    expect(r.stderr).to.match(/stage complete: 4 done, 0 failed/);
    const ran = jobNamesRun(name, env());
    expect([first, second].map((x) => ran.get(x.job_name))).to.deep.equal([2, 2]);
    expect(waitingTokens(cursorOf(dir))).to.deep.equal([]);
  });

  it('an array larger than the limit, with none of the campaign\'s jobs queued: said every poll, with what to set, and never an exit 69', () => {
    const name = `qb${randomBytes(3).toString('hex')}`;
    const dir = cappedProject(name, 4, 4);
    const s = autopipe(['submit'], dir, env());
    expect(s.status, s.stderr).to.equal(0);
    expect(s.stderr).to.match(/4 tasks wait for the queue: sbatch refused \S+ \(QOSMaxSubmitJobPerUserLimit\)/);
    expect(s.stderr).to.match(/none of this campaign's jobs is queued, yet \S+ \(4 tasks\) does not fit: .*set executor\.max_array_size below it/);
    const p = autopipe(['poll'], dir, env());
    expect(p.status, p.stderr).to.equal(0);
    expect(p.stdout).to.match(/4 tasks wait for the queue/).and.match(/none of this campaign's jobs is queued/);
    // tried once per pass (the pass's second submit does not ask again), said once
    expect(p.stdout.match(/wait for the queue/g)).to.have.length(1);
    const c = cursorOf(dir);
    expect(c.stopped).to.equal(null);
    expect(c.stages[0].submissions.map((x) => x.job)).to.deep.equal([null]);
    const w = c.stages[0].submissions[0].waiting!;
    expect(w.tried_at).to.be.greaterThan(w.since);
    const q = spawnSync('squeue', ['--noheader', `--name=${c.stages[0].submissions[0].job_name}`], { env: env(), encoding: 'utf8' });
    expect(q.stdout.trim()).to.equal('');
  });
});
