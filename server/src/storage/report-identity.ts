import { X509Certificate } from 'node:crypto';
import { signedContentDigest } from '@tufchain/keys';
import { parseCanonicalJson } from '@tufchain/transparency';

/**
 * The identity and counter of an install report stored before migration 7, read from its stored
 * bundle (verified at intake then): the same `signedContentDigest` the verifier computes now.
 * Undefined when the row cannot be read that way.
 */
export function storedReportIdentity(
  bundleJson: string,
): { reportSha256: string; counter: number } | undefined {
  try {
    const bundle = parseCanonicalJson(bundleJson) as {
      dsseEnvelope?: { payload?: unknown; payloadType?: unknown };
      verificationMaterial?: {
        certificate?: { rawBytes?: unknown };
        x509CertificateChain?: { certificates?: { rawBytes?: unknown }[] };
      };
    };
    const { payload, payloadType } = bundle.dsseEnvelope ?? {};
    const material = bundle.verificationMaterial;
    const raw =
      material?.certificate?.rawBytes ??
      material?.x509CertificateChain?.certificates?.[0]?.rawBytes;
    if (typeof payload !== 'string' || typeof payloadType !== 'string' || typeof raw !== 'string')
      return undefined;
    const payloadBytes = Buffer.from(payload, 'base64');
    const counter = (
      JSON.parse(payloadBytes.toString('utf8')) as { predicate?: { counter?: unknown } }
    ).predicate?.counter;
    if (typeof counter !== 'number' || !Number.isSafeInteger(counter) || counter < 0)
      return undefined;
    const { publicKey } = new X509Certificate(Buffer.from(raw, 'base64'));
    return { reportSha256: signedContentDigest(publicKey, payloadType, payloadBytes), counter };
  } catch {
    return undefined;
  }
}
