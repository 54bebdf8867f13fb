import { afterEach, describe, expect, it } from 'vitest';
import { createTestRepo, uploadAndPublish, type TestRepo } from '../../../test/support/fixtures.js';

let t: TestRepo | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

const codeOf = async (res: Response): Promise<string> =>
  ((await res.json()) as { error: { code: string } }).error.code;

// Valid target names that are also members of every JavaScript object's prototype.
const prototypeNames = ['constructor', 'toString', 'hasOwnProperty', 'valueOf'];

describe('resolving a target whose name is an Object.prototype member', () => {
  for (const name of prototypeNames) {
    it(`answers 404 TARGET_NOT_FOUND for ${name} before it is released, then publishes and serves it`, async () => {
      t = await createTestRepo();
      const missing = await t.parts.app.request(`/targets/${'ab'.repeat(32)}.${name}`);
      expect(missing.status).toBe(404);
      expect(await codeOf(missing)).toBe('TARGET_NOT_FOUND');
      expect(await t.parts.context.service.findTarget(name)).toBeUndefined();

      const published = await uploadAndPublish(t, { name });
      expect(published.status).toBe(201);
      const located = await t.parts.context.service.findTarget(name);
      expect(located?.role).toMatch(/^bins-/);
      const served = await t.parts.app.request(`/targets/${located!.file.hashes.sha256}.${name}`);
      expect(served.status).toBe(200);
    });
  }
});
