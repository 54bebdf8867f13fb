import { X509Certificate, createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { bundleFromJSON, bundleToJSON, type Bundle, type SerializedBundle } from '@sigstore/bundle';
import type { Signer as SigstoreSigner, Witness } from '@sigstore/sign';
// The DSSE bundle builder alone: @sigstore/sign's index also loads its Fulcio, Rekor and TSA
// clients with their HTTP stack (make-fetch-happen, cacache...), which a bundle signed offline
// never uses (the vehicle agent signs every install report): without them the agent's
// dist/main.js imports 3.1 MiB less heap and 173 fewer files, and its run-once peaks ~3 MiB lower
// in resident memory (client-agent's bench, measured 2026-12-05). The package has no `exports` map; it is pinned to an exact version, and
// bundle-deep-import.test.ts fails, naming the version and the path, when the pin, the installed
// package or this file moves.
import { DSSEBundleBuilder } from '@sigstore/sign/dist/bundler/dsse.js';
import { crypto as sigstoreCrypto, dsse } from '@sigstore/core';
import { Verifier, toSignedEntity, VerificationError, type TrustMaterial } from '@sigstore/verify';
import { KeysError } from '../error.js';
import type { Signer } from '../signer.js';
import { encodePem } from '../util/pem.js';
import { knownP256, spkiSha256 } from '../util/spki-digest.js';
import type { SigstoreServicesConfig } from './sigstore-services.js';
import {
  verifyRecordedVehicleCertificate,
  verifyVehicleCertificate,
  type RecordedVehicleCertificate,
  type VerifiedVehicleCertificate,
} from '../vehicle/verify.js';
import { isCanonicalEcdsaSignature, normalizeEcdsaSignature } from './ecdsa-signature.js';
import {
  IN_TOTO_PAYLOAD_TYPE,
  checkStatement,
  parseStatement,
  type InTotoStatement,
} from './statement.js';

export type { SerializedBundle } from '@sigstore/bundle';

const BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/**
 * A key, or the vehicle CA. With the CA, `recorded` is the caller's record of the certificate it
 * expects (its enrollment record): when the bundle carries exactly that certificate, the record
 * stands for the CA's signature (verifyRecordedVehicleCertificate).
 */
export type BundleTrust =
  | { publicKeyPem: string; keyId: string }
  | { caCertificatePem: string; recorded?: RecordedVehicleCertificate };

export interface VerifyBundleOptions {
  at?: Date;
  /** Certificate bundles only: accept an expired vehicle certificate (reported as `expired`). */
  allowExpiredCertificate?: boolean;
  /** Certificate bundles only: revoked vehicle certificate serials (lowercase hex). */
  revokedSerials?: ReadonlySet<string>;
  /**
   * Accept only the one encoding signStatementBundle writes, so that a signed statement cannot be
   * replayed as a "new" bundle without the key: no field it does not write, canonical base64
   * (RFC 4648, padded, no whitespace, zero trailing bits), no DSSE keyid beside a certificate
   * (the hint's key id beside a public key), one certificate rather than a chain, no tlog entries
   * or timestamps (BUNDLE_NOT_CANONICAL), and a strict-DER, low-s ECDSA signature
   * (SIGNATURE_NOT_CANONICAL). Off by default: bundles from other Sigstore tools stay readable.
   */
  canonicalOnly?: boolean;
}

export type BundleSignerInfo =
  | { kind: 'publicKey'; keyId: string }
  | ({ kind: 'certificate'; certificatePem: string } & VerifiedVehicleCertificate);

export interface VerifiedStatementBundle {
  statement: InTotoStatement;
  signer: BundleSignerInfo;
  /**
   * What was signed and by whom, independent of the bundle's encoding and of which certificate of
   * the key it carries: hex sha256 over sha256(signer SPKI DER) || DSSE PAE(payloadType, payload).
   */
  signedContentDigest: string;
}

/**
 * Adapts our Signer seam to @sigstore/sign's signer interface. ECDSA signatures are normalized to
 * low-s (whatever the signer returns: Node's crypto, an HSM or a KMS), so that every bundle has the
 * one encoding `canonicalOnly` verification accepts.
 */
function toSigstoreSigner(signer: Signer, certificatePem: string | undefined): SigstoreSigner {
  const canonical = (sig: Uint8Array) =>
    signer.keyType === 'ecdsa-p256' ? normalizeEcdsaSignature(sig) : sig;
  return {
    sign: async (data) => ({
      signature: Buffer.from(canonical(await signer.sign(data))),
      key: certificatePem
        ? { $case: 'x509Certificate', certificate: certificatePem }
        : { $case: 'publicKey', publicKey: signer.publicKeyPem(), hint: signer.keyId },
    }),
  };
}

/**
 * Signs an in-toto v1 statement as a Sigstore bundle v0.3 (DSSE). Without `material` the bundle names
 * the key by its TUF key id (publicKey hint); with a certificate it carries that certificate.
 * `options.sigstore` adds Rekor, TSA or Fulcio for OEMs running their own Sigstore services (off by default).
 */
export interface SignBundleOptions {
  /** Rekor / TSA / Fulcio for OEMs running their own Sigstore services; all off by default. */
  sigstore?: Partial<SigstoreServicesConfig>;
  /** Extra @sigstore/sign witnesses. */
  witnesses?: Witness[];
}

export async function signStatementBundle(
  statement: InTotoStatement,
  signer: Signer,
  material?: { certificatePem: string },
  options: SignBundleOptions = {},
): Promise<SerializedBundle> {
  checkStatement(statement);
  if (material) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(material.certificatePem);
    } catch (error) {
      throw new KeysError('MALFORMED_CERTIFICATE', 'the signing certificate does not parse', {
        cause: error,
      });
    }
    const certKey = cert.publicKey.export({ type: 'spki', format: 'der' });
    const signerKey = createPublicKey(signer.publicKeyPem()).export({
      type: 'spki',
      format: 'der',
    });
    if (!certKey.equals(signerKey)) {
      throw new KeysError('KEY_MISMATCH', 'the certificate does not hold the signer key');
    }
  }
  const keySigner = toSigstoreSigner(signer, material?.certificatePem);
  let sigstoreSigner: SigstoreSigner = keySigner;
  let serviceWitnesses: Witness[] = [];
  // Without `options.sigstore` every service is off (no Fulcio, no witnesses), so the services'
  // module, and with it @sigstore/sign's index, loads only for OEMs that configure them.
  if (options.sigstore !== undefined) {
    const { createSigstoreWitnesses, wrapWithFulcio } = await import('./sigstore-services.js');
    if (!material) sigstoreSigner = wrapWithFulcio(keySigner, options.sigstore);
    serviceWitnesses = createSigstoreWitnesses(options.sigstore);
  }
  const builder = new DSSEBundleBuilder({
    signer: sigstoreSigner,
    witnesses: [...serviceWitnesses, ...(options.witnesses ?? [])],
  });
  const bundle = await builder.create({
    data: Buffer.from(JSON.stringify(statement), 'utf8'),
    type: IN_TOTO_PAYLOAD_TYPE,
  });
  return bundleToJSON(bundle);
}

