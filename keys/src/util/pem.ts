import { KeysError, type KeysErrorCode } from '../error.js';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)\r?\n?-----END \1-----/g;

export interface PemBlock {
  label: string;
  der: Buffer;
}

/** All PEM blocks in the text, strictly decoded; throws `code` when the armor or base64 is damaged. */
export function decodePemBlocks(text: string, code: KeysErrorCode = 'MALFORMED_PEM'): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(PEM_BLOCK)) {
    const label = match[1] ?? '';
    const body = (match[2] ?? '').replace(/\r?\n/g, '');
    if (body.length === 0 || body.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
      throw new KeysError(code, `PEM block ${label} has invalid base64`);
    }
    const der = Buffer.from(body, 'base64');
    if (der.toString('base64') !== body) {
      throw new KeysError(code, `PEM block ${label} has non-canonical base64`);
    }
    blocks.push({ label, der });
  }
  const begins = text.match(/-----BEGIN /g)?.length ?? 0;
  if (begins !== blocks.length) {
    throw new KeysError(code, 'PEM armor is damaged or truncated');
  }
  return blocks;
}

export function decodePem(
  text: string,
  label: string,
  code: KeysErrorCode = 'MALFORMED_PEM',
): Buffer {
  const blocks = decodePemBlocks(text, code);
  if (blocks.length !== 1 || blocks[0]?.label !== label) {
    throw new KeysError(code, `expected exactly one PEM block labelled ${label}`);
  }
  return blocks[0].der;
}

export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
