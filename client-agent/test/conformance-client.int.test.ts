/**
 * The tuf-conformance client entry point, run as the suite runs it (an executable speaking the
 * CLIENT-CLI.md protocol), against a TUF repository on loopback.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRepository } from './helpers/tuf-repo.js';

const client = fileURLToPath(new URL('../bin/tuf-conformance-client', import.meta.url));

function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(client, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

let repo: TestRepository;
let dir: string;

beforeAll(async () => {
  repo = new TestRepository();
  repo.addTarget('dir/file.txt', Buffer.from('hello conformance'), {});
  repo.publish();
  await repo.start();
  dir = await mkdtemp(join(tmpdir(), 'conformance-'));
  await writeFile(join(dir, 'initial_root.json'), repo.rootBytes(1));
});
afterAll(async () => {
  await repo.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('bin/tuf-conformance-client', () => {
  const md = () => join(dir, 'metadata');
  const common = () => ['--metadata-dir', md(), '--metadata-url', `${repo.url}/metadata`];

  it('initializes, refreshes, downloads, and serves a second download from its cache', async () => {
    expect((await run(['--metadata-dir', md(), 'init', join(dir, 'initial_root.json')])).code).toBe(
      0,
    );
    expect(repo.requests).toHaveLength(0);
    expect((await run([...common(), 'refresh'])).code).toBe(0);
    expect(JSON.parse(await readFile(join(md(), 'targets.json'), 'utf8'))).toMatchObject({
      signed: { version: 1 },
    });
    const download = [
      ...common(),
      '--target-name',
      'dir/file.txt',
      '--target-base-url',
      `${repo.url}/targets`,
      '--target-dir',
      join(dir, 'targets'),
      'download',
    ];
    const first = await run(download);
    expect(first.stderr).toContain('download:');
    expect(first.code).toBe(0);
    expect(await readFile(join(dir, 'targets', encodeURIComponent('dir/file.txt')), 'utf8')).toBe(
      'hello conformance',
    );
    const targetRequests = () => repo.requests.filter((p) => p.startsWith('/targets/')).length;
    const before = targetRequests();
    expect((await run(download)).code).toBe(0);
    expect(targetRequests()).toBe(before);
  });

  it('exits 1 for a target the repository does not list', async () => {
    const result = await run([
      ...common(),
      '--target-name',
      'missing.txt',
      '--target-base-url',
      `${repo.url}/targets`,
      '--target-dir',
      join(dir, 'targets'),
      'download',
    ]);
    expect(result.code).toBe(1);
  });

  it('exits 1 when the timestamp is signed by the wrong key', async () => {
    const good = repo.files.get('/metadata/timestamp.json');
    const forged = JSON.parse(String(good)) as { signed: { version: number } };
    forged.signed.version += 5;
    repo.files.set('/metadata/timestamp.json', Buffer.from(JSON.stringify(forged)));
    try {
      expect((await run([...common(), 'refresh'])).code).toBe(1);
    } finally {
      if (good) repo.files.set('/metadata/timestamp.json', good);
    }
  });
});
