import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Contract,
  ContractFactory,
  JsonRpcProvider,
  Network,
  parseEther,
  type ContractTransactionResponse,
  type InterfaceAbi,
} from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TUFCHAIN_LOG_ABI } from '@tufchain/contracts';
import {
  createExternalSecp256k1Signer,
  createSecp256k1FileSigner,
  createSecp256k1KeySigner,
  generateSecp256k1KeyPair,
  writeEncryptedKeyFile,
  type Secp256k1Signer,
} from '@tufchain/keys';
import {
  CHAIN_ROLE_IDS,
  ChainReader,
  checkChainAccount,
  createChainSigner,
  prepareGrantRole,
  prepareSetMinimumVersion,
  ReleaseLogWriter,
  TransparencyError,
  type ChainRole,
} from '../src/index.js';
import { startTestChain, type TestChain } from '@tufchain/contracts/dev';

let t: TestChain;
let provider: JsonRpcProvider;
let dir: string;

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TransparencyError);
    return (err as TransparencyError).code;
  }
  return 'NO_ERROR';
}

beforeAll(async () => {
  t = await startTestChain();
  const network = Network.from(t.chain.chainId);
  provider = new JsonRpcProvider(t.chain.rpcUrl, network, {
    staticNetwork: network,
    cacheTimeout: -1,
  });
  dir = await mkdtemp(join(tmpdir(), 'tufchain-chain-accounts-'));
});

