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

/** Copy first: a blob from sql.js may sit at any offset of a shared buffer. */
export function blobToFloat64(b: Uint8Array): Float64Array {
  if (b.length % 8 !== 0) throw new RangeError(`a float64 column blob of ${b.length} bytes`);
  return new Float64Array(b.slice().buffer);
}

export function blobToInt32(b: Uint8Array): Int32Array {
  if (b.length % 4 !== 0) throw new RangeError(`an int32 column blob of ${b.length} bytes`);
  return new Int32Array(b.slice().buffer);
}
