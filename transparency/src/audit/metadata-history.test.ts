import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuditRepo, recordingChain, type Firmware } from '../../test/helpers/audit-repo.js';
import { newSigner } from '../../test/helpers/tuf-repo.js';
import { Metadata, MetadataKind } from '@tufjs/models';
import { signMetadata } from '@tufchain/keys';
import { auditRepository } from './auditor.js';
import { parseSnapshotMetadata, parseTargetsMetadata } from '../wire/tuf-metadata.js';
import { sha256Hex } from '../util/hex.js';

const HW = 'ecu-brake-v1';
const firmware = (name: string, releaseCounter: number, hardwareIds = [HW]): Firmware => ({
  name,
  bytes: randomBytes(64),
  hardwareIds,
  releaseCounter,
});

async function fixture() {
  const { writer, chain } = recordingChain();
  const keys = { root: newSigner(), targets: newSigner(), bins: newSigner(), build: newSigner() };
  const repo = new AuditRepo(keys, writer, {
    bitLength: 2,
    suppliers: [{ id: 'acme', hardwareIds: ['acme-cam-v1'], signer: newSigner() }],
  });
  await repo.init();
  await repo.publish();
  await repo.addFirmware(firmware('brake-1.bin', 1));
  await repo.publish({ metaHashes: true });
  const audit = async () =>
    auditRepository({
      chain,
      source: repo.source(),
      trustedRoot: JSON.parse(Buffer.from(repo.roots.get(1)!).toString('utf8')) as unknown,
      firmwareKey: { publicKeyPem: keys.build.publicKeyPem(), keyId: keys.build.keyId },
    });
  return { repo, audit, chain };
}

type Fixture = Awaited<ReturnType<typeof fixture>>;

