/**
 * Simulated vehicles on real parts, for the fleet simulator (npm run fleet:sim) and the campaign
 * tests: each enrolls with its own P-256 key (the
 * client agent's enrollVehicle), registers its ECUs with the Director by a signed request, reads
 * its Director targets by signed requests (timestamp → snapshot → targets, as the primary does;
 * signatures are not re-verified here, the Director tests do that), and reports installs with
 * install attestations signed by its vehicle certificate (the client agent's signInstallReport).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { enrollVehicle, signInstallReport, type InstallReportBundle } from '@tufchain/client-agent';
import {
  computeVinCommitment,
  createKeySigner,
  generateKeyPair,
  type Signer,
} from '@tufchain/keys';
import {
  parseDirectorTargets,
  signEnvelope,
  signVehicleRequest,
} from '@tufchain/transparency/wire';

export interface SimulatedVehicle {
  index: number;
  vinCommitment: string;
  serialNumber: string;
  signer: Signer;
  certificatePem: string;
  ecuSerial: string;
  stateDir: string;
  /** Secondary ECUs (serial → hardware ID), each with its own key. */
  secondaries: { serial: string; hardwareId: string }[];
  running: { name: string; sha256: string };
  /** The primary's ECU report counter (signed version manifests). */
  reportCounter: number;
}

export interface DirectorImage {
  name: string;
  sha256: string;
  length: number;
  ecuSerial: string;
  correlationId: string | null;
  targetsVersion: number;
}

export async function enrollSimulatedVehicle(opts: {
  serverUrl: string;
  factoryToken: string;
  dir: string;
  index: number;
  hardwareId: string;
  secondaries?: { serial: string; hardwareId: string }[];
}): Promise<SimulatedVehicle> {
  const vin = `WVWZZZ1JZ${String(opts.index).padStart(8, '0')}`;
  const vinCommitment = computeVinCommitment(vin, randomBytes(32));
  const ecuSerial = `GW-${opts.index}`;
  const enrolled = await enrollVehicle({
    serverUrl: opts.serverUrl,
    factoryToken: opts.factoryToken,
    vinCommitment,
    ecuSerial,
  });
  const signer = createKeySigner(enrolled.privateKey);
  const stateDir = join(opts.dir, `vehicle-${opts.index}`);
  await mkdir(stateDir, { recursive: true });
  const vehicle: SimulatedVehicle = {
    index: opts.index,
    vinCommitment: enrolled.vinCommitment,
    serialNumber: enrolled.serialNumber,
    signer,
    certificatePem: enrolled.certificatePem,
    ecuSerial,
    stateDir,
    secondaries: opts.secondaries ?? [],
    running: { name: 'factory.img', sha256: '0'.repeat(64) },
    reportCounter: 0,
  };
  const ecus = [
    {
      ecu_serial: ecuSerial,
      hardware_identifier: opts.hardwareId,
      primary: true,
      clientKey: signer.publicKey,
    },
    ...vehicle.secondaries.map((s) => ({
      ecu_serial: s.serial,
      hardware_identifier: s.hardwareId,
      clientKey: createKeySigner(generateKeyPair('ed25519').privateKey).publicKey,
    })),
  ];
  const res = await vehicleRequest(opts.serverUrl, vehicle, 'PUT', '/api/v1/director/ecus', {
    primary_ecu_serial: ecuSerial,
    ecus,
  });
  if (res.status !== 201) throw new Error(`ECU registration: ${res.status} ${await res.text()}`);
  return vehicle;
}

export async function vehicleRequest(
  serverUrl: string,
  v: Pick<SimulatedVehicle, 'serialNumber' | 'signer'>,
  method: string,
  path: string,
  body?: unknown,
): Promise<Response> {
  const url = `${serverUrl}${path}`;
  const bytes = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers = await signVehicleRequest(
    { method, url, ...(bytes ? { body: new Uint8Array(bytes) } : {}) },
    { keyid: v.serialNumber, sign: (d) => v.signer.sign(d) },
  );
  return fetch(url, {
    method,
    headers: { ...headers, ...(bytes ? { 'content-type': 'application/json' } : {}) },
    ...(bytes ? { body: bytes } : {}),
  });
}

