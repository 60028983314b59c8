/**
 * LAMMPS text dump reader (`dump custom`/`atom`): one frame at a time from byte chunks, so
 * multi-gigabyte files are never held whole, and numbers are parsed from the bytes directly. Boxes: orthogonal, restricted triclinic
 * (`xy xz yz`) and general triclinic (`abc origin`). Coordinates x/xu/xs/xsu; every other
 * column (f_…, c_…, v_…, vx, …) is kept as a per-atom array. Positions are shifted so the box
 * origin is 0; atoms are sorted by id when there is an id column (as ASE does).
 */
import { makeAtoms, type Atoms, type PerAtomArray } from '../atoms/atoms.js';
import { atomicNumber } from '../atoms/elements.js';
import { InputFormatError } from '../errors/errors.js';
import { ByteLines, parseNumber, latin1 } from './byte-lines.js';

export interface DumpReadOptions {
  /** Element of each LAMMPS type, in type order (type 1 first); not needed with an `element` column. */
  types?: readonly string[];
  /** Columns a frame must have (e.g. the uncertainty column); a missing one is an error. */
  requiredColumns?: readonly string[];
}

interface Box { cell: number[]; origin: [number, number, number]; pbc: [boolean, boolean, boolean] }

const COORDS = [['x', 'y', 'z'], ['xu', 'yu', 'zu'], ['xs', 'ys', 'zs'], ['xsu', 'ysu', 'zsu']] as const;

/** Yield frames from a dump given as byte chunks; `source` names the file in messages. */
export function* readDumpFrames(chunks: Iterable<Uint8Array>, opts: DumpReadOptions = {}, source = '<dump>'): Generator<Atoms> {
  const r = new ByteLines(chunks);
  const next = (): string | undefined => (r.next() ? r.text() : undefined);
  const fail = (msg: string, line = r.lineNo): never => {
    throw new InputFormatError(msg, { file: source, line });
  };
  let line = next();
  let frameNo = -1; // the frame's index as ASE counts (from 0)
  while (line !== undefined) {
    if (line.trim() === '') {
      line = next();
      continue;
    }
    if (!line.startsWith('ITEM: TIMESTEP')) fail(`expected 'ITEM: TIMESTEP', found '${line.slice(0, 40)}'`);
    frameNo++;
    const timestep = Number((next() ?? '').trim());
    if (!Number.isFinite(timestep)) fail('timestep is not a number');
    let n = -1;
    let box: Box | undefined;
    let header: string[] | undefined;
    let headerLine = 0;
    // Items up to and including ITEM: ATOMS (UNITS and TIME may appear too).
    while (header === undefined) {
      const item = next();
      if (item === undefined) fail(`frame ${frameNo} ends before its ITEM: ATOMS section`);
      const it2 = item as string;
      if (it2.startsWith('ITEM: NUMBER OF ATOMS')) {
        n = Number((next() ?? '').trim());
        if (!Number.isInteger(n) || n < 0) fail('number of atoms is not a whole number');
      } else if (it2.startsWith('ITEM: BOX BOUNDS')) {
        const at = r.lineNo;
        box = parseBox(it2, [next(), next(), next()], (m) => fail(m, at));
      } else if (it2.startsWith('ITEM: ATOMS')) {
        header = it2.trim().split(/\s+/).slice(2);
        headerLine = r.lineNo;
      } else if (it2.startsWith('ITEM:')) {
        next(); // ITEM: TIME, ITEM: UNITS: one value line we do not use
      } else {
        fail(`unexpected line in frame ${frameNo} header: '${it2.slice(0, 40)}'`);
      }
    }
    if (n < 0) fail(`frame ${frameNo} has no ITEM: NUMBER OF ATOMS`, headerLine);
    if (box === undefined) fail(`frame ${frameNo} has no ITEM: BOX BOUNDS`, headerLine);
    const cols = header as string[];
    const coord = COORDS.find((c) => c.every((name) => cols.includes(name)));
    if (coord === undefined) fail(`ITEM: ATOMS has no coordinate columns (x y z, xu yu zu, xs ys zs or xsu ysu zsu)`, headerLine);
    const hasElement = cols.includes('element');
    if (!hasElement && !cols.includes('type')) fail(`ITEM: ATOMS has neither a type nor an element column`, headerLine);
    if (!hasElement && (opts.types === undefined || opts.types.length === 0)) {
      fail('the dump has types but no element column: give the element of each type (e.g. --types Al,Cu)', headerLine);
    }
    for (const req of opts.requiredColumns ?? []) {
      if (!cols.includes(req)) fail(`column '${req}' is missing (the dump has: ${cols.join(' ')})`, headerLine);
    }
    const frame = readAtoms(r, cols, coord as readonly string[], n, box as Box, fail, opts);
    yield makeAtoms({ ...frame, info: { timestep } });
    line = next();
  }
}

