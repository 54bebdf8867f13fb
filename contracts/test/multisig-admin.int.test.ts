import { readFileSync } from 'node:fs';
import {
  Contract,
  ContractFactory,
  Interface,
  type ContractTransactionResponse,
  type InterfaceAbi,
} from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTufchainLog } from '../src/index.js';
import { deployTufchainLog, type EvmChain } from '../src/entry/dev.js';
import { randomHash } from './helpers/bytes.js';
import { actorsOf, revertOf, startSelectedEvm, type Actors } from './helpers/chain.js';

interface Compiled {
  abi: InterfaceAbi;
  bytecode: string;
}

/** The test-only multisig, compiled by the package build into artifacts/testing/. */
function loadTestMultisig(): Compiled {
  const url = new URL('../artifacts/testing/TestMultisig.json', import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as Compiled;
}

let chain: EvmChain;
let actors: Actors;
let multisigAbi: InterfaceAbi;
let multisig: { address: string; as(wallet: Actors['admin']): Contract };

beforeAll(async () => {
  chain = await startSelectedEvm();
  actors = actorsOf(chain);
  const compiled = loadTestMultisig();
  multisigAbi = compiled.abi;
  const owners = [actors.admin.address, actors.other.address, actors.deployer.address];
  const deployed = await new ContractFactory(
    compiled.abi,
    compiled.bytecode,
    actors.deployer,
  ).deploy(owners, 2);
  await deployed.waitForDeployment();
  const address = await deployed.getAddress();
  multisig = {
    address,
    as: (wallet) => new Contract(address, multisigAbi, wallet),
  };
});

afterAll(async () => {
  (actors as Actors | undefined)?.provider.destroy();
  await (chain as EvmChain | undefined)?.stop();
});

async function send(action: Promise<unknown>) {
  return await ((await action) as ContractTransactionResponse).wait();
}

describe('TufchainLog with a multisig admin (2 of 3 owners)', () => {
  it('changes roles only when the second owner approves, and refuses a lone owner', async () => {
    const log = await deployTufchainLog(actors.deployer, { admin: multisig.address });
    const reader = connectTufchainLog(log.address, actors.other);
    const role = (await reader.getFunction('PUBLISHER_ROLE')()) as string;
    const grant = reader.interface.encodeFunctionData('grantRole', [
      role,
      actors.publisher.address,
    ]);

    // An owner acting alone on the log directly is not the admin.
    expect(
      await revertOf(
        connectTufchainLog(log.address, actors.admin).getFunction('grantRole')(
          role,
          actors.publisher.address,
        ),
      ),
    ).toEqual({ name: 'NotAdmin', args: [actors.admin.address] });

    await send(multisig.as(actors.admin).getFunction('approve')(log.address, grant, 1));
    expect(await reader.getFunction('hasRole')(role, actors.publisher.address)).toBe(false);
    await send(multisig.as(actors.other).getFunction('approve')(log.address, grant, 1));
    expect(await reader.getFunction('hasRole')(role, actors.publisher.address)).toBe(true);

    // The new publisher logs; the event names it, and the multisig remains the admin.
    await send(
      connectTufchainLog(log.address, actors.publisher).getFunction('logRelease')(
        1,
        randomHash(),
        [],
      ),
    );
    expect(await reader.getFunction('admin')()).toBe(multisig.address);
  });

  it('hands the admin role from the multisig to a new one in two steps', async () => {
    const log = await deployTufchainLog(actors.deployer, { admin: multisig.address });
    const reader = connectTufchainLog(log.address, actors.other);
    const iface = new Interface(reader.interface.fragments);
    const transfer = iface.encodeFunctionData('transferAdmin', [actors.other.address]);
    await send(multisig.as(actors.admin).getFunction('approve')(log.address, transfer, 2));
    await send(multisig.as(actors.deployer).getFunction('approve')(log.address, transfer, 2));
    expect(await reader.getFunction('pendingAdmin')()).toBe(actors.other.address);
    await send(connectTufchainLog(log.address, actors.other).getFunction('acceptAdmin')());
    expect(await reader.getFunction('admin')()).toBe(actors.other.address);
  });
});
