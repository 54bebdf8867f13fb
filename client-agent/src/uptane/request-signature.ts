import { createHash, X509Certificate } from 'node:crypto';
import type { Signer } from '@tufchain/keys/attestation';
import type { RequestSigner } from '../tuf/fetcher.js';

/**
 * HTTP Message Signatures (RFC 9421) of the vehicle's Director requests (UPTANE.md, "Vehicle
 * authentication"): `@method`, `@target-uri` and, with a body, `content-digest` (RFC 9530
 * sha-256), `created` now, `keyid` the vehicle certificate's serial (lowercase hex), algorithm
 * `ecdsa-p256-sha256` (RFC 9421 3.3.4: the raw r||s signature, base64).
 */
export function createRequestSigner(
  vehicle: { signer: Signer; certificatePem: string },
  clock: () => Date = () => new Date(),
): RequestSigner {
  const keyId = new X509Certificate(vehicle.certificatePem).serialNumber.toLowerCase();
  return async (method, url, body) => {
    const headers: Record<string, string> = {};
    const components = ['"@method"', '"@target-uri"'];
    const lines = [`"@method": ${method.toUpperCase()}`, `"@target-uri": ${url}`];
    if (body !== undefined) {
      const digest = `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
      headers['content-digest'] = digest;
      components.push('"content-digest"');
      lines.push(`"content-digest": ${digest}`);
    }
    const created = Math.floor(clock().getTime() / 1000);
    const params = `(${components.join(' ')});created=${created};keyid="${keyId}";alg="ecdsa-p256-sha256"`;
    lines.push(`"@signature-params": ${params}`);
    const der = await vehicle.signer.sign(new Uint8Array(Buffer.from(lines.join('\n'))));
    headers['signature-input'] = `sig1=${params}`;
    headers['signature'] = `sig1=:${derToP1363(der).toString('base64')}:`;
    return headers;
  };
}

/** An ECDSA P-256 DER signature (SEQUENCE of two INTEGERs) as the 64-byte r||s of RFC 9421. */
export function derToP1363(der: Uint8Array): Buffer {
  const b = Buffer.from(der);
  let i = 2;
  if (b[0] !== 0x30) throw new Error('not a DER ECDSA signature');
  if ((b[1] ?? 0) & 0x80) i += (b[1] ?? 0) & 0x7f;
  const out = Buffer.alloc(64);
  for (let part = 0; part < 2; part++) {
    if (b[i] !== 0x02) throw new Error('not a DER ECDSA signature');
    const len = b[i + 1] ?? 0;
    let int = b.subarray(i + 2, i + 2 + len);
    while (int.length > 32 && int[0] === 0) int = int.subarray(1);
    int.copy(out, part * 32 + (32 - int.length));
    i += 2 + len;
  }
  return out;
}
