/**
 * candidates.json, the file an exploration run writes for selection.method d-optimal
 * (python/autopipe_explore.py candidates): the atoms of its collected frames with γ in [lo, hi),
 * each with its coefficients against the active set. Pure: text in, checked records out; every
 * error names the file and the entry.
 */
import { InputFormatError } from '../errors/errors.js';

export interface CandidateAtom {
  /** The frame's 0-based index in the run's frames.dump (ASE's read(file, index=frame)). */
  frame: number;
  /** The atom's 0-based index in the frame, atoms in id order (as our dump reader and ASE's give them). */
  atom: number;
  element: string;
  gamma: number;
  /** c = b · A⁻¹: its B-basis projections against the element's active set (max |c| is gamma). */
  c: number[];
}

export interface CandidatesFile { elements: string[]; lo: number; hi: number; frames: number; candidates: CandidateAtom[] }

const HINT = 'the exploration job writes it (autopipe_explore.py candidates); run the exploration again';

export function parseCandidates(text: string, file: string): CandidatesFile {
  const bad = (what: string) => new InputFormatError(what, { file }, { hint: HINT });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad(`is not JSON (${(e as Error).message}): a run that stopped while writing it?`);
  }
  const d = doc as Partial<CandidatesFile>;
  const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  if (d === null || typeof d !== 'object' || !Array.isArray(d.elements) || !Array.isArray(d.candidates) || !num(d.lo) || !num(d.hi) || !Number.isInteger(d.frames)) {
    throw bad('has not the fields elements, lo, hi, frames and candidates');
  }
  d.candidates.forEach((c, k) => {
    const where = `candidate ${k}`;
    if (c === null || typeof c !== 'object') throw bad(`${where} is not an object`);
    if (!Number.isInteger(c.frame) || c.frame < 0 || c.frame >= (d.frames as number)) throw bad(`${where}: frame ${String(c.frame)} is not one of its ${String(d.frames)} frames`);
    if (!Number.isInteger(c.atom) || c.atom < 0) throw bad(`${where}: atom ${String(c.atom)} is not an index`);
    if (typeof c.element !== 'string' || !(d.elements as string[]).includes(c.element)) throw bad(`${where}: element ${String(c.element)} is not one of ${(d.elements as string[]).join(', ')}`);
    if (!num(c.gamma)) throw bad(`${where}: gamma is not a number`);
    if (!Array.isArray(c.c) || c.c.length === 0 || !c.c.every(num)) throw bad(`${where}: c is not a list of numbers`);
  });
  return d as CandidatesFile;
}
