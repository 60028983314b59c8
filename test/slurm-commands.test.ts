import { expect } from 'chai';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  submitCommandLine, parseJobId, parseSubmitError, queueStatusCommand, parseQueueStatus, expandTaskIds, isInvalidJobId,
  showConfigCommand, parseMaxArraySize, accountingCommand, parseAccounting, isAccountingDisabled,
} from '../lib/slurm/commands.js';
import { slurmState, isFinal } from '../lib/slurm/states.js';
import { ROOT, tmpDir } from './support/tools.js';
import { clusterEnv } from './support/cluster.js';

const fixture = (name: string) => readFileSync(join(ROOT, 'test', 'fixtures', 'slurm', name), 'utf8');

describe('SLURM parsers (literal text captured from SLURM 22.05)', () => {
  it('squeue: running tasks, throttled pending ranges, non-array jobs, every state we saw', () => {
    const e = parseQueueStatus(fixture('squeue-running-pending.txt'));
    const pending = e.find((x) => x.reason === 'JobArrayTaskLimit')!;
    expect(pending).to.deep.include({ arrayJobId: '10', jobId: '10', state: 'pending', name: 'cap-run' });
    expect(pending.taskIds).to.deep.equal([2, 3, 4, 5, 6, 7]);
    expect(e.find((x) => x.name === 'cap-long')).to.deep.include({ taskIds: null, state: 'pending', reason: 'Resources' });
    expect(e.filter((x) => x.state === 'running').map((x) => [x.arrayJobId, x.taskIds, x.jobId])).to.deep.equal([['10', [0], '12'], ['10', [1], '13']]);
    const after = parseQueueStatus(fixture('squeue-after-cancel.txt'));
    expect(after.map((x) => x.state)).to.deep.equal(['cancelled', 'cancelled', 'cancelled', 'cancelled', 'completed', 'completed', 'completed', 'failed', 'running']);
    expect(after.find((x) => x.name === 'cap-fail')!.reason).to.equal('NonZeroExitCode');
  });

  it('task id specs', () => {
    expect(expandTaskIds('N/A')).to.equal(null);
    expect(expandTaskIds('4')).to.deep.equal([4]);
    expect(expandTaskIds('[4-6%3]')).to.deep.equal([4, 5, 6]);
    expect(expandTaskIds('1,3,5-6')).to.deep.equal([1, 3, 5, 6]);
    expect(expandTaskIds('0-8:4')).to.deep.equal([0, 4, 8]);
    expect(() => expandTaskIds('x')).to.throw(/cannot read array task ids/);
  });

  it('sbatch: job ids and the reasons it refuses', () => {
    expect(parseJobId(fixture('sbatch-parsable.txt'))).to.equal('10');
    expect(parseJobId('123;cluster\n')).to.equal('123');
    expect(parseJobId(fixture('sbatch-plain.txt'))).to.equal(undefined); // without --parsable
    expect(parseSubmitError(fixture('sbatch-bad-partition.err'))).to.deep.equal({ kind: 'invalid_partition', message: 'invalid partition specified: nosuchpartition; Batch job submission failed: Invalid partition name specified' });
    expect(parseSubmitError(fixture('sbatch-array-too-large.err')).kind).to.equal('invalid_array');
    expect(parseSubmitError(fixture('sbatch-bad-time.err')).kind).to.equal('invalid_time');
    expect(parseSubmitError('sbatch: error: Batch job submission failed: Requested node configuration is not available').kind).to.equal('unsatisfiable');
  });

  it('sbatch: a queue limit (jobs a user or account may have queued) is told from every other policy refusal', () => {
    const policy = "Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)";
    expect(parseSubmitError(fixture('sbatch-qos-max-submit.err'))).to.deep.equal({ kind: 'queue_limit', limit: 'QOSMaxSubmitJobPerUserLimit', message: `QOSMaxSubmitJobPerUserLimit; ${policy}` });
    expect(parseSubmitError(fixture('sbatch-assoc-max-submit.err'))).to.deep.include({ kind: 'queue_limit', limit: 'AssocMaxSubmitJobLimit' });
    // the same policy line for a job too long for its QOS: it never fits, however long it waits
    expect(parseSubmitError(fixture('sbatch-qos-max-wall.err'))).to.deep.equal({ kind: 'other', message: `QOSMaxWallDurationPerJobLimit; ${policy}` });
    expect(parseSubmitError(fixture('sbatch-bad-qos.err')).kind).to.equal('other');
  });

  it('scontrol, sacct -c, and the messages of a cluster without accounting (captured before the test cluster had slurmdbd)', () => {
    expect(parseMaxArraySize(fixture('scontrol-show-config.txt'))).to.equal(10);
    expect(parseMaxArraySize('nothing here')).to.equal(undefined);
    const acct = parseAccounting(fixture('sacct-c-format.out'));
    expect(acct.find((x) => x.name === 'cap-fail')).to.deep.include({ jobId: '17', state: 'failed', exitCode: 3, signal: 0 });
    expect(acct.find((x) => x.jobId === '15')).to.deep.include({ state: 'cancelled', exitCode: 0 });
    expect(isAccountingDisabled(fixture('sacct-disabled.err'))).to.equal(true);
    expect(isInvalidJobId(fixture('squeue-invalid-job.err'))).to.equal(true);
    expect(parseAccounting('5|x|COMPLETED|0:0\n5.batch|batch|COMPLETED|0:0\n').map((x) => x.jobId)).to.deep.equal(['5']);
  });

  it('states: one table; anything unknown stays unknown, never done', () => {
    expect(slurmState('CANCELLED by 0')).to.equal('cancelled');
    expect(slurmState('OUT_OF_MEMORY')).to.equal('out_of_memory');
    expect(slurmState('NODE_FAIL')).to.equal('node_failure');
    expect(slurmState('COMPLETING')).to.equal('running');
    expect(slurmState('SOMETHING_NEW')).to.equal('unknown');
    expect(isFinal('unknown')).to.equal(false);
    expect(isFinal('timeout')).to.equal(true);
  });
});

