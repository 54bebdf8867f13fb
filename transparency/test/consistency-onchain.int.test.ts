import fc from 'fast-check';
import { Contract, type ContractTransactionResponse } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TUFCHAIN_LOG_ABI } from '@tufchain/contracts';
import { MemoryTree, verifyConsistency, type Hash } from '../src/index.js';
import { startTestChain, type TestChain } from '@tufchain/contracts/dev';

let t: TestChain;
let tree: MemoryTree;
const hex = (h: Hash) => '0x' + Buffer.from(h).toString('hex');

beforeAll(async () => {
  t = await startTestChain();
  tree = new MemoryTree();
  for (let i = 0; i < 600; i++) tree.append(Buffer.from(`leaf-${i}`));
});

afterAll(async () => {
  await t?.stop();
});

function accepts(m: number, n: number, r1: Hash, r2: Hash, proof: Hash[]): boolean {
  try {
    verifyConsistency(m, n, r1, r2, proof);
    return true;
  } catch {
    return false;
  }
}

describe('consistency proofs: this package and the contract agree', () => {
  it('accepts and rejects exactly the same (possibly tampered) proofs as anchor() on chain', async () => {
    const { address } = await t.deploy();
    const c = new Contract(address, TUFCHAIN_LOG_ABI as never, t.operator);
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 599 })
          .chain((m) => fc.tuple(fc.constant(m), fc.integer({ min: m + 1, max: 600 }))),
        fc.constantFrom('none', 'flip', 'drop', 'extra', 'wrong-root'),
        fc.nat(),
        async ([m, n], tamper, pick) => {
          const snapshot = (await t.provider.send('evm_snapshot', [])) as string;
          try {
            const first = (await c.getFunction('anchor')(
              m,
              hex(tree.root(m)),
              [],
            )) as ContractTransactionResponse;
            await first.wait();
            let proof = tree.consistencyProof(m, n);
            let root = tree.root(n);
            const i = proof.length > 0 ? pick % proof.length : 0;
            if (tamper === 'flip' && proof.length > 0)
              proof = proof.map((h, j) => (j === i ? h.map((b, k) => (k === 0 ? b ^ 1 : b)) : h));
            if (tamper === 'drop') proof = proof.slice(1);
            if (tamper === 'extra') proof = [...proof, tree.root(m)];
            if (tamper === 'wrong-root') root = tree.root(n - 1);
            const ours = accepts(m, n, tree.root(m), root, proof);
            const chain = await c
              .getFunction('anchor')
              .estimateGas(n, hex(root), proof.map(hex))
              .then(
                () => true,
                () => false,
              );
            expect(chain).toBe(ours);
            if (tamper === 'none') expect(ours).toBe(true);
          } finally {
            await t.provider.send('evm_revert', [snapshot]);
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});
