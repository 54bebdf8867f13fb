import type { KeyObject } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { runUpdate, type UpdateOptions, type UpdateResult } from '../agent.js';
import { resolveConfig, type Config } from '../config.js';
import { AgentError } from '../error.js';
import { answerLimits, fetchBounded } from '../util/retrieval.js';
import { readTrustedTime } from '../verify/chain.js';
import { referenceTime } from '../verify/time.js';
import {
  certificateExpired,
  verifyVehicleCertificateTimeless,
  type VehicleCertificateFacts,
} from './certificate.js';
import { EnrollmentError, reenrollVehicle } from './enroll.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export type CertificateStanding =
  /** Valid and not yet due for renewal. */
  | 'VALID'
  /** Renewed in this call; `certificatePem` is the fresh certificate (already saved). */
  | 'RENEWED'
  /** Due (or expired) but the server could not be asked or refused; the old certificate stays. */
  | 'RENEWAL_FAILED'
  /** On the CA's CRL, or the server refused renewal as revoked: reports will be refused. */
  | 'REVOKED';

export interface CertificateCheck {
  status: CertificateStanding;
  /** The certificate to use from now on. */
  certificatePem: string;
  notAfter: Date;
  expired: boolean;
  /** Why renewal failed (an AgentError code and, when the server answered, its code). */
  error?: { code: string; serverCode?: string; message: string };
}

export interface RenewalOptions {
  /** The vehicle key of the certificate (re-enrollment keeps the key). */
  privateKey: KeyObject;
  /** The pinned vehicle CA. */
  caCertificatePem: string;
  /** Renew from this many days before notAfter (default 30). */
  renewBeforeDays?: number;
  /** Also fetch the server's CRL (verified against the CA) and look for this certificate. */
  checkRevocation?: boolean;
  /** Persists a renewed certificate durably before it is used. */
  saveCertificate?: (certificatePem: string) => Promise<void>;
  dispatcher?: Dispatcher;
  /** Limits on the server's answers (`answerMaxLength`, `crlMaxLength`, slow retrieval). */
  config?: Partial<Config>;
}

async function fetchRevoked(
  serverUrl: string,
  caCertificatePem: string,
  serial: string,
  at: Date,
  dispatcher: Dispatcher | undefined,
  config: Partial<Config> | undefined,
): Promise<boolean> {
  const cfg = resolveConfig(config);
  try {
    const res = await fetchBounded(`${serverUrl.replace(/\/+$/, '')}/api/v1/vehicles/crl.pem`, {
      dispatcher,
      maxBytes: cfg.crlMaxLength,
      limits: answerLimits(cfg),
    });
    const text = res.body.toString('utf8');
    if (res.statusCode !== 200) return false;
    // Loaded only for this opt-in check: the CRL code brings @peculiar/x509 (~3.6 MiB of heap).
    const { loadRevocationList } = await import('@tufchain/keys/enrollment');
    const list = await loadRevocationList(text, caCertificatePem, { at, allowStale: true });
    return list.revokedSerials.has(serial);
  } catch {
    // The CRL is advisory here: the server and the auditor enforce revocation.
    return false;
  }
}

/**
 * Keeps the vehicle certificate usable: checks it against the pinned CA (expired, or not yet valid
 * by a wrong clock, is fine), and when it is due or expired at `clock()`, re-enrolls with the same
 * key. Never throws for the server being away or
 * refusing: an expired certificate must never stop updates, so the caller goes on with what it
 * has. Throws VEHICLE_CERTIFICATE_INVALID only when the certificate is not from the pinned CA.
 */
