import { ServerError } from '../error.js';

/**
 * Target names are flat file names: no directories, no traversal, no control
 * or non-ASCII characters, bounded length. Checked before anything touches
 * storage or metadata.
 */
const targetName = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$/;

export function isValidTargetName(name: string): boolean {
  return targetName.test(name) && !name.includes('..');
}

/** Supplier ids and the hardware IDs a supplier owns; such a hardware ID is also a path directory. */
export const SUPPLIER_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,39}$/;
export const SUPPLIER_HARDWARE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isSupplierHardwareId(id: string): boolean {
  return SUPPLIER_HARDWARE_ID_PATTERN.test(id);
}

/**
 * A target path in metadata: a flat name, or `<hardware ID>/<name>` (one directory, the form
 * supplier delegations are scoped by).
 */
export function isValidTargetPath(path: string): boolean {
  const slash = path.indexOf('/');
  if (slash === -1) return isValidTargetName(path);
  const dir = path.slice(0, slash);
  return (
    isSupplierHardwareId(dir) && !dir.includes('..') && isValidTargetName(path.slice(slash + 1))
  );
}

export function assertTargetName(name: string): string {
  if (!isValidTargetName(name)) {
    throw new ServerError(
      'INVALID_NAME',
      'target names are 1-200 characters of [A-Za-z0-9._+-], start alphanumeric and contain no ".."',
    );
  }
  return name;
}

const hardwareId = /^[A-Za-z0-9][A-Za-z0-9._:/+-]{0,127}$/;
export function isValidHardwareId(id: string): boolean {
  return hardwareId.test(id) && !id.includes('..');
}