function parseBox(item: string, rows: (string | undefined)[], fail: (m: string) => never): Box {
  const flags = item.trim().split(/\s+/).slice(3);
  const nums = rows.map((r) => (r ?? '').trim().split(/\s+/).map(Number));
  if (nums.some((r) => r.some((x) => Number.isNaN(x)))) fail('box bounds are not numbers');
  if (flags[0] === 'abc' && flags[1] === 'origin') {
    // General triclinic: each row is a lattice vector and one origin component.
    if (nums.some((r) => r.length < 4)) fail('general triclinic box rows need 4 numbers');
    if (nums.some((r) => r.slice(0, 4).some((x) => !Number.isFinite(x)))) fail('box bounds are not finite numbers');
    const [a, b, c] = nums.map((r) => r.slice(0, 3));
    const det = a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) + a[2] * (b[0] * c[1] - b[1] * c[0]);
    if (!(Math.abs(det) > 0)) fail('the box vectors a, b, c span no volume');
    return {
      cell: [...nums[0].slice(0, 3), ...nums[1].slice(0, 3), ...nums[2].slice(0, 3)],
      origin: [nums[0][3], nums[1][3], nums[2][3]],
      pbc: pbcOf(flags.slice(2)),
    };
  }
  const tilted = flags[0] === 'xy';
  const bFlags = tilted ? flags.slice(3) : flags;
  if (nums.some((r) => r.length < (tilted ? 3 : 2))) fail(`box bounds rows need ${tilted ? 3 : 2} numbers`);
  let [xlo, xhi] = nums[0];
  let [ylo, yhi] = nums[1];
  const [zlo, zhi] = nums[2];
  let xy = 0, xz = 0, yz = 0;
  if (tilted) {
    // Dumps give the bounding box; recover the box itself (LAMMPS Howto triclinic).
    xy = nums[0][2]; xz = nums[1][2]; yz = nums[2][2];
    xlo -= Math.min(0, xy, xz, xy + xz);
    xhi -= Math.max(0, xy, xz, xy + xz);
    ylo -= Math.min(0, yz);
    yhi -= Math.max(0, yz);
  }
  for (const [axis, lo, hi] of [['x', xlo, xhi], ['y', ylo, yhi], ['z', zlo, zhi]] as const) {
    if (!(hi > lo)) fail(`the box has no positive length along ${axis} (${axis}lo ${lo}, ${axis}hi ${hi})`);
  }
  if (nums.flat().some((x) => !Number.isFinite(x))) fail('box bounds are not finite numbers');
  return { cell: [xhi - xlo, 0, 0, xy, yhi - ylo, 0, xz, yz, zhi - zlo], origin: [xlo, ylo, zlo], pbc: pbcOf(bFlags) };
}

function pbcOf(flags: string[]): [boolean, boolean, boolean] {
  return [0, 1, 2].map((i) => (flags[i] ?? 'pp') === 'pp') as [boolean, boolean, boolean];
}

