/**
 * Gas per TufchainLog operation, measured from receipts on a spawned anvil (hardfork pinned).
 * Prints a markdown table and writes /work/main/bench/results/contracts-gas.json (path relative
 * to the repository root). Never part of `npm test`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { JsonRpcProvider, Wallet, type Contract, type ContractTransactionResponse } from 'ethers';
import { connectTufchainLog, hardwareIdHash, loadArtifact } from '../src/index.js';
import { deployTufchainLog, startAnvil } from '../src/entry/dev.js';
import { ReferenceTree, syntheticLeafHashes, toHex } from '../test/helpers/merkle.js';

const GOALS = {
  gasReleaseEntry: 35_000,
  gasAnchor2p20: 60_000,
  gasPerAttestationBatch1000: 100,
};
const TREE_SIZE = 2 ** 20;
const BATCH = 1000;

const rand32 = (): string => `0x${randomBytes(32).toString('hex')}`;

/**
 * What a transaction costs before the contract runs, by its calldata (prague): the intrinsic gas
 * (21,000 + 4 per calldata token, a token being a zero byte or a quarter of a nonzero one) and
 * the EIP-7623 floor (21,000 + 10 per token) that gasUsed never goes below. The contract
 * controls only gasUsed minus the intrinsic gas, down to that floor.
 */
function calldataGas(data: string): { tokens: number; intrinsic: number; eip7623Floor: number } {
  const bytes = Buffer.from(data.slice(2), 'hex');
  const nonzero = bytes.filter((b) => b !== 0).length;
  const tokens = bytes.length - nonzero + 4 * nonzero;
  return { tokens, intrinsic: 21_000 + 4 * tokens, eip7623Floor: 21_000 + 10 * tokens };
}

const lastCalldata = new Map<string, ReturnType<typeof calldataGas>>();

/** Gas used by the transaction; its calldata costs are kept under `label`, if given. */
async function gasOf(action: Promise<unknown>, label?: string): Promise<number> {
  const tx = (await action) as ContractTransactionResponse;
  const receipt = await tx.wait();
  if (!receipt || receipt.status !== 1) throw new Error('transaction failed');
  if (label) lastCalldata.set(label, calldataGas(tx.data));
  return Number(receipt.gasUsed);
}

