import { createHash } from 'node:crypto';
import { KeysError } from '../error.js';

const VIN = /^[A-HJ-NPR-Z0-9]{17}$/;
const DOMAIN = Buffer.from('tufchain/vin-commitment/v1\0', 'utf8');

/**
 * Salted commitment to a VIN: hex SHA-256 over a domain tag, the salt and the upper-cased VIN.
 * The salt (at least 16 random bytes, kept by the OEM) stops dictionary attacks over the VIN space.
 */
export function computeVinCommitment(vin: string, salt: Uint8Array): string {
  const normalized = vin.trim().toUpperCase();
  if (!VIN.test(normalized)) {
    throw new KeysError(
      'INVALID_VIN',
      'a VIN is 17 characters from 0-9 and A-Z without I, O and Q',
    );
  }
  if (!(salt instanceof Uint8Array) || salt.length < 16) {
    throw new KeysError('INVALID_SALT', 'the VIN commitment salt must be at least 16 bytes');
  }
  return createHash('sha256').update(DOMAIN).update(salt).update(normalized, 'utf8').digest('hex');
}

export function isVinCommitment(value: string): boolean {
  return /^[0-9a-f]{64}$/.test(value);
}

const ECU_SERIAL = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export function checkEcuSerial(ecuSerial: string): void {
  if (typeof ecuSerial !== 'string' || !ECU_SERIAL.test(ecuSerial)) {
    throw new KeysError(
      'INVALID_ECU_SERIAL',
      'an ECU serial is 1-64 characters from A-Z a-z 0-9 . _ : -',
    );
  }
}

export function checkVinCommitment(vinCommitment: string): void {
  if (typeof vinCommitment !== 'string' || !isVinCommitment(vinCommitment)) {
    throw new KeysError(
      'INVALID_VIN_COMMITMENT',
      'a VIN commitment is 64 lowercase hex characters',
    );
  }
}
