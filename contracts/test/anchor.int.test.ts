import { readFileSync } from 'node:fs';
import type { Contract, ContractTransactionResponse } from 'ethers';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tufchainLogInterface } from '../src/index.js';
import type { EvmChain } from '../src/entry/dev.js';
import { randomHash } from './helpers/bytes.js';
import {
  actorsOf,
  deployWithRoles,
  revertOf,
  startSelectedEvm,
  type Actors,
  type DeployedLog,
} from './helpers/chain.js';
import {
  hashLeaf,
  ReferenceTree,
  syntheticLeafHashes,
  toHex,
  type Hash,
} from './helpers/merkle.js';

interface Vectors {
  leaves: string[];
  roots: string[];
  consistency: { size1: number; size2: number; proof: string[] }[];
}
const vectors = JSON.parse(
  readFileSync(new URL('./fixtures/rfc6962-vectors.json', import.meta.url), 'utf8'),
) as Vectors;
const hex = (h: string): string => `0x${h}`;

let chain: EvmChain;
let actors: Actors;
let log: DeployedLog;
let operator: Contract;

beforeAll(async () => {
  chain = await startSelectedEvm();
  actors = actorsOf(chain);
});

afterAll(async () => {
  // Guarded: when the chain could not start, the failure is beforeAll's, reported as such.
  (actors as Actors | undefined)?.provider.destroy();
  await (chain as EvmChain | undefined)?.stop();
});

beforeEach(async () => {
  log = await deployWithRoles(actors);
  operator = log.as(actors.operator);
});

async function anchor(size: number, root: string, proof: string[]) {
  const tx = (await operator.getFunction('anchor')(
    size,
    root,
    proof,
  )) as ContractTransactionResponse;
  const receipt = await tx.wait();
  if (!receipt) throw new Error('no receipt');
  return receipt;
}

async function checkpoint(): Promise<[bigint, string]> {
  const [size, root] = (await operator.getFunction('latestCheckpoint')()) as [bigint, string];
  return [size, root];
}

describe('ReferenceTree (the tests own RFC 9162 reference)', () => {
  it('reproduces the published roots and consistency proofs', () => {
    const tree = new ReferenceTree(vectors.leaves.map((l) => hashLeaf(Buffer.from(l, 'hex'))));
    vectors.roots.forEach((root, i) => expect(tree.root(i + 1).toString('hex')).toBe(root));
    for (const v of vectors.consistency.filter((c) => c.size1 < c.size2)) {
      const proof = tree.consistencyProof(v.size1, v.size2).map((h) => h.toString('hex'));
      expect(proof).toEqual(v.proof);
    }
  });
});

