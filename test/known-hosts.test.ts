import { expect } from 'chai';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { verifyHostKey, knownHostsLine, keyTypeOf, hostName } from '../lib/ssh/known-hosts.js';
import { clusterEnv } from './support/cluster.js';
import { tmpDir } from './support/tools.js';

describe('known_hosts', () => {
  // the test sshd's real host key and known_hosts, and ssh-keygen's own hashing as the judge
  let env: Record<string, string>, port: number, pub: string[], key: Buffer, other: Buffer;
  before(() => {
    env = clusterEnv();
    port = Number(env.AUTOPIPE_SSH_PORT);
    pub = readFileSync(join(env.AUTOPIPE_CLUSTER_DIR, 'ssh', 'host_ed25519.pub'), 'utf8').trim().split(/\s+/);
    key = Buffer.from(pub[1], 'base64');
    other = Buffer.from(readFileSync(join(env.AUTOPIPE_CLUSTER_DIR, 'ssh', 'id_ed25519.pub'), 'utf8').trim().split(/\s+/)[1], 'base64');
  });

  it('plain [host]:port entries: known, changed, unknown', () => {
    const text = readFileSync(env.AUTOPIPE_SSH_KNOWN_HOSTS, 'utf8');
    expect(verifyHostKey(text, '127.0.0.1', port, key)).to.equal('known');
    expect(verifyHostKey(text, '127.0.0.1', port, other)).to.equal('changed');
    expect(verifyHostKey(text, '127.0.0.1', 22, key)).to.equal('unknown');
    expect(verifyHostKey(text, 'localhost', port, key)).to.equal('unknown');
    expect(hostName('h', 22)).to.equal('h');
  });

  it('hashed entries as ssh-keygen -H writes them; patterns; markers', () => {
    const dir = tmpDir();
    const file = join(dir, 'known_hosts');
    copyFileSync(env.AUTOPIPE_SSH_KNOWN_HOSTS, file);
    expect(spawnSync('ssh-keygen', ['-H', '-f', file]).status).to.equal(0);
    const hashed = readFileSync(file, 'utf8');
    expect(hashed).to.match(/^\|1\|/);
    expect(verifyHostKey(hashed, '127.0.0.1', port, key)).to.equal('known');
    expect(verifyHostKey(hashed, '127.0.0.2', port, key)).to.equal('unknown');
    const line = knownHostsLine('127.0.0.1', port, keyTypeOf(key), key, randomBytes(20));
    writeFileSync(file, `${line}\n`);
    expect(spawnSync('ssh-keygen', ['-F', `[127.0.0.1]:${port}`, '-f', file]).status, 'ssh-keygen finds our hashed line').to.equal(0);
    expect(keyTypeOf(key)).to.equal('ssh-ed25519');
    const t = `*.cluster.org,!bad.cluster.org ssh-ed25519 ${pub[1]}\n@revoked 10.0.0.* ssh-ed25519 ${pub[1]}\n@cert-authority * ssh-ed25519 ${pub[1]}\n`;
    expect(verifyHostKey(t, 'login.cluster.org', 22, key)).to.equal('known');
    expect(verifyHostKey(t, 'bad.cluster.org', 22, key)).to.equal('unknown');
    expect(verifyHostKey(t, '10.0.0.5', 22, key)).to.equal('revoked');
  });
});
