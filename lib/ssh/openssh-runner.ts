/**
 * A Runner through the system's OpenSSH client (`executor.ssh: openssh`), for centres that need
 * what node-ssh cannot do: ~/.ssh/config, ProxyJump through a jump host, and a ControlMaster
 * socket the user opened once with their second factor. Each run() is one `ssh` process whose
 * remote command is one string built by the quoting helper; round trips are counted as the
 * node-ssh runner counts them. ssh runs with BatchMode (cron cannot answer a prompt) and strict
 * host-key checking (accept-new only when asked): a changed key is always refused.
 *
 * One authenticated connection per pass: the user's own master when their config names a
 * ControlPath (used, never replaced nor closed), otherwise a master of autopipe's own in a fresh
 * 0700 folder, closed by dispose().
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logger } from '../log/logger.js';
import type { Runner, RunResult } from '../shell/runner.js';
import { shellJoin, shellQuote } from '../shell/quote.js';
import { SshError } from '../errors/errors.js';

export interface OpenSshTarget {
  /** A host name or a Host alias of the ssh config. */
  host: string;
  /** Port, user and key: passed only when set (otherwise the ssh config decides). */
  port?: number;
  user?: string;
  identity?: string;
  /** A known_hosts file of the user's choice (otherwise the ssh config's). */
  knownHosts?: string;
  acceptNewHostKey: boolean;
  /** An ssh config file (`ssh -F`); otherwise ~/.ssh/config. */
  config?: string;
  /** Seconds to wait for the connection. */
  timeout?: number;
  /** Seconds autopipe's own master stays up with no client (a killed pass leaves it no longer). */
  persist?: number;
}

/** The options every ssh of a target gets: the user's choices, then autopipe's rules (BatchMode, host keys). */
export function sshOptions(t: OpenSshTarget): string[] {
  return [
    ...(t.config === undefined ? [] : ['-F', t.config]),
    ...(t.port === undefined ? [] : ['-p', String(t.port)]),
    ...(t.user === undefined ? [] : ['-l', t.user]),
    ...(t.identity === undefined ? [] : ['-i', t.identity]),
    '-o', 'BatchMode=yes',
    '-o', `StrictHostKeyChecking=${t.acceptNewHostKey ? 'accept-new' : 'yes'}`,
    ...(t.knownHosts === undefined ? [] : ['-o', `UserKnownHostsFile=${t.knownHosts}`]),
    '-o', `ConnectTimeout=${t.timeout ?? 20}`,
  ];
}

/** The ControlPath `ssh -G` reports (the user's config, %-tokens expanded), or undefined. */
export function controlPathOf(dashG: string): string | undefined {
  const m = /^controlpath (.+)$/m.exec(dashG);
  return m === null || m[1].trim() === 'none' ? undefined : m[1].trim();
}

/** What a user types to open a master once a day with their second factor. */
export function masterHint(host: string): string {
  return `if ${host} needs a second factor, open a master connection once by hand (it asks for both factors): ` +
    `ssh -fNM -o ControlPersist=12h ${shellQuote(host)}, with "ControlPath ~/.ssh/cm-%C" under "Host ${host}" in ~/.ssh/config ` +
    "(or the file of executor.ssh_config); autopipe then goes through it. See the README's 'Jump hosts and multi-factor authentication'";
}

/**
 * The SshError for an ssh client failure (exit 255 with one of ssh's own messages), or
 * undefined when the output is not ssh's (then a remote command exited 255 by itself).
 */
export function sshFailure(stderr: string, t: OpenSshTarget, controlPath: string | undefined): SshError | undefined {
  const where = t.host + (t.port === undefined ? '' : ` (port ${t.port})`);
  const said = stderr.trim().split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^@+$|^@\s/.test(l)).slice(-2).join('; ');
  const known = t.knownHosts ?? 'the known_hosts files of your ssh config';
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/.test(stderr)) {
    return new SshError(`the host key of ${where} has CHANGED since it was recorded in ${known}; refusing to connect (this may be an attack)`, {
      hint: 'ask your admins whether the key changed; if it did, remove the old line (ssh-keygen -R) and add the new one',
    });
  }
  if (/Host key verification failed/.test(stderr)) {
    const jump = /ProxyJump|ProxyCommand|UNKNOWN port 65535|stdio forwarding/.test(stderr) ? ' (or of the jump host on the way)' : '';
    return new SshError(`the host key of ${where}${jump} is not in ${known}; refusing to connect (ssh: ${said})`, {
      hint: `check the key with your admins, then add it (ssh-keyscan -p PORT HOST >> ${known}) or set executor.accept_new_host_key: true (a jump host's key: in the known_hosts its ssh config names)`,
    });
  }
  if (/Permission denied|Too many authentication failures|partial success/i.test(stderr)) {
    const master = controlPath === undefined ? '' : `; no master connection is open at ${controlPath}`;
    return new SshError(`${where} refused every key autopipe may use without asking: ssh runs with BatchMode=yes (no password, passphrase or second-factor prompt)${master} (ssh: ${said})`, {
      hint: `check executor.user and executor.identity, or the User and IdentityFile of your ssh config; ${masterHint(t.host)}`,
    });
  }
  if (/Connection refused|Connection timed out|timed out|Could not resolve|No route to host|Network is unreachable|Connection closed by|Connection reset|Broken pipe|client_loop|kex_exchange_identification|Bad configuration option|Can't open user config|not a valid|mux_client|Control socket connect/i.test(stderr)) {
    return new SshError(`cannot connect to ${where}: ${said}`, {
      hint: 'check executor.host and executor.port (or the Host entry, ProxyJump and its jump host in your ssh config), and that the cluster is reachable: try ssh ' + shellQuote(t.host) + ' true',
    });
  }
  return undefined;
}

