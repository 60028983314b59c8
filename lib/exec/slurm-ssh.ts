/**
 * The `slurm` executor with a `host`: SLURM commands over one SSH connection per pass, and the
 * run root on the cluster reached in a constant number of round trips whatever the number of
 * tasks: one tar upload for staging, one shell loop for all sentinels, one tar download for the
 * finished outputs (base64 on the wire, as node-ssh's streams are text).
 */
import type { Sentinels, SentinelQuery, PlannedFile, PlannedCopy, StageClaim, StageResult } from './executor.js';
import { CAMPAIGN_MARKER, otherCampaign } from './stage-local.js';
import { SlurmLocalExecutor } from './slurm-local.js';
import type { Runner } from '../shell/runner.js';
import { SlurmError, SshError } from '../errors/errors.js';
import { writeTar, readTar } from '../formats/tar.js';
import { parseSentinel, SENTINEL } from './manifest.js';

/** One line per folder in: "<dir>\\t<progress file>"; one line out: dir, started, exitcode, the progress file's mtime. */
const SENTINEL_SCAN = `cd "$1" || exit 1; while IFS="$(printf '\\t')" read -r d p; do printf "%s\\t%s\\t%s\\t%s\\n" "$d" "$(cat "$d/${SENTINEL.started}" 2>/dev/null)" "$(cat "$d/${SENTINEL.exitcode}" 2>/dev/null)" "$(stat -c %Y "$d/$p" 2>/dev/null)"; done`;
/**
 * Arguments: the run root, the campaign's id and marker line (both empty: no claim), the fresh
 * attempt folders, "--", then copies as from/to pairs. Checks the marker (exit 3 with it on
 * stderr when it is another campaign's), writes it when there is none, moves each fresh folder
 * where a job ran aside (printing where), unpacks the files, then copies (a missing source is
 * skipped).
 */
const UPLOAD = [
  'root=$1; id=$2; mark=$3; shift 3; mkdir -p "$root" && cd "$root" || exit 1',
  `if [ -n "$id" ]; then if [ -f ${CAMPAIGN_MARKER} ]; then read -r other rest < ${CAMPAIGN_MARKER}; if [ "$other" != "$id" ]; then cat ${CAMPAIGN_MARKER} >&2; exit 3; fi; ` +
    `else printf '%s\\n' "$mark" > ${CAMPAIGN_MARKER}.tmp && mv ${CAMPAIGN_MARKER}.tmp ${CAMPAIGN_MARKER} || exit 1; fi; fi`,
  `while [ $# -gt 0 ] && [ "$1" != "--" ]; do if [ -e "$1/${SENTINEL.started}" ] || [ -e "$1/${SENTINEL.exitcode}" ]; then` +
    ' n=1; while [ -e "$1.stale-$n" ]; do n=$((n+1)); done; mv "$1" "$1.stale-$n" && printf \'%s\\t%s\\n\' "$1" "$1.stale-$n" || exit 1; fi; shift; done; shift',
  'base64 -d | tar -xf - -C . || exit 1',
  'while [ $# -ge 2 ]; do if [ -d "$1" ]; then mkdir -p "$2" && cp -R "$1/." "$2/" || exit 1; fi; shift 2; done',
].join('\n');
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

  override async stage(files: readonly PlannedFile[], copies: readonly PlannedCopy[] = [], claim?: StageClaim): Promise<StageResult> {
    const tar = writeTar(files.map((f) => ({ path: f.path, content: typeof f.content === 'string' ? Buffer.from(f.content, 'utf8') : f.content })));
    const mark = claim === undefined ? ['', ''] : [claim.campaign.id, `${claim.campaign.id} ${claim.campaign.about}`];
    const r = await this.ssh.run(['sh', '-c', UPLOAD, 'sh', this.root, ...mark, ...(claim?.fresh ?? []), '--', ...copies.flatMap((c) => [c.from, c.to])], { input: Buffer.from(tar).toString('base64') });
    if (r.status === 3) throw otherCampaign(`${this.root} on the cluster`, r.stderr);
    if (r.status !== 0) throw new SlurmError(`cannot stage ${files.length} file(s) under ${this.root} on the cluster: ${r.stderr.trim()}`, { hint: 'check executor.remote_root and the disk space there' });
    return { movedAside: r.stdout.split('\n').filter((l) => l.includes('\t')).map((l) => l.replace('\t', ' → ')) };
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
      const st = parseSentinel(started);
      const ex = parseSentinel(exitcode);
      if (st !== undefined) s.started = st.value;
      if (st?.token !== undefined) s.startedBy = st.token;
      if (ex !== undefined) s.exitcode = ex.value;
      if (ex?.token !== undefined) s.exitBy = ex.token;
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
