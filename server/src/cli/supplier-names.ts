/** Supplier naming rules: the server's own (http/names.ts). */
export { SUPPLIER_HARDWARE_ID_PATTERN, SUPPLIER_ID_PATTERN } from '../http/names.js';
/** The layout's names, shared with the server, the vehicle and the auditor. */
export { HARDWARE_IDS_FIELD, SUPPLIER_ROLE_PREFIX } from '@tufchain/transparency';
