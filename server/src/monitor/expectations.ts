import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ServerError } from '../error.js';

const keyId = z.string().regex(/^[0-9a-f]{64}$/, 'a TUF key ID is 64 lowercase hex digits');
const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'an address is 0x and 40 hex digits')
  .transform((a) => a.toLowerCase());
const digest = z
  .string()
  .regex(/^(0x)?[0-9a-fA-F]{64}$/, 'a firmware digest is the sha256 of the image in hex')
  .transform((d) => `0x${d.replace(/^0x/, '').toLowerCase()}`);

const expectationsSchema = z.strictObject({
  /** Contract accounts allowed to log releases, recalls and minimum versions. */
  publishers: z.array(address).min(1),
  /**
   * Allowed key IDs per role: `root`, `timestamp`, `snapshot`, `targets` (in root), `bins` (the
   * bins role and its hashed bins). A role left out is not checked.
   */
  keys: z.partialRecord(
    z.enum(['root', 'timestamp', 'snapshot', 'targets', 'bins']),
    z.array(keyId),
  ),
  /** Supplier delegations the OEM made: role name (`supplier-<id>`) to its key IDs. */
  suppliers: z.record(z.string().regex(/^supplier-[a-z0-9-]+$/), z.array(keyId)).default({}),
  /** The OEM's own release records: every firmware it built and meant to publish. */
  releases: z
    .array(
      z.strictObject({
        digest,
        hardwareId: z.string().min(1).optional(),
        version: z.number().int().nonnegative().optional(),
      }),
    )
    .default([]),
});

export type Expectations = z.output<typeof expectationsSchema>;

/** Parses an expectations document; CONFIG_INVALID names the first bad field. */
export function parseExpectations(json: unknown, what = 'expectations'): Expectations {
  const parsed = expectationsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    throw new ServerError('CONFIG_INVALID', `${what}: ${at}: ${issue.message}`);
  }
  return parsed.data;
}

/** Reads and parses the expectations file (JSON). */
export async function loadExpectations(path: string): Promise<Expectations> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ServerError('CONFIG_INVALID', `cannot read the expectations file ${path}`, {
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ServerError('CONFIG_INVALID', `the expectations file ${path} is not JSON`, {
      cause: error,
    });
  }
  return parseExpectations(json, `expectations file ${path}`);
}
