/**
 * pw.x namelist variables that users may set, by namelist (INPUT_PW of QE 6.7–7.x).
 *
 * The table lets a flat `dft.parameters` map (and a recovery ladder rung) name variables
 * without sections, and lets the config reject a typo. Variables that autopipe derives itself
 * are in AUTOPIPE_OWNED and may not be set by the user.
 */
export type Namelist = 'control' | 'system' | 'electrons' | 'ions' | 'cell';

const CONTROL = `calculation title verbosity restart_mode wf_collect nstep iprint tstress tprnfor dt outdir
wfcdir prefix lkpoint_dir max_seconds etot_conv_thr forc_conv_thr disk_io pseudo_dir tefield dipfield
lelfield nberrycyc lorbm lberry gdir nppstr gate lfcp trism twochem`;
const SYSTEM = `ibrav celldm A B C cosAB cosAC cosBC nat ntyp nbnd tot_charge starting_charge tot_magnetization
starting_magnetization ecutwfc ecutrho ecutfock nr1 nr2 nr3 nr1s nr2s nr3s nosym nosym_evc noinv
no_t_rev force_symmorphic use_all_frac occupations one_atom_occupations starting_spin_angle degauss
smearing nspin noncolin ecfixed qcutz q2sigma input_dft ace exx_fraction screening_parameter
exxdiv_treatment x_gamma_extrapolation ecutvcut nqx1 nqx2 nqx3 localization_thr lda_plus_u
lda_plus_u_kind Hubbard_U Hubbard_J0 Hubbard_alpha Hubbard_beta edir emaxpos eopreg eamp angle1 angle2
constrained_magnetization fixed_magnetization lambda report lspinorb assume_isolated esm_bc esm_w
esm_efield esm_nfit lgcscf gcscf_mu gcscf_conv_thr gcscf_beta vdw_corr london london_s6 london_rcut
london_c6 london_rvdw dftd3_version dftd3_threebody ts_vdw_econv_thr ts_vdw_isolated xdm xdm_a1 xdm_a2
space_group uniqueb origin_choice rhombohedral zgate relaxz block block_1 block_2 block_height
nextffield`;
const ELECTRONS = `electron_maxstep scf_must_converge conv_thr adaptive_thr conv_thr_init conv_thr_multi
mixing_mode mixing_beta mixing_ndim mixing_fixed_ns diagonalization diago_thr_init diago_cg_maxiter
diago_ppcg_maxiter diago_david_ndim diago_rmm_ndim diago_rmm_conv diago_gs_nblock diago_full_acc
efield efield_cart efield_phase startingpot startingwfc tqr real_space`;
const IONS = `ion_positions ion_velocities ion_dynamics pot_extrapolation wfc_extrapolation remove_rigid_rot
ion_temperature tempw tolp delta_t nraise refold_pos upscale bfgs_ndim trust_radius_max trust_radius_min
trust_radius_ini w_1 w_2 fire_alpha_init fire_falpha fire_nmin fire_f_inc fire_f_dec fire_dtmax`;
const CELL = `cell_dynamics press wmass cell_factor press_conv_thr cell_dofree`;

function words(s: string): string[] {
  return s.split(/\s+/).filter((w) => w.length > 0);
}

export const NAMELIST_OF: ReadonlyMap<string, Namelist> = new Map<string, Namelist>([
  ...words(CONTROL).map((w) => [w, 'control'] as [string, Namelist]),
  ...words(SYSTEM).map((w) => [w, 'system'] as [string, Namelist]),
  ...words(ELECTRONS).map((w) => [w, 'electrons'] as [string, Namelist]),
  ...words(IONS).map((w) => [w, 'ions'] as [string, Namelist]),
  ...words(CELL).map((w) => [w, 'cell'] as [string, Namelist]),
]);

/** Set by autopipe from the structure and the run; a user value would be wrong or ignored. */
export const AUTOPIPE_OWNED: ReadonlySet<string> = new Set([
  'calculation', 'ibrav', 'celldm', 'A', 'B', 'C', 'cosAB', 'cosAC', 'cosBC', 'nat', 'ntyp',
  'outdir', 'prefix', 'pseudo_dir', 'tprnfor', 'tstress',
]);

