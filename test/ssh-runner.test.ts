import { expect } from 'chai';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { SshRunner, type SshTarget } from '../lib/ssh/ssh-runner.js';
import { parseQueueStatus, queueStatusCommand } from '../lib/slurm/commands.js';
import { verifyHostKey } from '../lib/ssh/known-hosts.js';
import { SshError } from '../lib/errors/errors.js';
import { clusterEnv } from './support/cluster.js';
import { tmpDir } from './support/tools.js';

describe('SSH runner (real sshd on 127.0.0.1)', function () {
  this.timeout(60000);
  let target: SshTarget;
  before(() => {
    const env = clusterEnv();
    target = { host: '127.0.0.1', port: Number(env.AUTOPIPE_SSH_PORT), user: env.AUTOPIPE_SSH_USER, identity: env.AUTOPIPE_SSH_KEY, knownHosts: env.AUTOPIPE_SSH_KNOWN_HOSTS, acceptNewHostKey: false };
  });

  it('runs argv remotely through the quoting helper: hostile strings arrive intact, squeue answers', async () => {
    const ssh = await SshRunner.connect(target);
    try {
      const hostile = ["a'; touch pwned; '", '$(touch pwned)', 'new\nline', '`id`'];
      const dir = tmpDir();
      const r = await ssh.run(['printf', '[%s]', ...hostile], { cwd: dir });
      expect(r.status).to.equal(0);
      expect(r.stdout).to.equal(hostile.map((h) => `[${h}]`).join(''));
      expect(existsSync(join(dir, 'pwned'))).to.equal(false);
      const q = await ssh.run(queueStatusCommand({ user: target.user }));
      expect(q.status, q.stderr).to.equal(0);
      expect(() => parseQueueStatus(q.stdout)).to.not.throw();
      const fail = await ssh.run(['sh', '-c', 'echo oops >&2; exit 3']);
      expect(fail).to.deep.include({ status: 3, stderr: 'oops\n' });
      expect(ssh.roundTrips).to.equal(3);
    } finally {
      ssh.dispose();
    }
  });

  it('refuses an unknown host key, and a changed one, with what to do; trusts on first use only when asked', async () => {
    const empty = join(tmpDir(), 'known_hosts');
    writeFileSync(empty, '');
    await expectSsh(SshRunner.connect({ ...target, knownHosts: empty }), /the host key of \[127\.0\.0\.1\]:\d+ is not in .*known_hosts; refusing to connect/);
    const changed = join(tmpDir(), 'known_hosts');
    const otherKey = readFileSync(target.identity + '.pub', 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    writeFileSync(changed, `[127.0.0.1]:${target.port} ${otherKey}\n`);
    await expectSsh(SshRunner.connect({ ...target, knownHosts: changed, acceptNewHostKey: true }), /has CHANGED since it was recorded/);
    const fresh = join(tmpDir(), 'sub', 'known_hosts');
    const ssh = await SshRunner.connect({ ...target, knownHosts: fresh, acceptNewHostKey: true });
    ssh.dispose();
    const hostKey = Buffer.from(readFileSync(target.knownHosts, 'utf8').trim().split(/\s+/)[2], 'base64');
    expect(verifyHostKey(readFileSync(fresh, 'utf8'), '127.0.0.1', target.port, hostKey)).to.equal('known');
    (await SshRunner.connect({ ...target, knownHosts: fresh })).dispose(); // recorded: known now
  });

  it('authenticates through the SSH agent when no key file is given', async () => {
    const agent = spawnSync('ssh-agent', ['-s'], { encoding: 'utf8' }).stdout;
    const sock = /SSH_AUTH_SOCK=([^;]+);/.exec(agent)![1];
    const pid = /SSH_AGENT_PID=(\d+);/.exec(agent)![1];
    const saved = process.env.SSH_AUTH_SOCK;
    try {
      expect(spawnSync('ssh-add', [target.identity!], { env: { ...process.env, SSH_AUTH_SOCK: sock } }).status).to.equal(0);
      process.env.SSH_AUTH_SOCK = sock;
      const ssh = await SshRunner.connect({ ...target, identity: undefined });
      expect((await ssh.run(['echo', 'via agent'])).stdout).to.equal('via agent\n');
      ssh.dispose();
    } finally {
      if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = saved;
      process.kill(Number(pid));
    }
  });

  it('a wrong key and a closed port: clear errors', async () => {
    const wrongKey = join(tmpDir(), 'id');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrongKey]);
    await expectSsh(SshRunner.connect({ ...target, identity: wrongKey }), /refused the key/);
    await expectSsh(SshRunner.connect({ ...target, port: 1 }), /cannot connect to \[127\.0\.0\.1\]:1/);
  });
});

async function expectSsh(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    const r = await p;
    (r as SshRunner).dispose?.();
  } catch (err) {
    expect(err).to.be.instanceOf(SshError);
    expect((err as Error).message).to.match(re);
    return;
  }
  expect.fail(`expected an SshError matching ${re}`);
}
