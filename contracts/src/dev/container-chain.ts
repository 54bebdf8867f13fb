import type { EvmChain } from './anvil.js';
import { ANVIL_DEV_MNEMONIC, deriveDevAccounts } from './dev-accounts.js';
import { ContractsError } from '../error.js';
import { waitForRpc } from './rpc.js';

/** The Foundry image whose anvil matches the npm-shipped binary. */
export const FOUNDRY_IMAGE = 'ghcr.io/foundry-rs/foundry:v1.7.1';

export interface ContainerChain extends EvmChain {
  containerId: string;
}

export interface StartContainerChainOptions {
  image?: string;
  chainId?: number;
  hardfork?: string;
  startTimeoutMs?: number;
}

/**
 * Opt-in alternative to startAnvil(): anvil inside a container started with testcontainers.
 * Throws CONTAINER_RUNTIME_UNAVAILABLE when no Docker-compatible engine is reachable.
 */
export async function startContainerChain(
  opts: StartContainerChainOptions = {},
): Promise<ContainerChain> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
  } catch (cause) {
    throw new ContractsError(
      'CONTAINER_RUNTIME_UNAVAILABLE',
      'no Docker engine is reachable, so the containerized EVM node cannot run ' +
        '(unset TUFCHAIN_EVM to use the spawned anvil)',
      { cause },
    );
  }
  const args = ['--host', '0.0.0.0', '--port', '8545', '--hardfork', opts.hardfork ?? 'prague'];
  if (opts.chainId !== undefined) args.push('--chain-id', String(opts.chainId));
  let container;
  try {
    container = await new GenericContainer(opts.image ?? FOUNDRY_IMAGE)
      .withEntrypoint(['anvil'])
      .withCommand(args)
      .withExposedPorts(8545)
      .withWaitStrategy(Wait.forListeningPorts())
      .withStartupTimeout(opts.startTimeoutMs ?? 120_000)
      .start();
  } catch (cause) {
    throw new ContractsError(
      'CONTAINER_START_FAILED',
      `EVM container did not start: ${String(cause)}`,
      {
        cause,
      },
    );
  }
  const rpcUrl = `http://${container.getHost()}:${container.getMappedPort(8545).toString()}`;
  const started = container;
  try {
    const chainId = await waitForRpc(rpcUrl, { timeoutMs: 30_000 });
    let stopping: Promise<void> | undefined;
    return {
      rpcUrl,
      chainId,
      containerId: started.getId(),
      accounts: deriveDevAccounts(ANVIL_DEV_MNEMONIC, 10),
      stop: () => {
        stopping ??= started.stop().then(() => undefined);
        return stopping;
      },
    };
  } catch (cause) {
    await started.stop();
    throw new ContractsError('CONTAINER_START_FAILED', `EVM container RPC did not answer`, {
      cause,
    });
  }
}
