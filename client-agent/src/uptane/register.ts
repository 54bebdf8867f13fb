import { X509Certificate } from 'node:crypto';
import { toTufPublicKey } from '@tufchain/keys/vehicle';
import {
  ecuRegistrationSchema,
  tufPublicKeySchema,
  type EcuRegistration,
} from '@tufchain/transparency/wire';
import { resolveConfig } from '../config.js';
import { AgentError } from '../error.js';
import { createDispatcher, releaseDispatcher } from '../util/http.js';
import { answerLimits, fetchBounded } from '../util/retrieval.js';
import type { VehicleUpdateOptions } from './primary.js';
import { createRequestSigner } from './request-signature.js';

export interface EcuRegistrationResult {
  /** 201: a new inventory version; 200: the Director already had exactly this inventory. */
  status: number;
  changed: boolean;
  version?: number;
  registration: EcuRegistration;
}

/**
 * The vehicle's ECU inventory as the Director expects it (UPTANE.md, "ECU inventory"): the
 * primary with the vehicle certificate's key, each secondary with its pinned key and kind.
 */
export function buildEcuRegistration(
  opts: Pick<VehicleUpdateOptions, 'vehicle' | 'primary' | 'secondaries'>,
): EcuRegistration {
  const primaryKey = tufPublicKeySchema.parse(
    toTufPublicKey(new X509Certificate(opts.vehicle.certificatePem).publicKey),
  );
  return ecuRegistrationSchema.parse({
    primary_ecu_serial: opts.primary.ecuSerial,
    ecus: [
      {
        ecu_serial: opts.primary.ecuSerial,
        hardware_identifier: opts.primary.hardwareId,
        primary: true,
        clientKey: primaryKey,
      },
      ...opts.secondaries.map((s) => ({
        ecu_serial: s.ecuSerial,
        hardware_identifier: s.hardwareId,
        clientKey: s.key.publicKey,
        verification: s.verification,
      })),
    ],
  });
}

/**
 * `PUT /api/v1/director/ecus`, signed with the vehicle key (RFC 9421): registers the inventory
 * (`tufchain-agent register-ecus`). A refusal is ECU_REGISTRATION_REJECTED with the Director's
 * code in the message.
 */
export async function registerEcus(
  opts: Pick<
    VehicleUpdateOptions,
    'serverUrl' | 'directorUrl' | 'vehicle' | 'primary' | 'secondaries' | 'config'
  >,
): Promise<EcuRegistrationResult> {
  const cfg = resolveConfig(opts.config);
  const registration = buildEcuRegistration(opts);
  const url = `${(opts.directorUrl ?? opts.serverUrl).replace(/\/+$/, '')}/api/v1/director/ecus`;
  const body = JSON.stringify(registration);
  const dispatcher = createDispatcher(cfg);
  try {
    const signRequest = createRequestSigner(opts.vehicle);
    const res = await fetchBounded(url, {
      method: 'PUT',
      dispatcher,
      headers: {
        'user-agent': cfg.userAgent,
        'content-type': 'application/json',
        ...(await signRequest('PUT', url, Buffer.from(body))),
      },
      body,
      maxBytes: cfg.answerMaxLength,
      limits: answerLimits(cfg),
    });
    const answer = parseJson(res.body);
    if (res.statusCode !== 200 && res.statusCode !== 201) {
      const code = (answer as { error?: { code?: unknown } } | undefined)?.error?.code;
      throw new AgentError(
        'ECU_REGISTRATION_REJECTED',
        `the Director answered ${res.statusCode}${typeof code === 'string' ? ` ${code}` : ''}`,
      );
    }
    const a = (answer ?? {}) as { version?: unknown; changed?: unknown };
    return {
      status: res.statusCode,
      changed: a.changed === true,
      ...(typeof a.version === 'number' ? { version: a.version } : {}),
      registration,
    };
  } finally {
    await releaseDispatcher(dispatcher);
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
