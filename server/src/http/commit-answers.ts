import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, httpStatusOf, type ServerError } from '../error.js';
import type { MetadataGeneration } from './target-cache.js';

/** Paths kept per commit; a replica probed for more forgets the oldest first. */
const MAX_ANSWERS = 4096;

export interface CommitAnswer {
  /** The route that made it, for the request metrics. */
  route: string;
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** A JSON answer with the headers the router's `c.json` would send. */
export function jsonAnswer(
  route: string,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): CommitAnswer {
  return {
    route,
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: new TextEncoder().encode(JSON.stringify(value)),
  };
}

/** The router's answer to `error` (app.ts onError), for a 4xx that holds until the next commit. */
export function errorAnswer(route: string, error: ServerError): CommitAnswer {
  const { code, message } = error;
  return jsonAnswer(route, httpStatusOf(code), errorBody(code, message));
}

/**
 * Answers that hold until the next commit, given before the router: the firmware hint of a
 * hardware ID, and the 404 of a metadata version not published yet (a TUF client asks for root
 * N+1 at every refresh). Without them, every poll of a fleet of agents takes two places under
 * the in-flight bound and two store reads.
 *
 * Kept under the path as the request spelled it, and only when read after `generation()` with no
 * commit since (this replica's, or another's heard through the store), as MetadataCache does.
 */
export class CommitAnswers {
  readonly #commits: MetadataGeneration;
  readonly #answers = new Map<string, CommitAnswer>();
  #generation = -1;
  /** Paths answered before the last commit, oldest first, until stalePaths takes them. */
  #stale: string[] = [];

  constructor(commits: MetadataGeneration) {
    this.#commits = commits;
  }

  /** `answer` for GET `path`, read from the metadata of `generation` (taken before the read). */
  remember(path: string, answer: CommitAnswer, generation: number): void {
    if (generation !== this.#commits.generation() || !this.#commits.hearsOtherReplicas()) return;
    this.#sync();
    this.#answers.delete(path);
    if (this.#answers.size >= MAX_ANSWERS) this.#answers.delete(this.#answers.keys().next().value!);
    this.#answers.set(path, answer);
  }

  /** Answers a GET or HEAD of a remembered path: the route it answered, else undefined. */
  answer(req: IncomingMessage, res: ServerResponse): string | undefined {
    const { url, method } = req;
    if (url === undefined || (method !== 'GET' && method !== 'HEAD')) return undefined;
    if (this.#generation !== this.#commits.generation() || !this.#commits.hearsOtherReplicas())
      return undefined;
    const kept = this.#answers.get(url);
    if (!kept) return undefined;
    res.writeHead(kept.status, {
      ...kept.headers,
      'Content-Length': String(kept.body.byteLength),
    });
    res.end(method === 'HEAD' ? undefined : kept.body);
    return kept.route;
  }

  /**
   * Up to `max` paths answered before the last commit and not taken yet, the most recently
   * remembered first: what MetadataWarmer reads again.
   */
  stalePaths(max: number): string[] {
    this.#sync();
    const paths = this.#stale.slice(Math.max(this.#stale.length - max, 0)).reverse();
    this.#stale = [];
    return paths;
  }

  /** After a commit: the answers held become stale paths, to be read again. */
  #sync(): void {
    const generation = this.#commits.generation();
    if (this.#generation === generation) return;
    const stale = new Set([...this.#stale, ...this.#answers.keys()]);
    this.#stale = [...stale].slice(-MAX_ANSWERS);
    this.#answers.clear();
    this.#generation = generation;
  }

  /** Paths held now (for tests). */
  get size(): number {
    return this.#generation === this.#commits.generation() ? this.#answers.size : 0;
  }
}
