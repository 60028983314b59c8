#!/usr/bin/env python3
"""autopipe's helper for the training job (runs with train.python: ASE, pandas, numpy).

  dataframe TRAIN.extxyz REFERENCE.json OUT.pckl.gzip [USED.json]
      pacemaker's DataFrame from the rows autopipe exported: ase_atoms, energy, energy_corrected
      (energy minus the per-element reference energies), forces, w_energy (per row), w_forces
      (per atom: the row's force_mask), force_mask, db_id. REFERENCE.json is {"Al": -57.3, ...}
      or "auto" (a least-squares fit of E = sum_el n_el * e_el over the rows whose w_energy > 0).
      USED.json gets the reference energies used, kept with the potential: its energy plus
      their sum over the atoms is the DFT total energy.
  metrics POTENTIAL.yaml SECONDS TRAIN_PRED [TEST_PRED]
      metrics.json on stdout: energy RMSE per atom over rows with energy weight, force RMSE over
      core atoms (force_mask 1), for train (and test), the fit's final loss, and whether all are finite.
  validate POTENTIAL.yaml VALIDATION.extxyz REFERENCE.json
      validation.json on stdout: the potential evaluated with python-ace's calculator (the
      evaluator exploration uses) on the validation rows, which no fit ever sees. Energy RMSE per
      atom over the rows with an energy weight (whole cells), as it is and after removing the
      mean difference (a constant shift, which the reference energies move); force RMSE per
      component and the largest error (the norm of one atom's force error) over core atoms
      (force_mask 1); the same per element. eV and eV/A, like metrics.json.
"""
import json
import math
import os
import sys

import numpy as np
import pandas as pd
from ase.io import read


def reference_energies(frames, weights, ref):
    elements = sorted({s for a in frames for s in a.get_chemical_symbols()})
    if isinstance(ref, dict):
        missing = [e for e in elements if e not in ref]
        if missing:
            sys.exit(f"autopipe_train: train.reference_energy has no value for {', '.join(missing)}")
        return {e: float(ref[e]) for e in elements}
    rows = [(a, w) for a, w in zip(frames, weights) if w > 0]
    if not rows:
        sys.exit("autopipe_train: no row has an energy weight, so reference energies cannot be fitted (give train.reference_energy)")
    counts = np.array([[a.get_chemical_symbols().count(e) for e in elements] for a, _ in rows], dtype=float)
    energies = np.array([a.get_potential_energy() for a, _ in rows])
    solution, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return dict(zip(elements, map(float, solution)))


def dataframe(extxyz, reference_file, out, used=None):
    frames = read(extxyz, index=":", format="extxyz")
    with open(reference_file) as f:
        ref = json.load(f)
    w_energy = [float(a.info.get("w_energy", 1.0)) for a in frames]
    refs = reference_energies(frames, w_energy, ref)
    records = []
    for a, we in zip(frames, w_energy):
        energy = float(a.get_potential_energy())
        forces = np.array(a.get_forces(), dtype=float)
        mask = np.array(a.arrays["force_mask"], dtype=float) if "force_mask" in a.arrays else np.ones(len(a))
        corrected = energy - sum(refs[s] for s in a.get_chemical_symbols())
        atoms = a.copy()
        atoms.calc = None
        records.append({
            "ase_atoms": atoms, "energy": energy, "energy_corrected": corrected, "forces": forces,
            "w_energy": we, "w_forces": mask.copy(), "force_mask": mask, "db_id": int(a.info.get("db_id", -1)),
        })
    df = pd.DataFrame(records)
    df.to_pickle(out, compression="gzip")
    if used:
        with open(used + ".tmp", "w") as f:
            json.dump(refs, f)
            f.write("\n")
        os.replace(used + ".tmp", used)
    print(json.dumps({"rows": len(df), "reference_energy": refs}))


def rmse(values):
    """RMSE, or None for no values; NaN and infinity stay (the caller judges them)."""
    return float(math.sqrt(np.mean(np.square(values)))) if np.size(values) else None


