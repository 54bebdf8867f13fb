import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import {
  computeVinCommitment,
  createKeySigner,
  createVehicleCsr,
  signStatementBundle,
  type SerializedBundle,
  type Signer,
} from '@tufchain/keys';
import { INSTALL_PREDICATE_TYPE, type InstallPredicate } from '@tufchain/transparency';
import { expect } from 'vitest';
import type { TestChain } from './chain.js';

/** The chain's latest block as an install report's checkpoint. */
export async function latestCheckpoint(chain: TestChain): Promise<InstallPredicate['checkpoint']> {
  const block = await chain.provider.getBlock('latest');
  return {
    chainId: chain.chain.chainId,
    blockNumber: block!.number,
    blockHash: block!.hash!,
    timestamp: block!.timestamp,
  };
}

/** Signs `predicate` as an in-toto install statement about `predicate.to`, with the vehicle's key. */
export function signInstallStatement(
  predicate: InstallPredicate,
  signer: Signer,
  certificatePem: string,
): Promise<SerializedBundle> {
  return signStatementBundle(
    {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: predicate.to.name, digest: { sha256: predicate.to.digest } }],
      predicateType: INSTALL_PREDICATE_TYPE,
      predicate,
    },
    signer,
    { certificatePem },
  );
}

/**
 * A signed SUCCESS report of a first install (`from` null) of `to`, checked against the chain's
 * latest block; started and finished at `finishedAt` (now) unless `startedAt` says otherwise.
 */
export async function signSuccessReport(opts: {
  chain: TestChain;
  vehicle: {
    privateKey: KeyObject;
    certificatePem: string;
    vinCommitment: string;
    ecuSerial: string;
  };
  hardwareId: string;
  to: InstallPredicate['to'];
  metadata: InstallPredicate['metadata'];
  counter?: number;
  odometerKm?: number;
  startedAt?: Date;
  finishedAt?: Date;
}): Promise<SerializedBundle> {
  const finishedAt = opts.finishedAt ?? new Date();
  return signInstallStatement(
    {
      vehicle: { commitment: opts.vehicle.vinCommitment },
      ecu: { serial: opts.vehicle.ecuSerial, hardwareId: opts.hardwareId },
      from: null,
      to: opts.to,
      result: 'SUCCESS',
      startedAt: (opts.startedAt ?? finishedAt).toISOString(),
      finishedAt: finishedAt.toISOString(),
      odometerKm: opts.odometerKm ?? 1,
      counter: opts.counter ?? 1,
      metadata: opts.metadata,
      checkpoint: await latestCheckpoint(opts.chain),
    },
    createKeySigner(opts.vehicle.privateKey),
    opts.vehicle.certificatePem,
  );
}

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
      const bundle = await signSuccessReport({
        chain,
        vehicle: { privateKey: key, certificatePem: certificate, vinCommitment, ecuSerial },
        hardwareId: opts.hardwareId ?? 'gw-rev3',
        to: { name, ...image },
        metadata: { targetsVersion: release.metadataVersion, targetsHash: release.metadataHash },
        counter,
        odometerKm,
        startedAt: new Date(Date.now() - 60_000),
      });
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
