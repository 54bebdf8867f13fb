import { hardwareIdHash } from '@tufchain/contracts';
import type { ContractEvent } from '@tufchain/transparency';
import type { Targets } from '@tufjs/models';
import { Metadata, MetadataKind, Root } from '@tufjs/models';
import { describe, expect, it } from 'vitest';
import {
  auditFindingAlerts,
  checkAnchor,
  checkExpiry,
  checkLoggedRelease,
  checkRoleKeys,
} from './checks.js';
import { ServerError } from '../error.js';
import { parseExpectations, type Expectations } from './expectations.js';

const PUBLISHER = '0x70997970C51812dc3A010C7d01b50e20d4dc79C8';
const KNOWN = 'aa'.repeat(32);
const k = (c: string): string => c.repeat(64);

const expectations: Expectations = parseExpectations({
  publishers: [PUBLISHER],
  keys: { root: [k('1')], snapshot: [k('2')], targets: [k('3')], bins: [k('4')] },
  suppliers: { 'supplier-acme': [k('5')] },
  releases: [{ digest: KNOWN, hardwareId: 'ecu-a', version: 3 }],
});

const release = (
  firmware: { digest: string; hardwareIdHash: string; version: number }[],
  publisher = PUBLISHER,
): Extract<ContractEvent, { kind: 'release' }> => ({
  kind: 'release',
  txHash: '0x' + '11'.repeat(32),
  blockNumber: 9,
  blockHash: '0x' + '22'.repeat(32),
  logIndex: 0,
  metadataVersion: 4,
  metadataHash: '0x' + '33'.repeat(32),
  publisher,
  firmware,
});
const ecuA = hardwareIdHash('ecu-a').toLowerCase();

describe('checkLoggedRelease', () => {
  it('raises no UNEXPECTED_RELEASE for a release the server recorded, but still checks its publisher', () => {
    const unknown = { digest: '0x' + 'bb'.repeat(32), hardwareIdHash: ecuA, version: 3 };
    expect(checkLoggedRelease(release([unknown]), expectations, true)).toEqual([]);
    expect(
      checkLoggedRelease(release([unknown], '0x' + '99'.repeat(20)), expectations, true).map(
        (d) => d.kind,
      ),
    ).toEqual(['UNEXPECTED_PUBLISHER']);
    expect(checkLoggedRelease(release([unknown]), expectations, false).map((d) => d.kind)).toEqual([
      'UNEXPECTED_RELEASE',
    ]);
  });

  it('raises nothing for recorded firmware from the OEM publisher', () => {
    expect(
      checkLoggedRelease(
        release([{ digest: `0x${KNOWN}`, hardwareIdHash: ecuA, version: 3 }]),
        expectations,
      ),
    ).toEqual([]);
  });

  it.each([
    {
      desc: 'a digest the records do not know',
      fw: { digest: '0x' + 'bb'.repeat(32), hardwareIdHash: ecuA, version: 3 },
    },
    {
      desc: 'a known digest for other hardware',
      fw: {
        digest: `0x${KNOWN}`,
        hardwareIdHash: hardwareIdHash('ecu-b').toLowerCase(),
        version: 3,
      },
    },
    {
      desc: 'a known digest with another release counter',
      fw: { digest: `0x${KNOWN}`, hardwareIdHash: ecuA, version: 4 },
    },
  ])('raises UNEXPECTED_RELEASE for $desc (the stolen-key case)', ({ fw }) => {
    const drafts = checkLoggedRelease(release([fw]), expectations);
    expect(drafts.map((d) => [d.kind, d.subject])).toEqual([['UNEXPECTED_RELEASE', fw.digest]]);
  });

  it('raises UNEXPECTED_PUBLISHER when another account logged it', () => {
    const drafts = checkLoggedRelease(release([], '0x' + '44'.repeat(20)), expectations);
    expect(drafts.map((d) => d.kind)).toEqual(['UNEXPECTED_PUBLISHER']);
  });
});

describe('checkRoleKeys', () => {
  const origin = { txHash: '0x' + '11'.repeat(32), blockNumber: 9, logIndex: 0 };
  const root = (targetsKeys: string[]): Metadata<Root> =>
    new Metadata(
      new Root({
        roles: {
          root: { keyIDs: [k('1')], threshold: 1 },
          timestamp: { keyIDs: [k('9')], threshold: 1 },
          snapshot: { keyIDs: [k('2')], threshold: 1 },
          targets: { keyIDs: targetsKeys, threshold: 1 },
        } as never,
      } as never),
    );
  const targets = (roles: { name: string; keyids: string[] }[]): Metadata<Targets> =>
    Metadata.fromJSON(MetadataKind.Targets, {
      signed: {
        _type: 'targets',
        spec_version: '1.0.31',
        version: 1,
        expires: '2099-01-01T00:00:00Z',
        targets: {},
        delegations: {
          keys: {},
          roles: roles.map((r) => ({ ...r, threshold: 1, terminating: true, paths: ['x/*'] })),
        },
      },
      signatures: [],
    });

  it('raises nothing when every trusted key and delegation is expected (timestamp unchecked)', () => {
    const drafts = checkRoleKeys(
      {
        root: root([k('3')]),
        delegators: [
          targets([
            { name: 'supplier-acme', keyids: [k('5')] },
            { name: 'bins', keyids: [k('4')] },
          ]),
        ],
      },
      expectations,
      origin,
    );
    expect(drafts).toEqual([]);
  });

  it.each([
    {
      desc: 'root trusts another targets key',
      r: [k('3'), k('8')],
      roles: [],
      want: [['UNKNOWN_SIGNER', `targets:${k('8')}`]],
    },
    {
      desc: 'a supplier role trusts another key',
      r: [k('3')],
      roles: [{ name: 'supplier-acme', keyids: [k('7')] }],
      want: [['UNKNOWN_SIGNER', `supplier-acme:${k('7')}`]],
    },
    {
      desc: 'targets delegates to a supplier the OEM did not',
      r: [k('3')],
      roles: [{ name: 'supplier-evil', keyids: [k('5')] }],
      want: [['UNEXPECTED_DELEGATION', 'supplier-evil']],
    },
    {
      desc: 'a hashed bin trusts another key',
      r: [k('3')],
      roles: [{ name: 'bins-0', keyids: [k('6')] }],
      want: [['UNKNOWN_SIGNER', `bins-0:${k('6')}`]],
    },
  ])('when $desc', ({ r, roles, want }) => {
    const drafts = checkRoleKeys(
      { root: root(r), delegators: [targets(roles)] },
      expectations,
      origin,
    );
    expect(drafts.map((d) => [d.kind, d.subject])).toEqual(want);
  });
});

