import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context } from 'hono';
import type { TargetFile } from '@tufjs/models';
import type { App, AppEnv, ServerContext } from '../context.js';
import { errorBody, ServerError } from '../error.js';
import { isValidTargetPath } from '../http/names.js';
import { answerTarget, writeTargetAnswer, type ServedTarget } from '../http/target-answer.js';
import { attestationTargetName } from '../tuf/service.js';

const ATTESTATION_SUFFIX = attestationTargetName('');
const MAX_BUNDLE_BYTES = 1024 * 1024;

const hashedTarget = /^([0-9a-f]{64}|[0-9a-f]{128})\.(.+)$/;

/**
 * A revoked release's images stop being served, but its Sigstore bundle stays downloadable at
 * its old content-addressed URL: auditors re-verify every release ever logged.
 */
async function revokedAttestation(
  ctx: ServerContext,
  name: string,
  hash: string,
): Promise<Pick<TargetFile, 'length' | 'hashes'> | undefined> {
  if (!name.endsWith(ATTESTATION_SUFFIX) || !/^[0-9a-f]{64}$/.test(hash)) return undefined;
  const subject = name.slice(0, -ATTESTATION_SUFFIX.length);
  const released = (await ctx.store.releases()).some(
    (r) => r.status === 'revoked' && r.targetNames.includes(subject),
  );
  const blob = released ? await ctx.store.blobBySha256(hash) : undefined;
  if (!blob || blob.length > MAX_BUNDLE_BYTES) return undefined;
  // Only a Sigstore bundle goes out this way, never the revoked image under a bundle's name.
  const bytes = await ctx.blobs.read(blob.sha256);
  let mediaType: unknown;
  try {
    mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
  } catch {
    return undefined;
  }
  if (typeof mediaType !== 'string' || !mediaType.startsWith('application/vnd.dev.sigstore.bundle'))
    return undefined;
  return { length: blob.length, hashes: { sha256: blob.sha256 } };
}

/**
 * Writes straight into Node's response. A web ReadableStream (Readable.toWeb) costs a promise and
 * a copy per 64 KiB chunk on the way in and out; images are the server's bulk bytes.
 * RESPONSE_ALREADY_SENT tells @hono/node-server the answer is written (it must be that object: a
 * Response made here would be written a second time); the status goes to the request metrics and
 * log through `sentStatus`. A read error mid-body destroys the socket: the client sees a short
 * body, never a wrong one.
 */
function sentDirectly(c: Context<AppEnv>, status: number): Response {
  c.set('sentStatus', status);
  return RESPONSE_ALREADY_SENT;
}

/** The target `name` with `hash` as the current metadata lists it, or TARGET_NOT_FOUND. */
async function resolveTarget(
  ctx: ServerContext,
  name: string,
  hash: string,
): Promise<{ target: ServedTarget; listed: boolean }> {
  const located = await ctx.service.findTarget(name);
  const file = located?.file ?? (await revokedAttestation(ctx, name, hash));
  const sha256 = file?.hashes.sha256;
  if (!file || sha256 === undefined || (sha256 !== hash && file.hashes.sha512 !== hash)) {
    throw new ServerError('TARGET_NOT_FOUND', `no target ${name} with that hash`);
  }
  return { target: { sha256, length: file.length }, listed: located !== undefined };
}

export function registerTargetRoutes(app: App, ctx: ServerContext): void {
  const serveTarget = async (c: Context<AppEnv>, dir: string | undefined): Promise<Response> => {
    const file = c.req.param('file') ?? '';
    const m = hashedTarget.exec(file);
    const base = m?.[2];
    const name = dir === undefined ? base : `${dir}/${base}`;
    if (!m || base === undefined || name === undefined || !isValidTargetPath(name)) {
      throw new ServerError(
        'TARGET_NOT_FOUND',
        'targets are served as [{dir}/]{sha256|sha512}.{name}',
      );
    }
    const cache = ctx.targetCache;
    const generation = ctx.metadataCache.generation();
    const { target, listed } = await resolveTarget(ctx, name, m[1] ?? '');
    // Kept for the fast path under the path as the request spelled it, when that is the path
    // routed here (nothing decoded); a revoked release's bundle is always looked up again.
    const path = dir === undefined ? file : `${dir}/${file}`;
    if (listed && c.req.path === `/targets/${path}`) cache.rememberTarget(path, target, generation);
    const answer = answerTarget(
      {
        method: c.req.method,
        ifNoneMatch: c.req.header('if-none-match'),
        ifRange: c.req.header('if-range'),
        range: c.req.header('range'),
      },
      target,
    );
    if (answer.status === 416) {
      const { code, message } = answer.error;
      return c.json(errorBody(code, message), 416, answer.headers);
    }
    const { status, headers, range } = answer;
    if (!answer.hasBody) return new Response(null, { status, headers });
    const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
    const bytes = await cache.blob(target, () => ctx.blobs.read(target.sha256));
    if (bytes && outgoing) {
      writeTargetAnswer(outgoing, answer, bytes);
      return sentDirectly(c, status);
    }
    if (bytes) {
      const body = range ? bytes.subarray(range.start, range.end + 1) : bytes;
      return new Response(new Uint8Array(body), { status, headers });
    }
    // Too large to keep in memory: 1 MiB reads from the blob file.
    const stream = ctx.blobs.open(target.sha256, range);
    if (outgoing) {
      outgoing.writeHead(status, headers);
      pipeline(stream, outgoing).catch(() => undefined);
      return sentDirectly(c, status);
    }
    return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, { status, headers });
  };
  app.get('/targets/:file', (c) => serveTarget(c, undefined));
  // Supplier targets live under their hardware ID: `<hwid>/<sha256>.<name>`.
  app.get('/targets/:dir/:file', (c) => serveTarget(c, c.req.param('dir')));
}
