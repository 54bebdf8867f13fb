import { TransparencyError } from '../error.js';
import { z } from 'zod';
import {
  directorInventoryVersionSchema,
  directorManifestRecordSchema,
  directorServedVersionSchema,
  directorVersionOpeningSchema,
} from './director.js';
import type { AuditSource } from './source.js';

export interface HttpAuditSourceOptions {
  timeoutMs?: number;
  /**
   * An OEM API token (any scope, the read-only `audit` one included): the auditor then reads each
   * vehicle's Director openings, inventory history and manifests, matches ECUs through their
   * logged commitments, and recomputes every campaign wave from the fleet snapshot it was cut from.
   */
  oemToken?: string;
  fetch?: typeof globalThis.fetch;
}

const waveSnapshotPageSchema = z.object({
  members: z.array(z.string().regex(/^[0-9a-f]{64}$/)),
  nextAfter: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .nullable(),
});

/** An AuditSource over the update server's public, unauthenticated routes. */
export function createHttpAuditSource(
  baseUrl: string,
  opts: HttpAuditSourceOptions = {},
): AuditSource {
  const base = baseUrl.replace(/\/+$/, '');
  const doFetch = opts.fetch ?? globalThis.fetch;
  const timeoutMs = opts.timeoutMs ?? 30_000;

  async function get(
    path: string,
    allow404 = false,
    headers: Record<string, string> = {},
  ): Promise<Response | null> {
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, { signal: AbortSignal.timeout(timeoutMs), headers });
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

  async function json(
    path: string,
    allow404 = false,
    headers: Record<string, string> = {},
  ): Promise<unknown> {
    const res = await get(path, allow404, headers);
    if (!res) return null;
    try {
      return await res.json();
    } catch (err) {
      throw new TransparencyError('AUDIT_SOURCE_UNAVAILABLE', `GET ${path} answered invalid JSON`, {
        cause: err,
      });
    }
  }

  const oem = opts.oemToken ? { authorization: `Bearer ${opts.oemToken}` } : undefined;
  const malformed = (what: string, err: z.ZodError) =>
    new TransparencyError(
      'AUDIT_SOURCE_UNAVAILABLE',
      `${what} answer is malformed: ${z.prettifyError(err)}`,
    );

  return {
    async directorTargets() {
      let res: Response;
      try {
        res = await doFetch(`${base}/api/v1/audit/director-targets`, {
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw new TransparencyError('AUDIT_SOURCE_UNAVAILABLE', 'GET director-targets failed', {
          cause: err,
        });
      }
      // 404: a server from before the Director; 503: a server without one.
      if (res.status === 404 || res.status === 503) {
        await res.body?.cancel();
        return null;
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new TransparencyError(
          'AUDIT_SOURCE_UNAVAILABLE',
          `GET director-targets answered ${res.status}`,
        );
      }
      const parsed = z
        .object({ versions: z.array(directorServedVersionSchema) })
        .safeParse(await res.json().catch(() => null));
      if (!parsed.success) throw malformed('director-targets', parsed.error);
      return parsed.data.versions;
    },
    ...(oem
      ? {
          async directorVehicle(commitment: string) {
            const c = encodeURIComponent(commitment);
            // 404 on the openings route: a server from before it (or a vehicle it never served).
            const targets = z
              .object({ versions: z.array(directorVersionOpeningSchema) })
              .nullable()
              .safeParse(await json(`/api/v1/vehicles/${c}/director/targets`, true, oem));
            if (!targets.success) throw malformed('director targets', targets.error);
            const history = z
              .object({ versions: z.array(directorInventoryVersionSchema) })
              .safeParse(await json(`/api/v1/vehicles/${c}/ecus/history`, false, oem));
            if (!history.success) throw malformed('ECU inventory history', history.error);
            const manifests = z
              .object({ manifests: z.array(directorManifestRecordSchema) })
              .safeParse(await json(`/api/v1/vehicles/${c}/manifests`, false, oem));
            if (!manifests.success) throw malformed('manifests', manifests.error);
            return {
              ...(targets.data ? { versions: targets.data.versions } : {}),
              inventory: history.data.versions,
              manifests: manifests.data.manifests,
            };
          },
          async campaignWaveMembers(campaign: string, wave: number) {
            const members: string[] = [];
            let after: string | null = null;
            for (;;) {
              const query: string = after === null ? '' : `?after=${after}`;
              const page = waveSnapshotPageSchema
                .nullable()
                .safeParse(
                  await json(
                    `/api/v1/audit/campaigns/${encodeURIComponent(campaign)}/waves/${wave}/members${query}`,
                    true,
                    oem,
                  ),
                );
              if (!page.success) throw malformed('campaign wave members', page.error);
              // 404: a server from before the route, or a wave it does not know.
              if (page.data === null) return null;
              members.push(...page.data.members);
              if (page.data.nextAfter === null) return members;
              if (page.data.nextAfter <= (after ?? '') || page.data.members.length === 0) {
                throw new TransparencyError(
                  'AUDIT_SOURCE_UNAVAILABLE',
                  'campaign wave members: a page that does not move on',
                );
              }
              after = page.data.nextAfter;
            }
          },
        }
      : {}),
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
