import { createPublicKey, type KeyObject } from 'node:crypto';
import { generateKeyPair } from '@tufchain/keys/vehicle';
import type { Dispatcher } from 'undici';
import { resolveConfig, type Config } from '../config.js';
import { AgentError } from '../error.js';
import { answerLimits, fetchBounded } from '../util/retrieval.js';
import { retryAfterMs, withRetry } from '../util/retry.js';
import {
  certificateExpired,
  verifyVehicleCertificateTimeless,
  type VehicleCertificateFacts,
} from './certificate.js';

/** A vehicle ECU's identity after (re-)enrollment. The private key never left the vehicle. */
export interface EnrolledVehicle {
  privateKey: KeyObject;
  certificatePem: string;
  caCertificatePem: string;
  serialNumber: string;
  vinCommitment: string;
  ecuSerial: string;
  notAfter: Date;
}

export interface EnrollVehicleOptions {
  serverUrl: string;
  /** The factory line's Bearer token (`enroll` scope). It never ships in a vehicle. */
  factoryToken: string;
  /** Salted VIN commitment (computeVinCommitment); the VIN itself is never sent. */
  vinCommitment: string;
  ecuSerial: string;
  /** Default: a fresh ECDSA P-256 key. */
  privateKey?: KeyObject;
  /** Pin the vehicle CA; without it the CA in the answer is trusted (first use, on the factory line). */
  caCertificatePem?: string;
  dispatcher?: Dispatcher;
  at?: Date;
  /** Limits on the server's answer (`answerMaxLength`, slow retrieval). */
  config?: Partial<Config>;
}

export interface ReenrollVehicleOptions {
  serverUrl: string;
  /** The key of `certificatePem`: the server renews only for the same key. */
  privateKey: KeyObject;
  /** The current certificate; it may have expired. */
  certificatePem: string;
  caCertificatePem: string;
  dispatcher?: Dispatcher;
  at?: Date;
  /** Limits on the server's answer (`answerMaxLength`, slow retrieval). */
  config?: Partial<Config>;
}

interface IssuedAnswer {
  certificate?: unknown;
  caCertificate?: unknown;
}

/** An AgentError for a refused (re-)enrollment; `serverCode` is the server's error code. */
export class EnrollmentError extends AgentError {
  constructor(
    code: 'ENROLLMENT_REJECTED' | 'VEHICLE_REVOKED',
    readonly serverCode: string,
    readonly status: number,
    message: string,
  ) {
    super(code, message);
  }
}

/** A refusal whose request the server did not look at: sent again after its Retry-After. */
class NotTaken extends AgentError {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super('ENROLLMENT_FAILED', message);
  }
}

/**
 * POSTs `body` and returns the answer. A `503 SERVER_BUSY` (a replica at its in-flight bound,
 * which answers before reading the body) or a `429` is sent again, up to `fetchRetries` times,
 * not before its Retry-After (capped at `retryMaxDelayMs`): a factory line enrolling while the
 * fleet polls should wait, not fail. Any other failure is final: another `503` may come after the
 * server acted on the request.
 */
async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  dispatcher: Dispatcher | undefined,
  config: Partial<Config> | undefined,
): Promise<IssuedAnswer> {
  const cfg = resolveConfig(config);
  try {
    return await withRetry(
      () => postOnce(url, body, headers, dispatcher, cfg),
      (err) => err instanceof NotTaken,
      {
        retries: cfg.fetchRetries,
        baseDelayMs: cfg.retryBaseDelayMs,
        maxDelayMs: cfg.retryMaxDelayMs,
      },
    );
  } catch (err) {
    // The last refusal, as any other ENROLLMENT_FAILED.
    if (err instanceof NotTaken) throw new AgentError('ENROLLMENT_FAILED', err.message);
    throw err;
  }
}

async function postOnce(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  dispatcher: Dispatcher | undefined,
  cfg: Config,
): Promise<IssuedAnswer> {
  let status: number;
  let text: string;
  let retryAfter: string | string[] | undefined;
  try {
    const res = await fetchBounded(url, {
      dispatcher,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      maxBytes: cfg.answerMaxLength,
      limits: answerLimits(cfg),
    });
    status = res.statusCode;
    text = res.body.toString('utf8');
    retryAfter = res.headers['retry-after'];
  } catch (err) {
    // An answer cut for its size or its slowness keeps its own code.
    if (err instanceof AgentError) throw err;
    throw new AgentError('ENROLLMENT_FAILED', `POST ${url} failed`, { cause: err });
  }
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = undefined;
  }
  if (status >= 200 && status < 300 && answer && typeof answer === 'object') {
    return answer;
  }
  const error = (answer as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const serverCode = typeof error?.code === 'string' ? error.code : `HTTP_${status}`;
  const message = `enrollment refused: ${serverCode}${typeof error?.message === 'string' ? ` (${error.message})` : ''}`;
  if ((status === 503 && serverCode === 'SERVER_BUSY') || status === 429) {
    throw new NotTaken(message, retryAfterMs(retryAfter));
  }
  if (status >= 500 || status < 200) {
    throw new AgentError('ENROLLMENT_FAILED', message);
  }
  throw new EnrollmentError(
    serverCode === 'VEHICLE_REVOKED' ? 'VEHICLE_REVOKED' : 'ENROLLMENT_REJECTED',
    serverCode,
    status,
    message,
  );
}

