import { createHash } from 'node:crypto';
import { TransparencyError } from '../error.js';

// HTTP Message Signatures (RFC 9421) as tufchain's Director profile uses them (UPTANE.md): one
// signature `sig1`, ECDSA P-256 over SHA-256 (`ecdsa-p256-sha256`, r||s), covering the method,
// the target URI and, on requests with a body, the RFC 9530 Content-Digest. Only this one form
// is accepted, so the vehicle and the server build byte-identical signature bases.

export const VEHICLE_SIGNATURE_LABEL = 'sig1';
export const VEHICLE_SIGNATURE_ALG = 'ecdsa-p256-sha256';

export interface VehicleSignatureParams {
  /** Unix seconds. */
  created: number;
  /** The vehicle certificate's serial number, lowercase hex. */
  keyid: string;
  /** Whether `content-digest` is covered (every request with a body). */
  coversContentDigest: boolean;
}

/** RFC 9530 `Content-Digest` value of a body: `sha-256=:<base64>:`. */
export function contentDigest(body: Uint8Array): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

function componentList(p: VehicleSignatureParams): string {
  return p.coversContentDigest
    ? '("@method" "@target-uri" "content-digest")'
    : '("@method" "@target-uri")';
}

/** The `Signature-Input` member value (without the `sig1=` label). */
export function signatureParamsValue(p: VehicleSignatureParams): string {
  return `${componentList(p)};created=${p.created};keyid="${p.keyid}";alg="${VEHICLE_SIGNATURE_ALG}"`;
}

/** The RFC 9421 §2.5 signature base of a vehicle request. */
export function vehicleSignatureBase(
  request: { method: string; targetUri: string; contentDigest?: string },
  p: VehicleSignatureParams,
): Uint8Array {
  const lines = [
    `"@method": ${request.method.toUpperCase()}`,
    `"@target-uri": ${request.targetUri}`,
  ];
  if (p.coversContentDigest) {
    if (request.contentDigest === undefined) {
      throw new TransparencyError('MALFORMED_ENVELOPE', 'content-digest is covered but absent');
    }
    lines.push(`"content-digest": ${request.contentDigest}`);
  }
  lines.push(`"@signature-params": ${signatureParamsValue(p)}`);
  return new Uint8Array(Buffer.from(lines.join('\n'), 'utf8'));
}

const SIGNATURE_INPUT =
  /^sig1=\("@method" "@target-uri"( "content-digest")?\);created=(\d{1,12});keyid="([0-9a-f]{1,40})";alg="ecdsa-p256-sha256"$/;
const SIGNATURE = /^sig1=:([A-Za-z0-9+/]{86}==):$/;

/**
 * Reads `Signature-Input` and `Signature` in the one form the profile allows. Returns undefined
 * when both are absent; throws MALFORMED_ENVELOPE for anything else that is not that form.
 */
export function parseVehicleSignature(headers: {
  signatureInput: string | undefined;
  signature: string | undefined;
}): { params: VehicleSignatureParams; signature: Uint8Array } | undefined {
  if (headers.signatureInput === undefined && headers.signature === undefined) return undefined;
  const input = SIGNATURE_INPUT.exec(headers.signatureInput ?? '');
  const sig = SIGNATURE.exec(headers.signature ?? '');
  if (!input || !sig) {
    throw new TransparencyError(
      'MALFORMED_ENVELOPE',
      'Signature-Input / Signature are not the profile form (sig1, ecdsa-p256-sha256)',
    );
  }
  return {
    params: {
      coversContentDigest: input[1] !== undefined,
      created: Number(input[2]),
      keyid: input[3]!,
    },
    signature: new Uint8Array(Buffer.from(sig[1]!, 'base64')),
  };
}

/** DER ECDSA-Sig-Value -> r||s of 32 bytes each (the encoding RFC 9421 asks for). */
export function ecdsaDerToRaw(der: Uint8Array): Uint8Array {
  const fail = (): never => {
    throw new TransparencyError('MALFORMED_ENVELOPE', 'not a DER ECDSA P-256 signature');
  };
  let i = 0;
  if (der[i++] !== 0x30) fail();
  let len = der[i++] ?? fail();
  if (len === 0x81) len = der[i++] ?? fail();
  if (len !== der.length - i) fail();
  const out = new Uint8Array(64);
  for (const offset of [0, 32]) {
    if (der[i++] !== 0x02) fail();
    let n = der[i++] ?? fail();
    while (n > 0 && der[i] === 0) {
      i++;
      n--;
    }
    if (n > 32 || i + n > der.length) fail();
    out.set(der.subarray(i, i + n), offset + 32 - n);
    i += n;
  }
  if (i !== der.length) fail();
  return out;
}

/**
 * The headers that sign a vehicle request: `Signature-Input`, `Signature` and, with a body,
 * `Content-Digest`. `sign` returns an ECDSA P-256 signature over SHA-256 of its input, DER (as a
 * keys `Signer` does) or already r||s.
 */
export async function signVehicleRequest(
  request: { method: string; url: string; body?: Uint8Array },
  signer: { keyid: string; sign(data: Uint8Array): Promise<Uint8Array> },
  created: Date = new Date(),
): Promise<Record<string, string>> {
  const digest =
    request.body && request.body.byteLength > 0 ? contentDigest(request.body) : undefined;
  const params: VehicleSignatureParams = {
    created: Math.floor(created.getTime() / 1000),
    keyid: signer.keyid,
    coversContentDigest: digest !== undefined,
  };
  const base = vehicleSignatureBase(
    {
      method: request.method,
      targetUri: request.url,
      ...(digest ? { contentDigest: digest } : {}),
    },
    params,
  );
  const sig = await signer.sign(base);
  const raw = sig.byteLength === 64 ? sig : ecdsaDerToRaw(sig);
  return {
    'signature-input': `${VEHICLE_SIGNATURE_LABEL}=${signatureParamsValue(params)}`,
    signature: `${VEHICLE_SIGNATURE_LABEL}=:${Buffer.from(raw).toString('base64')}:`,
    ...(digest ? { 'content-digest': digest } : {}),
  };
}
