/**
 * A Runner over one SSH connection (node-ssh), for the `slurm` executor with a `host`. The host
 * key is checked against known_hosts before anything is sent: unknown keys are refused unless
 * the user accepts new ones (then recorded, hashed), changed or revoked keys always. Commands
 * travel as one string built by the quoting helper. Round trips are counted.
 */
import { logger } from '../log/logger.js';
import type { NodeSSH } from 'node-ssh';
import { existsSync, readFileSync, appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Runner, RunResult } from '../shell/runner.js';
import { shellJoin, shellQuote } from '../shell/quote.js';
import { verifyHostKey, knownHostsLine, keyTypeOf, hostName, type HostKeyVerdict } from './known-hosts.js';
import { SshError } from '../errors/errors.js';

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** Private key file; undefined: the SSH agent. */
  identity?: string;
  knownHosts: string;
  acceptNewHostKey: boolean;
  /** Seconds to wait for the connection. */
  timeout?: number;
}

export class SshRunner implements Runner {
  roundTrips = 0;
  private constructor(private readonly ssh: NodeSSH, private readonly target: SshTarget) {}

  static async connect(t: SshTarget): Promise<SshRunner> {
    const { NodeSSH: Ssh } = await import('node-ssh'); // loaded only by commands that reach a cluster
    const ssh = new Ssh();
    let verdict: HostKeyVerdict | undefined;
    const where = hostName(t.host, t.port);
    try {
      await ssh.connect({
        host: t.host, port: t.port, username: t.user,
        ...(t.identity === undefined ? { agent: process.env.SSH_AUTH_SOCK } : { privateKeyPath: t.identity }),
        readyTimeout: 1000 * (t.timeout ?? 20),
        hostVerifier: (key: Buffer) => {
          const text = existsSync(t.knownHosts) ? readFileSync(t.knownHosts, 'utf8') : '';
          verdict = verifyHostKey(text, t.host, t.port, key);
          if (verdict === 'unknown' && t.acceptNewHostKey) {
            mkdirSync(dirname(t.knownHosts), { recursive: true });
            appendFileSync(t.knownHosts, `${knownHostsLine(t.host, t.port, keyTypeOf(key), key, randomBytes(20))}\n`, { mode: 0o600 });
            return true;
          }
          return verdict === 'known';
        },
      });
    } catch (err) {
      ssh.dispose();
      const msg = (err as Error).message;
      if (verdict === 'unknown') {
        throw new SshError(`the host key of ${where} is not in ${t.knownHosts}; refusing to connect`, {
          hint: `check the key with your admins, then add it (ssh-keyscan -p ${t.port} ${t.host} >> ${t.knownHosts}) or set executor.accept_new_host_key: true`, cause: err,
        });
      }
      if (verdict === 'changed' || verdict === 'revoked') {
        throw new SshError(`the host key of ${where} ${verdict === 'changed' ? 'has CHANGED since it was recorded in' : 'is revoked in'} ${t.knownHosts}; refusing to connect (this may be an attack)`, {
          hint: 'ask your admins whether the key changed; if it did, remove the old line (ssh-keygen -R) and add the new one', cause: err,
        });
      }
      if (/authentication methods failed/i.test(msg)) {
        throw new SshError(`${t.user}@${where} refused the key ${t.identity ?? '(agent)'}`, { hint: 'check executor.user and executor.identity', cause: err });
      }
      throw new SshError(`cannot connect to ${where}: ${msg}`, { hint: 'check executor.host and executor.port, and that the cluster is reachable', cause: err });
    }
    return new SshRunner(ssh, t);
  }

  async run(argv: readonly string[], opts: { cwd?: string; input?: string } = {}): Promise<RunResult> {
    const command = (opts.cwd === undefined ? '' : `cd ${shellQuote(opts.cwd)} && `) + shellJoin(argv);
    this.roundTrips++;
    logger.debug(`ssh round trip ${this.roundTrips}: ${argv.slice(0, 3).join(' ').replace(/\s+/g, ' ').slice(0, 100)}`);
    try {
      const r = await this.ssh.execCommand(command, { stdin: opts.input, noTrim: true });
      if (r.code === null && r.signal === null) throw new Error(`no exit status for ${argv[0]}: the connection closed`);
      return { status: r.code ?? 128, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      throw new SshError(`the SSH connection to ${hostName(this.target.host, this.target.port)} was lost during a command (${(err as Error).message})`, {
        hint: 'nothing is lost: the next poll carries on', cause: err,
      });
    }
  }

  dispose(): void {
    this.ssh.dispose();
  }
}
