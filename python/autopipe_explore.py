#!/usr/bin/env python3
"""autopipe's exploration engine `ase` (runs with explore.python: ASE and python-ace).

  run TASK.json START.extxyz POTENTIAL.yaml ACTIVE_SET.asi
      Molecular dynamics of START in TASK's ensemble (below) with python-ace's calculator and
      the active set, which give each atom its extrapolation grade gamma (the same C++
      evaluator as LAMMPS's pair_style pace/extrapolation). Every dump_every steps:
        - a frame whose largest gamma reaches gamma_collect goes to frames.dump, a LAMMPS text
          dump with the columns id type x y z f_pace_gamma (what the lammps engine writes);
        - a frame below it is the run's last good frame (last.extxyz: where the next
          iteration's run continues from);
        - a largest gamma at or above gamma_stop ends the run early.
      summary.json says what happened: steps run, frames explored and collected, the largest
      gamma, whether it stopped early, whether every grade was exactly 0 (a broken active set),
      and each explored frame's largest grade (frame_gammas, for the report); the cell's
      volume per atom over the explored frames (volume_per_atom: [smallest, largest], Å³, 6
      significant digits: NPT changes it), each explored frame's instantaneous temperature
      (frame_temperatures, K, 4 significant digits) and the last one's (temperature_last).
      volume_per_atom and temperature_last are left out when no frame was explored. A
      temperature is ASE's kinetic one, 2 KE / (3 N k_B), which both thermostats below drive
      to their target (see "Degrees of freedom").
      An MD that blows up (a non-finite energy, position or grade, or the calculator failing on
      the structure the dynamics made) ends the run there: the frames collected before it are
      kept, and summary.json says where and why (blew_up).
      With "candidates" in TASK (selection.method d-optimal), the run ends by writing
      candidates.json from its frames.dump, as the subcommand below does.

  candidates FRAMES.dump POTENTIAL.yaml ACTIVE_SET.asi TASK.json
      For selection.method d-optimal (the lammps engine runs it after lmp): each collected
      frame of FRAMES.dump evaluated again with python-ace and the active set; for every atom
      with gamma in [lo, hi) (TASK's "candidates"), its coefficients c = B A^-1 against the
      active set (B its projections, A^-1 the element's inverse active set), whose largest
      |c_j| is its gamma. autopipe's select stage grows the active set from them (MaxVol's
      swap, lib/select/d-optimal.ts) without python-ace. Written beside FRAMES.dump, to
      candidates.json (through a temporary file, so that it is whole or absent):
        {"elements": [...], "lo", "hi", "per_frame", "frames": number of frames read,
         "candidates": [{"frame": 0-based in the dump, "atom": 0-based in id order (as ASE's
                         and autopipe's readers order a dump), "element", "gamma", "c": [...]}]}
      A frame with an atom at gamma >= hi is left out (the select stage drops it as broken).

TASK.json: {"temperature": K (the thermostat's target at step 0),
            "temperature_end": K (its target at the last step; equal, or absent: no ramp),
            "ensemble": "nvt" | "npt" | "npt_aniso" | "npt_tri" (absent: nvt),
            "pressure": bar (null under nvt), "seed": int, "steps": int, "timestep": fs,
            "dump_every": int, "gamma_collect": float, "gamma_stop": float, "types": ["Al", ...],
            "friction": 1/fs (Langevin, nvt), "tdamp": fs (absent: 1/friction), "pdamp": fs,
            "keep_velocities": bool,
            "candidates": {"lo": float, "hi": float, "per_frame": int}   (only for d-optimal)}
A task.json written before NPT existed (no temperature_end, ensemble, pressure, tdamp, pdamp)
runs as it did: NVT at a constant temperature.

Ensembles. Under NPT each is the integrator of ASE 3.29 that solves the same equations as the
lammps engine's fix npt, with tdamp and pdamp meaning the same, so that both engines sample the
same ensemble:
  nvt        ase.md.langevin.Langevin (the task's friction, 1/tdamp; fixcm), as before NPT
             existed (the lammps engine's fix nvt is Nose-Hoover: another thermostat, the
             same canonical ensemble).
  npt        ase.md.nose_hoover_chain.IsotropicMTKNPT: Martyna-Tobias-Klein with Nose-Hoover
             chains (3 thermostats, 3 barostat thermostats, as LAMMPS's fix npt), the whole
             cell scaled alike (fix npt iso).
  npt_aniso  MaskedMTKNPT(mask=(True, True, True)): each cell vector's length has its own
             barostat, driven by the normal stress along it (fix npt aniso). For a cell whose
             vectors are orthogonal the cell stays orthogonal (each axis on its own, angles
             kept, exactly). For a non-orthogonal cell ASE moves the cell by p_g = sum_c p_c
             e_c e_c^T over the start cell's unit vectors e_c, which are not orthogonal: the
             angles then drift a little (LAMMPS's aniso keeps them); a line on stderr says so.
  npt_tri    MTKNPT: the whole cell, all nine components (fix npt tri).
The pressure is isotropic, pressure_au = pressure (bar) * ase.units.bar; tdamp and pdamp are
given to ASE in its time unit (fs * ase.units.fs). The cell is periodic in x, y and z (the
plan refuses others; so does this script). Under NPT the frames' cells change: each dumped
frame carries its own box (lammps_box works for any cell, a changing triclinic one too), and
last.extxyz its cell and momenta.

Temperature ramps (temperature_end != temperature). The target at step s is
T0 + (T1 - T0) s / steps, set before each chunk of dump_every steps to its value at the
chunk's midpoint (so a chunk's target is the ramp's mean over it; the last chunk's is
(T1 - T0) n / (2 steps) short of T1, n its steps). Under nvt with Langevin.set_temperature;
under MTK with retarget_mtk (ASE has no public setter), which does what LAMMPS's fix nh does
each step of a ramp: the target kT of the particles' thermostat chain and of the barostat,
and every mass made from it (thermostat chain Q, cell mass W, barostat chain R: all
proportional to kT), changed together with their momenta so that the velocities (LAMMPS's
eta_dot, omega_dot, etap_dot) go on unchanged. An auxiliary variable equilibrated at T is
then equilibrated at the new T, since p^2/M scales with kT.

Velocities. A fresh run draws them from Maxwell-Boltzmann at temperature (step 0's target);
under NPT the centre of mass is then set at rest (LAMMPS's velocity ... mom yes: the MTK
equations keep it there). A continued run (keep_velocities) keeps the momenta of START, in
every ensemble.

Degrees of freedom. Both of ASE's thermostats drive sum p^2/m to 3 N k_B T (Langevin with
fixcm scales its noise by N / (N - 1) for this; the MTK chain counts 3 N), while LAMMPS counts
3 N - 3 with the centre of mass at rest: at the same target ASE's atoms move N / (N - 1) hotter
than LAMMPS's (3% for 32 atoms, 0.4% for 255). The temperatures in summary.json are ASE's,
2 KE / (3 N k_B), which read the target.
"""
import json
import os
import sys

