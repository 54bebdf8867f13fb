import type { Context } from 'hono';
import type { App, AppEnv, ServerContext } from '../context.js';
import { ServerError } from '../error.js';
import { IMMUTABLE, ifNoneMatch, VERSIONED_METADATA } from '../http/metadata-cache.js';
import { notPublished, readCurrentMetadata, readVersionedMetadata } from '../http/metadata-warm.js';
import type { MetadataRecord } from '../storage/store.js';

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

export function registerPublicRoutes(app: App, ctx: ServerContext): void {
  app.get('/metadata/:file', async (c) => {
    const file = c.req.param('file');
    if (file === 'timestamp.json' || file === 'root.json') {
      const current = await readCurrentMetadata(ctx, file);
      if (!current) {
        const role = file === 'timestamp.json' ? 'timestamp' : 'root';
        throw new ServerError('REPOSITORY_NOT_INITIALIZED', `no ${role} metadata`);
      }
      return metadataResponse(c, current.rec, current.cacheControl);
    }
    const m = VERSIONED_METADATA.exec(file);
    if (!m) throw new ServerError('METADATA_NOT_FOUND', 'no such metadata file');
    const role = m[2] ?? '';
    if (role === 'timestamp')
      throw new ServerError('METADATA_NOT_FOUND', 'timestamp is not versioned');
    const rec = await readVersionedMetadata(ctx, role, Number(m[1]), c.req.path);
    if (!rec) throw notPublished(file);
    return metadataResponse(c, rec, IMMUTABLE);
  });
}
