import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestRepository } from '../../test/helpers/tuf-repo.js';
import { defaultConfig } from '../config.js';
import { createDispatcher } from '../util/http.js';
import { UndiciFetcher } from './fetcher.js';
import { TufRepository } from './updater.js';

describe('TufRepository', () => {
  let repo: TestRepository;
  let dir: string;
  const dispatcher = createDispatcher(defaultConfig);
  const open = () =>
    new TufRepository({
      metadataDir: dir,
      repositoryUrl: repo.url,
      trustedRootJson: repo.rootBytes(1),
      fetcher: new UndiciFetcher({ ...defaultConfig, fetchRetries: 0 }, dispatcher),
      config: defaultConfig,
    });

  beforeEach(async () => {
    repo = new TestRepository();
    repo.addTarget('fw-a.img', Buffer.from('a'), {
      kind: 'firmware',
      hardwareIds: ['hw-1'],
      version: '1.0.0',
      releaseCounter: 4,
      attestation: 'fw-a.img.sigstore.json',
    });
    repo.addTarget('fw-b.img', Buffer.from('bb'), {
      kind: 'firmware',
      hardwareIds: ['hw-1', 'hw-2'],
      version: '1.1.0',
      releaseCounter: 5,
      attestation: 'fw-b.img.sigstore.json',
    });
    repo.addTarget('fw-b.img.sigstore.json', Buffer.from('{}'), { kind: 'attestation' });
    repo.publish();
    await repo.start();
    dir = await mkdtemp(join(tmpdir(), 'tufrepo-'));
  });
  afterAll(async () => {
    await dispatcher.close();
  });
  afterEach(async () => {
    await repo.stop();
    await rm(dir, { recursive: true, force: true });
  });

  describe('findFirmwareTarget', () => {
    it('picks the highest release counter among the firmware targets for the hardware ID', async () => {
      const tuf = open();
      await tuf.refresh();
      expect((await tuf.findFirmwareTarget('hw-1')).name).toBe('fw-b.img');
      expect((await tuf.findFirmwareTarget('hw-2')).releaseCounter).toBe(5);
      await expect(tuf.findFirmwareTarget('hw-3')).rejects.toMatchObject({
        code: 'NO_TARGET_FOR_HARDWARE',
      });
    });
  });

  describe('trustedMetadata', () => {
    it('returns the exact targets bytes the repository served', async () => {
      const tuf = open();
      await tuf.refresh();
      const trusted = await tuf.trustedMetadata();
      expect(Buffer.from(trusted.targetsBytes)).toEqual(repo.files.get('/metadata/1.targets.json'));
    });
  });

  describe('when the repository rotates its root key', () => {
    it('follows the rotation (a 404 on the next root ends the probe)', async () => {
      const tuf = open();
      await tuf.refresh();
      repo.rotateRoot();
      repo.publish();
      await tuf.refresh();
      expect(JSON.parse(await readFile(join(dir, 'root.json'), 'utf8'))).toMatchObject({
        signed: { version: 2 },
      });
      expect(repo.requests).toContain('/metadata/3.root.json');
    });
  });

  describe('when a power cut truncated root.json', () => {
    it('restores the last trusted root from its durable copy', async () => {
      const tuf = open();
      await tuf.refresh();
      repo.rotateRoot();
      repo.publish();
      await tuf.refresh();
      await writeFile(join(dir, 'root.json'), '{"signed":');
      await open().refresh();
      expect(JSON.parse(await readFile(join(dir, 'root.json'), 'utf8'))).toMatchObject({
        signed: { version: 2 },
      });
    });
  });

  describe('when the provisioned root is not TUF metadata', () => {
    it('throws TRUSTED_ROOT_INVALID', async () => {
      const tuf = new TufRepository({
        metadataDir: dir,
        repositoryUrl: repo.url,
        trustedRootJson: Buffer.from('{"hello":1}'),
        fetcher: new UndiciFetcher(defaultConfig, dispatcher),
        config: defaultConfig,
      });
      await expect(tuf.refresh()).rejects.toMatchObject({ code: 'TRUSTED_ROOT_INVALID' });
    });
  });

  describe('when the server answers 503 for the timestamp', () => {
    it('throws TUF_REFRESH', async () => {
      repo.overrides.set('/metadata/timestamp.json', (_req, res) => res.writeHead(503).end());
      await expect(open().refresh()).rejects.toMatchObject({ code: 'TUF_REFRESH' });
    });
  });
});