import numpy as np


def lammps_box(cell):
    """The restricted triclinic box of a cell (a along x, b in the xy plane) and the rotation."""
    a, b, c = np.asarray(cell, dtype=float)
    ax = np.linalg.norm(a)
    bx = b @ a / ax
    by = np.sqrt(max(b @ b - bx * bx, 0.0))
    cx = c @ a / ax
    cy = (b @ c - bx * cx) / by
    cz = np.sqrt(max(c @ c - cx * cx - cy * cy, 0.0))
    return np.array([[ax, 0, 0], [bx, by, 0], [cx, cy, cz]])


def dump_frame(f, step, atoms, gamma, types):
    box = lammps_box(atoms.cell)
    pos = atoms.get_scaled_positions(wrap=True) @ box
    xy, xz, yz = box[1, 0], box[2, 0], box[2, 1]
    xlo, xhi, ylo, yhi, zlo, zhi = 0.0, box[0, 0], 0.0, box[1, 1], 0.0, box[2, 2]
    f.write(f"ITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n{len(atoms)}\n")
    f.write("ITEM: BOX BOUNDS xy xz yz pp pp pp\n")
    f.write(f"{xlo + min(0, xy, xz, xy + xz):.10f} {xhi + max(0, xy, xz, xy + xz):.10f} {xy:.10f}\n")
    f.write(f"{ylo + min(0, yz):.10f} {yhi + max(0, yz):.10f} {xz:.10f}\n")
    f.write(f"{zlo:.10f} {zhi:.10f} {yz:.10f}\n")
    f.write("ITEM: ATOMS id type x y z f_pace_gamma\n")
    for i, (s, p, g) in enumerate(zip(atoms.get_chemical_symbols(), pos, gamma)):
        f.write(f"{i + 1} {types.index(s) + 1} {p[0]:.10f} {p[1]:.10f} {p[2]:.10f} {g:.8g}\n")


