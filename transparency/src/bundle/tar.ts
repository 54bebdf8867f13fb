import { open, type FileHandle } from 'node:fs/promises';
import { TransparencyError } from '../error.js';

/**
 * Minimal POSIX ustar (IEEE Std 1003.1) writer and index reader for offline update bundles:
 * regular files only, short names (the bundle manifest maps repository paths to them).
 */
const BLOCK = 512;

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

export function ustarHeader(name: string, size: number, mtimeSeconds = 0): Buffer {
  if (Buffer.byteLength(name) > 100)
    throw new TransparencyError('BUNDLE_INVALID', `tar name too long: ${name}`);
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(0o644, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtimeSeconds, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write('0', 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

export interface TarEntry {
  name: string;
  offset: number;
  size: number;
}

function parseOctal(buf: Buffer, start: number, len: number): number {
  const text = buf
    .toString('ascii', start, start + len)
    .replace(/\0.*$/, '')
    .trim();
  if (!/^[0-7]*$/.test(text)) throw new TransparencyError('BUNDLE_INVALID', 'malformed tar header');
  return text === '' ? 0 : parseInt(text, 8);
}

/** Reads the headers of a ustar file: name, data offset and size of each regular file. */
export async function readTarIndex(path: string): Promise<TarEntry[]> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new TransparencyError('BUNDLE_INVALID', `cannot open bundle ${path}`, { cause: err });
  }
  try {
    const { size: fileSize } = await fh.stat();
    const entries: TarEntry[] = [];
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    while (pos + BLOCK <= fileSize) {
      await fh.read(header, 0, BLOCK, pos);
      if (header.every((b) => b === 0)) break;
      let sum = 0;
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (header[i] ?? 0);
      if (sum !== parseOctal(header, 148, 8)) {
        throw new TransparencyError('BUNDLE_INVALID', `bad tar header checksum at ${pos}`);
      }
      const name = header.toString('utf8', 0, 100).replace(/\0.*$/s, '');
      const size = parseOctal(header, 124, 12);
      const type = String.fromCharCode(header[156] ?? 0);
      const offset = pos + BLOCK;
      if (offset + size > fileSize)
        throw new TransparencyError('BUNDLE_INVALID', `truncated tar entry ${name}`);
      if (type === '0' || type === '\0') entries.push({ name, offset, size });
      pos = offset + size + padding(size).length;
    }
    return entries;
  } finally {
    await fh.close();
  }
}
