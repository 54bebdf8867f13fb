import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { Contract, JsonRpcProvider, Network, parseEther, Wallet } from 'ethers';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TUFCHAIN_LOG_ABI } from '@tufchain/contracts';
import { createSecp256k1KeySigner, generateSecp256k1KeyPair } from '@tufchain/keys';
import {
  AnchorService,
  CHAIN_ROLE_IDS,
  createChainSigner,
  createNoteSigner,
  openLogDatabase,
  SqliteAnchorOutbox,
  SqliteLogStorage,
  TransparencyLog,
  type AnchorHealth,
  type TransparencyError,
} from '../src/index.js';
import { startTestChain, type TestChain } from '@tufchain/contracts/dev';

let t: TestChain;
let dir: string;
let db: DatabaseSync;
let log: TransparencyLog;
let provider: JsonRpcProvider;
/** A fresh TufchainLog per test: each test's log starts its own anchor history. */
let contract: { address: string; deployBlock: number };
const { privateKey: noteKey } = generateKeyPairSync('ed25519');

beforeAll(async () => {
  t = await startTestChain();
  const network = Network.from(t.chain.chainId);
  provider = new JsonRpcProvider(t.chain.rpcUrl, network, {
    staticNetwork: network,
    cacheTimeout: -1,
  });
});

afterAll(async () => {
  provider?.destroy();
  await t?.stop();
});

beforeEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = await mkdtemp(join(tmpdir(), 'tufchain-anchor-stall-'));
  contract = await t.deploy();
  db = openLogDatabase(join(dir, 'log.sqlite'));
  log = new TransparencyLog({
    storage: new SqliteLogStorage(db),
    origin: 'tufchain.test/stall',
    signers: [createNoteSigner('tufchain.test/stall', noteKey)],
  });
});

const append = () =>
  log.append({ type: 'recall', subject: '0x' + randomBytes(32).toString('hex'), reason: 'test' });

/** A fresh log-operator account (role granted by the admin) whose key sits behind the seam. */
async function freshOperator(): Promise<{
  address: string;
  signer: ReturnType<typeof createChainSigner>;
}> {
  const key = createSecp256k1KeySigner(generateSecp256k1KeyPair().privateKey);
  const admin = new Contract(contract.address, TUFCHAIN_LOG_ABI as never, t.admin);
  const granted = (await admin.getFunction('grantRole')(
    CHAIN_ROLE_IDS['log-operator'],
    key.address,
  )) as { wait(): Promise<unknown> };
  await granted.wait();
  return { address: key.address, signer: createChainSigner(key, provider) };
}

describe('AnchorService when its operator account cannot pay for gas', () => {
  it('reports INSUFFICIENT_FUNDS and a stall instead of waiting silently, and recovers once funded', async () => {
    const operator = await freshOperator(); // the role, but no ether
    const errors: TransparencyError[] = [];
    const changes: AnchorHealth[] = [];
    const s = new AnchorService({
      log,
      outbox: new SqliteAnchorOutbox(db),
      signer: operator.signer,
      contractAddress: contract.address,
      fromBlock: contract.deployBlock,
      config: {
        confirmations: 1,
        pollIntervalMs: 25,
        intervalMs: 50,
        stallAfterMs: 400,
        stallAfterFailures: 1_000,
      },
      onError: (e) => errors.push(e),
    });
    s.onHealthChange((h) => changes.push(h));
    s.start();
    for (let i = 0; i < 5; i++) {
      await append();
      s.notifyAppended();
      await new Promise((r) => setTimeout(r, 60));
    }
    // The node refuses the signed anchor: this used to be swallowed, every later checkpoint
    // queued behind it with zero attempts, and nothing was ever reported.
    await expect
      .poll(() => errors.map((e) => e.code), { timeout: 10_000 })
      .toContain('INSUFFICIENT_FUNDS');
    // The listener hears of it at the service's next check (interval tick, failure or progress).
    await expect.poll(() => changes.map((h) => h.stalled), { timeout: 10_000 }).toEqual([true]);
    const stalled = await s.health();
    expect(stalled.stallReason).toMatch(/waiting/);
    expect(stalled.lastError?.code).toBe('INSUFFICIENT_FUNDS');
    expect(stalled.sent).toBe(1);
    expect(stalled.oldestOpenAgeMs).toBeGreaterThan(400);
    expect(stalled.lastConfirmedSize).toBe(0);

    // Funding the account heals it: the recorded transaction is broadcast again and confirmed.
    await (await t.admin.sendTransaction({ to: operator.address, value: parseEther('1') })).wait();
    await expect
      .poll(
        async () => {
          const h = await s.health();
          return h.pending + h.sent;
        },
        { timeout: 20_000 },
      )
      .toBe(0);
    await expect.poll(() => changes.map((h) => h.stalled).at(-1), { timeout: 5_000 }).toBe(false);
    // Stalled, then recovered. On a loaded machine a confirmation slower than stallAfterMs (400)
    // after the recovery flaps it once more; that is the check working, not a failure.
    expect(changes.slice(0, 2).map((h) => h.stalled)).toEqual([true, false]);
    expect(await s.health()).toMatchObject({ stalled: false, consecutiveFailures: 0 });
    expect((await s.anchorCovering((await log.size()) - 1))?.status).toBe('confirmed');
    await s.stop();
  }, 60_000);
});

describe('AnchorService health', () => {
  it('counts consecutive failures and reports a stall after stallAfterFailures', async () => {
    const dead = new JsonRpcProvider('http://127.0.0.1:1', Network.from(t.chain.chainId), {
      staticNetwork: Network.from(t.chain.chainId),
    });
    const s = new AnchorService({
      log,
      outbox: new SqliteAnchorOutbox(db),
      signer: new Wallet(t.operator.privateKey, dead),
      contractAddress: contract.address,
      config: { pollIntervalMs: 10, stallAfterFailures: 3, stallAfterMs: 3_600_000 },
    });
    await append();
    await s.enqueue();
    await expect(s.flush(300)).rejects.toMatchObject({ code: 'TX_TIMEOUT' });
    const h = await s.health();
    expect(h.consecutiveFailures).toBeGreaterThanOrEqual(3);
    expect(h).toMatchObject({ stalled: true, pending: 1, sent: 0, openAttempts: 0 });
    expect(h.lastError?.code).toBe('RPC_UNAVAILABLE');
    expect(h.stallReason).toMatch(/failures in a row/);
    dead.destroy();
  });

  it('is healthy and idle when everything is anchored', async () => {
    const s = new AnchorService({
      log,
      outbox: new SqliteAnchorOutbox(db),
      signer: new Wallet(t.operator.privateKey, provider),
      contractAddress: contract.address,
      fromBlock: contract.deployBlock,
      config: { confirmations: 1, pollIntervalMs: 25 },
    });
    await append();
    await s.anchorNow(20_000);
    expect(await s.health()).toMatchObject({
      stalled: false,
      pending: 0,
      sent: 0,
      oldestOpenAgeMs: 0,
      consecutiveFailures: 0,
      transactionsSigned: 1,
      lastConfirmedSize: await log.size(),
    });
  });
});