def blown_up(atoms, calc):
    """Why the structure the dynamics reached can no longer be explored, or None: non-finite
    positions, or an energy, forces or grades the calculator cannot give as finite numbers."""
    if not np.all(np.isfinite(atoms.positions)):
        return "non-finite positions"
    try:
        energy = atoms.get_potential_energy()
    except Exception as e:  # the evaluator refuses what the dynamics made (atoms on top of each other)
        return f"{type(e).__name__}: {e}"[:200]
    gamma = calc.results.get("gamma")
    if not np.isfinite(energy) or not np.all(np.isfinite(atoms.get_forces())):
        return "a non-finite energy or force"
    if gamma is not None and not np.all(np.isfinite(np.asarray(gamma, dtype=float))):
        return "a non-finite extrapolation grade"
    return None


ENSEMBLES = ("nvt", "npt", "npt_aniso", "npt_tri")


def retarget_mtk(dyn, temperature_K):
    """Set the target temperature of one of ASE 3.29's MTK integrators (IsotropicMTKNPT, MTKNPT,
    MaskedMTKNPT) mid-run, as LAMMPS's fix nh does at each step of a temperature ramp.

    Everything ASE derives from the target kT is proportional to it: the thermostat chain's
    masses Q (Q[0] = 3 N kT tdamp^2, Q[j] = kT tdamp^2), the cell's mass W ((3N+3) or (N+1)
    kT pdamp^2) and the barostat chain's masses R (9 or n_cell kT pdamp^2, kT pdamp^2). They
    are all scaled by f = T_new / T_old, and so are the momenta that go with them (p_eta, the
    cell's p_eps / p_g / p_c, p_xi): the velocities p/M go on unchanged, which is what LAMMPS
    keeps (eta_dot, omega_dot, etap_dot) when it recomputes its masses from the new target.
    The thermostat's coordinates (eta, xi) only enter the conserved energy, which a ramp does
    not conserve anyway. The particles' momenta are left alone: the thermostat moves them to
    the new target over tdamp."""
    th, ba = dyn._thermostat, dyn._barostat
    for obj, names in ((th, ("_kT", "_Q", "_p_eta")), (ba, ("_kT", "_W", "_R", "_p_xi")), (dyn, ("_kT", "_temperature_K"))):
        missing = [n for n in names if not hasattr(obj, n)]
        if missing:  # a newer ASE changed its internals: say so rather than ramp nothing
            raise RuntimeError(f"autopipe_explore: this ASE's {type(obj).__name__} has no {', '.join(missing)}: a temperature ramp under NPT needs ASE 3.29's MTK internals")
    from ase import units
    from ase.md.nose_hoover_chain import MaskedMTKNPT, MTKNPT
    f = temperature_K / dyn._temperature_K
    if f == 1.0:
        return
    th._kT *= f
    th._Q = th._Q * f
    th._p_eta = th._p_eta * f
    ba._kT *= f
    ba._W *= f
    ba._R = ba._R * f
    ba._p_xi = ba._p_xi * f
    # the cell's momentum: MaskedMTKNPT keeps p_c (its p_g is made from it), MTKNPT p_g, IsotropicMTKNPT p_eps
    if isinstance(dyn, MaskedMTKNPT):
        dyn._p_c = dyn._p_c * f
    elif isinstance(dyn, MTKNPT):
        dyn._p_g = dyn._p_g * f
    else:
        dyn._p_eps = dyn._p_eps * f
    dyn._temperature_K = temperature_K
    dyn._kT = units.kB * temperature_K