interface Done { status: number; stdout: string; stderr: string }

const notInstalled = () => new SshError('the OpenSSH client (ssh) is not installed', { hint: 'install it (Debian: apt-get install openssh-client), or set executor.ssh: node-ssh' });

function runSsh(args: readonly string[], input?: string): Promise<Done> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject((e as NodeJS.ErrnoException).code === 'ENOENT' ? notInstalled() : e));
    child.stdin.on('error', () => {}); // ssh may exit before reading all of it; its status says why
    child.on('close', (code, signal) => resolve({ status: code ?? (signal === null ? 128 : 128 + 15), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(input ?? '');
  });
}

export class OpenSshRunner implements Runner {
  roundTrips = 0;
  private constructor(
    private readonly target: OpenSshTarget,
    /** Options of every command: the target's, then the master's. */
    private readonly options: readonly string[],
    /** The user's ControlPath (theirs to keep), if any. */
    private readonly usersPath: string | undefined,
    /** autopipe's own master's folder, removed at dispose. */
    private readonly ownDir: string | undefined,
  ) {}

  static async connect(t: OpenSshTarget): Promise<OpenSshRunner> {
    const base = sshOptions(t);
    const g = await runSsh([...base, '-G', '--', t.host]);
    if (g.status !== 0) throw sshFailure(g.stderr, t, undefined) ?? new SshError(`ssh cannot read its configuration for ${t.host}: ${g.stderr.trim()}`, { hint: 'check executor.ssh_config and executor.host' });
    const users = controlPathOf(g.stdout);
    if (users !== undefined) {
      const alive = await runSsh([...base, '-O', 'check', '--', t.host]);
      logger.debug(`ssh: the ssh config's ControlPath ${users} (${alive.status === 0 ? 'a master is open' : 'no master open yet'})`);
      return new OpenSshRunner(t, base, users, undefined);
    }
    // a master of our own for this pass: one authentication, then every command goes through it
    const dir = mkdtempSync(join(tmpdir(), 'autopipe-ssh-')); // 0700: nobody else reaches the socket
    const own = ['-o', `ControlPath=${join(dir, 'master')}`, '-o', `ControlPersist=${t.persist ?? 120}`];
    const log = join(dir, 'master.log');
    const fd = openSync(log, 'w', 0o600);
    // the master goes to the background holding its stderr: a file, not a pipe we would wait on
    const m = spawnSync('ssh', [...base, ...own, '-o', 'ControlMaster=yes', '-f', '-N', '--', t.host], { stdio: ['ignore', 'ignore', fd] });
    closeSync(fd);
    if (m.error !== undefined || m.status !== 0) {
      let stderr = readFileSync(log, 'utf8');
      // a master (ControlPersist) silences its ProxyJump's stderr: ask once more without one to hear the jump say why
      if (/UNKNOWN port 65535|kex_exchange_identification/.test(stderr)) stderr = (await runSsh([...base, '-o', 'ControlPath=none', '-T', '--', t.host, 'true'])).stderr + stderr;
      rmSync(dir, { recursive: true, force: true });
      if ((m.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw notInstalled();
      throw sshFailure(stderr, t, undefined) ?? new SshError(`cannot connect to ${t.host}: ssh exited with ${m.status ?? m.signal}: ${stderr.trim()}`, { hint: 'try ssh ' + shellQuote(t.host) + ' true by hand' });
    }
    return new OpenSshRunner(t, [...base, ...own, '-o', 'ControlMaster=auto'], undefined, dir);
  }

  async run(argv: readonly string[], opts: { cwd?: string; input?: string } = {}): Promise<RunResult> {
    const command = (opts.cwd === undefined ? '' : `cd ${shellQuote(opts.cwd)} && `) + shellJoin(argv);
    this.roundTrips++;
    logger.debug(`ssh round trip ${this.roundTrips}: ${argv.slice(0, 3).join(' ').replace(/\s+/g, ' ').slice(0, 100)}`);
    // -T: no terminal (the bytes of stdin and stdout stay as they are); "--" ends ssh's options
    const r = await runSsh([...this.options, '-T', '--', this.target.host, command], opts.input);
    if (r.status === 255) {
      const failed = sshFailure(r.stderr, this.target, this.usersPath);
      // a connection that fails now, after connect(), is a lost one: the next poll carries on
      if (failed !== undefined && failed.message.startsWith('cannot connect')) {
        throw new SshError(`the SSH connection to ${this.target.host} was lost during a command (${failed.message.replace(/^cannot connect to [^:]*: /, '')})`, { hint: 'nothing is lost: the next poll carries on' });
      }
      if (failed !== undefined) throw failed;
    }
    return r;
  }

  dispose(): void {
    if (this.ownDir === undefined) return; // the user's master is theirs: left open
    spawnSync('ssh', [...this.options, '-O', 'exit', '--', this.target.host], { stdio: 'ignore' });
    rmSync(this.ownDir, { recursive: true, force: true });
  }
}
