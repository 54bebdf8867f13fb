/**
 * src/util/undici.ts loads undici's internal files (`undici/lib/...`), which are not its public API
 * and may move in any release. These checks read the paths from that file's source (so that a
 * moved file fails here with its name, not as a failed import) and fail, naming undici, the
 * version the paths were checked against and each path, when the pin or the installed package
 * moves, or a file is gone or no longer what undici's index exports.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** The undici version whose internal paths src/util/undici.ts was checked against. */
const CHECKED_VERSION = '8.12.4';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const deepPaths = [
  ...readFileSync(join(here, 'undici.ts'), 'utf8').matchAll(/require\('(undici\/[^']+)'\)/g),
].map((m) => m[1] as string);
const pinned = (
  JSON.parse(readFileSync(join(here, '..', '..', 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  }
).dependencies['undici'];

const recheck = (why: string): string =>
  `${why}; src/util/undici.ts loads undici's internal files ${deepPaths.join(', ')}, checked ` +
  `against undici ${CHECKED_VERSION}: check each in the new version (or load undici's index ` +
  `instead), then set CHECKED_VERSION in src/util/undici.test.ts`;

/** What each internal file must be: the very object undici's index exports for it. */
function sameAsIndex(path: string): void {
  const undici = require('undici') as Record<string, unknown> & {
    Dispatcher: { prototype: Record<string, unknown> };
  };
  const loaded = require(path) as Record<string, unknown>;
  const expectations: Record<string, () => boolean> = {
    'undici/lib/dispatcher/agent.js': () => loaded === undici['Agent'],
    'undici/lib/core/errors.js': () => loaded === undici['errors'],
    'undici/lib/dispatcher/dispatcher.js': () => loaded === undici['Dispatcher'],
    'undici/lib/global.js': () =>
      loaded['getGlobalDispatcher'] === undici['getGlobalDispatcher'] &&
      typeof loaded['getGlobalDispatcher'] === 'function',
    // undici's index puts these on Dispatcher.prototype; src/util/undici.ts does the same.
    'undici/lib/api/index.js': () =>
      typeof loaded['request'] === 'function' &&
      Object.entries(loaded).every(([name, fn]) => undici.Dispatcher.prototype[name] === fn),
  };
  const check = expectations[path];
  if (!check) throw new Error(`no check for ${path}: add one to src/util/undici.test.ts`);
  if (!check()) {
    throw new Error(recheck(`undici's ${path} is no longer what undici's index exports for it`));
  }
}

describe('the deep imports of undici in src/util/undici.ts', () => {
  it('are found in its source', () => {
    expect(deepPaths).toContain('undici/lib/dispatcher/agent.js');
  });

  it('come from the exact undici version they were checked against', () => {
    if (pinned !== CHECKED_VERSION) {
      throw new Error(recheck(`client-agent/package.json pins undici "${pinned}"`));
    }
    const installed = (require('undici/package.json') as { version: string }).version;
    if (installed !== CHECKED_VERSION) {
      throw new Error(recheck(`undici ${installed} is installed`));
    }
  });

  it.each(deepPaths)('%s is still there, and is what undici exports for it', (path) => {
    try {
      require.resolve(path);
    } catch (err) {
      throw new Error(recheck(`${path} is not in the installed undici`), {
        cause: err,
      });
    }
    sameAsIndex(path);
  });
});
