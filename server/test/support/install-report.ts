import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  computeVinCommitment,
  createKeySigner,
  createVehicleCsr,
  signStatementBundle,
} from '@tufchain/keys';
import { INSTALL_PREDICATE_TYPE, type InstallPredicate } from '@tufchain/transparency';
import { expect } from 'vitest';
import type { TestChain } from './chain.js';

/** A release as GET /api/v1/releases lists it. */
export interface ListedRelease {
  id: number;
  targets: string[];
  metadataVersion: number;
  metadataHash: string;
  chain: { txHash: string; blockNumber: number };
}

export interface InstalledImage {
  version: string;
  digest: string;
  releaseCounter: number;
}

export interface EnrolledVehicle {
  vinCommitment: string;
  ecuSerial: string;
  /** Sends a signed SUCCESS install report of `image` from `release` (201 expected). */
  report(
    counter: number,
    release: ListedRelease,
    image: InstalledImage,
    /** What the odometer reads (default: it grows with the counter). */
    odometerKm?: number,
  ): Promise<{ id: number; logIndex?: number }>;
}

/**
 * Enrolls a vehicle ECU (gw-rev3, serial GW-10n) with a key made now, through the server's
 * enrollment route, and returns what sends its signed install reports.
 */
export async function enrollVehicle(opts: {
  serverUrl: string;
  enrollToken: string;
  chain: TestChain;
  n: number;
  hardwareId?: string;
}): Promise<EnrolledVehicle> {
  const { serverUrl, chain, n } = opts;
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const vinCommitment = computeVinCommitment(`WVWZZZ1JZXW10000${n}`, randomBytes(32));
  const ecuSerial = `GW-10${n}`;
  const csr = await createVehicleCsr(key, { vinCommitment, ecuSerial });
  const res = await fetch(`${serverUrl}/api/v1/vehicles/enroll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${opts.enrollToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ csr }),
  });
  expect(res.status).toBe(201);
  const { certificate } = (await res.json()) as { certificate: string };
  return {
    vinCommitment,
    ecuSerial,
    async report(counter, release, image, odometerKm = 1200 * counter + n) {
      const name = release.targets[0] ?? '';
      const block = await chain.provider.getBlock('latest');
      const predicate: InstallPredicate = {
        vehicle: { commitment: vinCommitment },
        ecu: { serial: ecuSerial, hardwareId: opts.hardwareId ?? 'gw-rev3' },
        from: null,
        to: {
          name,
          version: image.version,
          releaseCounter: image.releaseCounter,
          digest: image.digest,
        },
        result: 'SUCCESS',
        startedAt: new Date(Date.now() - 60_000).toISOString(),
        finishedAt: new Date().toISOString(),
        odometerKm,
        counter,
        metadata: { targetsVersion: release.metadataVersion, targetsHash: release.metadataHash },
        checkpoint: {
          chainId: chain.chain.chainId,
          blockNumber: block!.number,
          blockHash: block!.hash!,
          timestamp: block!.timestamp,
        },
      };
      const bundle = await signStatementBundle(
        {
          _type: 'https://in-toto.io/Statement/v1',
          subject: [{ name, digest: { sha256: image.digest } }],
          predicateType: INSTALL_PREDICATE_TYPE,
          predicate,
        },
        createKeySigner(key),
        { certificatePem: certificate },
      );
      const sent = await fetch(`${serverUrl}/api/v1/attestations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(bundle),
      });
      expect(sent.status, await sent.clone().text()).toBe(201);
      return (await sent.json()) as { id: number; logIndex?: number };
    },
  };
}
