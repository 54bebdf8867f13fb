/**
 * bundle.ts loads @sigstore/sign's DSSE bundle builder from an internal file
 * (`@sigstore/sign/dist/bundler/dsse.js`), which is not its public API and may move in any release.
 * These checks read the paths from bundle.ts's source (so that a moved file fails here with its
 * name, not as a failed import) and fail, naming @sigstore/sign, the version the paths were checked
 * against and each path, when the pin or the installed package moves, or a file is gone or no
 * longer what the package's index exports.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** The @sigstore/sign version whose internal paths bundle.ts was checked against. */
const CHECKED_VERSION = '5.1.0';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const deepPaths = [
  ...readFileSync(join(here, 'bundle.ts'), 'utf8').matchAll(
    /^import \{[^}]*\} from '(@sigstore\/sign\/[^']+)';$/gm,
  ),
].map((m) => m[1] as string);
const pinned = (
  JSON.parse(readFileSync(join(here, '..', '..', 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  }
).dependencies['@sigstore/sign'];

const recheck = (why: string): string =>
  `${why}; keys/src/attestation/bundle.ts loads @sigstore/sign's internal files ` +
  `${deepPaths.join(', ')}, checked against @sigstore/sign ${CHECKED_VERSION}: check each in the ` +
  `new version (or import from '@sigstore/sign' instead), then set CHECKED_VERSION in ` +
  `keys/src/attestation/bundle-deep-import.test.ts`;

/** What each internal file must hold: the very objects @sigstore/sign's index exports. */
const EXPORTS: Record<string, string[]> = {
  '@sigstore/sign/dist/bundler/dsse.js': ['DSSEBundleBuilder'],
};

describe("the deep imports of @sigstore/sign in keys' attestation bundles", () => {
  it('are found in its source', () => {
    expect(deepPaths).toContain('@sigstore/sign/dist/bundler/dsse.js');
  });

  it('come from the exact @sigstore/sign version they were checked against', () => {
    if (pinned !== CHECKED_VERSION) {
      throw new Error(recheck(`keys/package.json pins @sigstore/sign "${pinned}"`));
    }
    const installed = (require('@sigstore/sign/package.json') as { version: string }).version;
    if (installed !== CHECKED_VERSION) {
      throw new Error(recheck(`@sigstore/sign ${installed} is installed`));
    }
  });

  it.each(deepPaths)('%s is still there, and holds what @sigstore/sign exports', (path) => {
    let loaded: Record<string, unknown>;
    try {
      loaded = require(path) as Record<string, unknown>;
    } catch (err) {
      throw new Error(recheck(`${path} is not in the installed @sigstore/sign`), { cause: err });
    }
    const names = EXPORTS[path];
    if (!names) {
      throw new Error(`no check for ${path}: add one to bundle-deep-import.test.ts`);
    }
    const index = require('@sigstore/sign') as Record<string, unknown>;
    for (const name of names) {
      if (typeof loaded[name] !== 'function' || loaded[name] !== index[name]) {
        throw new Error(recheck(`${path} no longer holds @sigstore/sign's ${name}`));
      }
    }
  });
});
