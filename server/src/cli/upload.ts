import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { ApiClient } from './api-client.js';
import type { CliIo } from './context.js';
import { CliError } from './error.js';

export interface UploadResult {
  name: string;
  length: number;
  sha256: string;
  sha512: string;
}

/** Files at least this large show upload progress on stderr. */
export const PROGRESS_THRESHOLD_BYTES = 1024 * 1024;

const mib = (n: number) => (n / (1024 * 1024)).toFixed(1);

function progressReporter(
  io: CliIo,
  label: string,
  total: number,
): {
  update(sent: number): void;
  done(): void;
} {
  const started = performance.now();
  let lastDraw = 0;
  let lastDecile = -1;
  const line = (sent: number) => {
    const seconds = Math.max((performance.now() - started) / 1000, 0.001);
    const pct = total === 0 ? 100 : Math.floor((sent / total) * 100);
    return `upload ${label}: ${pct}% ${mib(sent)}/${mib(total)} MiB ${mib(sent / seconds)} MiB/s`;
  };
  return {
    update(sent) {
      if (io.stderrIsTty) {
        const now = performance.now();
        if (now - lastDraw < 100) return;
        lastDraw = now;
        io.stderrRaw(`\r${line(sent)}`);
      } else {
        const decile = Math.floor((sent / Math.max(total, 1)) * 10);
        if (decile === lastDecile) return;
        lastDecile = decile;
        io.stderr(line(sent));
      }
    },
    done() {
      if (io.stderrIsTty) io.stderrRaw(`\r${line(total)}\n`);
      else if (lastDecile < 10) io.stderr(line(total));
    },
  };
}

/**
 * Streams a file to PUT /api/v1/firmware/{name}, hashing the very bytes it sends; the file is never
 * held in memory. Throws UPLOAD_DIGEST_MISMATCH if the server stored other bytes than were sent.
 */
export async function uploadFirmware(
  api: ApiClient,
  io: CliIo,
  opts: { path: string; name: string; progress: boolean },
): Promise<UploadResult> {
  let size: number;
  try {
    const info = await stat(opts.path);
    if (!info.isFile()) throw new CliError('IO_ERROR', `${opts.path} is not a regular file`);
    size = info.size;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError('FILE_NOT_FOUND', `firmware image not found: ${opts.path}`, {
      cause: error,
    });
  }
  const sha256 = createHash('sha256');
  const sha512 = createHash('sha512');
  const progress =
    opts.progress && size >= PROGRESS_THRESHOLD_BYTES
      ? progressReporter(io, opts.name, size)
      : undefined;
  let sent = 0;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for await (const chunk of createReadStream(opts.path, { highWaterMark: 256 * 1024 })) {
      const bytes = chunk as Buffer;
      sha256.update(bytes);
      sha512.update(bytes);
      sent += bytes.length;
      progress?.update(sent);
      yield new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
  }
  const body = ReadableStream.from(chunks());
  const result = await api.put<UploadResult>(
    `/api/v1/firmware/${encodeURIComponent(opts.name)}`,
    body,
    size,
  );
  progress?.done();
  const local = { length: sent, sha256: sha256.digest('hex'), sha512: sha512.digest('hex') };
  if (
    result.length !== local.length ||
    result.sha256 !== local.sha256 ||
    result.sha512 !== local.sha512
  ) {
    throw new CliError(
      'UPLOAD_DIGEST_MISMATCH',
      `the server stored ${result.length} bytes with sha256 ${result.sha256}; sent ${local.length} bytes with sha256 ${local.sha256}`,
    );
  }
  return { name: opts.name, ...local };
}
