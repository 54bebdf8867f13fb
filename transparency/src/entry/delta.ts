// @tufchain/transparency/delta: tufchain's binary delta format (README: Binary deltas), its generator and an
// in-memory applier; the vehicle's streaming applier builds on DeltaOpParser.
export {
  DELTA_FORMAT_VERSION,
  DELTA_HEADER_BYTES,
  DELTA_MEDIA_TYPE,
  DELTA_WINDOW_LOG,
  DeltaOpParser,
  createDeltaDecompressor,
  decodeDeltaHeader,
  encodeDeltaHeader,
  type DeltaHeader,
  type DeltaOp,
  type DeltaOpHandler,
  type ImageRef,
} from '../delta/format.js';
export { createDelta, defaultDeltaOptions, diffOps, type DeltaOptions } from '../delta/generate.js';
export { applyDelta } from '../delta/apply.js';
export { deltaTargetPath } from '../delta/target-path.js';
export { TransparencyError } from '../error.js';