/** Checks the issued certificate: from the CA, for our key, naming our vehicle. */
function acceptCertificate(
  answer: IssuedAnswer,
  expected: { privateKey: KeyObject; vinCommitment: string; ecuSerial: string },
  caCertificatePem: string | undefined,
  at: Date | undefined,
): EnrolledVehicle {
  const certificatePem = answer.certificate;
  const caPem = caCertificatePem ?? answer.caCertificate;
  if (typeof certificatePem !== 'string' || typeof caPem !== 'string') {
    throw new AgentError('VEHICLE_CERTIFICATE_INVALID', 'the answer carries no certificate');
  }
  let verified: VehicleCertificateFacts;
  try {
    // Not judged "not yet valid" by a clock that may be behind, or lag like the chain's.
    verified = verifyVehicleCertificateTimeless(certificatePem, caPem);
  } catch (err) {
    throw new AgentError(
      'VEHICLE_CERTIFICATE_INVALID',
      `the issued certificate does not verify: ${(err as { code?: string }).code ?? String(err)}`,
      { cause: err },
    );
  }
  if (certificateExpired(verified, at ?? new Date())) {
    throw new AgentError('VEHICLE_CERTIFICATE_INVALID', 'the issued certificate has expired');
  }
  if (
    !verified.publicKey.equals(createPublicKey(expected.privateKey)) ||
    verified.vinCommitment !== expected.vinCommitment ||
    verified.ecuSerial !== expected.ecuSerial
  ) {
    throw new AgentError(
      'VEHICLE_CERTIFICATE_INVALID',
      'the issued certificate is for another key or vehicle',
    );
  }
  return {
    privateKey: expected.privateKey,
    certificatePem,
    caCertificatePem: caPem,
    serialNumber: verified.serialNumber,
    vinCommitment: verified.vinCommitment,
    ecuSerial: verified.ecuSerial,
    notAfter: verified.notAfter,
  };
}

const endpoint = (serverUrl: string, path: string) => `${serverUrl.replace(/\/+$/, '')}${path}`;

/**
 * A CSR for the vehicle key. @tufchain/keys builds it with @peculiar/x509 (~3.6 MiB of heap), so it
 * loads here, on the rare (re-)enrollment, and not with every agent start.
 */
async function createVehicleCsr(
  privateKey: KeyObject,
  subject: { vinCommitment: string; ecuSerial: string },
): Promise<string> {
  const enrollment = await import('@tufchain/keys/enrollment');
  return enrollment.createVehicleCsr(privateKey, subject);
}

/**
 * Factory enrollment: makes a key (unless given) and a CSR naming the vehicle by its commitment,
 * sends it with the factory token, and checks the certificate that comes back.
 * Throws EnrollmentError (ENROLLMENT_REJECTED, VEHICLE_REVOKED), ENROLLMENT_FAILED or
 * VEHICLE_CERTIFICATE_INVALID.
 */
export async function enrollVehicle(opts: EnrollVehicleOptions): Promise<EnrolledVehicle> {
  const privateKey = opts.privateKey ?? generateKeyPair('ecdsa-p256').privateKey;
  const csr = await createVehicleCsr(privateKey, {
    vinCommitment: opts.vinCommitment,
    ecuSerial: opts.ecuSerial,
  });
  const answer = await postJson(
    endpoint(opts.serverUrl, '/api/v1/vehicles/enroll'),
    { csr },
    { authorization: `Bearer ${opts.factoryToken}` },
    opts.dispatcher,
    opts.config,
  );
  return acceptCertificate(
    answer,
    { privateKey, vinCommitment: opts.vinCommitment, ecuSerial: opts.ecuSerial },
    opts.caCertificatePem,
    opts.at,
  );
}

/**
 * Renewal by the vehicle itself, also after its certificate expired: a CSR for the same key (its
 * signature is the proof of possession) plus the current certificate. No factory token.
 */
export async function reenrollVehicle(opts: ReenrollVehicleOptions): Promise<EnrolledVehicle> {
  let current: VehicleCertificateFacts;
  try {
    current = verifyVehicleCertificateTimeless(opts.certificatePem, opts.caCertificatePem);
  } catch (err) {
    throw new AgentError(
      'VEHICLE_CERTIFICATE_INVALID',
      `the current vehicle certificate does not verify: ${(err as { code?: string }).code ?? String(err)}`,
      { cause: err },
    );
  }
  const csr = await createVehicleCsr(opts.privateKey, {
    vinCommitment: current.vinCommitment,
    ecuSerial: current.ecuSerial,
  });
  const answer = await postJson(
    endpoint(opts.serverUrl, '/api/v1/vehicles/reenroll'),
    { csr, certificate: opts.certificatePem },
    {},
    opts.dispatcher,
    opts.config,
  );
  return acceptCertificate(
    answer,
    {
      privateKey: opts.privateKey,
      vinCommitment: current.vinCommitment,
      ecuSerial: current.ecuSerial,
    },
    opts.caCertificatePem,
    opts.at,
  );
}