async function main(): Promise<void> {
  const chain = await startAnvil();
  const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, {
    staticNetwork: true,
    cacheTimeout: -1,
    pollingInterval: 20,
  });
  try {
    const [a0, a1, a2, a3] = chain.accounts;
    if (!a0 || !a1 || !a2 || !a3) throw new Error('dev accounts missing');
    const deployer = new Wallet(a0.privateKey, provider);
    const publisher = new Wallet(a1.privateKey, provider);
    const operator = new Wallet(a2.privateKey, provider);
    const secondOperator = new Wallet(a3.privateKey, provider);
    const deploy = async (): Promise<{
      asPublisher: Contract;
      asOperator: Contract;
      asSecondOperator: Contract;
    }> => {
      const d = await deployTufchainLog(deployer, {
        admin: deployer.address,
        publishers: [publisher.address],
        logOperators: [operator.address, secondOperator.address],
      });
      return {
        asPublisher: connectTufchainLog(d.address, publisher),
        asOperator: connectTufchainLog(d.address, operator),
        asSecondOperator: connectTufchainLog(d.address, secondOperator),
      };
    };

    // Releases: one firmware entry each (random, so no calldata zero bytes flatter the result).
    const { asPublisher } = await deploy();
    const release = (version: number, entries: number) =>
      gasOf(
        asPublisher.getFunction('logRelease')(
          version,
          rand32(),
          Array.from({ length: entries }, () => ({
            digest: rand32(),
            hardwareId: hardwareIdHash(`ecu-${randomBytes(4).toString('hex')}`),
            version: 1_000_000 + version,
          })),
        ),
        `release${entries.toString()}`,
      );
    const releaseGas: number[] = [];
    for (let v = 1; v <= 10; v++) releaseGas.push(await release(v, 1));
    const releaseTwo = await release(11, 2);
    const releaseFour = await release(12, 4);
    const recallGas = await gasOf(asPublisher.getFunction('recall')(rand32(), 'CVE-2026-0001'));
    const floorGas = await gasOf(
      asPublisher.getFunction('setMinimumVersion')(hardwareIdHash('ecu-brake'), 7),
    );

    // Anchors: a reference tree of 2^20 leaves.
    const started = Date.now();
    const tree = new ReferenceTree(syntheticLeafHashes(TREE_SIZE));
    const buildMs = Date.now() - started;
    // The anchoring service is one operator: the checkpoint slot caches it, sparing the role
    // lookup. `switchOperator` measures an anchor by another operator than the last one.
    const anchorCase = async (from: number, to: number, switchOperator = false) => {
      const { asOperator, asSecondOperator } = await deploy();
      const first = await gasOf(asOperator.getFunction('anchor')(from, toHex(tree.root(from)), []));
      const proof = tree.consistencyProof(from, to).map(toHex);
      const second = switchOperator ? asSecondOperator : asOperator;
      const gas = await gasOf(
        second.getFunction('anchor')(to, toHex(tree.root(to)), proof),
        'anchor',
      );
      return {
        from,
        to,
        proofLength: proof.length,
        gas,
        firstAnchorGas: first,
        calldata: lastCalldata.get('anchor'),
      };
    };
    const to2p20 = [];
    for (const from of [TREE_SIZE - 1, TREE_SIZE - BATCH, TREE_SIZE - 12_345, 2 ** 19 + 1, 3]) {
      to2p20.push(await anchorCase(from, TREE_SIZE));
    }
    const operatorSwitch = await anchorCase(TREE_SIZE - 1, TREE_SIZE, true);
    const batches = [];
    for (const from of [TREE_SIZE - BATCH, 1_000_000, 524_287, 123_457]) {
      batches.push(await anchorCase(from, from + BATCH));
    }

    const artifact = loadArtifact('TufchainLog');
    // Hand-written entries, one per change to the contract or its build: kept across runs.
    const outDir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    const previous = await readFile(`${outDir}contracts-gas.json`, 'utf8').then(
      (text) => JSON.parse(text) as { changes?: unknown[] },
      () => ({ changes: [] }),
    );
    const results = {
      gasReleaseEntry: Math.max(...releaseGas),
      gasAnchor2p20: Math.max(...to2p20.map((c) => c.gas)),
      gasPerAttestationBatch1000: Math.max(...batches.map((c) => c.gas)) / BATCH,
      details: {
        releaseOneFirmware: releaseGas,
        releaseOneFirmwareCalldata: lastCalldata.get('release1'),
        releaseTwoFirmware: releaseTwo,
        releaseFourFirmware: releaseFour,
        recall: recallGas,
        setMinimumVersion: floorGas,
        firstAnchorNoProof: to2p20[0]?.firstAnchorGas,
        anchorTo2p20ByAnotherOperator: operatorSwitch,
        anchorTo2p20: to2p20,
        anchorBatch1000: batches,
        referenceTreeBuildMs: buildMs,
      },
      goals: GOALS,
      changes: previous.changes ?? [],
      environment: {
        anvilHardfork: 'prague',
        solcVersion: artifact.solcVersion,
        evmVersion: artifact.evmVersion,
        node: process.version,
        measuredAt: new Date().toISOString(),
      },
    };

    const rows: [string, number, number][] = [
      ['release entry (1 firmware), max of 10', results.gasReleaseEntry, GOALS.gasReleaseEntry],
      [
        'anchor to size 2^20 with consistency proof, max',
        results.gasAnchor2p20,
        GOALS.gasAnchor2p20,
      ],
      [
        'install attestation, amortized over a 1,000-leaf anchor, max',
        results.gasPerAttestationBatch1000,
        GOALS.gasPerAttestationBatch1000,
      ],
    ];
    const floorRow = (op: string, c: ReturnType<typeof calldataGas> | undefined): string =>
      `| ${op}: its calldata alone (intrinsic / EIP-7623 floor) | ${String(c?.intrinsic)} / ${String(c?.eip7623Floor)} | | |`;
    const lines = [
      '| operation | gas | goal | |',
      '|---|---:|---:|---|',
      ...rows.map(
        ([op, gas, goal]) =>
          `| ${op} | ${gas.toFixed(gas % 1 ? 1 : 0)} | ${goal.toString()} | ${gas <= goal ? 'ok' : 'MISSED'} |`,
      ),
      floorRow('release entry (1 firmware)', lastCalldata.get('release1')),
      floorRow('anchor 2^20-1 -> 2^20', to2p20[0]?.calldata),
      `| release entry, 2 firmware | ${releaseTwo.toString()} | | |`,
      `| release entry, 4 firmware | ${releaseFour.toString()} | | |`,
      `| recall | ${recallGas.toString()} | | |`,
      `| setMinimumVersion (new hardware ID) | ${floorGas.toString()} | | |`,
      `| first anchor (no proof, new root slot) | ${String(to2p20[0]?.firstAnchorGas)} | | |`,
      `| anchor ${operatorSwitch.from.toString()} -> ${operatorSwitch.to.toString()} by another operator than the last (role lookup) | ${operatorSwitch.gas.toString()} | | |`,
      ...to2p20.map(
        (c) =>
          `| anchor ${c.from.toString()} -> ${c.to.toString()} (${c.proofLength.toString()} hashes) | ${c.gas.toString()} | | |`,
      ),
      ...batches.map(
        (c) =>
          `| anchor ${c.from.toString()} -> ${c.to.toString()} (${c.proofLength.toString()} hashes) | ${c.gas.toString()} | | |`,
      ),
    ];
    console.log(lines.join('\n'));

    await mkdir(outDir, { recursive: true });
    await writeFile(`${outDir}contracts-gas.json`, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`\nwrote ${outDir}contracts-gas.json`);
    if (rows.some(([, gas, goal]) => gas > goal)) process.exitCode = 1;
  } finally {
    provider.destroy();
    await chain.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