function parseBundle(input: unknown): Bundle {
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(typeof input === 'string' ? JSON.parse(input) : input);
  } catch (error) {
    throw new KeysError('MALFORMED_BUNDLE', 'not a valid Sigstore bundle', { cause: error });
  }
  if (bundle.mediaType !== BUNDLE_V03) {
    throw new KeysError('UNSUPPORTED_BUNDLE', `expected a v0.3 bundle, got ${bundle.mediaType}`);
  }
  if (bundle.content.$case !== 'dsseEnvelope') {
    throw new KeysError('UNSUPPORTED_BUNDLE', 'expected a DSSE envelope bundle');
  }
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new KeysError('UNSUPPORTED_BUNDLE', `unexpected payload type ${envelope.payloadType}`);
  }
  if (envelope.signatures.length !== 1) {
    throw new KeysError('MALFORMED_BUNDLE', 'expected exactly one DSSE signature');
  }
  return bundle;
}

function notCanonical(message: string): never {
  throw new KeysError('BUNDLE_NOT_CANONICAL', message);
}

/** The encoding checks of `canonicalOnly` (see VerifyBundleOptions). */
function assertCanonicalEncoding(
  input: unknown,
  bundle: Bundle,
  keyHint: string | undefined,
): void {
  const json: unknown = typeof input === 'string' ? JSON.parse(input) : input;
  // bundleToJSON writes canonical base64 and only the fields it knows; a round trip through
  // JSON text drops its undefined members, as a parse of the wire form never has them.
  const written: unknown = JSON.parse(JSON.stringify(bundleToJSON(bundle)));
  if (!isDeepStrictEqual(json, written)) {
    notCanonical('the bundle is not in its canonical encoding (fields or base64)');
  }
  const material = bundle.verificationMaterial;
  if (material.content.$case !== 'certificate' && material.content.$case !== 'publicKey') {
    notCanonical('expected one certificate or a public key hint');
  }
  if (
    material.tlogEntries.length > 0 ||
    (material.timestampVerificationData?.rfc3161Timestamps.length ?? 0) > 0
  ) {
    notCanonical('unexpected tlog entries or timestamps');
  }
  const envelope = bundle.content.$case === 'dsseEnvelope' ? bundle.content.dsseEnvelope : null;
  if ((envelope?.signatures[0]?.keyid ?? '') !== (keyHint ?? '')) {
    notCanonical('the DSSE keyid is not the one the signer writes');
  }
}

