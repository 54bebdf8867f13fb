import { verify, X509Certificate } from 'node:crypto';
import {
  contentDigest,
  parseVehicleSignature,
  vehicleSignatureBase,
} from '@tufchain/transparency/wire';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv, ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import { normalizeSerialNumber } from '../vehicles/service.js';

/**
 * RFC 9421 request authentication of a vehicle (UPTANE.md "Vehicle authentication"): the
 * certificate named by `keyid` must be enrolled here; the signature must verify under its key and
 * cover the body's Content-Digest; `created` must be within the skew; the certificate must not be
 * revoked. Its validity period is not checked: revocation is what cuts a vehicle off.
 */
export function requireVehicle(ctx: ServerContext, skewSeconds: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    let parsed;
    try {
      parsed = parseVehicleSignature({
        signatureInput: c.req.header('signature-input'),
        signature: c.req.header('signature'),
      });
    } catch (error) {
      throw new ServerError('VEHICLE_SIGNATURE_INVALID', 'malformed request signature', {
        cause: error,
      });
    }
    if (!parsed) {
      throw new ServerError(
        'VEHICLE_SIGNATURE_MISSING',
        'Director requests are signed with the vehicle key (RFC 9421)',
      );
    }
    const { params, signature } = parsed;
    const record = await ctx.store.vehicleCertificate(normalizeSerialNumber(params.keyid));
    if (!record) {
      throw new ServerError('VEHICLE_UNKNOWN', `no vehicle certificate ${params.keyid} enrolled`);
    }
    const body = new Uint8Array(await c.req.arrayBuffer());
    let digest: string | undefined;
    if (params.coversContentDigest) {
      digest = c.req.header('content-digest');
      if (digest !== contentDigest(body)) {
        throw new ServerError(
          'VEHICLE_SIGNATURE_INVALID',
          'Content-Digest does not match the body',
        );
      }
    } else if (body.byteLength > 0) {
      throw new ServerError(
        'VEHICLE_SIGNATURE_INVALID',
        'a request body must be covered by content-digest',
      );
    }
    const base = vehicleSignatureBase(
      { method: c.req.method, targetUri: c.req.url, ...(digest ? { contentDigest: digest } : {}) },
      params,
    );
    const publicKey = new X509Certificate(record.certificatePem).publicKey;
    let valid: boolean;
    try {
      valid = verify('sha256', base, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
    } catch {
      valid = false;
    }
    if (!valid) {
      throw new ServerError('VEHICLE_SIGNATURE_INVALID', 'the request signature does not verify');
    }
    const now = Math.floor(ctx.clock().getTime() / 1000);
    if (Math.abs(now - params.created) > skewSeconds) {
      throw new ServerError(
        'VEHICLE_SIGNATURE_STALE',
        `the signature was created ${now - params.created} s from the server's clock`,
      );
    }
    if (record.revokedAt !== null) {
      throw new ServerError('VEHICLE_REVOKED', `certificate ${record.serialNumber} is revoked`);
    }
    c.set('vehicle', {
      serialNumber: record.serialNumber,
      vinCommitment: record.vinCommitment,
      ecuSerial: record.ecuSerial,
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    });
    await next();
  };
}

/** The OpenAPI security scheme name of vehicle-signed routes. */
export const vehicleSecurity = [{ vehicleSignature: [] }];
