/** Read a file in fixed-size byte chunks, without holding the whole file. */
import { openSync, readSync, closeSync } from 'node:fs';

export function* fileChunks(path: string, chunkBytes = 1 << 22): Generator<Uint8Array> {
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(chunkBytes);
      const n = readSync(fd, buf, 0, chunkBytes, null);
      if (n === 0) break;
      yield buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}