afterAll(async () => {
  provider?.destroy();
  await t?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const admin = () => new Contract(t.address, TUFCHAIN_LOG_ABI as never, t.admin);

async function send(tx: Promise<unknown>): Promise<void> {
  await ((await tx) as ContractTransactionResponse).wait();
}

/** A new account behind the seam, optionally with a role and some ether. */
async function account(opts: { role?: ChainRole; fund?: boolean } = {}): Promise<Secp256k1Signer> {
  const key = createSecp256k1KeySigner(generateSecp256k1KeyPair().privateKey);
  if (opts.role) {
    await send(admin().getFunction('grantRole')(CHAIN_ROLE_IDS[opts.role], key.address));
  }
  if (opts.fund !== false) {
    await (await t.admin.sendTransaction({ to: key.address, value: parseEther('1') })).wait();
  }
  return key;
}

describe('a chain account whose key is an encrypted key file', () => {
  it('publishes through ReleaseLogWriter with the key never leaving the seam', async () => {
    const { privateKey } = generateSecp256k1KeyPair();
    const path = join(dir, 'publisher.key');
    await writeEncryptedKeyFile(path, privateKey, 'publisher pass');
    const key = await createSecp256k1FileSigner(path, 'publisher pass');
    await send(admin().getFunction('grantRole')(CHAIN_ROLE_IDS.publisher, key.address));
    await (await t.admin.sendTransaction({ to: key.address, value: parseEther('1') })).wait();
    const signer = createChainSigner(key, provider);
    expect(
      await checkChainAccount({ signer, contractAddress: t.address, role: 'publisher' }),
    ).toMatchObject({ address: key.address, role: 'publisher', chainId: t.chain.chainId });
    const writer = new ReleaseLogWriter({
      signer,
      contractAddress: t.address,
      confirmations: 1,
      pollIntervalMs: 50,
    });
    const metadataHash = '0x' + randomBytes(32).toString('hex');
    const receipt = await writer.logRelease({ metadataVersion: 1, metadataHash, firmware: [] });
    const reader = new ChainReader({
      rpcUrls: [t.chain.rpcUrl],
      quorum: 1,
      confirmations: 1,
      contractAddress: t.address,
      fromBlock: t.deployBlock,
    });
    expect(await reader.findRelease(metadataHash)).toMatchObject({
      publisher: key.address,
      txHash: receipt.txHash,
    });
    reader.destroy();
  });
});

describe('checkChainAccount at start-up', () => {
  const table: {
    desc: string;
    setup: () => Promise<{ key: Secp256k1Signer; contract?: string; chainId?: number }>;
    role: ChainRole;
    wantCode: string;
  }[] = [
    {
      desc: 'the log operator lacks the log-operator role',
      setup: async () => ({ key: await account({ role: 'publisher' }) }),
      role: 'log-operator',
      wantCode: 'NOT_LOG_OPERATOR',
    },
    {
      desc: 'the publisher lacks the publisher role',
      setup: async () => ({ key: await account({ role: 'log-operator' }) }),
      role: 'publisher',
      wantCode: 'NOT_PUBLISHER',
    },
    {
      desc: 'no contract code lives at the address',
      setup: async () => ({
        key: await account({ role: 'log-operator' }),
        contract: '0x' + '11'.repeat(20),
      }),
      role: 'log-operator',
      wantCode: 'CONTRACT_NOT_FOUND',
    },
    {
      desc: 'the address holds another contract',
      setup: async () => {
        const key = await account({ role: 'log-operator' });
        const compiled = JSON.parse(
          readFileSync(
            new URL('../../contracts/artifacts/testing/TestMultisig.json', import.meta.url),
            'utf8',
          ),
        ) as { abi: InterfaceAbi; bytecode: string };
        const other = await new ContractFactory(compiled.abi, compiled.bytecode, t.admin).deploy(
          [t.admin.address],
          1,
        );
        await other.waitForDeployment();
        return { key, contract: await other.getAddress() };
      },
      role: 'log-operator',
      wantCode: 'CONTRACT_NOT_FOUND',
    },
    {
      desc: 'the key does not match: an external signer signs with another key',
      setup: async () => {
        const claimed = generateSecp256k1KeyPair();
        const actual = createSecp256k1KeySigner(generateSecp256k1KeyPair().privateKey);
        const key = createExternalSecp256k1Signer({
          publicKeyPem: claimed.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
          signDigest: (d) => actual.signDigest(d),
          signatureFormat: 'raw',
        });
        await send(admin().getFunction('grantRole')(CHAIN_ROLE_IDS['log-operator'], key.address));
        return { key };
      },
      role: 'log-operator',
      wantCode: 'SIGNER_KEY_MISMATCH',
    },
    {
      desc: 'the account holds no ether to pay for gas',
      setup: async () => ({ key: await account({ role: 'log-operator', fund: false }) }),
      role: 'log-operator',
      wantCode: 'INSUFFICIENT_FUNDS',
    },
    {
      desc: 'the RPC serves another chain',
      setup: async () => ({ key: await account({ role: 'log-operator' }), chainId: 1 }),
      role: 'log-operator',
      wantCode: 'CHAIN_ID_MISMATCH',
    },
  ];
  for (const { desc, setup, role, wantCode } of table) {
    it(`throws ${wantCode} when ${desc}`, async () => {
      const { key, contract, chainId } = await setup();
      expect(
        await codeOf(
          checkChainAccount({
            signer: createChainSigner(key, provider),
            contractAddress: contract ?? t.address,
            role,
            ...(chainId === undefined ? {} : { chainId }),
          }),
        ),
      ).toBe(wantCode);
    });
  }

  it('passes for an account with the role, funds and its own key', async () => {
    const key = await account({ role: 'log-operator' });
    const status = await checkChainAccount({
      signer: createChainSigner(key, provider),
      contractAddress: t.address,
      role: 'log-operator',
      chainId: t.chain.chainId,
    });
    expect(status).toMatchObject({ address: key.address, role: 'log-operator' });
    expect(status.balanceWei).toBe(parseEther('1'));
  });

  it('refuses to send a transaction when the signer returns another key’s signature', async () => {
    const actual = createSecp256k1KeySigner(generateSecp256k1KeyPair().privateKey);
    const claimed = generateSecp256k1KeyPair();
    const key = createExternalSecp256k1Signer({
      publicKeyPem: claimed.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      signDigest: (d) => actual.signDigest(d),
      signatureFormat: 'raw',
    });
    const signer = createChainSigner(key, provider);
    expect(
      await codeOf(signer.signTransaction({ to: t.address, chainId: t.chain.chainId, nonce: 0 })),
    ).toBe('SIGNER_KEY_MISMATCH');
  });
});

describe('ReleaseLogWriter.setMinimumVersion', () => {
  const hw = () => `ecu-${randomBytes(4).toString('hex')}`;
  const writer = (signer = t.publisher) =>
    new ReleaseLogWriter({
      signer,
      contractAddress: t.address,
      confirmations: 1,
      pollIntervalMs: 50,
    });
  const reader = () =>
    new ChainReader({
      rpcUrls: [t.chain.rpcUrl],
      quorum: 1,
      confirmations: 1,
      contractAddress: t.address,
      fromBlock: t.deployBlock,
    });

  it('raises the floor, confirms it, and the reader sees it with its event', async () => {
    const id = hw();
    const receipt = await writer().setMinimumVersion(id, 4);
    expect(receipt).toMatchObject({ hardwareId: id, version: 4, previousVersion: 0 });
    const r = reader();
    expect(await r.minimumVersion(id)).toBe(4);
    const events = (await r.minimumVersions()).filter((e) => e.txHash === receipt.txHash);
    expect(events).toEqual([
      expect.objectContaining({ version: 4, hardwareIdHash: receipt.hardwareIdHash }),
    ]);
    r.destroy();
  });

  it('returns the transaction that set it when asked for the same version again (a retry)', async () => {
    const id = hw();
    const first = await writer().setMinimumVersion(id, 2);
    expect(await writer().setMinimumVersion(id, 2)).toEqual(first);
  });

  const refusals = [
    {
      desc: 'a version below the current floor',
      floor: 5,
      version: 3,
      wantCode: 'MINIMUM_VERSION_NOT_INCREASING',
    },
    { desc: 'version 0', floor: 0, version: 0, wantCode: 'INVALID_ENTRY' },
    { desc: 'a fractional version', floor: 0, version: 1.5, wantCode: 'INVALID_ENTRY' },
  ];
  for (const { desc, floor, version, wantCode } of refusals) {
    it(`throws ${wantCode} for ${desc} and leaves the floor as it was`, async () => {
      const id = hw();
      if (floor > 0) await writer().setMinimumVersion(id, floor);
      expect(await codeOf(writer().setMinimumVersion(id, version))).toBe(wantCode);
      expect(await writer().minimumVersion(id)).toBe(floor);
    });
  }

  it('throws NOT_PUBLISHER for an account without the publisher role', async () => {
    const id = hw();
    expect(await codeOf(writer(t.stranger).setMinimumVersion(id, 1))).toBe('NOT_PUBLISHER');
    expect(await writer().minimumVersion(id)).toBe(0);
  });
});

describe('a 2-of-3 multisig admin raising the minimum version', () => {
  it('grants itself the publisher role and raises the floor, each only with two approvals', async () => {
    const compiled = JSON.parse(
      readFileSync(
        new URL('../../contracts/artifacts/testing/TestMultisig.json', import.meta.url),
        'utf8',
      ),
    ) as { abi: InterfaceAbi; bytecode: string };
    const owners = [t.admin, t.publisher, t.stranger];
    const deployed = await new ContractFactory(compiled.abi, compiled.bytecode, t.admin).deploy(
      owners.map((o) => o.address),
      2,
    );
    await deployed.waitForDeployment();
    const multisig = await deployed.getAddress();
    const log = await t.deploy();
    // hand the contract's admin role to the multisig (two steps)
    await send(
      new Contract(log.address, TUFCHAIN_LOG_ABI as never, t.admin).getFunction('transferAdmin')(
        multisig,
      ),
    );
    const approve = (
      owner: (typeof owners)[number],
      call: { to: string; data: string },
      nonce: number,
    ) =>
      send(
        new Contract(multisig, compiled.abi, owner).getFunction('approve')(
          call.to,
          call.data,
          nonce,
        ),
      );
    const accept = new Contract(
      log.address,
      TUFCHAIN_LOG_ABI as never,
    ).interface.encodeFunctionData('acceptAdmin');
    await approve(owners[0]!, { to: log.address, data: accept }, 1);
    await approve(owners[1]!, { to: log.address, data: accept }, 1);

    const id = `ecu-${randomBytes(4).toString('hex')}`;
    const grant = prepareGrantRole(log.address, 'publisher', multisig);
    const raise = prepareSetMinimumVersion(log.address, id, 7);
    expect(raise.description).toMatch(/can never be lowered/);
    const r = new ChainReader({
      rpcUrls: [t.chain.rpcUrl],
      quorum: 1,
      confirmations: 1,
      contractAddress: log.address,
    });
    await approve(owners[0]!, grant, 2);
    await approve(owners[2]!, grant, 2);
    await approve(owners[1]!, raise, 3);
    expect(await r.minimumVersion(id)).toBe(0); // one approval changes nothing
    await approve(owners[2]!, raise, 3);
    expect(await r.minimumVersion(id)).toBe(7);
    // A lower floor fails inside the multisig's call: the contract only lets it rise.
    const lower = prepareSetMinimumVersion(log.address, id, 6);
    await approve(owners[0]!, lower, 4);
    await expect(approve(owners[1]!, lower, 4)).rejects.toThrow();
    expect(await r.minimumVersion(id)).toBe(7);
    r.destroy();
  });
});
