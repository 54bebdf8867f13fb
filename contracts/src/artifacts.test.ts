import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadArtifact, readArtifact, TUFCHAIN_LOG_ABI } from './artifacts.js';
import { ContractsError } from './error.js';

describe('loadArtifact', () => {
  it('returns the generated TufchainLog artifact with pinned compiler settings', () => {
    const artifact = loadArtifact('TufchainLog');
    expect(artifact.contractName).toBe('TufchainLog');
    expect(artifact.bytecode).toMatch(/^0x[0-9a-f]+$/);
    expect(artifact.deployedBytecode).toMatch(/^0x[0-9a-f]+$/);
    expect(artifact.solcVersion).toMatch(/^0\.8\.37\+/);
    expect(artifact.evmVersion).toBe('prague');
    expect(TUFCHAIN_LOG_ABI).toBe(artifact.abi);
  });
});

describe('readArtifact', () => {
  let dir: URL;
  beforeAll(async () => {
    dir = pathToFileURL(`${await mkdtemp(join(tmpdir(), 'tufchain-artifacts-'))}/`);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const codeOf = (fn: () => unknown): string | undefined => {
    try {
      fn();
    } catch (err) {
      return err instanceof ContractsError ? err.code : `not a ContractsError: ${String(err)}`;
    }
    return undefined;
  };

  describe('when the build has not run', () => {
    it('throws ARTIFACT_MISSING', () => {
      expect(codeOf(() => readArtifact(dir, 'TufchainLog'))).toBe('ARTIFACT_MISSING');
    });
  });

  const malformed = [
    { desc: 'not JSON', content: '{"abi": [' },
    { desc: 'another contract', content: JSON.stringify({ ...valid(), contractName: 'Other' }) },
    { desc: 'no ABI', content: JSON.stringify({ ...valid(), abi: 'x' }) },
    { desc: 'bytecode without 0x', content: JSON.stringify({ ...valid(), bytecode: '6080' }) },
    { desc: 'no evmVersion', content: JSON.stringify({ ...valid(), evmVersion: undefined }) },
  ];
  it.each(malformed)('throws ARTIFACT_MALFORMED for $desc', async ({ content }) => {
    await writeFile(new URL('TufchainLog.json', dir), content);
    expect(codeOf(() => readArtifact(dir, 'TufchainLog'))).toBe('ARTIFACT_MALFORMED');
  });
});

function valid(): Record<string, unknown> {
  return {
    contractName: 'TufchainLog',
    abi: [],
    bytecode: '0x6080',
    deployedBytecode: '0x6080',
    solcVersion: '0.8.37',
    evmVersion: 'prague',
  };
}
