import { readdir, readFile, rename, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { defaultConfig, type Config } from '../config.js';
import type { AgentErrorCode } from '../error.js';
import { syncDir, writeJsonDurable } from '../util/durable.js';
import {
  answerLimits,
  fetchBounded,
  toDownloadError,
  type BoundedAnswer,
} from '../util/retrieval.js';

/** The limits on the server's answers to the outbox (see Config). */
export type AnswerConfig = Pick<
  Config,
  'answerMaxLength' | 'minDownloadBytesPerSecond' | 'downloadGraceMs' | 'metadataDeadlineMs'
>;

/**
 * Answers that refuse the report itself. Anything else (404 from an older server, 401/403, 429,
 * 5xx, no answer) leaves it queued for the next attempt.
 */
const REJECTED = new Set([400, 409, 413, 415, 422]);

export interface OutboxEntry {
  id: string;
  bundle: unknown;
}

export interface FlushResult {
  sent: string[];
  /** Reports the server refused (4xx); kept under `rejected/` for inspection, never deleted. */
  rejected: string[];
  /** Reports still queued because the server could not be reached. */
  pending: string[];
  /**
   * Why the flush stopped early, when the server's answer was refused or never came
   * (ENDLESS_DATA for an answer over `answerMaxLength`, DOWNLOAD_TOO_SLOW, DOWNLOAD_FAILED...).
   */
  failure?: { id: string; code: AgentErrorCode; message: string };
}

/**
 * A durable on-disk queue of signed install reports. A report is written (fsync + rename) before
 * any attempt to send it and leaves the queue only once the server has accepted it; the server's
 * answer (the log inclusion promise or proof) is kept under `receipts/`.
 */
export class ReportOutbox {
  readonly dir: string;
  /** Limits on every answer the server gives the outbox and the proof collection. */
  readonly limits: AnswerConfig;

  constructor(stateDir: string, config: Partial<AnswerConfig> = {}) {
    this.dir = join(stateDir, 'outbox');
    this.limits = {
      answerMaxLength: config.answerMaxLength ?? defaultConfig.answerMaxLength,
      minDownloadBytesPerSecond:
        config.minDownloadBytesPerSecond ?? defaultConfig.minDownloadBytesPerSecond,
      downloadGraceMs: config.downloadGraceMs ?? defaultConfig.downloadGraceMs,
      metadataDeadlineMs: config.metadataDeadlineMs ?? defaultConfig.metadataDeadlineMs,
    };
  }

  #queued(): string {
    return join(this.dir, 'queued');
  }

  /** Queues a report durably; its id is `<counter, 12 digits>-<key>`. */
  async enqueue(counter: number, key: string, bundle: unknown): Promise<string> {
    const id = `${String(counter).padStart(12, '0')}-${key}`;
    await writeJsonDurable(join(this.#queued(), `${id}.json`), bundle);
    return id;
  }

  /** The id of a report queued (or already sent or rejected) under `key`, if any. */
  async findByKey(key: string): Promise<string | undefined> {
    for (const sub of ['queued', 'sent', 'rejected']) {
      let names: string[];
      try {
        names = await readdir(join(this.dir, sub));
      } catch {
        continue;
      }
      const hit = names.find((n) => n.endsWith(`-${key}.json`));
      if (hit) return hit.slice(0, -5);
    }
    return undefined;
  }

  /** A queued, sent or rejected report by id. */
  async get(id: string): Promise<unknown> {
    for (const sub of ['queued', 'sent', 'rejected']) {
      try {
        return JSON.parse(await readFile(join(this.dir, sub, `${id}.json`), 'utf8')) as unknown;
      } catch {
        continue;
      }
    }
    return undefined;
  }

  async list(): Promise<OutboxEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.#queued());
    } catch {
      return [];
    }
    const entries: OutboxEntry[] = [];
    for (const name of names.filter((n) => /^\d{12}-[0-9a-z]+\.json$/.test(n)).sort()) {
      const bundle = JSON.parse(await readFile(join(this.#queued(), name), 'utf8')) as unknown;
      entries.push({ id: name.slice(0, -5), bundle });
    }
    return entries;
  }

  async receipt(id: string): Promise<unknown> {
    try {
      return JSON.parse(
        await readFile(join(this.dir, 'receipts', `${id}.json`), 'utf8'),
      ) as unknown;
    } catch {
      return undefined;
    }
  }

  async #move(id: string, to: 'sent' | 'rejected'): Promise<void> {
    const dest = join(this.dir, to);
    await mkdir(dest, { recursive: true });
    await rename(join(this.#queued(), `${id}.json`), join(dest, `${id}.json`));
    await syncDir(dest);
    await syncDir(this.#queued());
  }

  /** Keeps the server's answer to report `id` and files the report by it. */
  async #settle(id: string, res: BoundedAnswer): Promise<'sent' | 'rejected' | 'pending'> {
    const text = res.body.toString('utf8');
    if (res.statusCode >= 200 && res.statusCode < 300) {
      let answer: unknown = text;
      try {
        answer = JSON.parse(text);
      } catch {
        // keep the raw answer
      }
      await writeJsonDurable(join(this.dir, 'receipts', `${id}.json`), answer);
      await this.#move(id, 'sent');
      return 'sent';
    }
    if (REJECTED.has(res.statusCode)) {
      await writeJsonDurable(join(this.dir, 'receipts', `${id}.rejected.json`), {
        status: res.statusCode,
        body: text,
      });
      await this.#move(id, 'rejected');
      return 'rejected';
    }
    return 'pending';
  }

  /** Sends queued reports in order to `<serverUrl>/api/v1/attestations`; stops at the first network failure. */
  async flush(serverUrl: string, dispatcher?: Dispatcher): Promise<FlushResult> {
    const result: FlushResult = { sent: [], rejected: [], pending: [] };
    const entries = await this.list();
    const url = `${serverUrl.replace(/\/+$/, '')}/api/v1/attestations`;
    let offline = false;
    for (const entry of entries) {
      if (offline) {
        result.pending.push(entry.id);
        continue;
      }
      let res: BoundedAnswer;
      try {
        // The answer is read only up to answerMaxLength: a hostile server's huge answer is cut,
        // and nothing of it reaches the disk; the report stays queued.
        res = await fetchBounded(url, {
          dispatcher,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(entry.bundle),
          maxBytes: this.limits.answerMaxLength,
          limits: answerLimits(this.limits),
        });
      } catch (err) {
        const refused = toDownloadError(err, `POST ${url}`);
        result.failure = { id: entry.id, code: refused.code, message: refused.message };
        offline = true;
        result.pending.push(entry.id);
        continue;
      }
      try {
        const outcome = await this.#settle(entry.id, res);
        if (outcome === 'pending') offline = true;
        result[outcome].push(entry.id);
      } catch {
        offline = true;
        result.pending.push(entry.id);
      }
    }
    return result;
  }
}