describe('checkAnchor', () => {
  const anchor = (
    size: number,
    previousSize: number,
  ): Extract<ContractEvent, { kind: 'anchor' }> => ({
    kind: 'anchor',
    txHash: '0x' + '11'.repeat(32),
    blockNumber: 1,
    blockHash: '0x' + '22'.repeat(32),
    logIndex: 0,
    size,
    previousSize,
    rootHash: '0x' + '55'.repeat(32),
    operator: PUBLISHER,
  });
  it('accepts an anchor that extends the last one', () =>
    expect(checkAnchor(anchor(8, 4), 4)).toEqual([]));
  it('raises CHECKPOINT_INCONSISTENT for one that skips or shrinks', () => {
    expect(checkAnchor(anchor(8, 5), 4).map((d) => d.kind)).toEqual(['CHECKPOINT_INCONSISTENT']);
    expect(checkAnchor(anchor(4, 8), undefined).map((d) => d.kind)).toEqual([
      'CHECKPOINT_INCONSISTENT',
    ]);
  });
});

describe('checkExpiry', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  it('raises METADATA_NEAR_EXPIRY inside the window only, critical once expired', () => {
    const drafts = checkExpiry(
      [
        { role: 'timestamp', version: 5, expires: '2030-01-01T00:30:00Z' },
        { role: 'snapshot', version: 5, expires: '2030-01-09T00:00:00Z' },
        { role: 'targets', version: 2, expires: '2029-12-31T00:00:00Z' },
      ],
      now,
      { timestamp: 3600, snapshot: 86_400, targets: 86_400 },
    );
    expect(drafts.map((d) => [d.kind, d.severity, d.details?.role])).toEqual([
      ['METADATA_NEAR_EXPIRY', 'warning', 'timestamp'],
      ['METADATA_NEAR_EXPIRY', 'critical', 'targets'],
    ]);
  });
});

describe('auditFindingAlerts', () => {
  it('maps not-logged and log findings to their kinds and drops warnings and transient ones', () => {
    const drafts = auditFindingAlerts([
      { code: 'METADATA_NOT_LOGGED', severity: 'error', message: 'm', subject: 'snapshot:3' },
      { code: 'ANCHOR_ROOT_MISMATCH', severity: 'error', message: 'm' },
      {
        code: 'SNAPSHOT_SIGNATURE_INVALID',
        severity: 'error',
        message: 'm',
        subject: 'snapshot:4',
      },
      { code: 'AUDIT_SOURCE_UNAVAILABLE', severity: 'error', message: 'm' },
      { code: 'VEHICLE_CA_MISSING', severity: 'warning', message: 'm' },
    ]);
    expect(drafts.map((d) => d.kind)).toEqual([
      'SNAPSHOT_NOT_LOGGED',
      'CHECKPOINT_INCONSISTENT',
      'AUDIT_FINDING',
    ]);
  });
});

describe('parseExpectations', () => {
  it.each([
    { desc: 'no publishers', doc: { publishers: [], keys: {} }, at: 'publishers' },
    {
      desc: 'a short key ID',
      doc: { publishers: [PUBLISHER], keys: { targets: ['ab'] } },
      at: 'keys.targets.0',
    },
    {
      desc: 'an unknown role',
      doc: { publishers: [PUBLISHER], keys: { bogus: [] } },
      at: 'keys: Unrecognized key: "bogus"',
    },
    {
      desc: 'a bad digest',
      doc: { publishers: [PUBLISHER], keys: {}, releases: [{ digest: 'xyz' }] },
      at: 'releases.0.digest',
    },
    {
      desc: 'an unknown field',
      doc: { publishers: [PUBLISHER], keys: {}, extra: 1 },
      at: '(top level)',
    },
  ])('throws CONFIG_INVALID naming the field for $desc', ({ doc, at }) => {
    let thrown: unknown;
    try {
      parseExpectations(doc);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ServerError);
    expect((thrown as ServerError).code).toBe('CONFIG_INVALID');
    // The field named is the point of the message: an operator fixes that line.
    expect((thrown as ServerError).message).toContain(at);
  });

  it('normalizes addresses and digests', () => {
    const e = parseExpectations({
      publishers: [PUBLISHER],
      keys: {},
      releases: [{ digest: KNOWN.toUpperCase() }],
    });
    expect(e.publishers).toEqual([PUBLISHER.toLowerCase()]);
    expect(e.releases[0]!.digest).toBe(`0x${KNOWN}`);
  });
});
