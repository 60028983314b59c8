/**
 * Extra OpenSSH servers for the tests of `executor.ssh: openssh`: a jump host in front of the
 * test cluster's sshd, or a server that asks for two keys (a second factor). Each has its own
 * port, host key, config and log (LogLevel DEBUG1: the log shows each forwarded direct-tcpip
 * connection, the proof that a jump went through it) under a temp folder; stop() kills it.
 */
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { need, tmpDir } from './tools.js';

export interface Sshd {
  port: number;
  dir: string;
  /** Its `known_hosts` line ([127.0.0.1]:port key). */
  knownHostsLine: string;
  log(): string;
  stop(): void;
}

/** A free TCP port on 127.0.0.1 (the kernel's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** A new ed25519 key pair in `dir`; returns the private key's path. */
export function newKey(dir: string, name: string): string {
  const path = join(dir, name);
  const r = spawnSync(need('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  return path;
}

/**
 * Start an sshd on 127.0.0.1 that lets in the given public keys. `authenticationMethods`:
 * e.g. "publickey,publickey" (two distinct keys, one after the other). `env`: SetEnv lines.
 */
export async function startSshd(opts: { authorizedKeys: string[]; authenticationMethods?: string; env?: Record<string, string> }): Promise<Sshd> {
  const sshd = need('/usr/sbin/sshd');
  const dir = tmpDir('autopipe-sshd-');
  const port = await freePort();
  const hostKey = newKey(dir, 'host_ed25519');
  writeFileSync(join(dir, 'authorized_keys'), opts.authorizedKeys.map((k) => readFileSync(`${k}.pub`, 'utf8').trim()).join('\n') + '\n');
  const env = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
  writeFileSync(join(dir, 'sshd_config'), [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${hostKey}`, `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes', 'PermitRootLogin prohibit-password', 'UsePAM no', 'StrictModes no', 'LogLevel DEBUG1',
    'AllowTcpForwarding yes', 'MaxStartups 100',
    ...(opts.authenticationMethods === undefined ? [] : [`AuthenticationMethods ${opts.authenticationMethods}`]),
    ...(env.length === 0 ? [] : [`SetEnv ${env.join(' ')}`]),
    '',
  ].join('\n'));
  const log = join(dir, 'sshd.log');
  const r = spawnSync(sshd, ['-f', join(dir, 'sshd_config'), '-E', log], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sshd did not start (exit ${r.status}): ${r.stderr}`);
  const pidFile = join(dir, 'sshd.pid');
  const pidOf = () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0);
  for (let k = 0; k < 80 && !(pidOf() > 0); k++) await new Promise((res) => setTimeout(res, 50));
  const pid = pidOf();
  // never 0 or NaN: process.kill(0) would signal the tests' own process group
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`sshd did not write its pid file; see ${log}`);
  return {
    port, dir,
    knownHostsLine: `[127.0.0.1]:${port} ${readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ')}`,
    log: () => (existsSync(log) ? readFileSync(log, 'utf8') : ''),
    stop: () => {
      try {
        process.kill(pid); // the listener; its per-connection children end with their clients
      } catch {
        // already gone
      }
    },
  };
}
