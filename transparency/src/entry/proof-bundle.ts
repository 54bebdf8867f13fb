// @tufchain/transparency/proof-bundle: checking that a log entry is included under a signed
// checkpoint anchored on chain, with the pinned log keys as C2SP verifier keys. No log storage
// (node:sqlite), chain client or auditor: the online check takes any AnchorLookup (a ChainReader).
export { TransparencyError, type TransparencyErrorCode } from '../error.js';
export {
  parseProofBundle,
  PROOF_BUNDLE_MEDIA_TYPE,
  proofBundleSchema,
  verifyProofBundle,
  verifyProofBundleOffline,
  type AnchorLookup,
  type ProofBundle,
  type VerifiedProofBundle,
} from '../bundle/proof-bundle.js';
export { createNoteVerifier, parseVerifierKey, type NoteVerifier } from '../note/signed-note.js';
export type {
  InstallLogEntry,
  LogEntryDocument,
  RecallLogEntry,
  ReleaseLogEntry,
} from '../log/entry.js';
