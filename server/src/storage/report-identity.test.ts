import { mkdtemp, rm } from 'node:fs/promises';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKeySigner,
  createVehicleCa,
  createVehicleIdentity,
  signStatementBundle,
  verifyStatementBundleDetailed,
  type SerializedBundle,
  type VehicleCa,
  type VehicleIdentity,
} from '@tufchain/keys';
import { canonicalJson } from '@tufchain/transparency';
import { canonicalize } from '@tufjs/canonical-json';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from './sqlite-store.js';

let dir: string;
let path: string;
let ca: VehicleCa;
let vehicle: VehicleIdentity;

beforeAll(async () => {
  ca = await createVehicleCa({ commonName: 'Backfill Vehicle CA' });
  vehicle = await createVehicleIdentity(ca, { vin: 'WVWZZZ1JZXW000301', ecuSerial: 'GW-301' });
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tufchain-report-identity-'));
  path = join(dir, 'tufchain.sqlite');
  await new SqliteStore(path).close(); // every migration applied, no rows
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const report = (counter: number): Promise<SerializedBundle> =>
  signStatementBundle(
    {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'gw.img', digest: { sha256: 'ab'.repeat(32) } }],
      predicateType: 'https://tufchain.dev/attestation/install/v1',
      predicate: { counter, result: 'SUCCESS' },
    },
    createKeySigner(vehicle.privateKey),
    { certificatePem: vehicle.certificatePem },
  );

/** A row as servers before migration 7 wrote it: OLPC canonical JSON, no identity, no counter. */
function insertLegacyRow(bundleJson: string, sha: string): void {
  const db = new DatabaseSync(path);
  try {
    db.prepare(
      `INSERT INTO install_attestations (bundle_sha256, bundle_json, vin_commitment, ecu_serial, target_name, result, received_at)
       VALUES (?, ?, ?, ?, 'gw.img', 'SUCCESS', ?)`,
    ).run(
      sha,
      bundleJson,
      vehicle.vinCommitment.toLowerCase(),
      vehicle.ecuSerial,
      new Date().toISOString(),
    );
  } finally {
    db.close();
  }
}

const newRow = async (bundle: SerializedBundle, counter: number) => {
  const { signedContentDigest } = await verifyStatementBundleDetailed(bundle, {
    caCertificatePem: ca.certificatePem,
  });
  const bundleJson = canonicalJson(bundle);
  return {
    reportSha256: signedContentDigest,
    counter,
    bundleSha256: `new-${signedContentDigest}`,
    bundleJson,
    vinCommitment: vehicle.vinCommitment.toLowerCase(),
    ecuSerial: vehicle.ecuSerial,
    targetName: 'gw.img',
    result: 'SUCCESS',
    receivedAt: new Date().toISOString(),
  };
};

describe('reports stored before migration 7', () => {
  it('get their identity and counter when the store opens, so replays of them are still caught', async () => {
    const honest = await report(5);
    const legacy = canonicalize(honest);
    insertLegacyRow(legacy, 'legacy-1');
    // the same report replayed with a control character in an extra field: not JSON as stored
    const variant = canonicalize({ ...honest, note: 'a\u0001b' });
    insertLegacyRow(variant, 'legacy-2');
    insertLegacyRow('{"not":"a bundle"}', 'legacy-3');

    const store = new SqliteStore(path);
    try {
      const rows = await store.attestations();
      const { signedContentDigest } = await verifyStatementBundleDetailed(honest, {
        caCertificatePem: ca.certificatePem,
      });
      expect(rows.map((r) => [r.reportSha256, r.counter])).toEqual([
        [signedContentDigest, 5],
        [null, 5], // one identity per report: the replayed copy keeps none
        [null, null],
      ]);
      // The honest vehicle resends: the stored report, not a new one.
      const resent = await store.insertAttestation(await newRow(honest, 5));
      expect(resent).toMatchObject({ id: rows[0]!.id, created: false });
      // A different report that goes back to counter 4 is a replay.
      await expect(store.insertAttestation(await newRow(await report(4), 4))).rejects.toMatchObject(
        {
          code: 'REPORT_COUNTER_REPLAYED',
        },
      );
      const next = await store.insertAttestation(await newRow(await report(6), 6));
      expect(next.created).toBe(true);
    } finally {
      await store.close();
    }
  });
});
