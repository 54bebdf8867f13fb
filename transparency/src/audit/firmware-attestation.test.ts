import { createHash, randomBytes } from 'node:crypto';
import { Metadata, MetadataKind, type Snapshot, type Targets } from '@tufjs/models';
import { hardwareIdHash } from '@tufchain/contracts';
import { signFirmwareAttestation, signMetadata, type Signer } from '@tufchain/keys';
import { describe, expect, it } from 'vitest';
import { newSigner, rootBytes, signedRoot } from '../../test/helpers/tuf-repo.js';
import { sha256Hex } from '../util/hex.js';
import { auditRepository, type AuditChain } from './auditor.js';
import type { AuditSource } from './source.js';

const hex = (b: Uint8Array, alg = 'sha256') => createHash(alg).update(b).digest('hex');
const HW = 'ecu-brake-v1';
const NAME = 'brake-2.0.0.bin';
const BUNDLE = `${NAME}.sigstore.json`;

interface Case {
  desc: string;
  /** Signs the bundle the repository lists (default: the OEM build key, about the image). */
  bundle?: (image: Uint8Array, buildKey: Signer) => Promise<unknown>;
  /** What the server answers for the bundle target (default: the listed bytes). */
  served?: (listed: Uint8Array) => Uint8Array;
  listBundle?: boolean;
  wantCodes: string[];
  wantVerified: number;
}

async function auditWith(c: Case) {
  const rootKey = newSigner();
  const targetsKey = newSigner();
  const buildKey = newSigner();
  const image = randomBytes(512);
  const genuine = (img: Uint8Array, key: Signer) =>
    signFirmwareAttestation(
      { name: NAME, sha256: hex(img), hardwareIds: [HW], version: '2.0.0', releaseCounter: 2 },
      key,
    );
  const bundleBytes = Buffer.from(JSON.stringify(await (c.bundle ?? genuine)(image, buildKey)));
  const targets: Record<string, unknown> = {
    [NAME]: {
      length: image.length,
      hashes: { sha256: hex(image), sha512: hex(image, 'sha512') },
      custom: {
        kind: 'firmware',
        hardwareIds: [HW],
        version: '2.0.0',
        releaseCounter: 2,
        ...(c.listBundle === false ? {} : { attestation: BUNDLE }),
      },
    },
  };
  if (c.listBundle !== false) {
    targets[BUNDLE] = {
      length: bundleBytes.length,
      hashes: { sha256: hex(bundleBytes), sha512: hex(bundleBytes, 'sha512') },
      custom: { kind: 'attestation', subject: NAME },
    };
  }
  const md: Metadata<Targets> = Metadata.fromJSON(MetadataKind.Targets, {
    signed: {
      _type: 'targets',
      spec_version: '1.0.31',
      version: 1,
      expires: '2030-01-01T00:00:00Z',
      targets,
    },
    signatures: [],
  } as never);
  await signMetadata(md, targetsKey);
  const targetsBytes = new Uint8Array(Buffer.from(JSON.stringify(md.toJSON())));
  const snapshot: Metadata<Snapshot> = Metadata.fromJSON(MetadataKind.Snapshot, {
    signed: {
      _type: 'snapshot',
      spec_version: '1.0.31',
      version: 1,
      expires: '2030-01-01T00:00:00Z',
      meta: { 'targets.json': { version: 1 } },
    },
    signatures: [],
  });
  // signedRoot gives the snapshot role the targets keys.
  await signMetadata(snapshot, targetsKey);
  const snapshotBytes = new Uint8Array(Buffer.from(JSON.stringify(snapshot.toJSON())));
  const root = await rootBytes(signedRoot({ version: 1, root: [rootKey], targets: [targetsKey] }), [
    rootKey,
  ]);
  // A unit-test double of the chain: the entry matches the served metadata exactly.
  const chain: AuditChain = {
    releases: () =>
      Promise.resolve([
        {
          metadataVersion: 1,
          metadataHash: sha256Hex(snapshotBytes),
          publisher: '0x' + '11'.repeat(20),
          confirmations: 3,
          firmware: [
            {
              digest: '0x' + hex(image),
              hardwareIdHash: hardwareIdHash(HW).toLowerCase(),
              version: 2,
            },
          ],
          txHash: '0x' + '22'.repeat(32),
          blockNumber: 5,
          blockHash: '0x' + '33'.repeat(32),
        },
      ]),
  };
  const source: AuditSource = {
    snapshotVersions: () => Promise.resolve([1]),
    metadata: (role, v) =>
      v !== 1
        ? Promise.reject(new Error(`no ${v}.${role}.json`))
        : role === 'snapshot'
          ? Promise.resolve(snapshotBytes)
          : role === 'targets'
            ? Promise.resolve(targetsBytes)
            : Promise.reject(new Error(`no ${v}.${role}.json`)),
    rootMetadata: (v) => Promise.resolve(v === 1 ? root : null),
    attestations: () => Promise.resolve([]),
    targetFile: (name, sha) =>
      name === BUNDLE && sha.replace(/^0x/, '') === hex(bundleBytes)
        ? Promise.resolve((c.served ?? ((b) => b))(new Uint8Array(bundleBytes)))
        : Promise.reject(new Error(`no target ${name}`)),
  };
  return auditRepository({
    chain,
    source,
    trustedRoot: JSON.parse(Buffer.from(root).toString('utf8')) as unknown,
    firmwareKey: { publicKeyPem: buildKey.publicKeyPem(), keyId: buildKey.keyId },
  });
}

describe('auditRepository', () => {
  describe("checks each logged firmware's Sigstore bundle as TUF serves it", () => {
    const table: Case[] = [
      { desc: 'a genuine bundle from the build key', wantCodes: [], wantVerified: 1 },
      {
        desc: 'served bytes that differ from the TUF hash',
        served: (b) => Buffer.concat([b, Buffer.from(' ')]),
        wantCodes: ['FIRMWARE_ATTESTATION_MISMATCH'],
        wantVerified: 0,
      },
      {
        desc: 'a bundle that TUF lists but another key signed',
        bundle: (img) =>
          signFirmwareAttestation(
            {
              name: NAME,
              sha256: hex(img),
              hardwareIds: [HW],
              version: '2.0.0',
              releaseCounter: 2,
            },
            newSigner(),
          ),
        wantCodes: ['FIRMWARE_ATTESTATION_INVALID'],
        wantVerified: 0,
      },
      {
        desc: 'a bundle about another image',
        bundle: (_img, key) =>
          signFirmwareAttestation(
            {
              name: NAME,
              sha256: hex(randomBytes(8)),
              hardwareIds: [HW],
              version: '2.0.0',
              releaseCounter: 2,
            },
            key,
          ),
        wantCodes: ['FIRMWARE_ATTESTATION_INVALID'],
        wantVerified: 0,
      },
      {
        desc: 'a firmware that names no bundle',
        listBundle: false,
        wantCodes: ['FIRMWARE_ATTESTATION_MISSING'],
        wantVerified: 0,
      },
    ];
    for (const c of table) {
      it(`${c.desc}: ${c.wantCodes.length === 0 ? 'no finding' : c.wantCodes.join(', ')}`, async () => {
        const result = await auditWith(c);
        expect(result.findings.map((f) => f.code)).toEqual(c.wantCodes);
        expect(result.stats.firmwareAttestationsVerified ?? 0).toBe(c.wantVerified);
      });
    }
  });
});