interface Signed {
  signed: {
    meta: Record<string, { version: number }>;
    custom?: unknown;
    targets: Record<string, unknown>;
  };
}

async function metadata(serverUrl: string, v: SimulatedVehicle, file: string): Promise<Signed> {
  const res = await vehicleRequest(serverUrl, v, 'GET', `/director/metadata/${file}`);
  if (res.status !== 200) throw new Error(`GET ${file}: ${res.status}`);
  return (await res.json()) as Signed;
}

const versionOf = (doc: Signed, file: string): number => {
  const version = doc.signed.meta[file]?.version;
  if (version === undefined) throw new Error(`no ${file} in meta`);
  return version;
};

/** What the vehicle's current Director targets assign to its primary, if anything. */
export async function directorAssignment(
  serverUrl: string,
  v: SimulatedVehicle,
): Promise<DirectorImage | undefined> {
  const timestamp = await metadata(serverUrl, v, 'timestamp.json');
  const snapshot = await metadata(
    serverUrl,
    v,
    `${versionOf(timestamp, 'snapshot.json')}.snapshot.json`,
  );
  const targetsVersion = versionOf(snapshot, 'targets.json');
  const targets = await metadata(serverUrl, v, `${targetsVersion}.targets.json`);
  const { custom, assignments } = parseDirectorTargets(targets.signed);
  const mine = assignments.find((a) => a.ecuSerial === v.ecuSerial);
  if (!mine) return undefined;
  return {
    name: mine.name,
    sha256: mine.sha256,
    length: mine.length,
    ecuSerial: mine.ecuSerial,
    correlationId: custom.correlationId,
    targetsVersion,
  };
}

/** A signed install attestation of the primary, from what it runs to `to`. */
export async function installReport(
  v: SimulatedVehicle,
  hardwareId: string,
  to: { name: string; sha256: string },
  result: 'SUCCESS' | 'FAILURE' | 'ROLLED_BACK',
): Promise<InstallReportBundle> {
  const now = new Date();
  const { bundle } = await signInstallReport({
    stateDir: v.stateDir,
    vehicle: { signer: v.signer, certificatePem: v.certificatePem, vinCommitment: v.vinCommitment },
    ecu: { serial: v.ecuSerial, hardwareId },
    from: { name: v.running.name, version: '1.0.0', releaseCounter: 1, digest: v.running.sha256 },
    to: { name: to.name, version: '2.0.0', releaseCounter: 2, digest: to.sha256 },
    result,
    startedAt: new Date(now.getTime() - 60_000),
    finishedAt: now,
    odometerKm: 1000 + v.index,
    metadata: { targetsVersion: 1, targetsHash: `0x${'0'.repeat(64)}` },
    checkpoint: { chainId: 31337, blockNumber: 1, blockHash: `0x${'1'.repeat(64)}`, timestamp: 1 },
  });
  return bundle;
}

/**
 * A signed vehicle version manifest (Uptane): the primary's ECU report of what it runs, signed by
 * its key, and an installation report for an assignment (e.g. `DEFERRED`, or a failure code).
 */
export async function sendVersionManifest(
  serverUrl: string,
  v: SimulatedVehicle,
  report: { correlationId: string; code: string; success: boolean },
): Promise<Response> {
  v.reportCounter += 1;
  const ecuReport = await signEnvelope(
    {
      ecu_serial: v.ecuSerial,
      installed_image: {
        filepath: v.running.name,
        fileinfo: { length: 1, hashes: { sha256: v.running.sha256 } },
      },
      attacks_detected: '',
      report_counter: v.reportCounter,
      nonce: randomBytes(16).toString('hex'),
      timeserver_time: new Date().toISOString(),
    },
    [v.signer],
  );
  const manifest = await signEnvelope(
    {
      vehicle: v.vinCommitment,
      primary_ecu_serial: v.ecuSerial,
      ecu_version_manifests: { [v.ecuSerial]: ecuReport },
      installation_report: {
        correlation_id: report.correlationId,
        items: [
          {
            ecu: v.ecuSerial,
            result: { code: report.code, success: report.success, description: '' },
          },
        ],
      },
    },
    [v.signer],
  );
  return vehicleRequest(serverUrl, v, 'POST', '/api/v1/director/manifest', manifest);
}
