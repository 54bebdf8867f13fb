import {
  FulcioSigner,
  RekorWitness,
  TSAWitness,
  type IdentityProvider,
  type Signer as SigstoreSigner,
  type Witness,
} from '@sigstore/sign';
import { KeysError } from '../error.js';

/**
 * Public Sigstore services an OEM may run for its build attestations. All off by default: bundles
 * are then signed offline with the build key alone, and nothing contacts the network.
 */
export interface SigstoreServicesConfig {
  /** Rekor transparency log base URL; adds a tlog entry to each bundle. */
  rekorUrl: string | undefined;
  /** RFC 3161 timestamp authority base URL; adds a signed timestamp to each bundle. */
  tsaUrl: string | undefined;
  /**
   * Fulcio base URL. Fulcio certifies the build key for an OIDC identity, so it also needs an
   * identityProvider; the bundle then carries a Fulcio certificate instead of the key hint, and is
   * verified with the OEM's Sigstore trusted root rather than with the key alone.
   */
  fulcioUrl: string | undefined;
  identityProvider: IdentityProvider | undefined;
  timeoutMs: number;
  retries: number;
}

export const defaultSigstoreServicesConfig: SigstoreServicesConfig = {
  rekorUrl: undefined,
  tsaUrl: undefined,
  fulcioUrl: undefined,
  identityProvider: undefined,
  timeoutMs: 5000,
  retries: 2,
};

function checkUrl(name: string, url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new KeysError('INVALID_ARGUMENT', `${name} is not a URL`, { cause: error });
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new KeysError('INVALID_ARGUMENT', `${name} must be http(s)`);
  }
  return url.replace(/\/+$/, '');
}

export function resolveSigstoreServices(
  config: Partial<SigstoreServicesConfig> = {},
): SigstoreServicesConfig {
  const merged = { ...defaultSigstoreServicesConfig, ...config };
  if (merged.fulcioUrl !== undefined && merged.identityProvider === undefined) {
    throw new KeysError(
      'INVALID_ARGUMENT',
      'a Fulcio URL needs an identityProvider for the OIDC token',
    );
  }
  return {
    ...merged,
    rekorUrl: merged.rekorUrl === undefined ? undefined : checkUrl('rekorUrl', merged.rekorUrl),
    tsaUrl: merged.tsaUrl === undefined ? undefined : checkUrl('tsaUrl', merged.tsaUrl),
    fulcioUrl: merged.fulcioUrl === undefined ? undefined : checkUrl('fulcioUrl', merged.fulcioUrl),
  };
}

/** The @sigstore/sign witnesses for the configured services (none by default). */
export function createSigstoreWitnesses(config: Partial<SigstoreServicesConfig> = {}): Witness[] {
  const resolved = resolveSigstoreServices(config);
  const fetchOptions = { timeout: resolved.timeoutMs, retry: resolved.retries };
  const witnesses: Witness[] = [];
  if (resolved.rekorUrl)
    witnesses.push(
      new RekorWitness({ rekorBaseURL: resolved.rekorUrl, entryType: 'dsse', ...fetchOptions }),
    );
  if (resolved.tsaUrl)
    witnesses.push(new TSAWitness({ tsaBaseURL: resolved.tsaUrl, ...fetchOptions }));
  return witnesses;
}

/** Wraps the key signer in a FulcioSigner when a Fulcio URL is configured; otherwise returns it as is. */
export function wrapWithFulcio(
  keySigner: SigstoreSigner,
  config: Partial<SigstoreServicesConfig> = {},
): SigstoreSigner {
  const resolved = resolveSigstoreServices(config);
  if (!resolved.fulcioUrl || !resolved.identityProvider) return keySigner;
  return new FulcioSigner({
    fulcioBaseURL: resolved.fulcioUrl,
    identityProvider: resolved.identityProvider,
    keyHolder: keySigner,
    timeout: resolved.timeoutMs,
    retry: resolved.retries,
  });
}
