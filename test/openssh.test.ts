/**
 * `executor.ssh: openssh` on real components: the system's ssh client through a second sshd
 * used as jump host (ProxyJump) to the test cluster's sshd, a labelling campaign polled through
 * it, a server that needs two keys reached through a ControlMaster opened by hand, and the
 * host-key rules. Every sshd and master started here is stopped in after() hooks.
 */
import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { OpenSshRunner, sshOptions, controlPathOf, type OpenSshTarget } from '../lib/ssh/openssh-runner.js';
import { openSshTarget } from '../lib/exec/factory.js';
import { SlurmSshExecutor } from '../lib/exec/slurm-ssh.js';
import { parseConfigText } from '../lib/config/load.js';
import { ConfigError, SshError } from '../lib/errors/errors.js';
import { clusterEnv } from './support/cluster.js';
import { project } from './support/labelling.js';
import { startSshd, newKey, type Sshd } from './support/jump-host.js';
import { ROOT, tmpDir, need } from './support/tools.js';

function autopipe(args: string[], dir: string, env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'autopipe.js'), ...args, '-C', dir], { encoding: 'utf8', env });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function expectSsh(p: Promise<unknown>, re: RegExp): Promise<SshError> {
  const err = await p.then((r) => { (r as OpenSshRunner | undefined)?.dispose?.(); return undefined; }, (e: unknown) => e);
  expect(err, `expected an SshError matching ${re}`).to.be.instanceOf(SshError);
  expect((err as Error).message).to.match(re);
  return err as SshError;
}

/** Wait (up to 5 s) for a count in a log: sshd writes a connection's lines as it ends. */
async function settled(count: () => number, expected: number, what = 'connections through the jump'): Promise<void> {
  for (let k = 0; k < 50 && count() !== expected; k++) await new Promise((res) => setTimeout(res, 100));
  expect(count(), what).to.equal(expected);
}

/** Direct-tcpip channels a jump sshd forwarded to the cluster's sshd (its DEBUG1 log). */
function jumpsTo(jump: Sshd, port: string): number {
  return jump.log().split(/\r?\n/).filter((l) => l.includes(`server_request_direct_tcpip: originator`) && l.endsWith(`target 127.0.0.1 port ${port}`)).length;
}

