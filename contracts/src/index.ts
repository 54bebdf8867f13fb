export {
  findFreePort,
  resolveAnvilBinary,
  startAnvil,
  type DevChain,
  type EvmChain,
  type StartAnvilOptions,
} from './anvil.js';
export {
  loadArtifact,
  TUFCHAIN_LOG_ABI,
  type ContractArtifact,
  type ContractName,
} from './artifacts.js';
export { deployTufchainLog, type Deployment, type DeployTufchainLogOptions } from './deploy.js';
export { ANVIL_DEV_MNEMONIC, type DevAccount } from './dev-accounts.js';
export { ContractsError, type ContractsErrorCode } from './error.js';
export { hardwareIdHash } from './hardware-id.js';
export {
  connectTufchainLog,
  decodeTufchainLogError,
  tufchainLogInterface,
  type DecodedCustomError,
} from './tufchain-log.js';
export {
  FOUNDRY_IMAGE,
  startContainerChain,
  type ContainerChain,
  type StartContainerChainOptions,
} from './container-chain.js';
export { DEPLOY_USAGE, runDeployCli, type DeployCliIo } from './cli/deploy.js';
export { readLatestRelease, type LatestRelease } from './latest-release.js';
