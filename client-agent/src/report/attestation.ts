import { signStatementBundle, type InTotoStatement, type Signer } from '@tufchain/keys/attestation';
import {
  INSTALL_PREDICATE_TYPE,
  installPathSchema,
  type InstallPath,
  type InstallPredicate,
} from '@tufchain/transparency/wire';
import { nextReportCounter } from './counter.js';

export interface VehicleCredentials {
  /** The vehicle's ECDSA P-256 key (an HSM/TPM can sit behind the Signer seam). */
  signer: Signer;
  /** X.509 certificate of that key, issued by the OEM vehicle CA. */
  certificatePem: string;
  /** Salted VIN commitment (hex); the VIN itself never leaves the vehicle. */
  vinCommitment: string;
}

export interface InstallReportInput {
  stateDir: string;
  vehicle: VehicleCredentials;
  ecu: { serial: string; hardwareId: string };
  /** What the ECU ran before (an ECU's version report names the image and its digest only). */
  from: { name?: string; version?: string; releaseCounter?: number; digest: string } | null;
  to: { name: string; version: string; releaseCounter: number; digest: string };
  result: InstallPredicate['result'];
  startedAt: Date;
  finishedAt: Date;
  odometerKm: number;
  metadata: { targetsVersion: number; targetsHash: string };
  checkpoint: { chainId: number; blockNumber: number; blockHash: string; timestamp: number };
  /** Uptane: the Director targets this install carried out. */
  director?: InstallPredicate['director'];
  /** Uptane: a secondary's own signed install result. */
  ecuResult?: InstallPredicate['ecuResult'];
  /** How the image reached the slot: delta or full (and the fallback code), bytes downloaded. */
  install?: InstallPath | undefined;
}

export type InstallReportBundle = Awaited<ReturnType<typeof signStatementBundle>>;

export function stripHexPrefix(hex: string): string {
  return hex.startsWith('0x') ? hex.slice(2) : hex;
}

/** Builds the install predicate and signs it as a Sigstore bundle with the vehicle key. */
export async function signInstallReport(
  input: InstallReportInput,
): Promise<{ bundle: InstallReportBundle; predicate: InstallPredicate }> {
  const counter = await nextReportCounter(input.stateDir);
  // A path the server would refuse would keep the whole report in the outbox: leave it out.
  const install = installPathSchema.safeParse(input.install).data;
  const predicate: InstallPredicate = {
    vehicle: { commitment: input.vehicle.vinCommitment },
    ecu: { serial: input.ecu.serial, hardwareId: input.ecu.hardwareId },
    from: input.from,
    to: input.to,
    result: input.result,
    startedAt: input.startedAt.toISOString(),
    finishedAt: input.finishedAt.toISOString(),
    odometerKm: input.odometerKm,
    counter,
    metadata: input.metadata,
    checkpoint: input.checkpoint,
    ...(input.director ? { director: input.director } : {}),
    ...(input.ecuResult ? { ecuResult: input.ecuResult } : {}),
    ...(install ? { install } : {}),
  };
  const statement: InTotoStatement<InstallPredicate> = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: input.to.name, digest: { sha256: stripHexPrefix(input.to.digest) } }],
    predicateType: INSTALL_PREDICATE_TYPE,
    predicate,
  };
  const bundle = await signStatementBundle(statement, input.vehicle.signer, {
    certificatePem: input.vehicle.certificatePem,
  });
  return { bundle, predicate };
}
