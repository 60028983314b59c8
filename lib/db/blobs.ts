/** Column blobs: raw little-endian numpy buffers, no header (int32 for numbers and tags). */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bytesOf(a: Float64Array | Int32Array): Uint8Array {
  if (!LITTLE_ENDIAN) throw new Error('big-endian hosts are not supported');
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function float64Blob(a: ArrayLike<number>): Uint8Array {
  return bytesOf(a instanceof Float64Array ? a : Float64Array.from(a));
}

export function int32Blob(a: ArrayLike<number>): Uint8Array {
  return bytesOf(a instanceof Int32Array ? a : Int32Array.from(a));
}

/**
 * Bytes [start, end) of b in an ArrayBuffer of their own. A blob from SQLite may be a Buffer
 * at any offset of a shared pool, and Buffer's own `slice` is a view, not a copy: copy with
 * Uint8Array's.
 */
export function ownBytes(b: Uint8Array, start = 0, end = b.length): ArrayBuffer {
  return Uint8Array.prototype.slice.call(b, start, end).buffer as ArrayBuffer;
}

export function blobToFloat64(b: Uint8Array): Float64Array {
  if (b.length % 8 !== 0) throw new RangeError(`a float64 column blob of ${b.length} bytes`);
  return new Float64Array(ownBytes(b));
}

export function blobToInt32(b: Uint8Array): Int32Array {
  if (b.length % 4 !== 0) throw new RangeError(`an int32 column blob of ${b.length} bytes`);
  return new Int32Array(ownBytes(b));
}
