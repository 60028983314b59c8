/**
 * The `data` column of ASE's database (schema version 9): `ase.db.core.object_to_bytes`.
 *
 *   bytes 0..7   int64 LE: offset J of the JSON part
 *   bytes 8..J-1 raw little-endian array buffers, depth-first, no padding (offsets may be unaligned)
 *   bytes J..    compact JSON; each array is {"__ndarray__": [shape, dtype, byte offset]}
 *
 * Older files (versions 5–8) hold the same object as JSON text with flat value lists.
 */
import { pyJsonDumps, pyJsonLoads, type PyJson } from './pyjson.js';
import { ownBytes } from './blobs.js';

export type DType = 'float64' | 'float32' | 'int64' | 'int32' | 'bool' | 'complex128';

type Values = Float64Array | Float32Array | BigInt64Array | Int32Array | Uint8Array;

/** A numpy array as plain data. complex128 values are interleaved (re, im) in a Float64Array. */
export class NdArray {
  constructor(readonly dtype: DType, readonly shape: readonly number[], readonly values: Values) {
    const n = shape.reduce((a, b) => a * b, 1) * (dtype === 'complex128' ? 2 : 1);
    if (values.length !== n) throw new RangeError(`ndarray of shape [${shape}] needs ${n} values, got ${values.length}`);
  }
  static float64(values: Float64Array, shape: readonly number[] = [values.length]): NdArray {
    return new NdArray('float64', shape, values);
  }
}

export class Complex {
  constructor(readonly re: number, readonly im: number) {}
}

export type DataValue = null | boolean | number | string | NdArray | Complex | DataValue[] | { [key: string]: DataValue };
export type DataObject = { [key: string]: DataValue };

const ITEMSIZE: Record<DType, number> = { float64: 8, float32: 4, int64: 8, int32: 4, bool: 1, complex128: 16 };

/** Encode a data dict the way ASE 3.22+ does (byte-identical for the same insertion order). */
export function dataToBytes(obj: DataObject): Uint8Array {
  const chunks: Uint8Array[] = [];
  let offset = 8;
  const walk = (v: DataValue): PyJson => {
    if (v instanceof NdArray) {
      const bytes = new Uint8Array(v.values.buffer, v.values.byteOffset, v.values.byteLength).slice();
      const ref: PyJson = { __ndarray__: [[...v.shape], v.dtype, offset] };
      chunks.push(bytes);
      offset += bytes.length;
      return ref;
    }
    if (v instanceof Complex) return { __complex__: [v.re, v.im] };
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const out: { [k: string]: PyJson } = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x);
      return out;
    }
    return v;
  };
  const json = new TextEncoder().encode(pyJsonDumps(walk(obj), true));
  const out = new Uint8Array(offset + json.length);
  new DataView(out.buffer).setBigInt64(0, BigInt(offset), true);
  let at = 8;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  out.set(json, offset);
  return out;
}

/** Decode a `data` value: binary (version 9) or JSON text (older). Throws on a broken blob. */
export function dataFromColumn(value: Uint8Array | string | null): DataObject {
  if (value === null) return {};
  if (typeof value === 'string') {
    if (value === 'null') return {};
    return fromJsonValue(pyJsonLoads(value), null) as DataObject;
  }
  if (value.length < 8) throw new RangeError(`data blob of ${value.length} bytes is too short`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const j = Number(view.getBigInt64(0, true));
  if (j < 8 || j > value.length) throw new RangeError(`data blob points its JSON part at byte ${j} of ${value.length}`);
  const text = new TextDecoder().decode(value.subarray(j));
  return fromJsonValue(pyJsonLoads(text), value) as DataObject;
}

function fromJsonValue(v: unknown, blob: Uint8Array | null): DataValue {
  if (Array.isArray(v)) return v.map((x) => fromJsonValue(x, blob));
  if (v === null || typeof v !== 'object') return v as DataValue;
  const o = v as Record<string, unknown>;
  if ('__ndarray__' in o) {
    const [shape, dtype, where] = o.__ndarray__ as [number[], DType, number | unknown[]];
    return typeof where === 'number' && blob !== null
      ? readArray(blob, dtype, shape, where)
      : arrayFromList(dtype, shape, where as unknown[]);
  }
  if ('__complex__' in o) {
    const [re, im] = o.__complex__ as [number, number];
    return new Complex(re, im);
  }
  const out: { [k: string]: DataValue } = {};
  for (const [k, x] of Object.entries(o)) out[k] = fromJsonValue(x, blob);
  return out;
}

function readArray(blob: Uint8Array, dtype: DType, shape: number[], offset: number): NdArray {
  const size = ITEMSIZE[dtype];
  if (size === undefined) throw new RangeError(`unsupported array dtype '${dtype}' in data`);
  const count = shape.reduce((a, b) => a * b, 1);
  const end = offset + count * size;
  if (end > blob.length) throw new RangeError(`data array at byte ${offset} runs past the blob`);
  // Offsets may be unaligned (after a bool array): copy first, then view.
  const buf = ownBytes(blob, offset, end);
  switch (dtype) {
    case 'float64': return new NdArray(dtype, shape, new Float64Array(buf));
    case 'complex128': return new NdArray(dtype, shape, new Float64Array(buf));
    case 'float32': return new NdArray(dtype, shape, new Float32Array(buf));
    case 'int64': return new NdArray(dtype, shape, new BigInt64Array(buf));
    case 'int32': return new NdArray(dtype, shape, new Int32Array(buf));
    case 'bool': return new NdArray(dtype, shape, new Uint8Array(buf));
  }
}

function arrayFromList(dtype: DType, shape: number[], flat: unknown[]): NdArray {
  const nums = flat as number[];
  switch (dtype) {
    case 'float64': return new NdArray(dtype, shape, Float64Array.from(nums));
    case 'float32': return new NdArray(dtype, shape, Float32Array.from(nums));
    case 'int64': return new NdArray(dtype, shape, BigInt64Array.from(nums, (x) => BigInt(x)));
    case 'int32': return new NdArray(dtype, shape, Int32Array.from(nums));
    case 'bool': return new NdArray(dtype, shape, Uint8Array.from(nums, (x) => (x ? 1 : 0)));
    case 'complex128': {
      // JSON text stores complex elements as [re, im] pairs
      const out = new Float64Array(2 * nums.length);
      (flat as unknown[]).forEach((c, i) => {
        const [re, im] = Array.isArray(c) ? (c as number[]) : [c as number, 0];
        out[2 * i] = re;
        out[2 * i + 1] = im;
      });
      return new NdArray(dtype, shape, out);
    }
    default: throw new RangeError(`unsupported array dtype '${dtype}' in data`);
  }
}
