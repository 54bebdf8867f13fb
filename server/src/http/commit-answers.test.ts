import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  startMemoryAnswerServer,
  type MemoryAnswerServer,
} from '../../test/support/memory-answer-server.js';
import { ServerError } from '../error.js';
import { CommitAnswers, errorAnswer, jsonAnswer } from './commit-answers.js';
import { MetadataCache } from './metadata-cache.js';

let commits: MetadataCache;
let answers: CommitAnswers;
let server: MemoryAnswerServer;
let routes: string[];
beforeEach(async () => {
  commits = new MetadataCache();
  answers = new CommitAnswers(commits);
  routes = [];
  server = await startMemoryAnswerServer((req, res) => {
    const route = answers.answer(req, res);
    if (route !== undefined) routes.push(route);
    return route !== undefined;
  });
});
afterEach(() => server.close());

const get = (path: string, init?: RequestInit) => server.get(path, init);
const HINT = '/api/v1/hardware/ecu-a/latest';
const hint = (name: string) =>
  jsonAnswer('/api/v1/hardware/:hardwareId/latest', 200, { name }, { 'Cache-Control': 'x' });

describe('CommitAnswers', () => {
  it('answers a remembered path with its status, headers and body, to GET and HEAD only', async () => {
    answers.remember(HINT, hint('a.img'), commits.generation());
    const res = await get(HINT);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('cache-control')).toBe('x');
    expect(await res.json()).toEqual({ name: 'a.img' });
    const head = await get(HINT, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String('{"name":"a.img"}'.length));
    expect(await head.text()).toBe('');
    expect(routes).toEqual([
      '/api/v1/hardware/:hardwareId/latest',
      '/api/v1/hardware/:hardwareId/latest',
    ]);
    // Not another method, another path or the path with a query string.
    expect((await get(HINT, { method: 'POST' })).status).toBe(599);
    expect((await get('/api/v1/hardware/ecu-b/latest')).status).toBe(599);
    expect((await get(`${HINT}?x=1`)).status).toBe(599);
  });

  it("gives an error answer as the router's error handler would", async () => {
    const error = new ServerError('METADATA_NOT_FOUND', '3.root.json is not published');
    answers.remember('/metadata/3.root.json', errorAnswer('/metadata/:file', error), 0);
    const res = await get('/metadata/3.root.json');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: { code: 'METADATA_NOT_FOUND', message: '3.root.json is not published' },
    });
  });

  it('forgets every answer at a commit, and never keeps one read before it', async () => {
    const before = commits.generation();
    answers.remember(HINT, hint('a.img'), before);
    expect(answers.size).toBe(1);
    commits.invalidate();
    expect(answers.size).toBe(0);
    expect((await get(HINT)).status).toBe(599);
    // Read before the commit, remembered after it: not kept.
    answers.remember(HINT, hint('a.img'), before);
    expect((await get(HINT)).status).toBe(599);
    answers.remember(HINT, hint('b.img'), commits.generation());
    expect(await (await get(HINT)).json()).toEqual({ name: 'b.img' });
  });

  it('keeps nothing while commits of other replicas may go unheard', async () => {
    let hears = false;
    commits.hearsOtherReplicas = () => hears;
    answers.remember(HINT, hint('a.img'), commits.generation());
    expect((await get(HINT)).status).toBe(599);
    hears = true;
    answers.remember(HINT, hint('a.img'), commits.generation());
    expect((await get(HINT)).status).toBe(200);
    hears = false;
    expect((await get(HINT)).status).toBe(599);
  });

  it('holds at most 4,096 paths, forgetting the oldest', async () => {
    const generation = commits.generation();
    for (let v = 2; v < 2 + 4097; v++) {
      const error = new ServerError('METADATA_NOT_FOUND', 'not published');
      answers.remember(
        `/metadata/${v}.root.json`,
        errorAnswer('/metadata/:file', error),
        generation,
      );
    }
    expect(answers.size).toBe(4096);
    expect((await get('/metadata/2.root.json')).status).toBe(599);
    expect((await get('/metadata/3.root.json')).status).toBe(404);
    expect((await get('/metadata/4098.root.json')).status).toBe(404);
  });

  it('gives the paths answered before a commit to be read again once, newest first, at most `max`', () => {
    const g = commits.generation();
    for (const hw of ['a', 'b', 'c'])
      answers.remember(`/api/v1/hardware/${hw}/latest`, hint(hw), g);
    expect(answers.stalePaths(10)).toEqual([]);
    commits.invalidate();
    // An answer of the new generation does not hide the stale ones.
    answers.remember('/api/v1/hardware/d/latest', hint('d'), commits.generation());
    expect(answers.stalePaths(2)).toEqual([
      '/api/v1/hardware/c/latest',
      '/api/v1/hardware/b/latest',
    ]);
    expect(answers.stalePaths(10)).toEqual([]);
    commits.invalidate();
    expect(answers.stalePaths(0)).toEqual([]);
  });
});