function readAtoms(
  r: ByteLines, cols: string[], coord: readonly string[], n: number, box: Box,
  fail: (m: string, line?: number) => never, opts: DumpReadOptions,
): { numbers: Int32Array; positions: Float64Array; cell: number[]; pbc: [boolean, boolean, boolean]; arrays: Record<string, PerAtomArray> } {
  const nc = cols.length;
  const [cx, cy, cz] = coord.map((c) => cols.indexOf(c));
  const typeCol = cols.indexOf('type');
  const elCol = cols.indexOf('element');
  const idCol = cols.indexOf('id');
  const extra = cols.map((_, i) => i).filter((i) => i !== cx && i !== cy && i !== cz && i !== elCol);
  const extraValues = extra.map(() => new Float64Array(n));
  const numbers = new Int32Array(n);
  const positions = new Float64Array(3 * n);
  const scaled = coord[0].startsWith('xs');
  const typeZ = (opts.types ?? []).map((s) => atomicNumber(s));
  const elementZ = new Map<string, number | undefined>();
  const [c0, c1, c2, c3, c4, c5, c6, c7, c8] = box.cell;
  const [o0, o1, o2] = box.origin;
  const starts = new Int32Array(nc), ends = new Int32Array(nc);
  for (let k = 0; k < n; k++) {
    if (!r.next()) fail(`the file ends after ${k} of ${n} atoms`);
    const got = r.fields(starts, ends, nc);
    if (got < nc) fail(`atom line has ${got} values; ITEM: ATOMS names ${nc} columns`);
    const b = r.bytes;
    let x = parseNumber(b, starts[cx], ends[cx]), y = parseNumber(b, starts[cy], ends[cy]), z = parseNumber(b, starts[cz], ends[cz]);
    if (Number.isNaN(x + y + z)) fail('coordinates are not numbers');
    if (scaled) {
      [x, y, z] = [x * c0 + y * c3 + z * c6, x * c1 + y * c4 + z * c7, x * c2 + y * c5 + z * c8];
    } else {
      x -= o0; y -= o1; z -= o2;
    }
    positions[3 * k] = x; positions[3 * k + 1] = y; positions[3 * k + 2] = z;
    if (elCol >= 0) {
      const symbol = latin1(b, starts[elCol], ends[elCol]);
      let zEl = elementZ.get(symbol);
      if (!elementZ.has(symbol)) elementZ.set(symbol, (zEl = atomicNumber(symbol)));
      if (zEl === undefined) fail(`'${symbol}' in the element column is not a chemical symbol`);
      numbers[k] = zEl as number;
    } else {
      const t = parseNumber(b, starts[typeCol], ends[typeCol]);
      const zT = typeZ[t - 1];
      if (zT === undefined) fail(`atom type ${latin1(b, starts[typeCol], ends[typeCol])} has no element (types given: ${(opts.types ?? []).join(',')})`);
      numbers[k] = zT as number;
    }
    for (let e = 0; e < extra.length; e++) extraValues[e][k] = parseNumber(b, starts[extra[e]], ends[extra[e]]);
    if (idCol >= 0) {
      const id = parseNumber(b, starts[idCol], ends[idCol]);
      // past 2^53 two ids can read as one number: refuse rather than merge atoms
      if (!Number.isSafeInteger(id) || id < 0) fail(`atom id '${latin1(b, starts[idCol], ends[idCol]).slice(0, 30)}' is not a whole number below 2^53`);
    }
  }
  const arrays: Record<string, PerAtomArray> = {};
  extra.forEach((colIdx, e) => {
    const name = cols[colIdx];
    const isInt = name === 'id' || name === 'type' || name === 'mol' || name.startsWith('i_') || name.startsWith('ix') || name === 'iy' || name === 'iz';
    arrays[name] = { kind: isInt ? 'int' : 'float', width: 1, values: extraValues[e] };
  });
  if (idCol >= 0) return sortById({ numbers, positions, cell: box.cell, pbc: box.pbc, arrays });
  return { numbers, positions, cell: box.cell, pbc: box.pbc, arrays };
}

function sortById<T extends { numbers: Int32Array; positions: Float64Array; arrays: Record<string, PerAtomArray> }>(f: T): T {
  const ids = f.arrays.id.values as Float64Array;
  const n = ids.length;
  let sorted = true;
  for (let k = 1; k < n && sorted; k++) sorted = ids[k - 1] <= ids[k];
  if (sorted) return f;
  const order = Array.from({ length: n }, (_, k) => k).sort((a, b) => ids[a] - ids[b]);
  const numbers = Int32Array.from(order, (k) => f.numbers[k]);
  const positions = new Float64Array(3 * n);
  order.forEach((k, j) => positions.set(f.positions.subarray(3 * k, 3 * k + 3), 3 * j));
  const arrays: Record<string, PerAtomArray> = {};
  for (const [name, a] of Object.entries(f.arrays)) {
    const v = a.values as Float64Array;
    arrays[name] = { ...a, values: Float64Array.from(order, (k) => v[k]) } as PerAtomArray;
  }
  return { ...f, numbers, positions, arrays };
}
