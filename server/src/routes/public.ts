import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context } from 'hono';
import type { App, AppEnv, ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import { isValidTargetPath } from '../http/names.js';
import { IMMUTABLE, ifNoneMatch, VERSIONED_METADATA } from '../http/metadata-cache.js';
import { parseRange } from '../http/range.js';
import type { TargetFile } from '@tufjs/models';
import { readBlob } from '../storage/blob-store.js';
import type { MetadataRecord } from '../storage/store.js';
import { attestationTargetName } from '../tuf/service.js';

const ATTESTATION_SUFFIX = attestationTargetName('');
const MAX_BUNDLE_BYTES = 1024 * 1024;

const hashedTarget = /^([0-9a-f]{64}|[0-9a-f]{128})\.(.+)$/;

function etagOf(hex: string): string {
  return `"${hex}"`;
}

function notModified(c: Context<AppEnv>, etag: string): boolean {
  return ifNoneMatch(c.req.header('if-none-match'), etag);
}

function metadataResponse(c: Context<AppEnv>, rec: MetadataRecord, cacheControl: string): Response {
  const etag = etagOf(rec.sha256);
  const headers = {
    'Content-Type': 'application/json',
    'Cache-Control': cacheControl,
    ETag: etag,
  };
  if (notModified(c, etag)) return new Response(null, { status: 304, headers });
  const body = c.req.method === 'HEAD' ? null : rec.bytes;
  return new Response(body, {
    status: 200,
    headers: { ...headers, 'Content-Length': String(rec.bytes.byteLength) },
  });
}

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
  const bytes = await readBlob(ctx.blobs, blob.sha256);
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
 * Pipes a blob straight into Node's response. A web ReadableStream (Readable.toWeb) costs a
 * promise and a copy per 64 KiB chunk on the way in and out; images are the server's bulk
 * bytes. RESPONSE_ALREADY_SENT tells @hono/node-server the answer is written (it must be that
 * object: a Response made here would be written a second time); the status goes to the request
 * metrics and log through `sentStatus`. A read error mid-body destroys the socket: the client
 * sees a short body, never a wrong one.
 */
function sendStream(
  c: Context<AppEnv>,
  outgoing: HttpBindings['outgoing'],
  status: number,
  headers: Record<string, string>,
  stream: Readable,
): Response {
  outgoing.writeHead(status, headers);
  pipeline(stream, outgoing).catch(() => undefined);
  c.set('sentStatus', status);
  return RESPONSE_ALREADY_SENT;
}

export function registerPublicRoutes(app: App, ctx: ServerContext): void {
  app.get('/metadata/:file', async (c) => {
    const file = c.req.param('file');
    const cache = ctx.metadataCache;
    if (file === 'timestamp.json' || file === 'root.json') {
      const generation = cache.generation();
      const freshUntil = file === 'timestamp.json' ? await ctx.service.ensureFresh() : Infinity;
      const role = file === 'timestamp.json' ? 'timestamp' : 'root';
      const rec = await ctx.store.currentMetadata(role);
      if (!rec) throw new ServerError('REPOSITORY_NOT_INITIALIZED', `no ${role} metadata`);
      const cacheControl =
        role === 'timestamp'
          ? `public, max-age=${ctx.config.timestampMaxAgeSeconds}, must-revalidate`
          : 'no-cache';
      cache.rememberCurrent(file, rec, cacheControl, freshUntil, generation);
      return metadataResponse(c, rec, cacheControl);
    }
    const m = VERSIONED_METADATA.exec(file);
    if (!m) throw new ServerError('METADATA_NOT_FOUND', 'no such metadata file');
    const role = m[2] ?? '';
    if (role === 'timestamp')
      throw new ServerError('METADATA_NOT_FOUND', 'timestamp is not versioned');
    const rec = await ctx.store.publishedMetadata(role, Number(m[1]));
    if (!rec) throw new ServerError('METADATA_NOT_FOUND', `${file} is not published`);
    cache.rememberVersioned(role, rec);
    return metadataResponse(c, rec, IMMUTABLE);
  });

  const serveTarget = async (c: Context<AppEnv>, dir: string | undefined): Promise<Response> => {
    const m = hashedTarget.exec(c.req.param('file') ?? '');
    const base = m?.[2];
    const name = dir === undefined ? base : `${dir}/${base}`;
    if (!m || base === undefined || name === undefined || !isValidTargetPath(name)) {
      throw new ServerError(
        'TARGET_NOT_FOUND',
        'targets are served as [{dir}/]{sha256|sha512}.{name}',
      );
    }
    const hash = m[1] ?? '';
    const target =
      (await ctx.service.findTarget(name))?.file ?? (await revokedAttestation(ctx, name, hash));
    const sha256 = target?.hashes.sha256;
    if (
      !target ||
      sha256 === undefined ||
      (target.hashes.sha256 !== hash && target.hashes.sha512 !== hash)
    ) {
      throw new ServerError('TARGET_NOT_FOUND', `no target ${name} with that hash`);
    }
    const length = target.length;
    const etag = etagOf(sha256);
    const headers: Record<string, string> = {
      'Content-Type': 'application/octet-stream',
      'Cache-Control': IMMUTABLE,
      'Accept-Ranges': 'bytes',
      ETag: etag,
    };
    if (notModified(c, etag)) return new Response(null, { status: 304, headers });
    let range;
    try {
      const ifRange = c.req.header('if-range');
      range =
        ifRange === undefined || ifRange === etag
          ? parseRange(c.req.header('range'), length)
          : undefined;
    } catch (error) {
      if (error instanceof ServerError && error.code === 'RANGE_NOT_SATISFIABLE') {
        return c.json({ error: { code: error.code, message: error.message } }, 416, {
          'Content-Range': `bytes */${length}`,
          'Accept-Ranges': 'bytes',
        });
      }
      throw error;
    }
    const status = range ? 206 : 200;
    if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${length}`;
    headers['Content-Length'] = String(range ? range.end - range.start + 1 : length);
    if (c.req.method === 'HEAD' || length === 0) return new Response(null, { status, headers });
    const stream = ctx.blobs.open(sha256, range);
    const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
    if (outgoing) return sendStream(c, outgoing, status, headers, stream);
    return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, { status, headers });
  };
  app.get('/targets/:file', (c) => serveTarget(c, undefined));
  // Supplier targets live under their hardware ID: `<hwid>/<sha256>.<name>`.
  app.get('/targets/:dir/:file', (c) => serveTarget(c, c.req.param('dir')));
}
