/**
 * A FAKE executor, for the pure-logic tests of recovery only: faults nobody can cause cheaply
 * for real (OUT_OF_MEMORY without cgroups, a whole ladder of SLURM states) are injected here.
 * Files live in a map; "running" a task is instant: `outcome` decides, from the attempt's staged
 * pw.in, what it leaves behind: a real pw.x output with an exit code, or a SLURM end state with
 * no exitcode. The live tests (recovery-live.test.ts) do the same on the real cluster.
 */
import { posix } from 'node:path';
import type { Executor, Sentinels, SentinelQuery, PlannedFile, PlannedCopy, StageResult, SubmitRequest, SubmitResult } from '../../lib/exec/executor.js';
import type { JobRef } from '../../lib/slurm/job-ref.js';
import type { QueueEntry } from '../../lib/slurm/commands.js';
import { slurmState } from '../../lib/slurm/states.js';
import { manifestLine, parseSentinel } from '../../lib/exec/manifest.js';

const NOW = 1795000000;

/** What a task leaves: its output and exit code; a SLURM end state; or nothing SLURM remembers. */
export type Outcome = { exitcode: number; pwOut: string } | { slurm: string } | { vanished: { started: number; output: number } };

export interface FakeSubmission { jobId: string; jobName: string; script: string; array: string; dirs: string[] }

export class FakeExecutor implements Executor {
  readonly kind = 'slurm' as const;
  readonly files = new Map<string, string>();
  /** Staged files given as bytes. */
  readonly bytes = new Map<string, Uint8Array>();
  readonly copies: PlannedCopy[] = [];
  readonly submitted: FakeSubmission[] = [];
  private readonly ended: QueueEntry[] = [];
  private readonly outputAt = new Map<string, number>();
  private nextId = 1000;

  constructor(private readonly outcome: (dir: string, pwIn: string) => Outcome) {}

  async stage(files: readonly PlannedFile[], copies: readonly PlannedCopy[] = []): Promise<StageResult> {
    for (const f of files) {
      if (typeof f.content === 'string') this.files.set(f.path, f.content);
      else this.bytes.set(f.path, f.content);
    }
    this.copies.push(...copies);
    return { movedAside: [] };
  }

  async findSubmitted(jobNames: readonly string[]): Promise<Map<string, JobRef>> {
    return new Map(this.submitted.filter((s) => jobNames.includes(s.jobName)).map((s) => [s.jobName, { kind: 'slurm', id: s.jobId } as const]));
  }

  async submit(requests: readonly SubmitRequest[]): Promise<SubmitResult> {
    return { jobs: requests.map((r) => this.submitOne(r)) };
  }

  private submitOne(r: SubmitRequest): JobRef {
    const { jobName, script, array, chdir } = r;
    const jobId = String(this.nextId++);
    const manifest = this.files.get(script.replace(/\.sbatch$/, '.manifest'));
    if (manifest === undefined) throw new Error(`fake executor: no manifest staged for ${script}`);
    // as autopipe's wrapper does: each task's sentinels carry its attempt's token from the manifest
    const lines = manifest.split('\n').filter((l) => l !== '').map((l) => manifestLine(l));
    const dirs = lines.map((l) => posix.join(chdir, l.dir));
    this.submitted.push({ jobId, jobName, script, array, dirs });
    dirs.forEach((dir, index) => {
      const o = this.outcome(dir, this.files.get(`${dir}/pw.in`) ?? '');
      const by = (v: number) => `${v} ${lines[index].token ?? ''}`.trim();
      if ('vanished' in o) {
        this.files.set(`${dir}/started`, by(o.vanished.started));
        this.outputAt.set(dir, o.vanished.output);
      } else if ('slurm' in o) {
        this.ended.push({ arrayJobId: jobId, taskIds: [index], jobId: `${jobId}_${index}`, state: slurmState(o.slurm), rawState: o.slurm, reason: 'None', name: jobName });
      } else {
        this.files.set(`${dir}/pw.out`, o.pwOut);
        this.files.set(`${dir}/started`, by(NOW));
        this.files.set(`${dir}/exitcode`, by(o.exitcode));
      }
    });
    return { kind: 'slurm', id: jobId };
  }

  async queue(jobs: readonly JobRef[]): Promise<QueueEntry[]> {
    const ids = jobs.flatMap((j) => (j.kind === 'slurm' ? [j.id] : []));
    return this.ended.filter((e) => ids.includes(e.arrayJobId));
  }

  async sentinels(queries: readonly SentinelQuery[]): Promise<Map<string, Sentinels>> {
    return new Map(queries.map(({ dir: d }) => {
      const s: Sentinels = {};
      const e = parseSentinel(this.files.get(`${d}/exitcode`));
      if (e !== undefined) Object.assign(s, { exitcode: e.value }, e.token === undefined ? {} : { exitBy: e.token });
      const started = parseSentinel(this.files.get(`${d}/started`));
      if (started !== undefined) Object.assign(s, { started: started.value }, started.token === undefined ? {} : { startedBy: started.token });
      const output = this.outputAt.get(d);
      if (output !== undefined) s.output = output;
      return [d, s];
    }));
  }

  async fetch(dirs: readonly string[], names: readonly string[]): Promise<Map<string, Map<string, Buffer>>> {
    return new Map(dirs.map((d) => [d, new Map(names.flatMap((n) => {
      const b = this.bytes.get(`${d}/${n}`);
      if (b !== undefined) return [[n, Buffer.from(b)] as [string, Buffer]];
      const v = this.files.get(`${d}/${n}`);
      return v === undefined ? [] : [[n, Buffer.from(v)] as [string, Buffer]];
    }))]));
  }
}
