/**
 * The `slurm` executor with a `host`: SLURM commands over one SSH connection per pass, and the
 * run root on the cluster reached in a constant number of round trips whatever the number of
 * tasks: one tar upload for staging, one shell loop for all sentinels, one tar download for the
 * finished outputs (base64 on the wire, as node-ssh's streams are text).
 */
import type { Sentinels, SentinelQuery, PlannedFile, PlannedCopy } from './executor.js';
import { SlurmLocalExecutor } from './slurm-local.js';
import type { Runner } from '../shell/runner.js';
import { SlurmError, SshError } from '../errors/errors.js';
import { writeTar, readTar } from '../formats/tar.js';

/** One line per folder in: "<dir>\\t<progress file>"; one line out: dir, started, exitcode, the progress file's mtime. */
const SENTINEL_SCAN = 'cd "$1" || exit 1; while IFS="$(printf \'\\t\')" read -r d p; do printf "%s\\t%s\\t%s\\t%s\\n" "$d" "$(cat "$d/started" 2>/dev/null)" "$(cat "$d/exitcode" 2>/dev/null)" "$(stat -c %Y "$d/$p" 2>/dev/null)"; done';
/** Unpack the files, then copy folders given as from/to argument pairs (a missing source is skipped). */
const UPLOAD = 'mkdir -p "$1" && base64 -d | tar -xf - -C "$1" && cd "$1" && shift && while [ $# -ge 2 ]; do if [ -d "$1" ]; then mkdir -p "$2" && cp -R "$1/." "$2/" || exit 1; fi; shift 2; done';
/**
 * Pack the listed files (a missing one is skipped: a task may not have written it) and send
 * them base64-encoded; the exit status is tar's, not the pipe's last command's (sh has no
 * pipefail: tar's status comes out on descriptor 4), so a failed download is seen as one.
 */
const DOWNLOAD = 'cd "$1" || exit 1; exec 3>&1; s=$( { { tar -cf - --ignore-failed-read -T -; echo "$?" >&4; } | base64 -w0 >&3; } 4>&1 ); exit "$s"';

export class SlurmSshExecutor extends SlurmLocalExecutor {
  /** `ssh` runs commands on the cluster (an SshRunner; any Runner with the same shell). */
  constructor(private readonly ssh: Runner, private readonly root: string) {
    super(ssh, root);
  }

  override async stage(files: readonly PlannedFile[], copies: readonly PlannedCopy[] = []): Promise<void> {
    const tar = writeTar(files.map((f) => ({ path: f.path, content: typeof f.content === 'string' ? Buffer.from(f.content, 'utf8') : f.content })));
    const r = await this.ssh.run(['sh', '-c', UPLOAD, 'sh', this.root, ...copies.flatMap((c) => [c.from, c.to])], { input: Buffer.from(tar).toString('base64') });
    if (r.status !== 0) throw new SlurmError(`cannot stage ${files.length} file(s) under ${this.root} on the cluster: ${r.stderr.trim()}`, { hint: 'check executor.remote_root and the disk space there' });
  }

  override async sentinels(dirs: readonly SentinelQuery[]): Promise<Map<string, Sentinels>> {
    if (dirs.length === 0) return new Map();
    const r = await this.ssh.run(['sh', '-c', SENTINEL_SCAN, 'sh', this.root], { input: dirs.map((d) => `${d.dir}\t${d.progress}`).join('\n') + '\n' });
    if (r.status !== 0) throw new SlurmError(`cannot read the task sentinels under ${this.root}: ${r.stderr.trim()}`);
    const out = new Map<string, Sentinels>();
    for (const line of r.stdout.split('\n')) {
      const [d, started, exitcode, output] = line.split('\t');
      if (d === undefined || d === '') continue;
      const s: Sentinels = {};
      if (started !== undefined && started.trim() !== '' && Number.isFinite(Number(started))) s.started = Number(started);
      if (exitcode !== undefined && exitcode.trim() !== '' && Number.isFinite(Number(exitcode))) s.exitcode = Number(exitcode);
      if (output !== undefined && output.trim() !== '' && Number.isFinite(Number(output))) s.output = Number(output);
      out.set(d, s);
    }
    return out;
  }

  override async fetch(dirs: readonly string[], names: readonly string[]): Promise<Map<string, Map<string, Buffer>>> {
    const out = new Map<string, Map<string, Buffer>>(dirs.map((d) => [d, new Map()]));
    if (dirs.length === 0) return out;
    const list = dirs.flatMap((d) => names.map((n) => `${d}/${n}`));
    const r = await this.ssh.run(['sh', '-c', DOWNLOAD, 'sh', this.root], { input: list.join('\n') + '\n' });
    // a failed transfer must not look like "no pw.x output" (that would be a failed task, retried)
    const failed = (why: string, cause?: unknown) => new SshError(`cannot download the outputs of ${dirs.length} task folder(s) from ${this.root} on the cluster: ${why}`, {
      hint: 'nothing was merged or marked failed: the next poll downloads them again', cause,
    });
    if (r.status !== 0) throw failed(r.stderr.trim().split('\n').slice(-3).join('; ') || `exit ${r.status}`);
    let entries: ReturnType<typeof readTar>;
    try {
      entries = readTar(Buffer.from(r.stdout.trim(), 'base64'));
    } catch (err) {
      throw failed(`the archive came back damaged (${(err as Error).message})`, err);
    }
    for (const e of entries) {
      const cut = e.path.lastIndexOf('/');
      out.get(e.path.slice(0, cut))?.set(e.path.slice(cut + 1), Buffer.from(e.content));
    }
    return out;
  }
}
