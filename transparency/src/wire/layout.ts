/**
 * Names in tufchain's TUF layout that the server, the OEM tools, the vehicle and the auditor must
 * agree on.
 */

/** A supplier's delegated targets role is named `supplier-<id>`. */
export const SUPPLIER_ROLE_PREFIX = 'supplier-';

/**
 * The unrecognized field (TUF keeps fields it does not know) of a supplier's DelegatedRole that
 * lists the hardware IDs the supplier may sign firmware for.
 */
export const HARDWARE_IDS_FIELD = 'x-tufchain-hardware-ids';
