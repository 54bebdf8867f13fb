import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileSigner, createKeySigner, readPkcs12Bundle } from '@tufchain/keys/vehicle';
import { ChainReader } from '@tufchain/transparency/chain';
import type { UpdateOptions } from '../agent.js';
import { resolveConfig } from '../config.js';
import { AgentError } from '../error.js';
import { InstallJournalStore } from '../journal.js';
import { FileSlotStore } from '../slots/ab-slots.js';
import type { SlotState } from '../slots/slot-store.js';
import type { VehicleCredentials } from '../report/attestation.js';
import type { RenewalOptions } from '../enroll/renewal.js';
import { verifyVehicleCertificateTimeless } from '../enroll/certificate.js';
import { writeFileDurable } from '../util/durable.js';
import type { AgentSettings } from './settings.js';

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new AgentError('CONFIG_INVALID', `cannot read ${what} ${path}`, { cause: err });
  }
}

/** Loads the vehicle key and certificate (PKCS#12 bundle, or encrypted PKCS#8 + PEM). */
export async function loadVehicleCredentials(
  settings: AgentSettings,
  passphrase: string | undefined,
): Promise<VehicleCredentials & { ecuSerial: string; renewal?: RenewalOptions }> {
  if (!passphrase) {
    throw new AgentError('CONFIG_INVALID', 'the vehicle key passphrase is not set');
  }
  const v = settings.vehicle;
  if ('pkcs12Path' in v) {
    const p12 = await readFile(v.pkcs12Path).catch((err: unknown) => {
      throw new AgentError('CONFIG_INVALID', `cannot read ${v.pkcs12Path}`, { cause: err });
    });
    const contents = readPkcs12Bundle(p12, passphrase);
    const caPem = await readText(v.caCertificatePath, 'vehicle CA certificate');
    const renewedPath = join(settings.stateDir, RENEWED_CERTIFICATE_FILE);
    const certificatePem =
      (await renewedCertificate(renewedPath, contents.privateKey, caPem)) ??
      contents.certificatePem;
    // No update depends on the vehicle certificate, so it is not judged by the vehicle's clock
    // here: an expired one still signs reports (the server accepts and flags them within its
    // grace period) and the cycle re-enrolls it, by the chain's time (renewal.ts); a clock set
    // back must not make one issued today "not yet valid".
    const cert = verifyVehicleCertificateTimeless(certificatePem, caPem);
    return {
      signer: createKeySigner(contents.privateKey),
      certificatePem,
      vinCommitment: cert.vinCommitment,
      ecuSerial: settings.ecuSerial ?? cert.ecuSerial,
      renewal: {
        privateKey: contents.privateKey,
        caCertificatePem: caPem,
        saveCertificate: (pem) => writeFileDurable(renewedPath, pem),
      },
    };
  }
  if (!settings.ecuSerial) throw new AgentError('CONFIG_INVALID', 'ecuSerial is required');
  return {
    signer: await createFileSigner(v.keyPath, passphrase),
    certificatePem: await readText(v.certificatePath, 'vehicle certificate'),
    vinCommitment: v.vinCommitment.replace(/^0x/, ''),
    ecuSerial: settings.ecuSerial,
  };
}

/** Where a re-enrolled certificate is kept; it wins over the one in the factory PKCS#12 bundle. */
export const RENEWED_CERTIFICATE_FILE = 'vehicle-certificate.pem';

/** The renewed certificate, if one was saved and it is this key's and the CA's. */
async function renewedCertificate(
  path: string,
  privateKey: KeyObject,
  caPem: string,
): Promise<string | undefined> {
  const pem = await readFile(path, 'utf8').catch(() => undefined);
  if (pem === undefined) return undefined;
  try {
    const cert = verifyVehicleCertificateTimeless(pem, caPem);
    const ours = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
    return cert.publicKey.export({ type: 'spki', format: 'der' }).equals(ours) ? pem : undefined;
  } catch {
    return undefined;
  }
}

/** Builds runUpdate options from settings, with the real chain reader and file slot store. */
export async function buildUpdateOptions(
  settings: AgentSettings,
  passphrase: string | undefined,
): Promise<UpdateOptions & { chain: ChainReader; renewal?: RenewalOptions }> {
  const vehicle = await loadVehicleCredentials(settings, passphrase);
  const trustedRootJson = await readFile(settings.trustedRootPath).catch((err: unknown) => {
    throw new AgentError('TRUSTED_ROOT_INVALID', `cannot read ${settings.trustedRootPath}`, {
      cause: err,
    });
  });
  const odometerKm = settings.odometerPath
    ? Number((await readText(settings.odometerPath, 'odometer')).trim())
    : 0;
  const chain = new ChainReader({
    rpcUrls: settings.chain.rpcUrls,
    quorum: settings.chain.quorum,
    contractAddress: settings.chain.contractAddress,
    confirmations: settings.chain.confirmations,
    chainId: settings.chain.chainId,
    ...(settings.chain.fromBlock !== undefined ? { fromBlock: settings.chain.fromBlock } : {}),
  });
  return {
    serverUrl: settings.serverUrl,
    metadataDir: settings.metadataDir,
    stateDir: settings.stateDir,
    trustedRootJson,
    hardwareId: settings.hardwareId,
    ecuSerial: vehicle.ecuSerial,
    chain,
    chainId: settings.chain.chainId,
    firmwareKey: {
      publicKeyPem: await readText(settings.firmwareKey.publicKeyPath, 'firmware key'),
      keyId: settings.firmwareKey.keyId,
    },
    slots: new FileSlotStore(settings.slotsDir, {
      directIo: resolveConfig(settings.config).slotDirectIo,
    }),
    vehicle: {
      signer: vehicle.signer,
      certificatePem: vehicle.certificatePem,
      vinCommitment: vehicle.vinCommitment,
    },
    odometerKm: Number.isFinite(odometerKm) && odometerKm >= 0 ? odometerKm : 0,
    config: settings.config,
    ...(settings.transparencyLog
      ? {
          transparencyLog: {
            logKeys: settings.transparencyLog.logKeys,
            ...(settings.transparencyLog.origin ? { origin: settings.transparencyLog.origin } : {}),
          },
        }
      : {}),
    ...(vehicle.renewal ? { renewal: vehicle.renewal } : {}),
  };
}

export interface AgentStatus {
  slots: SlotState;
  journal: string;
  trustedTargetsVersion: number | null;
  reports: { queued: number; sent: number; rejected: number };
}

async function count(dir: string): Promise<number> {
  try {
    return (await readdir(dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')).length;
  } catch {
    return 0;
  }
}

/** A snapshot of the agent's durable state, for `status --json`. */
export async function readStatus(
  settings: Pick<AgentSettings, 'slotsDir' | 'stateDir' | 'metadataDir'>,
): Promise<AgentStatus> {
  const slots = await new FileSlotStore(settings.slotsDir).readState();
  const journal = await new InstallJournalStore(settings.stateDir).read();
  let trustedTargetsVersion: number | null = null;
  try {
    const targets = JSON.parse(
      await readFile(join(settings.metadataDir, 'targets.json'), 'utf8'),
    ) as {
      signed?: { version?: unknown };
    };
    if (typeof targets.signed?.version === 'number') trustedTargetsVersion = targets.signed.version;
  } catch {
    // no trusted targets yet
  }
  const outbox = join(settings.stateDir, 'outbox');
  return {
    slots,
    journal: journal.phase,
    trustedTargetsVersion,
    reports: {
      queued: await count(join(outbox, 'queued')),
      sent: await count(join(outbox, 'sent')),
      rejected: await count(join(outbox, 'rejected')),
    },
  };
}