/** `canonicalOnly`: P-256 signatures must be strict DER with a low s; Ed25519 has one encoding. */
function assertCanonicalSignature(publicKey: KeyObject, signature: Uint8Array): void {
  if (publicKey.asymmetricKeyType === 'ed25519') return;
  // A vehicle certificate's key is known P-256 from its SPKI bytes: asymmetricKeyDetails costs as
  // much as a third of a verify.
  const p256 =
    knownP256(publicKey) ||
    (publicKey.asymmetricKeyType === 'ec' &&
      publicKey.asymmetricKeyDetails?.namedCurve === 'prime256v1');
  if (!p256) {
    throw new KeysError('SIGNATURE_NOT_CANONICAL', 'only P-256 and Ed25519 keys are accepted');
  }
  if (!isCanonicalEcdsaSignature(signature)) {
    throw new KeysError(
      'SIGNATURE_NOT_CANONICAL',
      'the ECDSA signature is not strict DER with a low s',
    );
  }
}

/**
 * The identity of a signed DSSE statement: hex sha256 over sha256(SPKI DER of the signer's key)
 * followed by the DSSE PAE of (payloadType, payload). What `VerifiedStatementBundle` returns as
 * `signedContentDigest`; exported for stores that index bundles verified earlier.
 */
export function signedContentDigest(
  publicKey: KeyObject,
  payloadType: string,
  payload: Uint8Array,
): string {
  return createHash('sha256')
    .update(spkiSha256(publicKey))
    .update(dsse.preAuthEncoding(payloadType, Buffer.from(payload)))
    .digest('hex');
}

function keyTrustMaterial(publicKey: KeyObject, keyId: string): TrustMaterial {
  return {
    certificateAuthorities: [],
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
    publicKey: (hint) => {
      if (hint !== keyId) {
        throw new VerificationError({
          code: 'PUBLIC_KEY_ERROR',
          message: `unknown key hint ${hint}`,
        });
      }
      return { publicKey, validFor: () => true };
    },
  };
}

function mapVerificationError(error: unknown): never {
  if (error instanceof KeysError) throw error;
  if (error instanceof VerificationError) {
    switch (error.code) {
      case 'SIGNATURE_ERROR':
        throw new KeysError('BUNDLE_SIGNATURE_INVALID', 'the DSSE signature does not verify', {
          cause: error,
        });
      case 'PUBLIC_KEY_ERROR':
        throw new KeysError('KEY_HINT_MISMATCH', 'the bundle names a key that is not trusted', {
          cause: error,
        });
      default:
        throw new KeysError(
          'BUNDLE_VERIFICATION_FAILED',
          `sigstore verification failed: ${error.code}`,
          { cause: error },
        );
    }
  }
  throw new KeysError('BUNDLE_VERIFICATION_FAILED', 'sigstore verification failed', {
    cause: error,
  });
}

/**
 * Verifies a DSSE Sigstore bundle and returns its statement and who signed it.
 * Key trust: @sigstore/verify with the given key as the only trust material (no tlog, no timestamps).
 * CA trust: the bundle's certificate is verified against the vehicle CA with node:crypto, then the
 * DSSE signature over the PAE with the certificate's key.
 */
