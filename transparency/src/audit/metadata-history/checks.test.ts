import { MetaFile } from '@tufjs/models';
import { hardwareIdHash } from '@tufchain/contracts';
import { describe, expect, it } from 'vitest';
import type { LoggedRelease } from '../../chain/types.js';
import { sha256Hex } from '../../util/hex.js';
import type { AuditFinding } from '../source.js';
import { checkEntryFirmware, findCoveringEntry } from './check-chain-entry.js';
import { checkDelegatedTargets } from './check-delegated-targets.js';
import { checkReleasesServed } from './check-releases-served.js';
import { checkRoleVersions } from './check-role-versions.js';
import { checkServedSnapshots } from './check-served-snapshots.js';
import { checkSnapshotMeta } from './check-snapshot-meta.js';
import { checkTimestamp } from './check-timestamp.js';
import { createReplayState, type Fetched, type RoleState, type SnapshotFile } from './model.js';
import { resolveTarget } from './resolve-target.js';
import { checkRoleFile, readRoleFile } from './role-file.js';

// The checks of the metadata history audit, fed plain data: no source, no chain, no keys.

const EXPIRES = '2099-01-01T00:00:00Z';
const encode = (json: unknown): Uint8Array => new Uint8Array(Buffer.from(JSON.stringify(json)));
const served = (json: unknown): Fetched => ({ bytes: encode(json) });
const failed: Fetched = { error: new Error('503 Service Unavailable') };
const sha = (n: number) => `0x${n.toString(16).padStart(64, '0')}`;
const codes = (findings: readonly AuditFinding[]) =>
  findings.map((f) => [f.code, f.severity, f.subject]);

function targetsJson(
  version: number,
  targets: Record<string, unknown> = {},
  delegations?: Record<string, unknown>,
) {
  return {
    signed: {
      _type: 'targets',
      spec_version: '1.0.31',
      version,
      expires: EXPIRES,
      targets,
      ...(delegations ? { delegations } : {}),
    },
    signatures: [],
  };
}

const firmware = (digest: string, hardwareIds: string[], releaseCounter?: number) => ({
  length: 1,
  hashes: { sha256: digest.slice(2) },
  custom: { hardwareIds, ...(releaseCounter === undefined ? {} : { releaseCounter }) },
});

const role = (
  name: string,
  version: number,
  targets: Record<string, unknown> = {},
  delegations?: Record<string, unknown>,
): RoleState => readRoleFile(name, version, served(targetsJson(version, targets, delegations)));

const delegation = (name: string, paths: string[], terminating = false) => ({
  name,
  keyids: [],
  threshold: 1,
  terminating,
  paths,
});

function release(
  metadataVersion: number,
  metadataHash: string,
  fw: [string, string, number][] = [],
) {
  return {
    metadataVersion,
    metadataHash,
    firmware: fw.map(([digest, hw, version]) => ({
      digest,
      hardwareIdHash: hardwareIdHash(hw).toLowerCase(),
      version,
    })),
    publisher: '0x0',
    confirmations: 1,
    txHash: '0x0',
    blockNumber: 1,
    blockHash: '0x0',
  } satisfies LoggedRelease;
}

const snapshotFile = (version: number, hash: string): SnapshotFile => ({
  version,
  fetched: { bytes: new Uint8Array() },
  hash,
});

describe('checkServedSnapshots', () => {
  it('warns about each version missing below the newest and reports each that did not fetch', () => {
    const findings = checkServedSnapshots([
      snapshotFile(1, sha(1)),
      { version: 2, fetched: failed, hash: undefined },
      snapshotFile(4, sha(4)),
    ]);
    expect(codes(findings)).toEqual([
      ['SNAPSHOT_VERSION_MISSING', 'warning', 'snapshot:3'],
      ['AUDIT_SOURCE_UNAVAILABLE', 'error', 'snapshot:2'],
    ]);
  });

  it('reports nothing for an unbroken history, or none at all', () => {
    expect(checkServedSnapshots([snapshotFile(1, sha(1)), snapshotFile(2, sha(2))])).toEqual([]);
    expect(checkServedSnapshots([])).toEqual([]);
  });
});

