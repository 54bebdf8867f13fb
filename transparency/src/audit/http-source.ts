import { TransparencyError } from '../error.js';
import type { AuditSource } from './source.js';

export interface HttpAuditSourceOptions {
  timeoutMs?: number;
  fetch?: typeof globalThis.fetch;
}

/** An AuditSource over the update server's public, unauthenticated routes. */
export function createHttpAuditSource(
  baseUrl: string,
  opts: HttpAuditSourceOptions = {},
): AuditSource {
  const base = baseUrl.replace(/\/+$/, '');
  const doFetch = opts.fetch ?? globalThis.fetch;
  const timeoutMs = opts.timeoutMs ?? 30_000;

  async function get(path: string, allow404 = false): Promise<Response | null> {
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      throw new TransparencyError('AUDIT_SOURCE_UNAVAILABLE', `GET ${path} failed`, { cause: err });
    }
    if (allow404 && res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new TransparencyError('AUDIT_SOURCE_UNAVAILABLE', `GET ${path} answered ${res.status}`);
    }
    return res;
  }

  async function json(path: string): Promise<unknown> {
    const res = (await get(path))!;
    try {
      return await res.json();
    } catch (err) {
      throw new TransparencyError('AUDIT_SOURCE_UNAVAILABLE', `GET ${path} answered invalid JSON`, {
        cause: err,
      });
    }
  }

  return {
    async snapshotVersions() {
      const body = (await json('/api/v1/audit/snapshot-versions')) as { versions?: unknown };
      if (
        !Array.isArray(body.versions) ||
        !body.versions.every((v) => Number.isSafeInteger(v) && (v as number) > 0)
      ) {
        throw new TransparencyError(
          'AUDIT_SOURCE_UNAVAILABLE',
          'snapshot-versions answer is malformed',
        );
      }
      return body.versions as number[];
    },
    async metadata(role, version) {
      if (!Number.isSafeInteger(version) || version < 1 || role.length === 0) {
        throw new TransparencyError(
          'AUDIT_SOURCE_UNAVAILABLE',
          `no such metadata: ${version}.${role}.json`,
        );
      }
      // TUF role names are URL-encoded in file names (delegated roles may hold any character).
      const res = (await get(`/metadata/${version}.${encodeURIComponent(role)}.json`))!;
      return new Uint8Array(await res.arrayBuffer());
    },
    async timestamp() {
      const res = (await get('/metadata/timestamp.json'))!;
      return new Uint8Array(await res.arrayBuffer());
    },
    async rootMetadata(version) {
      const res = await get(`/metadata/${version}.root.json`, true);
      return res ? new Uint8Array(await res.arrayBuffer()) : null;
    },
    async targetFile(name, sha256) {
      const slash = name.lastIndexOf('/');
      const path = `${name.slice(0, slash + 1)}${plainSha256(sha256)}.${name.slice(slash + 1)}`;
      const res = (await get(`/targets/${path.split('/').map(encodeURIComponent).join('/')}`))!;
      return new Uint8Array(await res.arrayBuffer());
    },
    async attestations() {
      const body = (await json('/api/v1/attestations')) as { attestations?: unknown };
      if (!Array.isArray(body.attestations)) {
        throw new TransparencyError('AUDIT_SOURCE_UNAVAILABLE', 'attestations answer is malformed');
      }
      return body.attestations as unknown[];
    },
    async revocationList() {
      let res: Response;
      try {
        res = await doFetch(`${base}/api/v1/vehicles/crl.pem`, {
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw new TransparencyError('AUDIT_SOURCE_UNAVAILABLE', 'GET vehicle CRL failed', {
          cause: err,
        });
      }
      // 404: an older server; 503: a server without a vehicle CA. Either way there is no CRL.
      if (res.status === 404 || res.status === 503) {
        await res.body?.cancel();
        return null;
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new TransparencyError(
          'AUDIT_SOURCE_UNAVAILABLE',
          `GET vehicle CRL answered ${res.status}`,
        );
      }
      return res.text();
    },
  };
}

function plainSha256(hash: string): string {
  const hex = hash.replace(/^0x/, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new TransparencyError('AUDIT_SOURCE_UNAVAILABLE', `not a sha256: ${hash}`);
  }
  return hex;
}
