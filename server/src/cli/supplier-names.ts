/** Supplier naming rules, the same as the server's (routes/schemas.ts, tuf/layout.ts). */
export const SUPPLIER_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,39}$/;
export const SUPPLIER_HARDWARE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const SUPPLIER_ROLE_PREFIX = 'supplier-';
/** The unrecognized field of a supplier's delegated role listing its hardware IDs (layout v2). */
export const HARDWARE_IDS_FIELD = 'x-tufchain-hardware-ids';
