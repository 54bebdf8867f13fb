import { createHash } from 'node:crypto';
import { signFirmwareAttestation, type Signer } from '@tufchain/keys';

export interface TargetToPublish {
  name: string;
  bytes: Uint8Array;
  hardwareIds: string[];
  version: string;
  releaseCounter: number;
}

/**
 * Publishes one image as a release through a running server's API, as `tufchain targets add` and
 * `publish` do: upload, a firmware attestation signed with the build key, the release. Throws with
 * the server's answer when either call is refused.
 */
export function publishOverHttp(
  baseUrl: string,
  token: string,
  buildKey: Signer,
  target: TargetToPublish,
): Promise<unknown> {
  return publishReleaseOverHttp(baseUrl, token, buildKey, [target]);
}

/** The same for several images uploaded one by one and published in one release. */
export async function publishReleaseOverHttp(
  baseUrl: string,
  token: string,
  buildKey: Signer,
  targets: readonly TargetToPublish[],
): Promise<unknown> {
  const auth = { authorization: `Bearer ${token}` };
  const entries = [];
  for (const target of targets) {
    const put = await fetch(`${baseUrl}/api/v1/firmware/${target.name}`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: target.bytes,
    });
    if (put.status !== 201) throw new Error(`upload answered ${put.status}: ${await put.text()}`);
    const claims = {
      hardwareIds: target.hardwareIds,
      version: target.version,
      releaseCounter: target.releaseCounter,
    };
    const attestation = await signFirmwareAttestation(
      {
        name: target.name,
        sha256: createHash('sha256').update(target.bytes).digest('hex'),
        ...claims,
      },
      buildKey,
    );
    entries.push({ name: target.name, ...claims, attestation });
  }
  const res = await fetch(`${baseUrl}/api/v1/releases`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ targets: entries }),
  });
  if (res.status !== 201) throw new Error(`release answered ${res.status}: ${await res.text()}`);
  return res.json();
}
