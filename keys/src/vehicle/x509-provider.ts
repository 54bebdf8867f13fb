// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { KeyObject, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

export type CryptoKey = webcrypto.CryptoKey;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
export { OID_CLIENT_AUTH, OID_COMMON_NAME, OID_SERIAL_NUMBER } from './oids.js';

export const ECDSA_P256_SHA256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export function toSigningCryptoKey(privateKey: KeyObject): CryptoKey {
  return privateKey.toCryptoKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
}

export function toVerifyingCryptoKey(publicKey: KeyObject): CryptoKey {
  return publicKey.toCryptoKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
}

export function fromCryptoKey(key: CryptoKey): KeyObject {
  return KeyObject.from(key);
}

export function randomSerialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40; // positive, fixed length
  return Buffer.from(bytes).toString('hex');
}
