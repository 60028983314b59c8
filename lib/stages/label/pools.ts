/**
 * pw.x's k-point pools per task (pure). autopipe writes each task's k-point mesh, so it knows
 * how many k-points the task has before symmetry; a Γ-only sub-cell and a small cell with a
 * 4×4×4 mesh in one array need different pools, which one -nk in dft.command cannot give.
 *
 * pw.x reduces the mesh by the crystal's symmetry, which autopipe does not compute; the count
 * here uses time reversal only (k and -k are one point), the reduction every non-magnetic cell
 * has. It can be above pw.x's count for a symmetric cell: QE 6.7 then only prints "suboptimal
 * parallelization: some nodes have no k-points" and runs (measured: 1 k-point, -nk 4, 4 ranks).
 */
import type { Atoms } from '../../atoms/atoms.js';
import type { Config } from '../../config/types.js';
import { meshFromSpacing, type KPoints } from '../../formats/espresso-in.js';
import { shellQuote } from '../../shell/quote.js';

/** The k-points pw.x is given for this structure: the mesh, or 1 for K_POINTS gamma. */
export function meshOf(atoms: Atoms, k: KPoints): [number, number, number] {
  if (k.kind === 'gamma') return [1, 1, 1];
  if (k.kind === 'mesh') return [...k.mesh] as [number, number, number];
  return meshFromSpacing(atoms.cell, atoms.pbc, k.spacing);
}

/**
 * k-points of an unshifted Γ-centred n1×n2×n3 mesh after time reversal: the points with
 * 2k ≡ 0 (0 and ½ along each even axis) are their own partners, the others pair up.
 * nspin = 2 doubles them (pw.x's pools divide both spins' points).
 */
export function kpointEstimate(mesh: readonly number[], nspin = 1): number {
  const n = mesh.reduce((a, b) => a * b, 1);
  const own = mesh.reduce((a, m) => a * (m % 2 === 0 ? 2 : 1), 1);
  return ((n + own) / 2) * (nspin === 2 ? 2 : 1);
}

/** The largest divisor of ntasks not above the k-points: pools must divide pw.x's MPI ranks, and a pool without k-points idles. */
export function autoPools(kpoints: number, ntasks: number): number {
  for (let d = Math.min(ntasks, Math.max(1, Math.floor(kpoints))); d > 1; d--) if (ntasks % d === 0) return d;
  return 1;
}

/** A task's pools: dft.pools when fixed, else from its k-points and dft.resources.ntasks. */
export function poolsFor(atoms: Atoms, k: KPoints, config: Config): number {
  const fixed = config.dft.pools;
  if (fixed !== 'auto') return fixed;
  const nspin = config.dft.parameters.nspin === 2 ? 2 : 1;
  return autoPools(kpointEstimate(meshOf(atoms, k), nspin), config.dft.resources.ntasks);
}

/** The task folder's task.env (the job wrapper sources it): the task's own values, quoted. */
export function taskEnv(npool: number): string {
  return [
    '# written by autopipe: this task\'s own values (one job script serves the whole array)',
    `export AUTOPIPE_NPOOL=${shellQuote(String(npool))}`,
    '',
  ].join('\n');
}
