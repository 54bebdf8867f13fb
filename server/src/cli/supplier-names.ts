/** Supplier naming rules: the server's own (http/names.ts). */
export { SUPPLIER_HARDWARE_ID_PATTERN, SUPPLIER_ID_PATTERN } from '../http/names.js';
export const SUPPLIER_ROLE_PREFIX = 'supplier-';
/** The unrecognized field of a supplier's delegated role listing its hardware IDs (layout v2). */
export const HARDWARE_IDS_FIELD = 'x-tufchain-hardware-ids';
