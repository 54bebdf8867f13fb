import { ContractFactory, type InterfaceAbi, type Signer } from 'ethers';
import { loadArtifact } from '../artifacts.js';
import { ContractsError } from '../error.js';

export interface DeployTufchainLogOptions {
  /** Manages roles; may be a multisig contract address. */
  admin: string;
  publishers?: string[];
  logOperators?: string[];
  /** Blocks to wait for after the deployment's block (default 1: the receipt itself). */
  confirmations?: number;
}

export interface Deployment {
  address: string;
  txHash: string;
  blockNumber: number;
}

/** Deploys TufchainLog from the generated artifact and waits for the deployment receipt. */
export async function deployTufchainLog(
  deployer: Signer,
  opts: DeployTufchainLogOptions,
): Promise<Deployment> {
  const artifact = loadArtifact('TufchainLog');
  const factory = new ContractFactory(artifact.abi as InterfaceAbi, artifact.bytecode, deployer);
  let deployment: Deployment;
  try {
    const contract = await factory.deploy(
      opts.admin,
      opts.publishers ?? [],
      opts.logOperators ?? [],
    );
    const tx = contract.deploymentTransaction();
    const receipt = await tx?.wait(opts.confirmations ?? 1);
    if (!tx || !receipt || receipt.status !== 1 || !receipt.contractAddress) {
      throw new Error('deployment transaction failed');
    }
    deployment = {
      address: receipt.contractAddress,
      txHash: tx.hash,
      blockNumber: receipt.blockNumber,
    };
  } catch (cause) {
    throw new ContractsError('DEPLOY_FAILED', `TufchainLog deployment failed: ${String(cause)}`, {
      cause,
    });
  }
  // The chain must run exactly the compiled code (a chain without the pinned EVM version's
  // opcodes fails here rather than at the first release).
  const code = await deployer.provider?.getCode(deployment.address);
  if (code?.toLowerCase() !== artifact.deployedBytecode.toLowerCase()) {
    throw new ContractsError(
      'DEPLOY_FAILED',
      `the code at ${deployment.address} is not the compiled TufchainLog runtime`,
    );
  }
  return deployment;
}
