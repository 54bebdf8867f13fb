/**
 * Compiles sol/*.sol with solc-js and writes artifacts/<Contract>.json; test-only contracts in
 * test/fixtures/*.sol go to artifacts/testing/<Contract>.json.
 * Cached: skipped when the sha256 of the sources, the compiler version and the settings match
 * the `sourceHash` recorded in the existing artifacts. `--force` recompiles.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const EVM_VERSION = 'prague';
const OPTIMIZER_RUNS = 10_000;
/** [source file, contract, artifact path relative to artifacts/] */
const OUTPUTS = [
  ['TufchainLog.sol', 'TufchainLog', 'TufchainLog.json'],
  ['testing/TestMultisig.sol', 'TestMultisig', 'testing/TestMultisig.json'],
] as const;

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const sourceDirs = [
  { dir: `${packageDir}sol/`, prefix: '' },
  { dir: `${packageDir}test/fixtures/`, prefix: 'testing/' },
];
const artifactsDir = `${packageDir}artifacts/`;

interface SolcCompiler {
  version(): string;
  compile(input: string): string;
}

interface SolcOutput {
  errors?: { severity: 'error' | 'warning' | 'info'; formattedMessage: string }[];
  contracts?: Record<
    string,
    Record<
      string,
      {
        abi: unknown[];
        evm: { bytecode: { object: string }; deployedBytecode: { object: string } };
      }
    >
  >;
}

async function readSources(): Promise<Record<string, { content: string }>> {
  const sources: Record<string, { content: string }> = {};
  for (const { dir, prefix } of sourceDirs) {
    const names = (await readdir(dir)).filter((n) => n.endsWith('.sol')).sort();
    for (const name of names) {
      sources[prefix + name] = { content: await readFile(dir + name, 'utf8') };
    }
  }
  return sources;
}

async function isCached(sourceHash: string): Promise<boolean> {
  for (const [, , file] of OUTPUTS) {
    try {
      const artifact = JSON.parse(await readFile(artifactsDir + file, 'utf8')) as {
        sourceHash?: string;
      };
      if (artifact.sourceHash !== sourceHash) return false;
    } catch {
      return false;
    }
  }
  return true;
}

async function main(): Promise<void> {
  const force = process.argv.includes('--force');
  const sources = await readSources();
  const settings = {
    evmVersion: EVM_VERSION,
    optimizer: { enabled: true, runs: OPTIMIZER_RUNS },
    viaIR: false,
    metadata: { bytecodeHash: 'none' },
    outputSelection: {
      '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] },
    },
  };
  // The package version names the compiler release; reading it avoids loading soljson when cached.
  const require = createRequire(import.meta.url);
  const solcPackage = require('solc/package.json') as { version: string };
  const solcPackageVersion = solcPackage.version;
  const sourceHash = createHash('sha256')
    .update(JSON.stringify({ sources, settings, solcPackageVersion }))
    .digest('hex');

  if (!force && (await isCached(sourceHash))) {
    console.log(`contracts: artifacts up to date (solc ${solcPackageVersion})`);
    return;
  }

  const solc = require('solc') as SolcCompiler;
  const solcVersion = solc.version();

  const output = JSON.parse(
    solc.compile(JSON.stringify({ language: 'Solidity', sources, settings })),
  ) as SolcOutput;
  const problems = output.errors ?? [];
  for (const p of problems) console.error(p.formattedMessage);
  if (problems.some((p) => p.severity === 'error')) {
    throw new Error('solc reported errors');
  }

  for (const [source, name, file] of OUTPUTS) {
    const compiled = output.contracts?.[source]?.[name];
    if (!compiled) throw new Error(`solc produced no output for ${name}`);
    const artifact = {
      contractName: name,
      abi: compiled.abi,
      bytecode: `0x${compiled.evm.bytecode.object}`,
      deployedBytecode: `0x${compiled.evm.deployedBytecode.object}`,
      solcVersion,
      evmVersion: EVM_VERSION,
      optimizerRuns: OPTIMIZER_RUNS,
      sourceHash,
    };
    const target = artifactsDir + file;
    await mkdir(dirname(target), { recursive: true });
    // Written then renamed, so that a concurrent reader never sees half a file.
    await writeFile(`${target}.tmp`, `${JSON.stringify(artifact, null, 2)}\n`);
    await rename(`${target}.tmp`, target);
    console.log(
      `contracts: compiled ${name} (solc ${solcVersion}, evm ${EVM_VERSION}, ` +
        `${(compiled.evm.deployedBytecode.object.length / 2).toString()} bytes runtime)`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