/** Variables indexed by species, written `name(i)` in species order; given as `{El: value}`. */
export const PER_SPECIES: ReadonlySet<string> = new Set([
  'starting_magnetization', 'starting_charge', 'Hubbard_U', 'Hubbard_J0', 'Hubbard_alpha',
  'Hubbard_beta', 'angle1', 'angle2', 'london_c6', 'london_rvdw',
]);

/** The namelist of a variable, or undefined when pw.x has no such variable. */
export function namelistOf(name: string): Namelist | undefined {
  return NAMELIST_OF.get(name);
}

export type PwType = 'string' | 'logical' | 'integer' | 'real';

const STRINGS = `calculation title verbosity restart_mode outdir wfcdir prefix disk_io pseudo_dir occupations
smearing input_dft exxdiv_treatment lda_plus_u_kind constrained_magnetization assume_isolated esm_bc
vdw_corr mixing_mode diagonalization efield_phase startingpot startingwfc ion_positions ion_velocities
ion_dynamics pot_extrapolation wfc_extrapolation ion_temperature cell_dynamics cell_dofree`;
const LOGICALS = `wf_collect tstress tprnfor lkpoint_dir tefield dipfield lelfield lorbm lberry gate lfcp trism
twochem nosym nosym_evc noinv no_t_rev force_symmorphic use_all_frac one_atom_occupations
starting_spin_angle noncolin ace x_gamma_extrapolation lda_plus_u lspinorb esm_efield lgcscf london
dftd3_threebody ts_vdw_isolated xdm uniqueb rhombohedral relaxz block scf_must_converge adaptive_thr
diago_full_acc tqr real_space remove_rigid_rot refold_pos`;
const INTEGERS = `nstep iprint nberrycyc gdir nppstr ibrav nat ntyp nbnd nr1 nr2 nr3 nr1s nr2s nr3s nspin nqx1
nqx2 nqx3 edir report esm_nfit dftd3_version space_group origin_choice nextffield electron_maxstep
mixing_ndim mixing_fixed_ns diago_cg_maxiter diago_ppcg_maxiter diago_david_ndim diago_rmm_ndim
diago_gs_nblock nraise bfgs_ndim fire_nmin`;

const TYPE_OF: ReadonlyMap<string, PwType> = new Map<string, PwType>([
  ...words(STRINGS).map((w) => [w, 'string'] as [string, PwType]),
  ...words(LOGICALS).map((w) => [w, 'logical'] as [string, PwType]),
  ...words(INTEGERS).map((w) => [w, 'integer'] as [string, PwType]),
]);

/** The Fortran type of a pw.x variable (real unless listed otherwise). */
export function pwTypeOf(name: string): PwType {
  return TYPE_OF.get(name) ?? 'real';
}

/** A character no line of an input file may hold (C0 and C1 controls, line and paragraph separators). */
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Why a string cannot be a Fortran string constant in pw.x's input, or undefined. */
export function pwStringProblem(v: string): string | undefined {
  if (CONTROL_CHARACTER.test(v)) return 'holds a control character (a newline, tab, …), which cannot be written into pw.x input';
  if (v.includes("'") && v.includes('"')) return 'holds both quote kinds (\' and "), which no Fortran string can hold';
  return undefined;
}

/** Why a value does not fit a pw.x variable, or undefined when it does. */
export function pwValueProblem(name: string, value: unknown): string | undefined {
  const t = pwTypeOf(name);
  if (t === 'string') return typeof value === 'string' ? pwStringProblem(value) : 'must be a string';
  if (t === 'logical') return typeof value === 'boolean' ? undefined : 'must be true or false';
  if (typeof value !== 'number' || !Number.isFinite(value)) return t === 'integer' ? 'must be a whole number' : 'must be a number';
  if (t === 'integer' && !Number.isInteger(value)) return 'must be a whole number';
  return undefined;
}