export async function ensureVehicleCertificate(
  opts: RenewalOptions & { serverUrl: string; certificatePem: string; clock?: () => Date },
): Promise<CertificateCheck> {
  const now = (opts.clock ?? (() => new Date()))();
  let current: VehicleCertificateFacts;
  try {
    current = verifyVehicleCertificateTimeless(opts.certificatePem, opts.caCertificatePem);
  } catch (err) {
    throw new AgentError(
      'VEHICLE_CERTIFICATE_INVALID',
      `the vehicle certificate does not verify against the pinned CA: ${(err as { code?: string }).code ?? String(err)}`,
      { cause: err },
    );
  }
  const base = {
    certificatePem: opts.certificatePem,
    notAfter: current.notAfter,
    expired: certificateExpired(current, now),
  };
  if (
    opts.checkRevocation &&
    (await fetchRevoked(
      opts.serverUrl,
      opts.caCertificatePem,
      current.serialNumber,
      now,
      opts.dispatcher,
      opts.config,
    ))
  ) {
    return { ...base, status: 'REVOKED' };
  }
  const due = current.notAfter.getTime() - now.getTime() <= (opts.renewBeforeDays ?? 30) * DAY_MS;
  if (!due) return { ...base, status: 'VALID' };
  try {
    const renewed = await reenrollVehicle({
      serverUrl: opts.serverUrl,
      privateKey: opts.privateKey,
      certificatePem: opts.certificatePem,
      caCertificatePem: opts.caCertificatePem,
      at: now,
      ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
      ...(opts.config ? { config: opts.config } : {}),
    });
    await opts.saveCertificate?.(renewed.certificatePem);
    return {
      status: 'RENEWED',
      certificatePem: renewed.certificatePem,
      notAfter: renewed.notAfter,
      expired: false,
    };
  } catch (err) {
    if (err instanceof EnrollmentError && err.serverCode === 'REENROLLMENT_NOT_DUE') {
      return { ...base, status: 'VALID' };
    }
    const code = (err as { code?: unknown }).code;
    const error = {
      code: typeof code === 'string' ? code : 'ENROLLMENT_FAILED',
      ...(err instanceof EnrollmentError ? { serverCode: err.serverCode } : {}),
      message: err instanceof Error ? err.message : String(err),
    };
    return { ...base, status: code === 'VEHICLE_REVOKED' ? 'REVOKED' : 'RENEWAL_FAILED', error };
  }
}

/**
 * The time renewal is decided by: the later of the vehicle's clock and the chain's confirmed time
 * (as for metadata expiry), so that a clock set back neither hides a certificate that is due nor
 * makes one look not yet valid. Without the chain (unreachable), the vehicle's clock.
 */
async function renewalClock(opts: Pick<UpdateOptions, 'chain' | 'clock'>): Promise<() => Date> {
  const local = opts.clock ?? (() => new Date());
  const chainTime = await readTrustedTime(opts.chain).catch(() => undefined);
  return chainTime ? () => referenceTime(local(), chainTime.timestamp) : local;
}

export interface UpdateWithRenewalResult extends UpdateResult {
  certificate: CertificateCheck;
}

/**
 * One update cycle that first keeps the vehicle certificate fresh (ensureVehicleCertificate), then
 * runs runUpdate with whatever certificate it has. The update itself never depends on the vehicle
 * certificate, so an expired or unrenewable one still installs updates; the install report is
 * signed with the fresh certificate when renewal worked, else with the expired one (the server
 * accepts and flags it, within its grace period).
 */
export async function runUpdateWithRenewal(
  opts: UpdateOptions & { renewal: RenewalOptions },
): Promise<UpdateWithRenewalResult> {
  let certificate: CertificateCheck;
  try {
    certificate = await ensureVehicleCertificate({
      ...opts.renewal,
      ...(opts.config && !opts.renewal.config ? { config: opts.config } : {}),
      serverUrl: opts.serverUrl,
      certificatePem: opts.vehicle.certificatePem,
      clock: await renewalClock(opts),
    });
  } catch (err) {
    certificate = {
      status: 'RENEWAL_FAILED',
      certificatePem: opts.vehicle.certificatePem,
      notAfter: new Date(0),
      expired: true,
      error: {
        code: (err as { code?: string }).code ?? 'VEHICLE_CERTIFICATE_INVALID',
        message: err instanceof Error ? err.message : String(err),
      },
    };
  }
  const result = await runUpdate({
    ...opts,
    vehicle: { ...opts.vehicle, certificatePem: certificate.certificatePem },
  });
  return { ...result, certificate };
}