describe('checkRoleVersions', () => {
  const previous = new Map([
    ['targets', 2],
    ['bins-0', 3],
  ]);
  it.each([
    {
      desc: 'a role goes back',
      pins: [
        ['targets', 1],
        ['bins-0', 3],
      ],
      want: ['targets'],
    },
    {
      desc: 'every role stays or moves on',
      pins: [
        ['targets', 2],
        ['bins-0', 4],
      ],
      want: [],
    },
    { desc: 'a role is no longer pinned', pins: [['targets', 3]], want: [] },
  ] as { desc: string; pins: [string, number][]; want: string[] }[])(
    'reports ROLE_VERSION_DECREASED only when $desc: $want',
    ({ pins, want }) => {
      const findings = checkRoleVersions(5, new Map(pins), previous);
      expect(codes(findings)).toEqual(
        want.map(() => ['ROLE_VERSION_DECREASED', 'error', 'snapshot:5']),
      );
      expect(findings.every((f) => want.some((r) => f.message.includes(` ${r} `)))).toBe(true);
    },
  );
});

describe('readRoleFile and checkRoleFile', () => {
  it.each([
    {
      desc: 'it was not served',
      fetched: failed,
      want: ['AUDIT_SOURCE_UNAVAILABLE', 'snapshot:7'],
    },
    {
      desc: 'it is not JSON',
      fetched: { bytes: encode('{').subarray(1) },
      want: ['TARGETS_MALFORMED', 'bins-0:2'],
    },
    {
      desc: 'it has no targets map',
      fetched: served({ signed: { _type: 'targets' }, signatures: [] }),
      want: ['TARGETS_MALFORMED', 'bins-0:2'],
    },
    {
      desc: 'it claims another version than its name',
      fetched: served(targetsJson(3)),
      want: ['TARGETS_VERSION_MISMATCH', 'bins-0:2'],
    },
  ])('reports $want.0 when $desc', ({ fetched, want }) => {
    const state = readRoleFile('bins-0', 2, fetched);
    expect(codes(checkRoleFile('bins-0', state, 'snapshot:7'))).toEqual([
      [want[0], 'error', want[1]],
    ]);
  });

  it('hashes and parses a good file, and lists its firmware without its attestation bundles and deltas', () => {
    const json = targetsJson(2, {
      'gw.bin': firmware(sha(1), ['gw', 'gw', 'gw-2'], 4),
      'gw.bin.sigstore.json': {
        length: 1,
        hashes: { sha256: sha(2).slice(2) },
        custom: { kind: 'attestation' },
      },
      'gw.bin.from-0123456789abcdef.delta': {
        length: 1,
        hashes: { sha256: sha(3).slice(2) },
        custom: { kind: 'delta', target: 'gw.bin', targetSha256: sha(1).slice(2) },
      },
    });
    const state = readRoleFile('bins-0', 2, served(json));
    expect(checkRoleFile('bins-0', state, 'snapshot:7')).toEqual([]);
    expect(state).toMatchObject({ version: 2, sha256: sha256Hex(encode(json)) });
    expect(state.firmware).toEqual([
      {
        name: 'gw.bin',
        sha256: sha(1),
        hardwareIds: ['gw', 'gw-2'],
        releaseCounter: 4,
        attestation: undefined,
        role: 'bins-0',
      },
    ]);
  });
});

describe('checkSnapshotMeta', () => {
  const bins = role('bins-0', 2);
  const roles = new Map([
    ['bins-0', bins],
    ['bins-1', readRoleFile('bins-1', 1, failed)],
  ]);
  it.each([
    {
      desc: 'gives the right length and hash',
      meta: { length: bins.length, hashes: { sha256: bins.sha256.slice(2) } },
      want: 0,
    },
    { desc: 'gives neither', meta: {}, want: 0 },
    { desc: 'gives another length', meta: { length: bins.length + 1 }, want: 1 },
    { desc: 'gives another hash', meta: { hashes: { sha256: sha(9).slice(2) } }, want: 1 },
    { desc: 'gives a hash that is not one', meta: { hashes: { sha256: 'zz' } }, want: 1 },
  ])('reports $want SNAPSHOT_META_MISMATCH when the snapshot $desc', ({ meta, want }) => {
    const findings = checkSnapshotMeta(
      4,
      {
        'bins-0.json': MetaFile.fromJSON({ version: 2, ...meta }),
        // a file that was not served is reported where it is fetched, not here
        'bins-1.json': MetaFile.fromJSON({ version: 1, length: 1 }),
      },
      roles,
    );
    expect(codes(findings)).toEqual(
      Array.from({ length: want }, () => ['SNAPSHOT_META_MISMATCH', 'error', 'snapshot:4']),
    );
  });
});

