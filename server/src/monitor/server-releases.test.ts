import type { ContractEvent } from '@tufchain/transparency';
import { describe, expect, it } from 'vitest';
import type { ReleaseRecord } from '../storage/store.js';
import { releaseStoreRecords } from './server-releases.js';

const HASH = '0x' + 'ab'.repeat(32);
const TX = '0x' + '11'.repeat(32);

const event = (over: Partial<Extract<ContractEvent, { kind: 'release' }>> = {}) =>
  ({
    kind: 'release',
    txHash: TX,
    blockNumber: 9,
    blockHash: '0x' + '22'.repeat(32),
    logIndex: 0,
    metadataVersion: 7,
    metadataHash: HASH.toUpperCase().replace('0X', '0x'),
    publisher: '0x' + '70'.repeat(20),
    firmware: [],
    ...over,
  }) as Extract<ContractEvent, { kind: 'release' }>;

const record = (over: Partial<ReleaseRecord> = {}): ReleaseRecord => ({
  id: 1,
  status: 'confirmed',
  targetNames: ['gw.img'],
  targetsVersion: 7,
  metadataHash: HASH,
  chain: { txHash: TX, blockNumber: 9, blockHash: '0x' + '22'.repeat(32) },
  revocation: null,
  error: null,
  createdAt: '2030-01-01T00:00:00.000Z',
  updatedAt: '2030-01-01T00:00:00.000Z',
  ...over,
});

const recorded = (records: ReleaseRecord[], e = event()) =>
  releaseStoreRecords({ releases: () => Promise.resolve(records) }).recorded(e);

describe('releaseStoreRecords', () => {
  it('knows a logged release whose snapshot version, hash and transaction the server recorded', async () => {
    expect(await recorded([record()])).toBe(true);
    // Staged and sent, not yet seen mined (the record is written before the transaction).
    expect(await recorded([record({ status: 'pending', chain: null })])).toBe(true);
    expect(await recorded([record({ status: 'revoked' })])).toBe(true);
  });

  it('does not know one the server has no matching record for (the stolen-key case)', async () => {
    expect(await recorded([])).toBe(false);
    expect(await recorded([record({ targetsVersion: 8 })])).toBe(false);
    expect(await recorded([record({ metadataHash: '0x' + 'cd'.repeat(32) })])).toBe(false);
    expect(await recorded([record({ metadataHash: null, status: 'pending', chain: null })])).toBe(
      false,
    );
    // Another transaction logged the same version first: the server's own one failed.
    expect(await recorded([record({ status: 'failed', chain: null })])).toBe(false);
    expect(await recorded([record()], event({ txHash: '0x' + '99'.repeat(32) }))).toBe(false);
  });

  it('reads the store again for each event, as statuses move', async () => {
    const rows = [record({ status: 'pending', chain: null })];
    const records = releaseStoreRecords({ releases: () => Promise.resolve(rows) });
    expect(await records.recorded(event())).toBe(true);
    rows[0] = record({ status: 'failed' });
    expect(await records.recorded(event())).toBe(false);
  });
});
