// The runtime half of the package: what the server, the agent and the auditor load. Light on
// purpose (ethers and the generated artifact only); the dev chain, deployment and test helpers
// are in '@tufchain/contracts/dev' (src/entry/dev.ts), whose packages are devDependencies.
export {
  loadArtifact,
  TUFCHAIN_LOG_ABI,
  type ContractArtifact,
  type ContractName,
} from './artifacts.js';
export { ContractsError, type ContractsErrorCode } from './error.js';
export { hardwareIdHash } from './hardware-id.js';
export {
  connectTufchainLog,
  decodeTufchainLogError,
  tufchainLogInterface,
  type DecodedCustomError,
} from './tufchain-log.js';
export { readLatestRelease, type LatestRelease } from './latest-release.js';
