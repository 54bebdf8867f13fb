import { createHash, randomBytes } from 'node:crypto';

export function sha256Hex(data: Uint8Array | string): string {
  return `0x${createHash('sha256').update(data).digest('hex')}`;
}

export function randomHash(): string {
  return `0x${randomBytes(32).toString('hex')}`;
}