def split_metrics(pred_file):
    """Errors of one split from pacemaker's predictions file. It carries the reference columns of
    its rows too (pacemaker resets the index when it splits off a test set, so they are read from
    here, not looked up in the DataFrame)."""
    pred = pd.read_pickle(pred_file, compression="gzip")
    n = pred["NUMBER_OF_ATOMS"].to_numpy() if "NUMBER_OF_ATOMS" in pred else pred["forces"].map(len).to_numpy()
    de = (pred["energy_pred"].to_numpy() - pred["energy_corrected"].to_numpy()) / n
    has_energy = pred["w_energy"].to_numpy() > 0
    masks = pred["force_mask"] if "force_mask" in pred else pred["w_forces"]
    core = [(np.asarray(fp) - np.asarray(fr))[np.asarray(m) > 0.5].ravel()
            for fp, fr, m in zip(pred["forces_pred"], pred["forces"], masks)]
    core = np.concatenate(core) if core else np.array([])
    return {
        "structures": int(len(pred)),
        "core_atoms": int(core.size // 3),
        "energy_rmse_per_atom": rmse(de[has_energy]),
        "force_rmse_core": rmse(core),
    }


def metrics(potential, seconds, train_pred, test_pred=None):
    import yaml
    with open(potential) as f:
        meta = (yaml.safe_load(f) or {}).get("metadata", {}) or {}
    loss = float(meta["_loss"]) if "_loss" in meta else None
    out = {"loss": loss, "seconds": float(seconds), "train": split_metrics(train_pred)}
    if test_pred:
        out["test"] = split_metrics(test_pred)
    values = [loss] + [out[k][m] for k in ("train", "test") if k in out for m in ("energy_rmse_per_atom", "force_rmse_core")]
    out["finite"] = loss is not None and all(v is None or math.isfinite(v) for v in values)
    # JSON has no NaN: a value that is not finite is written as null, and "finite" says so
    for k in ("train", "test"):
        for m, v in list(out.get(k, {}).items()):
            if isinstance(v, float) and not math.isfinite(v):
                out[k][m] = None
    if loss is not None and not math.isfinite(loss):
        out["loss"] = None
    print(json.dumps(out, indent=1))


def validate(potential, extxyz, reference_file):
    from pyace import PyACECalculator
    frames = read(extxyz, index=":", format="extxyz")
    with open(reference_file) as f:
        refs = json.load(f)
    calc = PyACECalculator(potential)
    de, dforces, symbols = [], [], []
    for a in frames:
        energy = float(a.get_potential_energy())
        forces = np.array(a.get_forces(), dtype=float)
        mask = np.array(a.arrays["force_mask"], dtype=float) if "force_mask" in a.arrays else np.ones(len(a))
        b = a.copy()
        b.calc = calc
        # the potential predicts the energy less the per-element reference energies of its fit
        predicted = float(b.get_potential_energy()) + sum(refs[s] for s in a.get_chemical_symbols())
        if float(a.info.get("w_energy", 1.0)) > 0:
            de.append((predicted - energy) / len(a))
        core = mask > 0.5
        dforces.append((np.asarray(b.get_forces()) - forces)[core])
        symbols.extend(np.array(a.get_chemical_symbols())[core])
    df = np.concatenate(dforces) if dforces else np.zeros((0, 3))
    symbols = np.array(symbols)
    de = np.array(de)

    def forces_of(d):
        return {"core_atoms": int(len(d)), "force_rmse": rmse(d.ravel()),
                "force_max_error": float(np.max(np.linalg.norm(d, axis=1))) if len(d) else None}

    out = {
        "rows": len(frames), "energy_rows": int(de.size),
        "energy_rmse_per_atom": rmse(de), "energy_rmse_per_atom_shifted": rmse(de - de.mean()) if de.size else None,
        **forces_of(df),
        "elements": {e: forces_of(df[symbols == e]) for e in sorted(set(symbols.tolist()))},
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "dataframe":
        dataframe(*sys.argv[2:6])
    elif len(sys.argv) == 5 and sys.argv[1] == "validate":
        validate(*sys.argv[2:5])
    elif len(sys.argv) >= 5 and sys.argv[1] == "metrics":
        metrics(*sys.argv[2:6])
    else:
        sys.exit(__doc__)
