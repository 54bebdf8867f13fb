import { AgentError } from '../error.js';
import { fetchBounded, answerLimits } from '../util/retrieval.js';
import { directorBase, type Cycle } from './primary-types.js';

/**
 * The roots of both repositories between a secondary's trusted version and the primary's (the
 * newest is in the handed-over metadata already), fetched once per cycle from the repositories'
 * public `N.root.json`. The secondary verifies the chain itself (tuf-js, or @tufjs/models for a
 * partial one); the primary only carries it.
 */
export class RootChain {
  readonly #c: Cycle;
  readonly #current: { director: number; image: number };
  readonly #fetched = new Map<string, Promise<string>>();

  constructor(c: Cycle, current: { director: number; image: number }) {
    this.#c = c;
    this.#current = current;
  }

  async after(repo: 'director' | 'image', trusted: unknown): Promise<Record<string, string>> {
    const from = typeof trusted === 'number' && Number.isSafeInteger(trusted) ? trusted : 1;
    const out: Record<string, string> = {};
    for (let v = Math.max(from, 1) + 1; v < this.#current[repo]; v++) {
      out[`${v}.root.json`] = await this.#root(repo, v);
    }
    return out;
  }

  #root(repo: 'director' | 'image', version: number): Promise<string> {
    const key = `${repo}/${version}`;
    let p = this.#fetched.get(key);
    if (!p) {
      const base =
        repo === 'director'
          ? `${directorBase(this.#c.opts)}/director`
          : this.#c.opts.serverUrl.replace(/\/+$/, '');
      const url = `${base}/metadata/${version}.root.json`;
      p = fetchBounded(url, {
        dispatcher: this.#c.dispatcher,
        headers: { 'user-agent': this.#c.cfg.userAgent },
        maxBytes: this.#c.cfg.rootMaxLength,
        limits: answerLimits(this.#c.cfg),
      }).then((res) => {
        if (res.statusCode !== 200) {
          throw new AgentError('TUF_REFRESH', `GET ${url} answered ${res.statusCode}`);
        }
        return res.body.toString('base64');
      });
      this.#fetched.set(key, p);
    }
    return p;
  }
}
