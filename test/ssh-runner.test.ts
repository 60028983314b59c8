import { expect } from 'chai';
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { SshRunner, type SshTarget } from '../lib/ssh/ssh-runner.js';
import { SlurmSshExecutor } from '../lib/exec/slurm-ssh.js';
import { stageLocally } from '../lib/exec/stage-local.js';
import { LocalRunner } from '../lib/shell/runner.js';
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

describe('SSH executor: staging inputs and downloading finished outputs', function () {
  this.timeout(60000);
  const resources = { partition: null, account: null, nodes: 1, ntasks: 1, cpus_per_task: 1, mem: null, time: '01:00:00', extra: [], modules: [] };
  function remoteRoot(): string {
    const root = tmpDir();
    mkdirSync(join(root, 't0000', 'a1'), { recursive: true });
    writeFileSync(join(root, 't0000', 'a1', 'pw.out'), 'Program PWSCF\n');
    return root;
  }

  it('one tar download over the real sshd; a missing file is skipped, not an error', async () => {
    const env = clusterEnv();
    const ssh = await SshRunner.connect({ host: '127.0.0.1', port: Number(env.AUTOPIPE_SSH_PORT), user: env.AUTOPIPE_SSH_USER, identity: env.AUTOPIPE_SSH_KEY, knownHosts: env.AUTOPIPE_SSH_KNOWN_HOSTS, acceptNewHostKey: false });
    try {
      const root = remoteRoot();
      const got = await new SlurmSshExecutor(ssh, root).fetch(['t0000/a1'], ['pw.out', 'structure.extxyz']);
      expect(Object.fromEntries([...got.get('t0000/a1')!].map(([k, v]) => [k, v.toString('utf8')]))).to.deep.equal({ 'pw.out': 'Program PWSCF\n' });
      expect(ssh.roundTrips).to.equal(1);
    } finally {
      ssh.dispose();
    }
  });

  it('staging: text and bytes (every byte value, as in an active set) arrive exactly, over SSH and here', async () => {
    const env = clusterEnv();
    const bytes = Uint8Array.from({ length: 4096 }, (_, k) => (k * 7 + 3) % 256);
    const files = [{ path: 'inputs/potential.asi', content: bytes }, { path: 'inputs/café.txt', content: 'π ≈ 3.14159\n' }];
    const ssh = await SshRunner.connect({ host: '127.0.0.1', port: Number(env.AUTOPIPE_SSH_PORT), user: env.AUTOPIPE_SSH_USER, identity: env.AUTOPIPE_SSH_KEY, knownHosts: env.AUTOPIPE_SSH_KNOWN_HOSTS, acceptNewHostKey: false });
    const remote = tmpDir();
    try {
      await new SlurmSshExecutor(ssh, remote).stage(files);
    } finally {
      ssh.dispose();
    }
    const local = tmpDir();
    stageLocally(local, files, []);
    for (const root of [remote, local]) {
      expect(readFileSync(join(root, 'inputs', 'potential.asi')).equals(Buffer.from(bytes)), root).to.equal(true);
      expect(readFileSync(join(root, 'inputs', 'café.txt'), 'utf8')).to.equal('π ≈ 3.14159\n');
    }
  });

  it('a failed or damaged transfer is an SshError (exit 69), never "no pw.x output"', async () => {
    const root = remoteRoot();
    // tar failing for real as root is out of reach: a tar on PATH that fails the way a read error does
    const bin = tmpDir();
    writeFileSync(join(bin, 'tar'), '#!/bin/sh\necho "tar: t0000/a1/pw.out: Read error at byte 0: Input/output error" >&2\nexit 2\n', { mode: 0o755 });
    const failing = new LocalRunner({ ...process.env, PATH: `${bin}:${process.env.PATH}` });
    const err = await new SlurmSshExecutor(failing, root).fetch(['t0000/a1'], ['pw.out']).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(SshError);
    expect((err as SshError).exitCode).to.equal(69);
    expect((err as Error).message).to.match(/cannot download the outputs of 1 task folder\(s\) from .*: tar: t0000\/a1\/pw\.out: Read error/);
    expect((err as SshError).hint).to.match(/the next poll downloads them again/);
    // the real script with real tar, but the answer cut short on its way
    const real = new LocalRunner();
    const cut = { run: async (argv: readonly string[], o?: { input?: string }) => { const r = await real.run(argv, o); return { ...r, stdout: r.stdout.slice(0, 600) }; } }; // the first 450 bytes
    const damaged = await new SlurmSshExecutor(cut, root).fetch(['t0000/a1'], ['pw.out']).then(() => undefined, (e: unknown) => e);
    expect(damaged).to.be.instanceOf(SshError);
    expect((damaged as Error).message).to.match(/the archive came back damaged \(.*cut short\)/);
    // and the same script with real tar works through the same runner
    const fine = await new SlurmSshExecutor(real, root).fetch(['t0000/a1'], ['pw.out']);
    expect(fine.get('t0000/a1')!.get('pw.out')?.toString('utf8')).to.equal('Program PWSCF\n');
  });
});