describe('resolveTarget', () => {
  const top = role(
    'targets',
    1,
    { 'top.bin': firmware(sha(1), ['gw']) },
    {
      keys: {},
      roles: [delegation('supplier-a', ['a/*'], true), delegation('bins', ['*'])],
    },
  );
  const supplier = role('supplier-a', 1, { 'a/cam.bin': firmware(sha(2), ['cam']) });
  const bins = role('bins', 1, {
    'a/cam.bin': firmware(sha(3), ['cam']),
    'a/other.bin': firmware(sha(4), ['cam']),
    'gw.bin': firmware(sha(5), ['gw']),
  });
  const trusted = new Map([
    ['targets', top],
    ['supplier-a', supplier],
    ['bins', bins],
  ]);

  it.each([
    { path: 'top.bin', want: 'targets' },
    { path: 'a/cam.bin', want: 'supplier-a' },
    { path: 'gw.bin', want: 'bins' },
    // the terminating delegation of a/* stops the search before bins
    { path: 'a/other.bin', want: undefined },
    { path: 'nowhere.bin', want: undefined },
  ])('resolves $path to $want as a TUF client does', ({ path, want }) => {
    expect(resolveTarget(trusted, path)?.role).toBe(want);
  });

  it('stops the whole search at a terminating delegation deeper in the tree', () => {
    const nested = new Map([
      [
        'targets',
        role(
          'targets',
          1,
          {},
          {
            keys: {},
            roles: [delegation('bins', ['*']), delegation('late', ['*'])],
          },
        ),
      ],
      ['bins', role('bins', 1, {}, { keys: {}, roles: [delegation('inner', ['n-*'], true)] })],
      ['inner', role('inner', 1)],
      [
        'late',
        role('late', 1, { 'n-x.bin': firmware(sha(6), ['gw']), 'y.bin': firmware(sha(7), ['gw']) }),
      ],
    ]);
    expect(resolveTarget(nested, 'n-x.bin')).toBeUndefined();
    expect(resolveTarget(nested, 'y.bin')?.role).toBe('late');
  });

  it('stops at a role it does not trust', () => {
    expect(resolveTarget(new Map([['targets', top]]), 'gw.bin')).toBeUndefined();
  });

  describe('checkDelegatedTargets', () => {
    const state = () => createReplayState([], [], {});
    const walk = (s: ReturnType<typeof state>, scopes: [string, string[] | null][]) =>
      checkDelegatedTargets(
        s,
        trusted,
        new Map(scopes),
        [...trusted].map(([name, roleState]) => ({
          role: name,
          state: roleState,
          scope: new Map(scopes).get(name) ?? null,
        })),
      );

    it('reports each listed path no client resolves to its role, once, and counts no firmware behind it', () => {
      const s = state();
      const first = walk(s, [['supplier-a', ['cam']]]);
      expect(codes(first.findings)).toEqual([
        ['TARGET_PATH_NOT_DELEGATED', 'error', 'bins:1'],
        ['TARGET_PATH_NOT_DELEGATED', 'error', 'bins:1'],
      ]);
      expect(first.newDigests.map((f) => f.name).sort()).toEqual([
        'a/cam.bin',
        'gw.bin',
        'top.bin',
      ]);
      expect(bins.unreachable).toEqual(new Set(['a/cam.bin', 'a/other.bin']));
      const again = walk(s, [['supplier-a', ['cam']]]);
      expect(again.findings).toEqual([]);
      expect(again.newFirmware).toEqual([]);
      expect(s.stats.firmwareTargets).toBe(3);
    });

    it('reports HARDWARE_ID_NOT_DELEGATED for firmware a scoped role lists for other hardware', () => {
      const findings = walk(state(), [['supplier-a', ['gw']]]).findings;
      expect(codes(findings)).toContainEqual([
        'HARDWARE_ID_NOT_DELEGATED',
        'error',
        'supplier-a:1',
      ]);
    });
  });
});

