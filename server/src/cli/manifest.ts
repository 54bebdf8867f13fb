import { z } from 'zod';
import { readJsonFile } from './context.js';
import { CliError } from './error.js';
import { exists, writeJsonFile } from './files.js';

/** The local release manifest `targets add` stages and `publish` sends. */
export const RELEASE_MANIFEST_FORMAT = 'tufchain/release-manifest/v1';

const hex = (n: number) => z.string().regex(new RegExp(`^[0-9a-f]{${n}}$`));

const manifestTargetSchema = z.object({
  name: z.string().min(1).max(200),
  hardwareIds: z.array(z.string().min(1)).min(1),
  version: z.string().min(1),
  releaseCounter: z.number().int().min(1),
  minFromVersion: z.string().min(1).optional(),
  length: z.number().int().nonnegative(),
  sha256: hex(64),
  sha512: hex(128),
  attestation: z.record(z.string(), z.unknown()),
});

const manifestSchema = z.object({
  format: z.literal(RELEASE_MANIFEST_FORMAT),
  targets: z.array(manifestTargetSchema),
});

export type ManifestTarget = z.infer<typeof manifestTargetSchema>;
export type ReleaseManifest = z.infer<typeof manifestSchema>;

export function parseManifest(json: unknown, path: string): ReleaseManifest {
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new CliError(
      'MALFORMED_MANIFEST',
      `${path} is not a ${RELEASE_MANIFEST_FORMAT} file: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

export async function readManifest(path: string): Promise<ReleaseManifest> {
  return parseManifest(await readJsonFile(path, 'release manifest', 'MALFORMED_MANIFEST'), path);
}

/** The manifest at `path`, or a new empty one if there is none yet. */
export async function readOrCreateManifest(path: string): Promise<ReleaseManifest> {
  if (!(await exists(path))) return { format: RELEASE_MANIFEST_FORMAT, targets: [] };
  return readManifest(path);
}

export async function writeManifest(path: string, manifest: ReleaseManifest): Promise<void> {
  await writeJsonFile(path, manifest);
}

/** The POST /api/v1/releases body. */
export function publishRequestOf(manifest: ReleaseManifest): { targets: unknown[] } {
  return {
    targets: manifest.targets.map((t) => ({
      name: t.name,
      hardwareIds: t.hardwareIds,
      version: t.version,
      releaseCounter: t.releaseCounter,
      ...(t.minFromVersion === undefined ? {} : { minFromVersion: t.minFromVersion }),
      attestation: t.attestation,
    })),
  };
}
