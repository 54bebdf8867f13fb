import { parseArgs } from 'node:util';
import { isAddress, JsonRpcProvider, Wallet } from 'ethers';
import { deployTufchainLog } from './deploy.js';
import { ContractsError } from '../error.js';
import { requestChainId } from './rpc.js';

export const DEPLOY_USAGE = `usage: tufchain-contracts deploy --rpc-url <url> --admin <address>
         [--publisher <address>]... [--log-operator <address>]... [--confirmations <n>]
The deployer's private key (0x-hex) is read from TUFCHAIN_DEPLOYER_KEY; it is never printed.
Prints one JSON line: { address, txHash, blockNumber, chainId }.`;

export interface DeployCliIo {
  stdout(line: string): void;
  stderr(line: string): void;
}

/** The deploy command; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function runDeployCli(
  argv: string[],
  env: { TUFCHAIN_DEPLOYER_KEY?: string | undefined },
  io: DeployCliIo,
): Promise<number> {
  let provider: JsonRpcProvider | undefined;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        'rpc-url': { type: 'string' },
        admin: { type: 'string' },
        publisher: { type: 'string', multiple: true, default: [] },
        'log-operator': { type: 'string', multiple: true, default: [] },
        confirmations: { type: 'string', default: '1' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    });
    if (values.help) {
      io.stdout(DEPLOY_USAGE);
      return 0;
    }
    const rpcUrl = values['rpc-url'];
    if (!rpcUrl || !/^https?:\/\//.test(rpcUrl)) throw usage('--rpc-url http(s)://… is required');
    const admin = values.admin;
    if (!admin || !isAddress(admin)) throw usage('--admin must be an address');
    const notAddress = [...values.publisher, ...values['log-operator']].find(
      (a): boolean => !isAddress(a),
    );
    if (notAddress !== undefined) throw usage(`not an address: ${notAddress}`);
    const confirmations = Number(values.confirmations);
    if (!Number.isInteger(confirmations) || confirmations < 1) {
      throw usage('--confirmations must be a positive integer');
    }
    const key = env.TUFCHAIN_DEPLOYER_KEY;
    if (!key || !/^0x[0-9a-fA-F]{64}$/.test(key)) {
      throw new ContractsError(
        'DEPLOYER_KEY_MISSING',
        'TUFCHAIN_DEPLOYER_KEY must hold the deployer private key as 0x + 64 hex digits',
      );
    }

    let chainId: number;
    try {
      chainId = await requestChainId(rpcUrl, 10_000);
    } catch (cause) {
      throw new ContractsError('RPC_UNAVAILABLE', `no JSON-RPC answer from ${rpcUrl}`, { cause });
    }
    provider = new JsonRpcProvider(rpcUrl, chainId, { staticNetwork: true, cacheTimeout: -1 });
    const deployer = new Wallet(key, provider);
    const deployment = await deployTufchainLog(deployer, {
      admin,
      publishers: values.publisher,
      logOperators: values['log-operator'],
      confirmations,
    });
    io.stdout(JSON.stringify({ ...deployment, chainId }));
    return 0;
  } catch (err) {
    if (err instanceof ContractsError && err.code === 'INVALID_ARGUMENT') {
      io.stderr(`${err.message}\n${DEPLOY_USAGE}`);
      return 2;
    }
    if (
      err instanceof TypeError &&
      'code' in err &&
      String(err.code).startsWith('ERR_PARSE_ARGS')
    ) {
      io.stderr(`${err.message}\n${DEPLOY_USAGE}`);
      return 2;
    }
    const code = err instanceof ContractsError ? err.code : 'DEPLOY_FAILED';
    io.stderr(`${code}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    provider?.destroy();
  }
}

function usage(message: string): ContractsError {
  return new ContractsError('INVALID_ARGUMENT', message);
}