describe('auditRepository over layout v2 metadata (in-memory source and chain)', () => {
  it('reports no finding for an honest history', async () => {
    const { audit } = await fixture();
    const report = await audit();
    expect(report.findings).toEqual([]);
    expect(report.stats).toMatchObject({ snapshotVersionsServed: 2, firmwareTargets: 1 });
  });

  const table: { desc: string; tamper: (f: Fixture) => Promise<void>; wantCodes: string[] }[] = [
    {
      desc: 'a role the delegations name is missing from the snapshot',
      tamper: async ({ repo }) => {
        repo.roles.delete('bins-3');
        await repo.publish();
      },
      wantCodes: ['ROLE_NOT_IN_SNAPSHOT'],
    },
    {
      desc: 'the snapshot lists a role no trusted role delegates to',
      tamper: async ({ repo }) => {
        repo.roles.set('orphan', { version: 0, targets: {}, signers: [newSigner()], dirty: true });
        await repo.publish();
      },
      wantCodes: ['ROLE_NOT_DELEGATED'],
    },
    {
      desc: 'a role file differs from the length and hash its snapshot pins',
      tamper: async ({ repo }) => {
        const top = repo.roles.get('targets')!;
        repo.files.set(
          `${top.version}.targets`,
          new Uint8Array(
            Buffer.concat([repo.files.get(`${top.version}.targets`)!, Buffer.from(' ')]),
          ),
        );
        return Promise.resolve();
      },
      wantCodes: ['SNAPSHOT_META_MISMATCH'],
    },
    {
      desc: 'a role file is not JSON metadata',
      tamper: ({ repo }) => {
        repo.files.set('1.bins-0', new Uint8Array(Buffer.from('{"signed":{}}')));
        return Promise.resolve();
      },
      wantCodes: ['TARGETS_MALFORMED'],
    },
    {
      desc: 'a role file claims another version than its name',
      tamper: ({ repo }) => {
        const bin = repo.binFor('brake-1.bin');
        repo.files.set(`1.${bin}`, repo.files.get(`2.${bin}`)!);
        return Promise.resolve();
      },
      // version 2's content (brake-1.bin) now also appears in snapshot 1, whose entry is empty,
      // and without its bundle, which only snapshot 2's bins list
      wantCodes: [
        'TARGETS_VERSION_MISMATCH',
        'FIRMWARE_NOT_LOGGED',
        'FIRMWARE_ATTESTATION_MISSING',
      ],
    },
    {
      desc: "a bin's targets were edited after it was signed",
      tamper: ({ repo }) => {
        const bin = repo.binFor('brake-1.bin');
        const json = JSON.parse(Buffer.from(repo.files.get(`2.${bin}`)!).toString('utf8')) as {
          signed: { targets: Record<string, { hashes: { sha256: string } }> };
        };
        json.signed.targets['brake-1.bin']!.hashes.sha256 = 'ab'.repeat(32);
        repo.files.set(`2.${bin}`, new Uint8Array(Buffer.from(JSON.stringify(json))));
        return Promise.resolve();
      },
      // the logged firmware is then only in a bin that does not verify (and snapshot 2 pinned
      // the bin's hash too)
      wantCodes: [
        'DELEGATE_SIGNATURE_INVALID',
        'LOGGED_FIRMWARE_NOT_SERVED',
        'SNAPSHOT_META_MISMATCH',
      ],
    },
    {
      desc: 'a role version the snapshot pins is not served',
      tamper: ({ repo }) => {
        repo.files.delete('1.bins-1');
        return Promise.resolve();
      },
      wantCodes: ['AUDIT_SOURCE_UNAVAILABLE'],
    },
    {
      desc: 'a snapshot version in the middle of the history is not served',
      tamper: async ({ repo }) => {
        await repo.publish();
        repo.snapshots.delete(2);
      },
      // brake-1.bin now first appears in snapshot 3, whose entry logs nothing
      wantCodes: ['SNAPSHOT_VERSION_MISSING', 'RELEASE_NOT_SERVED', 'FIRMWARE_NOT_LOGGED'],
    },
    {
      desc: 'a snapshot file claims another version than its name',
      tamper: async ({ repo }) => {
        await repo.publish({ log: false });
        repo.files.set('3.snapshot', repo.files.get('2.snapshot')!);
      },
      // the timestamp pins snapshot 3 by its real hash
      wantCodes: [
        'SNAPSHOT_VERSION_MISMATCH',
        'METADATA_NOT_LOGGED',
        'TIMESTAMP_SNAPSHOT_NOT_SERVED',
      ],
    },
    {
      desc: 'a new supplier delegation shadows firmware the bins already list',
      tamper: async ({ repo }) => {
        await repo.addFirmware(firmware('newhw/ecu-1.bin', 2, ['newhw']));
        await repo.publish();
        const supplier = newSigner();
        const top = repo.roles.get('targets')!;
        const delegations = top.delegations as {
          keys: Record<string, unknown>;
          roles: Record<string, unknown>[];
        };
        delegations.keys[supplier.keyId] = supplier.publicKey;
        delegations.roles.unshift({
          name: 'supplier-new',
          keyids: [supplier.keyId],
          threshold: 1,
          terminating: true,
          paths: ['newhw/*'],
          'x-tufchain-hardware-ids': ['newhw'],
        });
        top.dirty = true;
        repo.roles.set('supplier-new', {
          version: 0,
          targets: {},
          signers: [supplier],
          dirty: true,
        });
        await repo.publish();
      },
      wantCodes: ['TARGET_PATH_NOT_DELEGATED'],
    },
    {
      desc: 'a logged and served snapshot is not TUF metadata',
      tamper: async ({ repo }) => {
        const garbage = new Uint8Array(Buffer.from('{"signed":{"_type":"snapshot"}}'));
        await repo.writer.logRelease({
          metadataVersion: 3,
          metadataHash: sha256Hex(garbage),
          firmware: [],
        });
        repo.files.set('3.snapshot', garbage);
        repo.snapshots.add(3);
      },
      wantCodes: ['SNAPSHOT_MALFORMED'],
    },
    {
      desc: 'the timestamp is signed by a key the root never trusted',
      tamper: async ({ repo }) => {
        const json = JSON.parse(Buffer.from(repo.timestamp!).toString('utf8')) as {
          signed: unknown;
        };
        const md = await signMetadata(
          Metadata.fromJSON(MetadataKind.Timestamp, {
            signed: json.signed,
            signatures: [],
          } as never),
          newSigner(),
        );
        repo.timestamp = new Uint8Array(Buffer.from(JSON.stringify(md.toJSON())));
      },
      wantCodes: ['TIMESTAMP_SIGNATURE_INVALID'],
    },
    {
      desc: 'the timestamp points at a snapshot the audit routes do not list',
      tamper: async ({ repo }) => {
        await repo.publish({ log: false });
        repo.snapshots.delete(3);
      },
      wantCodes: ['TIMESTAMP_SNAPSHOT_NOT_SERVED'],
    },
    {
      desc: 'a firmware is in the wrong hashed bin',
      tamper: async ({ repo }) => {
        const name = 'brake-2.bin';
        const wrong = ['bins-0', 'bins-1', 'bins-2', 'bins-3'].find(
          (b) => b !== repo.binFor(name),
        )!;
        await repo.addFirmware(firmware(name, 2), { role: wrong });
        await repo.publish();
      },
      // no client finds it there, so the chain entry logs a firmware no client can fetch
      wantCodes: ['TARGET_PATH_NOT_DELEGATED', 'LOGGED_FIRMWARE_NOT_SERVED'],
    },
  ];
  for (const { desc, tamper, wantCodes } of table) {
    it(`reports ${wantCodes.join(' + ')} when ${desc}`, async () => {
      const f = await fixture();
      await tamper(f);
      const report = await f.audit();
      expect(new Set(report.findings.map((x) => x.code))).toEqual(new Set(wantCodes));
    });
  }

  it('parses targets and snapshots like Metadata.fromJSON, field for field', async () => {
    const { repo } = await fixture();
    for (const [key, bytes] of repo.files) {
      const json = JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
      if (key.endsWith('.snapshot')) {
        const { md, asReceived } = parseSnapshotMetadata(json);
        const reference = Metadata.fromJSON(MetadataKind.Snapshot, json as never);
        expect(md.signed.equals(reference.signed)).toBe(true);
        expect(asReceived.signed.toJSON()).toEqual(reference.signed.toJSON());
        expect(asReceived.signatures).toEqual(reference.signatures);
        continue;
      }
      const { md, asReceived } = parseTargetsMetadata(json);
      const reference = Metadata.fromJSON(MetadataKind.Targets, json as never);
      expect(md.signed.equals(reference.signed)).toBe(true);
      expect(md.signed.toJSON()).toEqual(reference.signed.toJSON());
      expect(asReceived.signed.toJSON()).toEqual(reference.signed.toJSON());
      expect(asReceived.signatures).toEqual(reference.signatures);
    }
  });

  it('refuses targets or snapshot metadata without its fields with METADATA_MALFORMED', () => {
    for (const parse of [
      () => parseTargetsMetadata({ signed: { _type: 'targets' }, signatures: [] }),
      () => parseTargetsMetadata([]),
      () => parseSnapshotMetadata({ signed: { _type: 'snapshot' }, signatures: [] }),
    ]) {
      expect(parse).toThrow(expect.objectContaining({ code: 'METADATA_MALFORMED' }));
    }
  });

  it('fetches and parses each role version once across many snapshots', async () => {
    const { repo, chain } = await fixture();
    for (let i = 2; i < 12; i++) {
      await repo.addFirmware(firmware(`brake-${i}.bin`, i));
      await repo.publish();
    }
    const fetched: string[] = [];
    const source = repo.source();
    const metadata = source.metadata.bind(source);
    source.metadata = (role, version) => {
      fetched.push(`${version}.${role}`);
      return metadata(role, version);
    };
    const report = await auditRepository({
      chain,
      source,
      trustedRoot: JSON.parse(Buffer.from(repo.roots.get(1)!).toString('utf8')) as unknown,
    });
    expect(report.findings).toEqual([]);
    expect(new Set(fetched).size).toBe(fetched.length);
    expect(fetched.length).toBe(repo.files.size);
    expect(report.stats.roleVersionsParsed).toBe(repo.files.size - repo.snapshots.size);
  });
});
