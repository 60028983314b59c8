#!/usr/bin/env python3
"""autopipe's exploration engine `ase` (runs with explore.python: ASE and python-ace).

  run TASK.json START.extxyz POTENTIAL.yaml ACTIVE_SET.asi
      Langevin molecular dynamics of START at TASK's temperature with python-ace's calculator
      and the active set, which give each atom its extrapolation grade gamma (the same C++
      evaluator as LAMMPS's pair_style pace/extrapolation). Every dump_every steps:
        - a frame whose largest gamma reaches gamma_collect goes to frames.dump, a LAMMPS text
          dump with the columns id type x y z f_pace_gamma (what the lammps engine writes);
        - a frame below it is the run's last good frame (last.extxyz: where the next
          iteration's run continues from);
        - a largest gamma at or above gamma_stop ends the run early.
      summary.json says what happened: steps run, frames explored and collected, the largest
      gamma, whether it stopped early, whether every grade was exactly 0 (a broken active set),
      and each explored frame's largest grade (frame_gammas, for the report).
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

TASK.json: {"temperature": K, "seed": int, "steps": int, "timestep": fs, "dump_every": int,
            "gamma_collect": float, "gamma_stop": float, "types": ["Al", ...], "friction": 1/fs,
            "candidates": {"lo": float, "hi": float, "per_frame": int}   (only for d-optimal)}
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


def run(task_file, start_file, potential, active_set):
    from ase import units
    from ase.io import read, write
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
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
    # a continued run goes on with the velocities its last good frame had
    if not (task.get("keep_velocities") and np.any(atoms.get_momenta())):
        MaxwellBoltzmannDistribution(atoms, temperature_K=task["temperature"], rng=rng)
    dyn = Langevin(atoms, task["timestep"] * units.fs, temperature_K=task["temperature"],
                   friction=task["friction"] / units.fs, rng=rng)
    summary = {"steps_run": 0, "frames_explored": 0, "frames_collected": 0, "max_gamma": 0.0,
               "stopped_early": False, "all_gamma_zero": True, "last_good_step": None,
               "frame_gammas": []}
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
            try:
                dyn.run(n)
            except (FloatingPointError, ValueError, RuntimeError, np.linalg.LinAlgError) as e:
                summary["stopped_early"] = True
                summary["blew_up"] = {"step": step, "why": f"{type(e).__name__}: {e}"[:200]}
                print(f"autopipe_explore: the MD blew up after step {step} ({summary['blew_up']['why']}); the {summary['frames_collected']} frame(s) collected before it are kept", file=sys.stderr)
                break
            step += n
        summary["steps_run"] = step
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
