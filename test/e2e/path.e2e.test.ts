import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyStatementBundle } from '@tufchain/keys';
import {
  openCheckpoint,
  parseInstallPredicate,
  parseVerifierKey,
  verifyProofBundleOffline,
} from '@tufchain/transparency';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOG_ORIGIN, runScenario, type ScenarioResult } from './scenario.js';

/**
 * The whole path on real parts: anvil spawned on loopback, the contract compiled by solc-js,
 * the Hono server on port 0 with SQLite, the agent over undici, the auditor over HTTP + RPC.
 */
describe('the tufchain path, end to end', () => {
  let dataDir: string;
  let result: ScenarioResult;
  const lines: string[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tufchain-e2e-'));
    result = await runScenario({
      dataDir,
      narrate: (actor, msg) => lines.push(`${actor}: ${msg}`),
    });
  }, 180_000);
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  describe('when the OEM publishes v1 then v2', () => {
    it('logs each snapshot version on chain before the vehicle can see it', () => {
      expect(result.releases.map((r) => r.version)).toEqual(['1.0.0', '2.0.0']);
      const [v1, v2] = result.releases;
      expect(v2!.metadataVersion).toBeGreaterThan(v1!.metadataVersion);
      expect(v2!.blockNumber).toBeGreaterThan(v1!.blockNumber);
      for (const r of result.releases) expect(r.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    });

    it('installs each release into the inactive slot and switches to it', () => {
      expect(result.updates.map((u) => u.status)).toEqual(['UPDATED', 'UPDATED']);
      expect(result.updates.map((u) => u.activeSlot)).toEqual(['b', 'a']);
      expect(result.updates.map((u) => u.target?.sha256)).toEqual(
        result.releases.map((r) => r.sha256),
      );
      expect(result.updates.map((u) => u.release?.metadataHash)).toEqual(
        result.releases.map((r) => r.metadataHash),
      );
    });

    it('installs v2 from the delta the server published against v1, downloading only the delta', () => {
      const [first, second] = result.updates;
      // The factory image is no release: v1 comes whole; v2 from its delta against v1.
      expect(first!.install).toMatchObject({ path: 'full', networkBytes: first!.target!.length });
      expect(second!.install?.path).toBe('delta');
      expect(second!.install?.fallback).toBeUndefined();
      expect(second!.install!.networkBytes).toBeLessThan(second!.target!.length / 10);
    });

    it('sends an install attestation that verifies against the vehicle CA', async () => {
      const reports = result.updates.map((u) => u.report);
      expect(reports.every((r) => r?.sent === true)).toBe(true);
      // The auditor verified them too; check the wire format independently here.
      const statement = await verifyStatementBundle(reports[1]!.bundle, {
        caCertificatePem: result.vehicleCaPem,
      });
      const predicate = parseInstallPredicate(statement.predicate);
      expect(predicate.to.digest.replace(/^0x/, '')).toBe(result.releases[1]!.sha256);
      expect(predicate.result).toBe('SUCCESS');
      // The signed report says the image came from the delta, and how many bytes that took.
      expect(predicate.install).toEqual({
        path: 'delta',
        networkBytes: result.updates[1]!.install!.networkBytes,
      });
    });

    it('passes the audit with no finding', () => {
      expect(result.audit.findings).toEqual([]);
      // v1.0.0 and v2.0.0: each image's Sigstore bundle, fetched as TUF serves it.
      expect(result.audit.stats.firmwareAttestationsVerified).toBe(2);
      expect(result.audit.installs).toHaveLength(2);
    });
  });

  describe('when the v2 install attestation is anchored in the transparency log', () => {
    it('answered the report with a promise signed by the log key', () => {
      const { promise, logKey } = result.installProof;
      const cp = openCheckpoint(promise.checkpoint, [parseVerifierKey(logKey)], LOG_ORIGIN);
      expect(cp.size).toBe(promise.treeSize);
      expect(promise.logIndex).toBeLessThan(cp.size);
    });

    it('leaves the vehicle a proof bundle of exactly that report that verifies offline and on chain', () => {
      const { promise, bundle, logKey } = result.installProof;
      const verified = verifyProofBundleOffline(bundle, {
        logVerifiers: [parseVerifierKey(logKey)],
        origin: LOG_ORIGIN,
      });
      expect(verified.index).toBe(promise.logIndex);
      expect(verified.entry.type).toBe('install-attestation');
      if (verified.entry.type !== 'install-attestation') return;
      expect(verified.entry.bundle).toEqual(result.updates[1]!.report!.bundle);
      expect(bundle.anchor.contractAddress.toLowerCase()).toBe(
        result.contractAddress.toLowerCase(),
      );
      expect(bundle.anchor.txHash).toMatch(/^0x[0-9a-f]{64}$/);
      // The on-chain check ran inside the scenario (verifyProofBundle against the reader).
    });

    it('lets the auditor replay and verify the log too', () => {
      expect(result.audit.stats.logEntries).toBeGreaterThanOrEqual(4);
      expect(result.audit.stats.anchorsVerified).toBeGreaterThan(0);
    });
  });

  describe('when a release signed with the real OEM keys was never logged on chain', () => {
    it('refuses it with METADATA_NOT_LOGGED and keeps the active slot as it was', () => {
      expect(result.attack.refusedWith).toBe('METADATA_NOT_LOGGED');
      expect(result.attack.activeSlotAfter).toBe(result.attack.activeSlotBefore);
      expect(result.attack.activeDigestAfter).toBe(result.attack.activeDigestBefore);
      expect(result.attack.activeDigestAfter).toBe(result.releases[1]!.sha256);
    });
  });

  describe('when it is over', () => {
    it('leaves no anvil process behind', () => {
      expect(() => process.kill(result.anvilPid, 0)).toThrow();
    });

    it('kept the OEM keys encrypted at rest with mode 0600', async () => {
      const key = join(dataDir, 'oem-keys', 'targets.key.pem');
      expect((await stat(key)).mode & 0o777).toBe(0o600);
      expect(await readFile(key, 'utf8')).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    });
  });
});
