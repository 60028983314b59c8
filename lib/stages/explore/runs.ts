/**
 * An exploration's runs as status and the report show them, pure: where each started, under what
 * conditions (ensemble, temperature or ramp, pressure) and what it saw (the volume per atom over
 * its explored frames, the temperature of its last). A run records all of it when it is done
 * (runRecord); for runs recorded before autopipe kept their conditions, the task's spec (an open
 * stage) or the run's key (data.runs) says them, and a spec of before NPT was NVT at a constant
 * temperature.
 */
import type { Ensemble } from '../../config/types.js';
import { recordedSection, type AnyStage, type ExploreRun, type Typed } from '../kind.js';
import { runResultsOf, type RunRecord } from '../kept.js';
import { conditionsText, ensembleText, type ExploreData, type ExploreSpec, type RunConditions } from './plan.js';
import type { RunSummary } from './judge.js';

type Source = { file: string; frame: number };

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** What an exploration keeps of a finished run: its result, the conditions of its spec, and what it saw when its engine wrote it. */
export function runRecord(spec: ExploreSpec, s: RunSummary): RunRecord {
  const v = s.volume_per_atom;
  return {
    explored: s.frames_explored, collected: s.frames_collected, max_gamma: s.max_gamma, stopped_early: s.stopped_early, steps_run: s.steps_run,
    ...(s.blew_up === undefined ? {} : { blew_up: `step ${s.blew_up.step}: ${s.blew_up.why}` }),
    source: { file: spec.source.file, frame: spec.source.frame },
    temperature: spec.temperature, temperature_end: spec.temperature_end ?? spec.temperature, ensemble: spec.ensemble ?? 'nvt', pressure: spec.pressure ?? null,
    ...(Array.isArray(v) && v.length === 2 && v.every(finite) ? { volume_per_atom: [v[0], v[1]] as [number, number] } : {}),
    ...(finite(s.temperature_last) ? { temperature_last: s.temperature_last } : {}),
  };
}

/** A run's ensemble and target, as it was run. */
interface Run { ensemble: Ensemble; at: RunConditions }

/** A run's key, `<start>@300-900K@10000bar/0` (or `file#frame@600K/0`, the oldest): its conditions, and its start when the key names it. */
function fromKey(key: string, npt: Ensemble): { run: Run; source: Source | null } | undefined {
  const m = /@(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?K(?:@(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)bar)?\/\d+$/.exec(key);
  if (m === null) return undefined;
  const start = Number(m[1]);
  const pressure = m[3] === undefined ? null : Number(m[3]);
  const named = /^(.*)#(\d+)$/.exec(key.slice(0, m.index));
  return {
    run: { ensemble: pressure === null ? 'nvt' : npt, at: { temperature: { start, stop: m[2] === undefined ? start : Number(m[2]) }, pressure } },
    source: named === null ? null : { file: named[1], frame: Number(named[2]) },
  };
}

function fromSpec(s: { temperature?: number; temperature_end?: number; ensemble?: Ensemble; pressure?: number | null }): Run | undefined {
  if (!finite(s.temperature)) return undefined;
  return { ensemble: s.ensemble ?? 'nvt', at: { temperature: { start: s.temperature, stop: s.temperature_end ?? s.temperature }, pressure: s.pressure ?? null } };
}

/** Each finished run, in task order: its record, where it started and under what (null: nothing says). */
function runsOf(stage: Typed<AnyStage, ExploreData>): Array<{ task: string; record: RunRecord; source: Source | null; run: Run | null }> {
  const results = runResultsOf(stage.data);
  // an open stage still has its tasks' specs; a settled one keeps only its data
  const tasks = stage.tasks;
  const specs = new Map(Array.isArray(tasks) ? tasks.map((t) => [t.id, t.spec as Partial<ExploreSpec>]) : []);
  const recorded = recordedSection(stage, 'explore')?.ensemble;
  const npt = recorded === undefined || recorded === 'nvt' ? 'npt' : recorded;
  return Object.keys(results).sort().map((task) => {
    const record = results[task];
    const spec = specs.get(task);
    const key = stage.data.runs?.[task];
    const keyed = key === undefined ? undefined : fromKey(key, npt);
    return {
      task, record,
      source: record.source ?? spec?.source ?? keyed?.source ?? null,
      run: fromSpec(record) ?? (spec === undefined ? undefined : fromSpec(spec)) ?? keyed?.run ?? null,
    };
  });
}

function volumeText([lo, hi]: readonly [number, number]): string {
  return lo.toFixed(1) === hi.toFixed(1) ? lo.toFixed(1) : `${lo.toFixed(1)}–${hi.toFixed(1)}`;
}

const rampText = (t: RunConditions['temperature']) => (t.start === t.stop ? `${t.start}` : `${t.start}→${t.stop}`);

/**
 * What the runs explored, one group per ensemble: "NPT at 300→900 K × 0, 10000 bar: 15.9–17.2
 * Å³/atom" (the volume range over the group's explored frames, when its runs recorded it); null
 * when every run said was NVT at one constant temperature, or none said.
 */
export function conditionsLine(stage: Typed<AnyStage, ExploreData>): string | null {
  const runs = runsOf(stage).flatMap(({ record, run }) => (run === null ? [] : [{ record, ...run }]));
  const plain = runs.every((r) => r.ensemble === 'nvt' && r.at.temperature.start === r.at.temperature.stop);
  if (runs.length === 0 || (plain && new Set(runs.map((r) => r.at.temperature.start)).size === 1)) return null;
  const groups = new Map<Ensemble, typeof runs>();
  for (const r of runs) groups.set(r.ensemble, [...(groups.get(r.ensemble) ?? []), r]);
  return [...groups].map(([ensemble, group]) => {
    const temperatures = [...new Set(group.map((r) => rampText(r.at.temperature)))].join(', ');
    const pressures = [...new Set(group.flatMap((r) => (r.at.pressure === null ? [] : [r.at.pressure])))];
    const volumes = group.flatMap((r) => r.record.volume_per_atom ?? []);
    const volume = volumes.length === 0 ? '' : `: ${volumeText([Math.min(...volumes), Math.max(...volumes)])} Å³/atom`;
    return `${ensembleText(ensemble)} at ${temperatures} K${pressures.length === 0 ? '' : ` × ${pressures.join(', ')} bar`}${volume}`;
  }).join('; ');
}

/** Why a run ended before its full length, in words (null: it ran it). */
function endedText(r: RunRecord): string | null {
  if (typeof r.blew_up === 'string') return `the MD blew up (${r.blew_up})`;
  return r.stopped_early ? 'γ reached gamma_stop' : null;
}

/** Each finished run as the report lists it, in task order. */
export function runList(stage: Typed<AnyStage, ExploreData>): ExploreRun[] {
  return runsOf(stage).map(({ task, record: r, source, run }) => ({
    task, start: source === null ? null : `${source.file} frame ${source.frame}`,
    ensemble: run === null ? null : ensembleText(run.ensemble), conditions: run === null ? null : conditionsText(run.at),
    steps_run: r.steps_run, explored: r.explored, collected: r.collected, max_gamma: r.max_gamma, ended: endedText(r),
    temperature_last: finite(r.temperature_last) ? r.temperature_last : null,
    volume_per_atom: r.volume_per_atom ?? null,
  }));
}