export function verifyStatementBundleDetailed(
  input: unknown,
  trust: BundleTrust,
  options: VerifyBundleOptions = {},
): Promise<VerifiedStatementBundle> {
  // Async in the API so that a remote trust source (tlog, TUF-distributed keys) can slot in later.
  return new Promise((resolve) => resolve(verifyBundleNow(input, trust, options)));
}

function verifyBundleNow(
  input: unknown,
  trust: BundleTrust,
  options: VerifyBundleOptions,
): VerifiedStatementBundle {
  const bundle = parseBundle(input);
  const envelope =
    bundle.content.$case === 'dsseEnvelope' ? bundle.content.dsseEnvelope : undefined;
  if (!envelope) throw new KeysError('UNSUPPORTED_BUNDLE', 'expected a DSSE envelope bundle');
  const material = bundle.verificationMaterial.content;
  if (options.canonicalOnly) {
    assertCanonicalEncoding(
      input,
      bundle,
      material.$case === 'publicKey' ? material.publicKey.hint : undefined,
    );
  }
  const signature = envelope.signatures[0]?.sig ?? new Uint8Array();
  let signer: BundleSignerInfo;
  let publicKey: KeyObject;
  if ('publicKeyPem' in trust) {
    if (material.$case !== 'publicKey') {
      throw new KeysError('KEY_HINT_MISMATCH', 'expected a bundle signed by a public key');
    }
    const keyid = envelope.signatures[0]?.keyid ?? '';
    if (material.publicKey.hint !== trust.keyId || (keyid !== '' && keyid !== trust.keyId)) {
      throw new KeysError('KEY_HINT_MISMATCH', 'the bundle names a different key');
    }
    try {
      publicKey = createPublicKey(trust.publicKeyPem);
    } catch (error) {
      throw new KeysError('MALFORMED_PEM', 'the trusted public key does not parse', {
        cause: error,
      });
    }
    if (options.canonicalOnly) assertCanonicalSignature(publicKey, signature);
    const verifier = new Verifier(keyTrustMaterial(publicKey, trust.keyId), {
      tlogThreshold: 0,
      ctlogThreshold: 0,
      timestampThreshold: 0,
    });
    try {
      verifier.verify(toSignedEntity(bundle));
    } catch (error) {
      mapVerificationError(error);
    }
    signer = { kind: 'publicKey', keyId: trust.keyId };
  } else {
    let der: Uint8Array | undefined;
    if (material.$case === 'certificate') der = material.certificate.rawBytes;
    else if (material.$case === 'x509CertificateChain')
      der = material.x509CertificateChain.certificates[0]?.rawBytes;
    if (!der)
      throw new KeysError('KEY_HINT_MISMATCH', 'expected a bundle carrying a vehicle certificate');
    const certificatePem = encodePem('CERTIFICATE', der);
    const certificateOptions = {
      ...(options.at ? { at: options.at } : {}),
      ...(options.allowExpiredCertificate ? { allowExpired: true } : {}),
      ...(options.revokedSerials ? { revokedSerials: options.revokedSerials } : {}),
    };
    const verified =
      (trust.recorded &&
        verifyRecordedVehicleCertificate(
          certificatePem,
          trust.caCertificatePem,
          trust.recorded,
          certificateOptions,
        )) ||
      verifyVehicleCertificate(certificatePem, trust.caCertificatePem, certificateOptions);
    publicKey = verified.publicKey;
    if (options.canonicalOnly) assertCanonicalSignature(publicKey, signature);
    // What @sigstore/verify's DSSESignatureContent.verifySignature does, with @sigstore/core's own
    // PAE and verify, without toSignedEntity parsing the certificate a second time.
    const pae = dsse.preAuthEncoding(envelope.payloadType, Buffer.from(envelope.payload));
    if (!sigstoreCrypto.verify(pae, verified.publicKey, Buffer.from(signature))) {
      throw new KeysError('BUNDLE_SIGNATURE_INVALID', 'the DSSE signature does not verify');
    }
    signer = { kind: 'certificate', certificatePem, ...verified };
  }
  return {
    statement: parseStatement(envelope.payload),
    signer,
    signedContentDigest: signedContentDigest(publicKey, envelope.payloadType, envelope.payload),
  };
}

export async function verifyStatementBundle(
  input: unknown,
  trust: BundleTrust,
  options: VerifyBundleOptions = {},
): Promise<InTotoStatement> {
  return (await verifyStatementBundleDetailed(input, trust, options)).statement;
}