describe('TufchainLog.anchor', () => {
  describe('with the published RFC 6962 consistency vectors', () => {
    const cases = vectors.consistency.filter((c) => c.size1 < c.size2);
    it.each(cases)(
      'accepts $size1 -> $size2 proven by the published proof',
      async ({ size1, size2, proof }) => {
        const root1 = hex(vectors.roots[size1 - 1] ?? '');
        const root2 = hex(vectors.roots[size2 - 1] ?? '');
        await anchor(size1, root1, []);
        const receipt = await anchor(size2, root2, proof.map(hex));
        const events = receipt.logs.map((l) => tufchainLogInterface().parseLog(l));
        expect(events.map((e): unknown[] => [e?.name, ...((e?.args ?? []) as unknown[])])).toEqual([
          ['CheckpointAnchored', BigInt(size2), root2, actors.operator.address, BigInt(size1)],
        ]);
        expect(await checkpoint()).toEqual([BigInt(size2), root2]);
      },
    );
  });

  describe('when the anchoring operator loses its role', () => {
    it('refuses its next anchor with NotLogOperator, and another operator continues', async () => {
      const tree = new ReferenceTree(syntheticLeafHashes(30));
      await anchor(10, toHex(tree.root(10)), []);
      await anchor(20, toHex(tree.root(20)), tree.consistencyProof(10, 20).map(toHex));
      const admin = log.as(actors.admin);
      const role = (await admin.getFunction('LOG_OPERATOR_ROLE')()) as string;
      await (
        (await admin.getFunction('grantRole')(
          role,
          actors.other.address,
        )) as ContractTransactionResponse
      ).wait();
      await (
        (await admin.getFunction('revokeRole')(
          role,
          actors.operator.address,
        )) as ContractTransactionResponse
      ).wait();

      const proof = tree.consistencyProof(20, 30).map(toHex);
      expect(
        await revertOf(operator.getFunction('anchor')(30, toHex(tree.root(30)), proof)),
      ).toEqual({ name: 'NotLogOperator', args: [actors.operator.address] });
      await (
        (await log.as(actors.other).getFunction('anchor')(
          30,
          toHex(tree.root(30)),
          proof,
        )) as ContractTransactionResponse
      ).wait();
      expect(await checkpoint()).toEqual([30n, toHex(tree.root(30))]);
    });
  });

  describe('when it is the first checkpoint', () => {
    it('accepts any non-empty size without a proof', async () => {
      const root = randomHash();
      await anchor(1000, root, []);
      expect(await checkpoint()).toEqual([1000n, root]);
    });

    it('refuses a size of zero with CheckpointNotExtending', async () => {
      expect(await revertOf(operator.getFunction('anchor')(0, randomHash(), []))).toEqual({
        name: 'CheckpointNotExtending',
        args: [0n, 0n],
      });
    });

    it('refuses a proof it cannot check with ConsistencyProofInvalid', async () => {
      const err = await revertOf(operator.getFunction('anchor')(5, randomHash(), [randomHash()]));
      expect(err).toEqual({ name: 'ConsistencyProofInvalid', args: [0n, 5n] });
    });
  });

  describe('when a checkpoint does not extend the anchored one', () => {
    // The anchored log: 13 leaves; attackers try to rewrite or fork it while growing it to 20.
    const honest = new ReferenceTree(syntheticLeafHashes(20));
    const forked = new ReferenceTree([
      ...syntheticLeafHashes(13).map((h, i) => (i === 6 ? hashLeaf(Buffer.from('evil')) : h)),
      ...syntheticLeafHashes(7, 13),
    ]);
    const good = honest.consistencyProof(13, 20).map(toHex);
    const flip = (h: string): string => `${h.slice(0, -1)}${h.endsWith('0') ? '1' : '0'}`;
    const attacks: {
      desc: string;
      size: number;
      root: () => string;
      proof: () => string[];
      want: string;
    }[] = [
      {
        desc: 'a same-size checkpoint with another root (a fork)',
        size: 13,
        root: () => toHex(forked.root(13)),
        proof: () => [],
        want: 'CheckpointNotExtending',
      },
      {
        desc: 'a smaller tree (truncation)',
        size: 12,
        root: () => toHex(honest.root(12)),
        proof: () => honest.consistencyProof(12, 13).map(toHex),
        want: 'CheckpointNotExtending',
      },
      {
        desc: 'a grown tree that rewrote an old leaf, with a proof valid for that tree',
        size: 20,
        root: () => toHex(forked.root(20)),
        proof: () => forked.consistencyProof(13, 20).map(toHex),
        want: 'ConsistencyProofInvalid',
      },
      {
        desc: 'the honest proof with a flipped bit',
        size: 20,
        root: () => toHex(honest.root(20)),
        proof: () => good.map((h, i) => (i === 1 ? flip(h) : h)),
        want: 'ConsistencyProofInvalid',
      },
      {
        desc: 'the honest proof for another root',
        size: 20,
        root: () => randomHash(),
        proof: () => good,
        want: 'ConsistencyProofInvalid',
      },
      {
        // A Merkle root does not commit to its size, and a 13->20 proof has the same shape as a
        // 13->17 or 13->21 proof, so only sizes that change the proof's shape can be refused.
        desc: 'the honest proof claimed for a size with another proof shape',
        size: 40,
        root: () => toHex(honest.root(20)),
        proof: () => good,
        want: 'ConsistencyProofInvalid',
      },
      {
        desc: 'a truncated proof',
        size: 20,
        root: () => toHex(honest.root(20)),
        proof: () => good.slice(0, -1),
        want: 'ConsistencyProofInvalid',
      },
      {
        desc: 'a proof with an extra element',
        size: 20,
        root: () => toHex(honest.root(20)),
        proof: () => [...good, randomHash()],
        want: 'ConsistencyProofInvalid',
      },
      {
        desc: 'an empty proof',
        size: 20,
        root: () => toHex(honest.root(20)),
        proof: () => [],
        want: 'ConsistencyProofInvalid',
      },
    ];

    it.each(attacks)('refuses $desc with $want', async ({ size, root, proof, want }) => {
      const anchoredRoot = toHex(honest.root(13));
      await anchor(13, anchoredRoot, []);
      const err = await revertOf(operator.getFunction('anchor')(size, root(), proof()));
      expect(err).toEqual({ name: want, args: [13n, BigInt(size)] });
      expect(await checkpoint()).toEqual([13n, anchoredRoot]);
    });

    it('still accepts the honest extension afterwards', async () => {
      await anchor(13, toHex(honest.root(13)), []);
      await anchor(20, toHex(honest.root(20)), good);
      expect(await checkpoint()).toEqual([20n, toHex(honest.root(20))]);
    });
  });

  describe('over random tree sizes (property)', () => {
    const tree = new ReferenceTree(syntheticLeafHashes(600));

    it('accepts every honest proof and refuses every tampered one', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 599 }).chain((m) =>
            fc.record({
              m: fc.constant(m),
              n: fc.integer({ min: m + 1, max: 600 }),
              tamperAt: fc.nat(),
              tamperByte: fc.integer({ min: 0, max: 31 }),
            }),
          ),
          async ({ m, n, tamperAt, tamperByte }) => {
            const snapshot = (await actors.provider.send('evm_snapshot', [])) as string;
            try {
              await anchor(m, toHex(tree.root(m)), []);
              const proof: Hash[] = tree.consistencyProof(m, n);
              const root = toHex(tree.root(n));
              const call = operator.getFunction('anchor');
              await call.staticCall(n, root, proof.map(toHex));

              const tampered = proof.map((h) => Buffer.from(h));
              const victim = tampered[tamperAt % tampered.length];
              if (victim) victim[tamperByte] = (victim[tamperByte] ?? 0) ^ 0x01;
              const err = await revertOf(call.staticCall(n, root, tampered.map(toHex)));
              expect(err).toEqual({
                name: 'ConsistencyProofInvalid',
                args: [BigInt(m), BigInt(n)],
              });
            } finally {
              await actors.provider.send('evm_revert', [snapshot]);
            }
          },
        ),
        { numRuns: 30 },
      );
    });
  });
});
