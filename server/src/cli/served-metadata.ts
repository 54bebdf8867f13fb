import { Metadata, MetadataKind, type Root, type Targets } from '@tufjs/models';
import type { ApiClient } from './api-client.js';
import { CliError } from './error.js';

function parseServed<T>(bytes: Uint8Array, kind: MetadataKind, what: string): T {
  try {
    return Metadata.fromJSON(
      kind as MetadataKind.Root,
      JSON.parse(new TextDecoder().decode(bytes)) as never,
    ) as T;
  } catch (error) {
    throw new CliError('UNEXPECTED_RESPONSE', `the server's ${what} does not parse`, {
      cause: error,
    });
  }
}

export interface ServedMetadata {
  root: Metadata<Root>;
  /** Top-level targets. */
  targets: Metadata<Targets>;
  /** Version of each targets-role file the current snapshot lists (`targets`, `bins-3f`, `supplier-acme`). */
  roleVersions: Map<string, number>;
}

/**
 * The server's current root and top-level targets, found through timestamp -> snapshot as a client
 * would. Nothing here is trusted: signing files carry it so that holders verify it themselves.
 */
export async function fetchServedMetadata(api: ApiClient): Promise<ServedMetadata> {
  const root = parseServed<Metadata<Root>>(
    await api.getBytes('/metadata/root.json'),
    MetadataKind.Root,
    'root',
  );
  const timestamp = JSON.parse(
    new TextDecoder().decode(await api.getBytes('/metadata/timestamp.json')),
  ) as {
    signed?: { meta?: Record<string, { version?: number }> };
  };
  const snapshotVersion = timestamp.signed?.meta?.['snapshot.json']?.version;
  if (typeof snapshotVersion !== 'number')
    throw new CliError('UNEXPECTED_RESPONSE', 'timestamp names no snapshot');
  const snapshot = JSON.parse(
    new TextDecoder().decode(await api.getBytes(`/metadata/${snapshotVersion}.snapshot.json`)),
  ) as { signed?: { meta?: Record<string, { version?: number }> } };
  const roleVersions = new Map<string, number>();
  for (const [file, meta] of Object.entries(snapshot.signed?.meta ?? {})) {
    if (typeof meta.version === 'number')
      roleVersions.set(file.replace(/\.json$/, ''), meta.version);
  }
  const targetsVersion = roleVersions.get('targets');
  if (targetsVersion === undefined)
    throw new CliError('UNEXPECTED_RESPONSE', 'snapshot names no targets');
  const targets = await fetchTargetsRole(api, 'targets', targetsVersion);
  return { root, targets, roleVersions };
}

/** `/metadata/{version}.{role}.json` of a targets role, parsed. */
export async function fetchTargetsRole(
  api: ApiClient,
  role: string,
  version: number,
): Promise<Metadata<Targets>> {
  return parseServed<Metadata<Targets>>(
    await api.getBytes(`/metadata/${version}.${encodeURIComponent(role)}.json`),
    MetadataKind.Targets,
    role,
  );
}