describe('SLURM commands on the real test cluster', function () {
  this.timeout(120000);
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, ...clusterEnv() });
  const run = (argv: string[]) => spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: env() });

  it('builders run as argv (no shell), parsers read the answers: submit, status, MaxArraySize, sacct (slurmdbd), sacct -c', async () => {
    const dir = tmpDir("hostile 'dir; $(touch pwned)");
    const script = join(dir, 'job.sh');
    writeFileSync(script, '#!/bin/sh\necho "$SLURM_ARRAY_TASK_ID" > "task-$SLURM_ARRAY_TASK_ID"\n');
    const name = `ap-test-'${randomBytes(4).toString('hex')}'`; // unique: sacct -c remembers earlier runs
    const sub = run(submitCommandLine({ script, jobName: name, chdir: dir, array: '0-2%2', output: '/dev/null', time: '00:05:00' }));
    expect(sub.status, sub.stderr).to.equal(0);
    const id = parseJobId(sub.stdout)!;
    expect(id).to.match(/^\d+$/);
    const q = run(queueStatusCommand({ jobIds: [id] }));
    expect(q.status, q.stderr).to.equal(0);
    const entries = parseQueueStatus(q.stdout);
    expect(entries.length).to.be.greaterThan(0);
    expect(entries.every((x) => x.arrayJobId === id && x.name === name)).to.equal(true);
    for (let waited = 0; waited < 240 && ![0, 1, 2].every((k) => existsSync(join(dir, `task-${k}`))); waited++) await new Promise((r) => setTimeout(r, 250));
    expect([0, 1, 2].every((k) => existsSync(join(dir, `task-${k}`)))).to.equal(true);
    expect(existsSync(join(dir, 'pwned'))).to.equal(false);
    expect(parseMaxArraySize(run(showConfigCommand()).stdout)).to.equal(10);
    // the cluster keeps accounts (slurmdbd): plain sacct knows each task once slurmctld has sent its end
    let plain: ReturnType<typeof parseAccounting> = [];
    for (let waited = 0; waited < 120 && !(plain.length === 3 && plain.every((x) => x.state === 'completed')); waited++) {
      const r = run(accountingCommand([id], false));
      expect(r.status, r.stderr).to.equal(0);
      expect(isAccountingDisabled(r.stderr)).to.equal(false);
      plain = parseAccounting(r.stdout);
      if (plain.length < 3 || plain.some((x) => x.state !== 'completed')) await new Promise((r) => setTimeout(r, 250));
    }
    expect(plain.map((x) => [x.jobId, x.name, x.state, x.exitCode])).to.deep.equal([0, 1, 2].map((k) => [`${id}_${k}`, name, 'completed', 0]));
    // sacct -c knows a job once slurmctld has written its completion record, a little after the tasks end
    let acct: ReturnType<typeof parseAccounting> = [];
    for (let waited = 0; waited < 120 && acct.length < 3; waited++) {
      acct = parseAccounting(run(accountingCommand([], true)).stdout).filter((x) => x.name === name);
      if (acct.length < 3) await new Promise((r) => setTimeout(r, 250));
    }
    expect(acct.map((x) => x.state)).to.deep.equal(['completed', 'completed', 'completed']);
    const bad = run(submitCommandLine({ script, jobName: 'ap-bad', chdir: dir, partition: 'nosuchpartition' }));
    expect(bad.status).to.equal(1);
    expect(parseSubmitError(bad.stderr).kind).to.equal('invalid_partition');
  });
});

describe('SLURM text for a job killed at its time limit (captured)', () => {
  it('sacct -c says TIMEOUT; the job output has SLURM\'s CANCELLED … DUE TO TIME LIMIT line', () => {
    const [e] = parseAccounting(fixture('sacct-c-timeout.out'));
    expect(e).to.deep.include({ name: 'cap-timeout', state: 'timeout' });
    expect(fixture('timeout-job-output.txt')).to.match(/\*\*\* JOB \d+ ON \S+ CANCELLED AT \S+ DUE TO TIME LIMIT \*\*\*/);
  });
});