def dynamics(atoms, task, rng):
    """The integrator of TASK's ensemble (see the module's doc), with a function that sets its
    target temperature."""
    from ase import units

    ensemble = task.get("ensemble", "nvt")
    if ensemble not in ENSEMBLES:
        sys.exit(f"autopipe_explore: unknown ensemble {ensemble!r} in the task (one of {', '.join(ENSEMBLES)})")
    dt = task["timestep"] * units.fs
    t0 = task["temperature"]
    tdamp = task["tdamp"] if task.get("tdamp") is not None else 1.0 / task["friction"]
    if ensemble == "nvt":
        from ase.md.langevin import Langevin
        friction = task["friction"] if task.get("friction") is not None else 1.0 / tdamp
        dyn = Langevin(atoms, dt, temperature_K=t0, friction=friction / units.fs, rng=rng)
        return dyn, lambda t: dyn.set_temperature(temperature_K=t)
    from ase.md.nose_hoover_chain import IsotropicMTKNPT, MaskedMTKNPT, MTKNPT
    if not all(atoms.pbc):
        sys.exit(f"autopipe_explore: ensemble {ensemble} needs a cell periodic in x, y and z; the structure's pbc is {list(map(bool, atoms.pbc))}")
    if min(t0, task["temperature_end"] if task.get("temperature_end") is not None else t0) <= 0:
        sys.exit(f"autopipe_explore: ensemble {ensemble} needs temperatures above 0 K (its chains' masses are made from kT)")
    if task.get("pressure") is None or task.get("pdamp") is None:
        sys.exit(f"autopipe_explore: ensemble {ensemble} needs \"pressure\" (bar) and \"pdamp\" (fs) in the task")
    kw = dict(timestep=dt, temperature_K=t0, pressure_au=task["pressure"] * units.bar,
              tdamp=tdamp * units.fs, pdamp=task["pdamp"] * units.fs)
    if ensemble == "npt":
        dyn = IsotropicMTKNPT(atoms, **kw)
    elif ensemble == "npt_aniso":
        unit = atoms.cell.array / np.linalg.norm(atoms.cell.array, axis=1)[:, None]
        off = np.abs(unit @ unit.T - np.eye(3)).max()
        if off > 1e-6:
            print(f"autopipe_explore: npt_aniso on a non-orthogonal cell (angles {', '.join(f'{x:.4g}' for x in atoms.cell.cellpar()[3:])}): ASE's MaskedMTKNPT lets its angles drift a little, where LAMMPS's fix npt aniso keeps them", file=sys.stderr)
        dyn = MaskedMTKNPT(atoms, mask=(True, True, True), **kw)
    else:
        dyn = MTKNPT(atoms, **kw)
    return dyn, lambda t: retarget_mtk(dyn, t)


def run(task_file, start_file, potential, active_set):
    from ase.io import read, write
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from pyace import PyACECalculator

    with open(task_file) as f:
        task = json.load(f)
    atoms = read(start_file, format="extxyz")
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(task["types"]))
    if unknown:
        sys.exit(f"autopipe_explore: the structure has {', '.join(unknown)}, which the potential does not")
    calc = PyACECalculator(potential)
    calc.set_active_set(active_set)
    atoms.calc = calc
    rng = np.random.default_rng(task["seed"])
    ensemble = task.get("ensemble", "nvt")
    # a continued run goes on with the velocities its last good frame had
    if not (task.get("keep_velocities") and np.any(atoms.get_momenta())):
        MaxwellBoltzmannDistribution(atoms, temperature_K=task["temperature"], rng=rng)
        if ensemble != "nvt":
            Stationary(atoms)  # the MTK equations keep the centre of mass where it starts: at rest
    dyn, set_target = dynamics(atoms, task, rng)
    t0 = float(task["temperature"])
    t1 = float(task["temperature_end"]) if task.get("temperature_end") is not None else t0
    steps = task["steps"]

    def target(s):
        """The thermostat's target at step s: linear from t0 at step 0 to t1 at the last step."""
        return t0 + (t1 - t0) * s / steps if steps > 0 else t1

    summary = {"steps_run": 0, "frames_explored": 0, "frames_collected": 0, "max_gamma": 0.0,
               "stopped_early": False, "all_gamma_zero": True, "last_good_step": None,
               "frame_gammas": [], "frame_temperatures": []}
    volumes = []
    last_good = None
    with open("frames.dump.tmp", "w") as dump:
        step = 0
        while True:
            why = blown_up(atoms, calc)
            if why is not None:
                # what was collected before is real: it is kept, and the run says where it ended
                summary["stopped_early"] = True
                summary["blew_up"] = {"step": step, "why": why}
                print(f"autopipe_explore: the MD blew up at step {step} ({why}); the {summary['frames_collected']} frame(s) collected before it are kept", file=sys.stderr)
                break
            if "gamma" not in calc.results:
                sys.exit("autopipe_explore: the calculator computed no extrapolation grade (is the active set loaded?)")
            gamma = np.asarray(calc.results["gamma"], dtype=float)
            top = float(np.max(gamma))
            summary["frames_explored"] += 1
            summary["max_gamma"] = max(summary["max_gamma"], top)
            summary["frame_gammas"].append(float(f"{top:.5g}"))  # the report's γ distribution
            summary["frame_temperatures"].append(float(f"{atoms.get_temperature():.4g}"))
            volumes.append(atoms.get_volume() / len(atoms))
            summary["all_gamma_zero"] = summary["all_gamma_zero"] and bool(np.all(gamma == 0))
            if top >= task["gamma_collect"]:
                dump_frame(dump, step, atoms, gamma, task["types"])
                summary["frames_collected"] += 1
            else:
                last_good = atoms.copy()
                last_good.calc = None
                summary["last_good_step"] = step
            if top >= task["gamma_stop"]:
                summary["stopped_early"] = True
                break
            if step >= task["steps"]:
                break
            n = min(task["dump_every"], task["steps"] - step)
            if t1 != t0:
                set_target(target(step + n / 2))  # the chunk's midpoint (see the module's doc)
            try:
                dyn.run(n)
            except (FloatingPointError, ValueError, RuntimeError, np.linalg.LinAlgError) as e:
                summary["stopped_early"] = True
                summary["blew_up"] = {"step": step, "why": f"{type(e).__name__}: {e}"[:200]}
                print(f"autopipe_explore: the MD blew up after step {step} ({summary['blew_up']['why']}); the {summary['frames_collected']} frame(s) collected before it are kept", file=sys.stderr)
                break
            step += n
        summary["steps_run"] = step
    if volumes:
        summary["volume_per_atom"] = [float(f"{min(volumes):.6g}"), float(f"{max(volumes):.6g}")]
        summary["temperature_last"] = summary["frame_temperatures"][-1]
    os.replace("frames.dump.tmp", "frames.dump")
    if last_good is not None:
        write("last.extxyz.tmp", last_good, format="extxyz")
        os.replace("last.extxyz.tmp", "last.extxyz")
    with open("summary.json.tmp", "w") as f:
        json.dump(summary, f, indent=1)
    os.replace("summary.json.tmp", "summary.json")
    print(json.dumps(summary))
    if task.get("candidates") is not None:
        candidates("frames.dump", potential, active_set, task_file, calc)


