/**
 * ustar archives of regular files, to move a submission's inputs (and a poll's outputs) in one
 * stream instead of file by file. Enough of POSIX ustar for GNU tar to read ours and for us to
 * read what `tar -c` writes for regular files.
 */
export interface TarEntry { path: string; content: Uint8Array }

const BLOCK = 512;

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(path: string, size: number, mtime: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const put = (s: string, at: number) => h.set(Buffer.from(s, 'utf8'), at);
  let name = path, prefix = '';
  if (Buffer.byteLength(path) > 100) {
    const cut = path.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(path.slice(cut + 1)) > 100) throw new RangeError(`path too long for ustar: ${path}`);
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
  }
  put(name, 0);
  put(octal(0o644, 8), 100); put(octal(0, 8), 108); put(octal(0, 8), 116);
  put(octal(size, 12), 124); put(octal(mtime, 12), 136);
  put('        ', 148); // checksum field counts as spaces while summing
  put('0', 156); put('ustar\0', 257); put('00', 263); put(prefix, 345);
  const sum = h.reduce((a, b) => a + b, 0);
  put(octal(sum, 7) + ' ', 148);
  return h;
}

export function writeTar(entries: readonly TarEntry[], mtime = 0): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    parts.push(header(e.path, e.content.length, mtime), e.content);
    const pad = (BLOCK - (e.content.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(2 * BLOCK));
  return Buffer.concat(parts);
}

/**
 * Regular files of a ustar/GNU archive (other entry types are skipped). Throws RangeError for an
 * archive that is damaged or cut short (a bad header checksum, a size that does not fit, no
 * end-of-archive blocks): a partial download must not pass for fewer files.
 */
export function readTar(bytes: Uint8Array): TarEntry[] {
  const out: TarEntry[] = [];
  const text = (a: number, n: number) => Buffer.from(bytes.subarray(a, a + n)).toString('utf8').replace(/\0.*$/s, '');
  for (let at = 0; ;) {
    if (at + BLOCK > bytes.length) throw new RangeError(`the archive ends at byte ${bytes.length} without its end-of-archive blocks (cut short)`);
    if (bytes.subarray(at, at + BLOCK).every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : bytes[at + i];
    const stored = parseInt(text(at + 148, 8).trim(), 8);
    if (stored !== sum) throw new RangeError(`the header at byte ${at} has a wrong checksum (damaged)`);
    const size = parseInt(text(at + 124, 12).trim() || '0', 8);
    if (!Number.isSafeInteger(size) || at + BLOCK + size > bytes.length) throw new RangeError(`the entry at byte ${at} runs past the end of the archive (cut short)`);
    const type = String.fromCharCode(bytes[at + 156] || 48);
    const prefix = text(at + 257, 6).startsWith('ustar') ? text(at + 345, 155) : '';
    const name = prefix === '' ? text(at, 100) : `${prefix}/${text(at, 100)}`;
    if (type === '0' || type === '\0') out.push({ path: name, content: bytes.slice(at + BLOCK, at + BLOCK + size) });
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return out;
}