describe('findCoveringEntry', () => {
  const targetsFlat = role('targets', 1);
  const flatPins = new Map([['targets', 1]]);
  const layoutV2Pins = new Map([
    ['targets', 2],
    ['bins', 1],
  ]);

  it("takes the snapshot's own entry when it logs the exact hash", () => {
    const s = createReplayState([release(3, sha(3))], [snapshotFile(3, sha(3))], {});
    const covering = findCoveringEntry(s, 3, sha(3), layoutV2Pins);
    expect(covering).toMatchObject({ findings: [], legacy: false, entry: { metadataVersion: 3 } });
    expect(s.accounted).toEqual(new Set([3]));
    expect(s.covered).toEqual(new Set([3]));
  });

  it.each([
    {
      desc: 'the entry logs another hash',
      releases: [release(3, sha(99))],
      want: ['METADATA_HASH_MISMATCH', 'snapshot:3'],
      accounted: [3],
    },
    {
      desc: 'there is no entry',
      releases: [],
      want: ['METADATA_NOT_LOGGED', 'snapshot:3'],
      accounted: [],
    },
  ])('reports $want.0 when $desc', ({ releases, want, accounted }) => {
    const s = createReplayState(releases, [snapshotFile(3, sha(3))], {});
    const covering = findCoveringEntry(s, 3, sha(3), layoutV2Pins);
    expect(codes(covering.findings)).toEqual([[want[0], 'error', want[1]]]);
    expect(covering.entry).toBeUndefined();
    expect([...s.accounted]).toEqual(accounted);
    expect(s.covered.size).toBe(0);
  });

  it('covers a flat-layout snapshot before the first logged one by the entry of its targets', () => {
    const releases = [release(1, targetsFlat.sha256), release(5, sha(5))];
    const s = createReplayState(releases, [snapshotFile(2, sha(2)), snapshotFile(5, sha(5))], {});
    s.roles.set('targets', targetsFlat);
    const covering = findCoveringEntry(s, 2, sha(2), flatPins);
    expect(covering).toMatchObject({ findings: [], legacy: true, entry: { metadataVersion: 1 } });
    expect(s.accounted).toEqual(new Set([1]));
    expect(s.covered).toEqual(new Set([2]));
  });

  it('reports a flat-layout targets version never logged once, however many snapshots pin it', () => {
    const s = createReplayState([release(5, sha(5))], [snapshotFile(5, sha(5))], {});
    s.roles.set('targets', targetsFlat);
    const first = findCoveringEntry(s, 1, sha(1), flatPins);
    const second = findCoveringEntry(s, 2, sha(2), flatPins);
    expect(codes(first.findings)).toEqual([['METADATA_NOT_LOGGED', 'error', 'targets:1']]);
    expect(second.findings).toEqual([]);
  });

  it('does not take a flat-layout entry for a snapshot after the first logged one', () => {
    const releases = [release(1, targetsFlat.sha256), release(2, sha(2))];
    const s = createReplayState(releases, [snapshotFile(2, sha(2)), snapshotFile(3, sha(3))], {});
    s.roles.set('targets', targetsFlat);
    expect(codes(findCoveringEntry(s, 3, sha(3), flatPins).findings)).toEqual([
      ['METADATA_NOT_LOGGED', 'error', 'snapshot:3'],
    ]);
  });
});