describe('executor.ssh: openssh (pure parts)', () => {
  it('options: BatchMode and the host-key rule always; port, user, key, known_hosts only when set', () => {
    expect(sshOptions({ host: 'cluster', acceptNewHostKey: false })).to.deep.equal(['-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', 'ConnectTimeout=20']);
    expect(sshOptions({ host: 'h', port: 2222, user: 'u', identity: '/k', knownHosts: '/kh', config: '/c', acceptNewHostKey: true }))
      .to.deep.equal(['-F', '/c', '-p', '2222', '-l', 'u', '-i', '/k', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=accept-new', '-o', 'UserKnownHostsFile=/kh', '-o', 'ConnectTimeout=20']);
    expect(controlPathOf('user root\ncontrolmaster false\ncontrolpath /root/.ssh/cm-0744\ncontrolpersist no\n')).to.equal('/root/.ssh/cm-0744');
    expect(controlPathOf('user root\ncontrolmaster false\ncontrolpersist no\n')).to.equal(undefined);
  });

  it('config: the ssh config decides what autopipe.yaml leaves out; ssh_config without openssh is refused', () => {
    const base = 'dft:\n  pseudopotentials: {Al: Al.pz-vbc.UPF}\nexecutor:\n  kind: slurm\n  remote_root: /r\n';
    const { config } = parseConfigText(`${base}  host: cluster\n  ssh: openssh\n`, 'autopipe.yaml');
    expect(openSshTarget(config.executor)).to.deep.equal({ host: 'cluster', acceptNewHostKey: false });
    const full = parseConfigText(`${base}  host: h\n  ssh: openssh\n  port: 2200\n  user: me\n  known_hosts: /kh\n  ssh_config: /c\n  accept_new_host_key: true\n`, 'autopipe.yaml').config;
    expect(openSshTarget(full.executor)).to.deep.equal({ host: 'h', port: 2200, user: 'me', knownHosts: '/kh', config: '/c', acceptNewHostKey: true });
    expect(parseConfigText(`${base}  host: h\n`, 'autopipe.yaml').config.executor.ssh).to.equal('node-ssh');
    const problems = (text: string) => { try { parseConfigText(text, 'autopipe.yaml'); } catch (e) { expect(e).to.be.instanceOf(ConfigError); return [...(e as ConfigError).problems].join('\n'); } return ''; };
    expect(problems(`${base}  host: h\n  ssh_config: /c\n`)).to.match(/executor\.ssh_config \(line 7\): is only read by the OpenSSH client: set executor\.ssh: openssh/);
    expect(problems(`${base}  ssh: openssh\n`)).to.match(/executor\.ssh \(line 6\): openssh is only used with a host/);
    expect(problems(`${base}  host: h\n  ssh: putty\n`)).to.match(/executor\.ssh/);
  });
});

describe('executor.ssh: openssh through a jump host (real sshds)', function () {
  this.timeout(600000);
  let c: Record<string, string>;
  let jump: Sshd;
  let dir: string;
  let config: string;
  before(async () => {
    c = clusterEnv(); // a missing test cluster fails here, never skips
    need('ssh');
    dir = tmpDir('autopipe-openssh-');
    jump = await startSshd({ authorizedKeys: [c.AUTOPIPE_SSH_KEY] });
    writeFileSync(join(dir, 'known_hosts'), `${jump.knownHostsLine}\n${readFileSync(c.AUTOPIPE_SSH_KNOWN_HOSTS, 'utf8').trim()}\n`);
    // what a user writes in ~/.ssh/config; the jump's own ssh reads only this file, not autopipe's -o options
    config = join(dir, 'ssh_config');
    writeFileSync(config, [
      'Host jump', '  HostName 127.0.0.1', `  Port ${jump.port}`,
      'Host cluster', '  HostName 127.0.0.1', `  Port ${c.AUTOPIPE_SSH_PORT}`, '  ProxyJump jump',
      'Host *', `  User ${c.AUTOPIPE_SSH_USER}`, `  IdentityFile ${c.AUTOPIPE_SSH_KEY}`, '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${join(dir, 'known_hosts')}`, '  StrictHostKeyChecking yes', '  BatchMode yes', '',
    ].join('\n'));
  });
  after(() => {
    // a master a failed pass left behind (its command line names this test's ssh config), then the jump
    const left = spawnSync('pgrep', ['-f', `^ssh .*-F ${config} `], { encoding: 'utf8' }).stdout.split('\n').filter((l) => /^\d+$/.test(l));
    for (const pid of left) process.kill(Number(pid));
    jump?.stop();
  });

  it('runs argv through the jump: hostile strings intact, stdin carried, one authenticated connection, master closed at dispose', async () => {
    const before = jumpsTo(jump, c.AUTOPIPE_SSH_PORT);
    const earlier = readdirMasters();
    const ssh = await OpenSshRunner.connect({ host: 'cluster', config, acceptNewHostKey: false });
    const masters = readdirMasters().filter((m) => !earlier.includes(m));
    expect(masters, "autopipe's own master folder").to.have.length(1);
    try {
      const hostile = ["a'; touch pwned; '", '$(touch pwned)', 'new\nline', '`id`', '-n'];
      const cwd = tmpDir();
      const r = await ssh.run(['printf', '[%s]', ...hostile], { cwd });
      expect(r).to.deep.equal({ status: 0, stdout: hostile.map((h) => `[${h}]`).join(''), stderr: '' });
      expect(existsSync(join(cwd, 'pwned'))).to.equal(false);
      const bytes = Buffer.from(Array.from({ length: 3000 }, (_, k) => (k * 7) % 256)).toString('base64');
      expect((await ssh.run(['sh', '-c', 'base64 -d | md5sum'], { input: bytes })).stdout)
        .to.equal(spawnSync('sh', ['-c', 'base64 -d | md5sum'], { input: bytes, encoding: 'utf8' }).stdout);
      const env = await ssh.run(['sh', '-c', 'echo "$SLURM_CONF"; echo oops >&2; exit 3']);
      expect(env).to.deep.equal({ status: 3, stdout: `${c.SLURM_CONF}\n`, stderr: 'oops\n' });
      expect(ssh.roundTrips).to.equal(3);
      // three commands, one trip through the jump: they all went through autopipe's master
      await settled(() => jumpsTo(jump, c.AUTOPIPE_SSH_PORT) - before, 1);
      // a master that died during the pass is opened again by the next command
      expect(spawnSync('ssh', ['-F', config, '-S', join(masters[0], 'master'), '-O', 'exit', 'cluster'], { stdio: 'ignore' }).status).to.equal(0);
      expect(await ssh.run(['echo', 'again'])).to.deep.equal({ status: 0, stdout: 'again\n', stderr: '' });
      expect(await ssh.run(['echo', 'and again'])).to.deep.equal({ status: 0, stdout: 'and again\n', stderr: '' });
    } finally {
      ssh.dispose();
    }
    await settled(() => jumpsTo(jump, c.AUTOPIPE_SSH_PORT) - before, 2);
    expect(masters.filter((m) => existsSync(m)), 'the master folder is removed').to.deep.equal([]);
  });

  it('a labelling campaign submitted and polled through the jump host: the round trips per poll of node-ssh, one jump per pass', async () => {
    const before = jumpsTo(jump, c.AUTOPIPE_SSH_PORT);
    const viaJump = await labelCampaign('jumplabel', ['host: cluster', 'ssh: openssh', `ssh_config: ${JSON.stringify(config)}`]);
    await settled(() => jumpsTo(jump, c.AUTOPIPE_SSH_PORT) - before, 1 + viaJump.trips.length, 'one connection through the jump per pass (submit + polls)');
    // the same campaign straight to the cluster's sshd over node-ssh, as before this transport
    const direct = await labelCampaign('nodelabel', ['host: 127.0.0.1', `port: ${c.AUTOPIPE_SSH_PORT}`, `user: ${c.AUTOPIPE_SSH_USER}`,
      `identity: ${JSON.stringify(c.AUTOPIPE_SSH_KEY)}`, `known_hosts: ${JSON.stringify(c.AUTOPIPE_SSH_KNOWN_HOSTS)}`]);
    for (const [what, r] of [['openssh through the jump host', viaJump], ['node-ssh, direct', direct]] as const) {
      const hist = [...new Set(r.trips)].sort().map((t) => `${t} round trips: ${r.trips.filter((x) => x === t).length} polls`).join(', ');
      const sorted = [...r.seconds].sort((a, b) => a - b);
      console.log(`      (${what}: ${hist}; poll median ${sorted[Math.floor(sorted.length / 2)].toFixed(2)} s, slowest ${sorted[sorted.length - 1].toFixed(2)} s)`);
    }
    // squeue and the sentinel scan every poll, one download when something finished: whatever the transport or the number of tasks
    expect(new Set([...viaJump.trips, ...direct.trips])).to.satisfy((all: Set<number>) => [...all].every((t) => t === 2 || t === 3));
    expect(Math.max(...viaJump.trips)).to.equal(Math.max(...direct.trips)).and.equal(3);
  });

  it('host keys: an unknown cluster key or jump key is refused with what to do; accepted (and recorded) only when asked; a changed one never', async () => {
    const kh = join(tmpDir(), 'known_hosts');
    writeFileSync(kh, '');
    const direct: OpenSshTarget = { host: '127.0.0.1', port: Number(c.AUTOPIPE_SSH_PORT), user: c.AUTOPIPE_SSH_USER, identity: c.AUTOPIPE_SSH_KEY, knownHosts: kh, config: '/dev/null', acceptNewHostKey: false };
    const e = await expectSsh(OpenSshRunner.connect(direct), /the host key of 127\.0\.0\.1 \(port \d+\) is not in .*known_hosts; refusing to connect/);
    expect(e.hint).to.match(/ssh-keyscan .*accept_new_host_key: true/);
    const ssh = await OpenSshRunner.connect({ ...direct, acceptNewHostKey: true });
    expect((await ssh.run(['echo', 'ok'])).stdout).to.equal('ok\n');
    ssh.dispose();
    const recorded = spawnSync('ssh-keygen', ['-F', `[127.0.0.1]:${c.AUTOPIPE_SSH_PORT}`, '-f', kh], { encoding: 'utf8' });
    expect(recorded.status, 'the accepted key is in the file').to.equal(0);
    (await OpenSshRunner.connect(direct)).dispose(); // known now
    const changed = join(tmpDir(), 'known_hosts');
    writeFileSync(changed, `[127.0.0.1]:${c.AUTOPIPE_SSH_PORT} ${readFileSync(`${c.AUTOPIPE_SSH_KEY}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ')}\n`);
    await expectSsh(OpenSshRunner.connect({ ...direct, knownHosts: changed, acceptNewHostKey: true }), /has CHANGED since it was recorded/);
    // the jump's key unknown: its own ssh (ProxyJump) refuses it
    const noJump = join(tmpDir(), 'ssh_config');
    writeFileSync(noJump, readFileSync(config, 'utf8').replace(join(dir, 'known_hosts'), kh));
    writeFileSync(kh, readFileSync(c.AUTOPIPE_SSH_KNOWN_HOSTS, 'utf8'));
    await expectSsh(OpenSshRunner.connect({ host: 'cluster', config: noJump, acceptNewHostKey: false }), /the host key of cluster \(or of the jump host on the way\) is not in/);
  });

  it('a wrong key and a closed port: clear errors', async () => {
    const wrong = newKey(tmpDir(), 'id_wrong');
    const t: OpenSshTarget = { host: '127.0.0.1', port: Number(c.AUTOPIPE_SSH_PORT), user: c.AUTOPIPE_SSH_USER, identity: wrong, knownHosts: join(dir, 'known_hosts'), config: '/dev/null', acceptNewHostKey: false };
    const e = await expectSsh(OpenSshRunner.connect(t), /refused every key autopipe may use without asking: ssh runs with BatchMode=yes/);
    expect(e.hint).to.include('ssh -fNM -o ControlPersist=12h 127.0.0.1');
    await expectSsh(OpenSshRunner.connect({ ...t, port: 1 }), /cannot connect to 127\.0\.0\.1 \(port 1\): .*Connection refused/);
  });
});

describe('executor.ssh: openssh with a ControlMaster opened by hand (a server that needs two keys)', function () {
  this.timeout(120000);
  let c: Record<string, string>;
  let mfa: Sshd;
  let dir: string;
  let sock: string;
  let config: string;
  let hand: string[];
  before(async () => {
    c = clusterEnv(); // a missing test cluster fails here, never skips
    need('ssh');
    dir = tmpDir('autopipe-mfa-');
    const first = newKey(dir, 'id_first');
    const second = newKey(dir, 'id_second');
    // two distinct keys, one after the other: what a centre's second factor asks, here without a person
    mfa = await startSshd({ authorizedKeys: [first, second], authenticationMethods: 'publickey,publickey', env: { SLURM_CONF: c.SLURM_CONF } });
    writeFileSync(join(dir, 'known_hosts'), `${mfa.knownHostsLine}\n`);
    sock = join(dir, 'cm-mfa');
    // autopipe's config knows one key only: alone it cannot get in
    config = join(dir, 'ssh_config');
    writeFileSync(config, ['Host mfa', '  HostName 127.0.0.1', `  Port ${mfa.port}`, `  User ${c.AUTOPIPE_SSH_USER}`, `  IdentityFile ${first}`, '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${join(dir, 'known_hosts')}`, `  ControlPath ${sock}`, ''].join('\n'));
    // the user, once a day, by hand: both factors
    hand = ['-F', config, '-o', `IdentityFile=${second}`, '-S', sock];
  });
  after(() => {
    spawnSync('ssh', [...hand, '-O', 'exit', 'mfa'], { stdio: 'ignore' });
    mfa?.stop();
  });

  it("goes through the user's master, leaves it open, and says what to do when it is closed", async () => {
    const opened = spawnSync('ssh', [...hand, '-o', 'BatchMode=yes', '-fNM', 'mfa'], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    expect(opened.status, opened.stderr).to.equal(0);
    const logins = () => mfa.log().split('\n').filter((l) => /Accepted publickey/.test(l)).length;
    expect(logins(), 'the hand-opened master logged in once').to.equal(1);
    expect(mfa.log(), 'with two keys').to.match(/Partial publickey for /);
    const ssh = await OpenSshRunner.connect({ host: 'mfa', config, acceptNewHostKey: false });
    try {
      const root = tmpDir();
      const x = new SlurmSshExecutor(ssh, root);
      await x.stage([{ path: 't0000/a1/pw.in', content: "&control\n  prefix = 'a'\n/\n" }]);
      expect(readFileSync(join(root, 't0000', 'a1', 'pw.in'), 'utf8')).to.equal("&control\n  prefix = 'a'\n/\n");
      const q = await ssh.run(['squeue', '-h', '-o', '%i']);
      expect(q.status, q.stderr).to.equal(0);
      expect(ssh.roundTrips).to.equal(2);
    } finally {
      ssh.dispose();
    }
    expect(logins(), 'no new login: everything went through the master').to.equal(1);
    expect(spawnSync('ssh', [...hand, '-O', 'check', 'mfa'], { stdio: 'ignore' }).status, "the user's master is left open").to.equal(0);

    expect(spawnSync('ssh', [...hand, '-O', 'exit', 'mfa'], { stdio: 'ignore' }).status).to.equal(0);
    const closed = await OpenSshRunner.connect({ host: 'mfa', config, acceptNewHostKey: false });
    try {
      const e = await expectSsh(closed.run(['true']), new RegExp(`mfa refused every key autopipe may use without asking: ssh runs with BatchMode=yes .*; no master connection is open at ${sock.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      expect(e.hint).to.include('ssh -fNM -o ControlPersist=12h mfa').and.include('ControlPath ~/.ssh/cm-%C');
    } finally {
      closed.dispose();
    }
  });
});

/**
 * A labelling campaign of 12 structures (two arrays) on the test cluster with these executor
 * lines, a hostile remote root: submitted, then polled until complete; each poll's round trips
 * and seconds.
 */
async function labelCampaign(name: string, executorLines: string[]): Promise<{ trips: number[]; seconds: number[] }> {
  const work = tmpDir();
  const remote = join(tmpDir(), "remote it's $(touch pwned)");
  project(work, { kind: 'slurm', n: 12, remoteRoot: remote, name, executorLines });
  const env = { ...process.env };
  delete env.SLURM_CONF; // everything goes over SSH (the cluster's sshd has it in its SetEnv)
  const sub = autopipe(['submit'], work, env);
  expect(sub.status, sub.stderr).to.equal(0);
  expect(sub.stderr).to.match(new RegExp(`submitted ${name}-\\w+ as job \\d+ \\(10 tasks; label\\)`)).and.match(/\(2 tasks; label\)/);
  const trips: number[] = [];
  const seconds: number[] = [];
  for (let k = 0; k < 180; k++) {
    const t0 = Date.now();
    const r = autopipe(['poll', '--json'], work, env);
    seconds.push((Date.now() - t0) / 1000);
    expect(r.status, r.stderr).to.equal(0);
    const j = JSON.parse(r.stdout) as { complete: boolean; ssh_round_trips: number };
    trips.push(j.ssh_round_trips);
    if (j.complete) break;
    await new Promise((res) => setTimeout(res, 1000));
  }
  expect(JSON.parse(autopipe(['status', '--json'], work, env).stdout).counts).to.deep.include({ done: 12, failed: 0 });
  expect(existsSync(join(remote, 'iter-000', 'label')), 'the jobs ran under the remote root').to.equal(true);
  expect(spawnSync('find', [join(remote, '..'), work, '-name', 'pwned']).stdout.toString()).to.equal('');
  return { trips, seconds };
}

/** autopipe's own master folders that exist now. */
function readdirMasters(): string[] {
  return spawnSync('sh', ['-c', 'ls -d "${TMPDIR:-/tmp}"/autopipe-ssh-* 2>/dev/null'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '');
}
