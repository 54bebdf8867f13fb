import { createHash } from 'node:crypto';
import { TransparencyError } from '../error.js';

const HASH32 = /^(0x)?[0-9a-fA-F]{64}$/;

/** Normalises a 32-byte hash given as hex (with or without 0x) to lowercase `0x`-prefixed hex. */
export function normalizeHash32(value: string, what = 'hash'): string {
  if (typeof value !== 'string' || !HASH32.test(value)) {
    throw new TransparencyError('INVALID_HASH', `${what} must be 32 bytes of hex`);
  }
  return '0x' + value.replace(/^0x/, '').toLowerCase();
}

export function isHash32(value: unknown): value is string {
  return typeof value === 'string' && HASH32.test(value);
}

export function sha256Hex(data: Uint8Array): string {
  return '0x' + createHash('sha256').update(data).digest('hex');
}

export function bytesToHex(data: Uint8Array): string {
  return '0x' + Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex');
}

export function hexToBytes(hex: string): Uint8Array {
  const clean = hex.replace(/^0x/, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new TransparencyError('INVALID_HASH', 'not a hex string');
  }
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

/** Lowercase hex without a `0x` prefix, for comparing hashes written either way. */
export function plainHex(h: string): string {
  return h.replace(/^0x/, '').toLowerCase();
}
