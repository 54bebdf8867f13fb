import { randomBytes } from 'node:crypto';
import { hardwareIdHash } from '@tufchain/contracts';
import { startTestChain, type TestChain } from '@tufchain/contracts/dev';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainReader, ReleaseLogWriter, type ReleaseEntry } from '../src/index.js';

const hash = (): string => '0x' + randomBytes(32).toString('hex');

describe('ChainReader.eventsAfter', () => {
  let t: TestChain;
  let writer: ReleaseLogWriter;
  let reader: ChainReader;
  let version = 1;
  const entry = (): ReleaseEntry => ({
    metadataVersion: version++,
    metadataHash: hash(),
    firmware: [{ digest: hash(), hardwareId: 'ecu-brake-v1', version: version }],
  });

  beforeAll(async () => {
    t = await startTestChain();
    writer = new ReleaseLogWriter({
      signer: t.publisher,
      contractAddress: t.address,
      confirmations: 1,
      pollIntervalMs: 50,
    });
    reader = new ChainReader({
      rpcUrls: [t.chain.rpcUrl],
      quorum: 1,
      confirmations: 1,
      contractAddress: t.address,
      chainId: t.chain.chainId,
      fromBlock: t.deployBlock,
    });
  });

  afterAll(async () => {
    reader?.destroy();
    await t?.stop();
  });

  it('returns releases, recalls and minimum versions in chain order with their log positions, then only what is new', async () => {
    const release = entry();
    const logged = await writer.logRelease(release);
    await writer.recallFirmware([release.firmware[0]!.digest], 'brake fade');
    await writer.setMinimumVersion('ecu-brake-v1', 2);

    const first = await reader.eventsAfter();
    expect(first.reorganized).toBe(false);
    expect(first.events.map((e) => e.kind)).toEqual(['release', 'recall', 'minimumVersion']);
    expect(first.events[0]).toMatchObject({
      kind: 'release',
      txHash: logged.txHash,
      logIndex: 0,
      metadataHash: release.metadataHash,
      publisher: t.publisher.address,
    });
    expect(first.events[1]).toMatchObject({
      subject: release.firmware[0]!.digest,
      reason: 'brake fade',
    });
    expect(first.events[2]).toMatchObject({
      hardwareIdHash: hardwareIdHash('ecu-brake-v1').toLowerCase(),
      version: 2,
    });
    expect(first.confirmed.blockNumber).toBe(await t.blockNumber());

    const again = await reader.eventsAfter(first.confirmed);
    expect(again).toMatchObject({ events: [], reorganized: false, confirmed: first.confirmed });
  });

  it('reports a checkpoint whose block was replaced as reorganized, and reads on from an older one', async () => {
    const kept = (await reader.eventsAfter()).confirmed;
    const snapshot = (await t.provider.send('evm_snapshot', [])) as string;
    await writer.logRelease(entry());
    const replaced = (await reader.eventsAfter(kept)).confirmed;
    expect(replaced.blockNumber).toBeGreaterThan(kept.blockNumber);

    await t.provider.send('evm_revert', [snapshot]);
    const other = entry();
    await writer.logRelease(other);
    await t.mine(2);

    const afterReplaced = await reader.eventsAfter(replaced);
    expect(afterReplaced).toMatchObject({ events: [], reorganized: true });
    const afterKept = await reader.eventsAfter(kept);
    expect(afterKept.reorganized).toBe(false);
    expect(afterKept.events.map((e) => e.kind === 'release' && e.metadataHash)).toEqual([
      other.metadataHash,
    ]);
  });
});
