/**
 * The real test cluster that scripts/test-cluster.sh starts (the test command starts it):
 * a job array runs, and squeue answers over SSH to 127.0.0.1 with the host key verified.
 */
import { expect } from 'chai';
import { readFileSync, existsSync } from 'node:fs';
import { clusterEnv } from './support/cluster.js';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { tmpDir } from './support/tools.js';

function run(cmd: string, args: string[], env: Record<string, string>): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function until(what: string, ok: () => boolean, seconds: number): Promise<void> {
  for (let waited = 0; waited < seconds * 4; waited++) {
    if (ok()) return;
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`);
}

describe('the test cluster (SLURM + sshd on 127.0.0.1)', function () {
  this.timeout(120000);

  it('runs a throttled job array; every task writes its output', async () => {
    const env = clusterEnv();
    const dir = tmpDir();
    const sub = run('sbatch', ['--parsable', '--chdir', dir, '--array=0-4%2', '-J', 'autopipe-test', '-o', 'out-%a.txt', '--wrap', 'echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_JOB_ID" > done-$SLURM_ARRAY_TASK_ID'], env);
    expect(sub.status, sub.stderr).to.equal(0);
    const jobId = sub.stdout.trim();
    expect(jobId).to.match(/^\d+$/);
    await until('5 tasks', () => [0, 1, 2, 3, 4].every((k) => existsSync(join(dir, `done-${k}`))), 90);
    expect(readFileSync(join(dir, 'done-3'), 'utf8')).to.equal(`task 3 of ${jobId}\n`);
  });

  it('answers over SSH with the host key checked; an unknown host key is refused', () => {
    const env = clusterEnv();
    const base = ['-i', env.AUTOPIPE_SSH_KEY, '-p', env.AUTOPIPE_SSH_PORT, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes'];
    const ok = run('ssh', [...base, '-o', `UserKnownHostsFile=${env.AUTOPIPE_SSH_KNOWN_HOSTS}`, `${env.AUTOPIPE_SSH_USER}@127.0.0.1`, 'squeue -h -o %i >/dev/null && echo "$SLURM_CONF"'], env);
    expect(ok.status, ok.stderr).to.equal(0);
    expect(ok.stdout.trim()).to.equal(env.SLURM_CONF);
    const unknown = run('ssh', [...base, '-o', `UserKnownHostsFile=${join(tmpDir(), 'empty_known_hosts')}`, `${env.AUTOPIPE_SSH_USER}@127.0.0.1`, 'true'], env);
    expect(unknown.status).to.not.equal(0);
    expect(unknown.stderr).to.match(/Host key verification failed/);
  });
});