def candidates(frames_file, potential, active_set, task_file, calc=None):
    """candidates.json of FRAMES (see the module's doc): python-ace's projections and inverse
    active set, so that the select stage's greedy grows exactly the set the evaluator grades by."""
    from ase.io import read
    from pyace import PyACECalculator
    from pyace.activelearning import load_active_inverse_set

    with open(task_file) as f:
        task = json.load(f)
    want = task.get("candidates")
    if want is None:
        sys.exit(f"autopipe_explore: {task_file} has no \"candidates\" (lo, hi): it was planned with selection.method gamma")
    lo, hi, per_frame = float(want["lo"]), float(want["hi"]), int(want["per_frame"])
    if calc is None:
        calc = PyACECalculator(potential)
        calc.set_active_set(active_set)
    # load_active_inverse_set numbers the matrices by the sorted element names (the .asi's keys)
    with np.load(active_set) as asi:
        names = sorted(asi.keys())
    inverse = {names[k]: m for k, m in load_active_inverse_set(active_set).items()}
    frames = read(frames_file, index=":", format="lammps-dump-text", specorder=task["types"]) \
        if os.path.exists(frames_file) and os.path.getsize(frames_file) > 0 else []
    out = []
    for k, atoms in enumerate(frames):
        atoms.calc = calc
        atoms.get_potential_energy()
        gamma = np.asarray(calc.results["gamma"], dtype=float)
        if np.max(gamma) >= hi:
            continue
        symbols = atoms.get_chemical_symbols()
        # The cap: each candidate costs a basis-sized vector (hundreds of numbers per element in a
        # production basis), and the select stage keeps few atoms per frame after suppression.
        chosen = [i for i in np.argsort(-gamma, kind="stable") if lo <= gamma[i] < hi][:per_frame]
        for i in chosen:
            c = np.asarray(calc.projections[i], dtype=float) @ inverse[symbols[i]]
            # the grade is max |c_j|: anything else means the .asi's matrices are not the evaluator's
            if abs(np.max(np.abs(c)) - gamma[i]) > 1e-6 * max(1.0, gamma[i]):
                sys.exit(f"autopipe_explore: frame {k} atom {i}: max |B A^-1| is {np.max(np.abs(c)):.8g} but the evaluator's gamma is {gamma[i]:.8g}; "
                         f"is {active_set} the active set of {potential}?")
            out.append({"frame": k, "atom": int(i), "element": symbols[i], "gamma": float(f"{gamma[i]:.7g}"),
                        "c": [float(f"{x:.7g}") for x in c]})
    doc = {"elements": list(task["types"]), "lo": lo, "hi": hi, "per_frame": per_frame, "frames": len(frames), "candidates": out}
    target = os.path.join(os.path.dirname(os.path.abspath(frames_file)), "candidates.json")
    with open(target + ".tmp", "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    os.replace(target + ".tmp", target)
    print(f"autopipe_explore: {len(out)} candidate atom(s) of {len(frames)} frame(s) written to candidates.json")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "run":
        run(*sys.argv[2:6])
    elif len(sys.argv) == 6 and sys.argv[1] == "candidates":
        candidates(*sys.argv[2:6])
    else:
        sys.exit(__doc__)