describe('checkEntryFirmware', () => {
  const gw = firmware(sha(1), ['gw'], 7);
  const bins = role('bins-0', 1, { 'gw.bin': gw, 'old.bin': firmware(sha(2), ['gw'], 6) });
  const trusted = new Map([['bins-0', bins]]);
  const newGw = bins.firmware
    .filter((f) => f.name === 'gw.bin')
    .map((fw) => ({ fw, hardwareId: 'gw' }));

  it.each([
    {
      desc: 'the entry logs the new firmware and the old one still served',
      entry: [
        [sha(1), 'gw', 7],
        [sha(2), 'gw', 6],
      ],
      want: [],
    },
    { desc: 'the entry does not log the new firmware', entry: [], want: ['FIRMWARE_NOT_LOGGED'] },
    {
      desc: 'the entry logs the digest for other hardware',
      entry: [[sha(1), 'cam', 7]],
      want: ['FIRMWARE_HARDWARE_MISMATCH', 'LOGGED_FIRMWARE_NOT_SERVED'],
    },
    {
      desc: 'the entry logs another version',
      entry: [[sha(1), 'gw', 8]],
      want: ['FIRMWARE_VERSION_MISMATCH'],
    },
    {
      desc: 'the entry logs firmware the snapshot does not serve',
      entry: [
        [sha(1), 'gw', 7],
        [sha(9), 'gw', 1],
      ],
      want: ['LOGGED_FIRMWARE_NOT_SERVED'],
    },
  ] as { desc: string; entry: [string, string, number][]; want: string[] }[])(
    'reports $want when $desc',
    ({ entry, want }) => {
      const s = createReplayState([], [], {});
      const findings = checkEntryFirmware(
        s,
        4,
        { entry: release(4, sha(4), entry), legacy: false },
        newGw,
        trusted,
      );
      expect(codes(findings)).toEqual(want.map((c) => [c, 'error', 'snapshot:4']));
    },
  );

  it('checks what a flat-layout entry logs against the first snapshot it covers only', () => {
    const s = createReplayState([], [], {});
    const entry = release(1, sha(1), [[sha(9), 'gw', 1]]);
    const check = () => checkEntryFirmware(s, 2, { entry, legacy: true }, [], trusted);
    expect(codes(check())).toEqual([['LOGGED_FIRMWARE_NOT_SERVED', 'error', 'targets:1']]);
    expect(check()).toEqual([]);
  });
});

describe('checkTimestamp', () => {
  const timestamp = (snapshotVersion: number, snapshotSha?: string): Fetched =>
    served({
      signed: {
        _type: 'timestamp',
        spec_version: '1.0.31',
        version: 9,
        expires: EXPIRES,
        meta: {
          'snapshot.json': {
            version: snapshotVersion,
            ...(snapshotSha ? { hashes: { sha256: snapshotSha.slice(2) } } : {}),
          },
        },
      },
      signatures: [],
    });
  const hashes = new Map([
    [1, sha(1)],
    [2, sha(2)],
  ]);
  const logged = (v: number) => v === 2;

  it.each([
    { desc: 'points at a served, logged snapshot', ts: timestamp(2, sha(2)), want: [] },
    { desc: 'gives no snapshot hash', ts: timestamp(2), want: [] },
    { desc: 'was not served', ts: failed, want: ['AUDIT_SOURCE_UNAVAILABLE'] },
    {
      desc: 'is not JSON metadata',
      ts: served({ signed: {} }),
      want: ['AUDIT_SOURCE_UNAVAILABLE'],
    },
    {
      desc: 'points at a snapshot not served',
      ts: timestamp(3),
      want: ['TIMESTAMP_SNAPSHOT_NOT_SERVED'],
    },
    {
      desc: 'points at other bytes than those served',
      ts: timestamp(2, sha(7)),
      want: ['TIMESTAMP_SNAPSHOT_NOT_SERVED'],
    },
    {
      desc: 'points at a snapshot never logged',
      ts: timestamp(1),
      want: ['TIMESTAMP_SNAPSHOT_NOT_LOGGED'],
    },
  ])('reports $want when it $desc', ({ ts, want }) => {
    expect(codes(checkTimestamp(ts, [], hashes, logged))).toEqual(
      want.map((c) => [c, 'error', 'timestamp']),
    );
  });
});

describe('checkReleasesServed', () => {
  it('reports RELEASE_NOT_SERVED for each chain entry no served file accounts for', () => {
    const findings = checkReleasesServed([release(1, sha(1)), release(2, sha(2))], new Set([1]));
    expect(codes(findings)).toEqual([['RELEASE_NOT_SERVED', 'error', 'snapshot:2']]);
  });
});
