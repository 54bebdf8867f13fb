// @tufchain/transparency/wire: the install-report and firmware predicates as they travel (types,
// zod schemas, parsers), and the names of tufchain's TUF layout.
export { HARDWARE_IDS_FIELD, SUPPLIER_ROLE_PREFIX } from '../wire/layout.js';
export {
  INSTALL_PREDICATE_TYPE,
  installPredicateSchema,
  parseInstallPredicate,
  type InstallPredicate,
  type InstallResult,
} from '../wire/install.js';
export {
  FIRMWARE_PREDICATE_TYPE,
  firmwarePredicateSchema,
  parseFirmwarePredicate,
  type FirmwarePredicate,
} from '../wire/firmware.js';
