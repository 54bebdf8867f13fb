// @tufchain/transparency/offline-bundle: the offline update bundle (a dealer tool builds it from
// the server; a vehicle installs from it with no network).
export {
  createOfflineBundle,
  OfflineBundle,
  OFFLINE_BUNDLE_FORMAT,
  RELEASE_RECORD_MAX_BYTES,
  type OfflineBundleManifest,
} from '../bundle/offline-bundle.js';
