// '@tufchain/contracts/dev': chain tooling for development, tests, benchmarks, the demo and
// deployment. It needs the package's devDependencies (@foundry-rs/anvil, testcontainers), so
// nothing a vehicle or the server runs may import it.
export {
  findFreePort,
  resolveAnvilBinary,
  startAnvil,
  type DevChain,
  type EvmChain,
  type StartAnvilOptions,
} from '../dev/anvil.js';
export {
  FOUNDRY_IMAGE,
  startContainerChain,
  type ContainerChain,
  type StartContainerChainOptions,
} from '../dev/container-chain.js';
export {
  deployTufchainLog,
  type Deployment,
  type DeployTufchainLogOptions,
} from '../dev/deploy.js';
export { DEPLOY_USAGE, runDeployCli, type DeployCliIo } from '../dev/deploy-cli.js';
export { ANVIL_DEV_MNEMONIC, type DevAccount } from '../dev/dev-accounts.js';
export { startTestChain, type TestChain, type TestChainOptions } from '../dev/test-chain.js';
export {
  forgeBlockHashes,
  hideLogs,
  startRpcProxy,
  type Hostility,
  type HostileStats,
  type JsonRpcRequest,
  type Rewrite,
  type RpcProxy,
} from '../dev/rpc-proxy.js';
