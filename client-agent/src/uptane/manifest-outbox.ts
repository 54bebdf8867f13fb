import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir, writeJsonDurable } from '../util/durable.js';
import type { BoundedAnswer } from '../util/retrieval.js';

/** What became of the vehicle version manifests of a cycle (VehicleUpdateResult.manifest). */
export interface ManifestDelivery {
  /** This cycle's manifest was accepted. */
  sent: boolean;
  /** The status of the last answer, if one came. */
  status?: number;
  /** Manifests still queued for the next cycle (this one included, when not sent). */
  queued: number;
  /** MANIFEST_REJECTED: the Director answered non-2xx (its own error code in serverCode). */
  code?: 'MANIFEST_REJECTED' | 'MANIFEST_UNSENT';
  serverCode?: string;
}

/**
 * A durable queue of signed vehicle version manifests: each is written (fsync + rename) before it
 * is posted and leaves the queue only once the Director accepted it (2xx). A refused or unsent
 * manifest stays for the next cycle, which posts the queue in order before its own.
 */
export class ManifestOutbox {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'manifests');
  }

  async enqueue(manifest: unknown): Promise<string> {
    const id = `${Date.now().toString().padStart(15, '0')}-${process.hrtime.bigint() % 1_000_000n}`;
    await writeJsonDurable(join(this.dir, `${id}.json`), manifest);
    return id;
  }

  async list(): Promise<string[]> {
    try {
      return (await readdir(this.dir))
        .filter((n) => /^\d{15}-\d+\.json$/.test(n))
        .sort()
        .map((n) => n.slice(0, -5));
    } catch {
      return [];
    }
  }

  /**
   * Posts every queued manifest in order with `post`, stopping at the first that is refused or
   * not answered; reports on `newest` (this cycle's).
   */
  async flush(
    newest: string,
    post: (body: string) => Promise<BoundedAnswer>,
  ): Promise<ManifestDelivery> {
    const ids = await this.list();
    let status: number | undefined;
    let sent = false;
    for (const [i, id] of ids.entries()) {
      const body = await readFile(join(this.dir, `${id}.json`), 'utf8');
      let res: BoundedAnswer;
      try {
        res = await post(body);
      } catch {
        return { sent, queued: ids.length - i, code: 'MANIFEST_UNSENT' };
      }
      status = res.statusCode;
      if (res.statusCode < 200 || res.statusCode >= 300) {
        return {
          sent,
          status,
          queued: ids.length - i,
          code: 'MANIFEST_REJECTED',
          ...serverCode(res),
        };
      }
      await rm(join(this.dir, `${id}.json`));
      await syncDir(this.dir);
      if (id === newest) sent = true;
    }
    await mkdir(this.dir, { recursive: true });
    return { sent, ...(status !== undefined ? { status } : {}), queued: 0 };
  }
}

function serverCode(res: BoundedAnswer): { serverCode?: string } {
  try {
    const code = (JSON.parse(res.body.toString('utf8')) as { error?: { code?: unknown } }).error
      ?.code;
    return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? { serverCode: code } : {};
  } catch {
    return {};
  }
}
