import { ServerError } from '../error.js';

/** The request body as an async iterable of chunks (never buffered whole). */
export function bodyChunks(req: Request): AsyncIterable<Uint8Array> | Iterable<Uint8Array> {
  return req.body ?? [];
}

export function assertContentLength(req: Request, maxBytes: number): void {
  const header = req.headers.get('content-length');
  if (header !== null && /^\d+$/.test(header) && Number(header) > maxBytes) {
    throw new ServerError('PAYLOAD_TOO_LARGE', `body exceeds ${maxBytes} bytes`);
  }
}

/** Reads a small body (metadata, bundles) into memory, refusing more than `maxBytes`. */
export async function readBodyLimited(req: Request, maxBytes: number): Promise<Uint8Array> {
  assertContentLength(req, maxBytes);
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of bodyChunks(req)) {
    length += chunk.byteLength;
    if (length > maxBytes)
      throw new ServerError('PAYLOAD_TOO_LARGE', `body exceeds ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export async function readJsonLimited(req: Request, maxBytes: number): Promise<unknown> {
  const bytes = await readBodyLimited(req, maxBytes);
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch (error) {
    throw new ServerError('MALFORMED_JSON', 'request body is not valid JSON', { cause: error });
  }
}
