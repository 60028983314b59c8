/** The validated configuration (schemas/config.schema.json, defaults filled in). */
import type { PwValue } from '../formats/espresso-in.js';

export interface Resources {
  partition: string | null;
  account: string | null;
  nodes: number;
  ntasks: number;
  cpus_per_task: number;
  mem: string | null;
  time: string;
  extra: string[];
  modules: string[];
}

export type LadderRung = Record<string, number | string | boolean>;
export interface Scaling { factor: number; max?: string; retries: number }

export interface Config {
  version: 1;
  name: string;
  workdir: string;
  structures: string | null;
  database: string | null;
  executor: {
    kind: 'local' | 'slurm';
    max_concurrent: number;
    host: string | null;
    port: number;
    user: string | null;
    identity: string | null;
    known_hosts: string;
    accept_new_host_key: boolean;
    ssh: 'node-ssh' | 'openssh';
    ssh_config: string | null;
    remote_root: string | null;
    max_array_size: number | null;
    array_throttle: number | null;
    poll_interval: number;
    templates: string;
  };
  dft: {
    command: string;
    pseudo_dir: string;
    pseudopotentials: Record<string, string>;
    kspacing: number;
    kpoints: [number, number, number] | null;
    gamma_trick: boolean;
    parameters: Record<string, PwValue>;
    resources: Resources;
    /** Where pw.x's outdir goes (a path the job's shell expands); null: ./out in the attempt folder. */
    scratch: string | null;
    /** What of pw.x's outdir stays after a task (lib/stages/label/disk.ts). */
    keep: 'none' | 'charge-density' | 'all';
    /** pw.x's k-point pools (-nk): per task from its k-points and dft.resources.ntasks, or fixed. */
    pools: 'auto' | number;
    /** Labelling tasks run one after another in one array element (lib/loop/arrays.ts); 1: one each. */
    tasks_per_element: number;
  };
  recovery: {
    max_attempts: number;
    restart_from_charge_density: boolean;
    scf_not_converged: LadderRung[];
    diagonalization: LadderRung[];
    charge_wrong: LadderRung[];
    walltime: Scaling;
    out_of_memory: Scaling;
    node_failure: number;
    cancelled: number;
    unknown: number;
  };
  embedding: {
    rcut: number; buffer: number; mask_radius: number | null; min_distance: number; energy_weight: number;
    box: 'lattice' | 'cube'; target_force_error: number;
    check: { when: 'auto' | 'off'; boxes: Array<'lattice' | 'cube'>; buffers: number[] | null; centres: number; max_reference_atoms: number };
  };
  selection: { column: string; lo: number; hi: number; max_candidates: number; types: string[] | null; method: 'gamma' | 'd-optimal'; embed: boolean };
  /** `structures`: one file or several (validationFiles gives the list). */
  validation: { structures: string | string[] | null; rows: string | null };
  explore: {
    engine: 'ase' | 'lammps';
    python: string;
    command: string;
    structures: string | null;
    /** K; an item [start, stop] is a ramp over the run (temperatureRamp reads either). */
    temperatures: Array<number | number[]>;
    ensemble: Ensemble;
    /** bar, NPT only; null: 0 bar under NPT (explorePressures). */
    pressures: number[] | null;
    seeds: number;
    steps: number;
    timestep: number;
    tdamp: number;
    pdamp: number;
    continue: boolean;
    dump_every: number;
    gamma_collect: number;
    gamma_stop: number;
    resources: Resources;
  };
  train: {
    command: string;
    python: string;
    cutoff: number;
    elements: string[] | null;
    reference_energy: Record<string, number> | 'auto';
    max_iterations: number;
    kappa: number;
    min_new_structures: number;
    warm_start: boolean;
    initial_potential: string | null;
    backend: 'tensorpot' | 'pyace';
    functions_per_element: number;
    test_fraction: number;
    seed: number;
    resources: Resources;
  };
  iterations: { max: number; stop_when_no_candidates: boolean; accurate_fraction: number | null; max_dft_core_hours: number | null;
    target_force_rmse: number | null; patience: number | null; min_improvement: number; stop_after: 'label' | 'train' | 'explore' | 'select' | null;
    /** The stage iteration 0 begins with: label (structures:), train (the database's labelled rows), explore (train.initial_potential and its .asi). */
    start: 'label' | 'train' | 'explore' };
}

export type Ensemble = 'nvt' | 'npt' | 'npt_aniso' | 'npt_tri';

/** A run's thermostat target, K: constant (start = stop) or a linear ramp over the run. */
export interface TemperatureRamp { start: number; stop: number }

/** An explore.temperatures item as a ramp (a plain number ramps from itself to itself). */
export function temperatureRamp(item: number | readonly number[]): TemperatureRamp {
  return typeof item === 'number' ? { start: item, stop: item } : { start: item[0], stop: item[item.length - 1] };
}

/** The pressures a run is made for: none (null) under NVT; explore.pressures, or 0 bar, under NPT. */
export function explorePressures(c: Config): Array<number | null> {
  return c.explore.ensemble === 'nvt' ? [null] : (c.explore.pressures ?? [0]);
}

/** The files of validation.structures, as a list (none: []). */
export function validationFiles(c: Pick<Config, 'validation'>): string[] {
  const s = c.validation.structures;
  return s === null ? [] : typeof s === 'string' ? [s] : s;
}

/** Whether the campaign has a validation set (structures to label, or rows to select). */
export function hasValidation(c: Pick<Config, 'validation'>): boolean {
  return validationFiles(c).length > 0 || c.validation.rows !== null;
}

/** One problem of a config: the field's dotted path and what is wrong there (validateConfig, the preflight). */
export interface Problem { path: string; message: string }
