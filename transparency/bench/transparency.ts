/**
 * Transparency benchmarks: gas per operation (measured from receipts on a spawned anvil, with
 * proofs from this package's Merkle code), proof generation/verification throughput, and the
 * audit ratio (log replay time / plain SHA-256 over the same leaves). Prints a markdown table and
 * writes bench/results/transparency.json at the repository root. Never part of `npm test`.
 *
 * TUFCHAIN_BENCH_ATTESTATIONS (default 1000000) and TUFCHAIN_BENCH_RELEASES (default 10000) scale
 * the audit measurement.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import {
  Contract,
  JsonRpcProvider,
  NonceManager,
  Wallet,
  type ContractTransactionResponse,
} from 'ethers';
import { TUFCHAIN_LOG_ABI } from '@tufchain/contracts';
import { deployTufchainLog, startAnvil } from '@tufchain/contracts/dev';
import { createVehicleCa, createVehicleIdentity } from '@tufchain/keys';
import {
  auditLog,
  CompactRange,
  createNoteSigner,
  createNoteVerifier,
  encodeLogEntry,
  hashLeaf,
  installLeafHash,
  MemoryTree,
  openLogDatabase,
  ReleaseLogWriter,
  signCheckpoint,
  SqliteLogStorage,
  TransparencyLog,
  verifyConsistency,
  verifyInclusion,
  type AnchoredCheckpoint,
  type LoggedRelease,
} from '../src/index.js';
import { verifyInstallBundle } from '../src/audit/auditor.js';
import { installBundle } from '../test/helpers/tuf-repo.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ATTESTATIONS = Number(process.env.TUFCHAIN_BENCH_ATTESTATIONS ?? 1_000_000);
const RELEASES = Number(process.env.TUFCHAIN_BENCH_RELEASES ?? 10_000);
const GOALS = {
  gasReleaseEntry: 35_000,
  gasAnchor2p20: 60_000,
  gasPerAttestationBatch1000: 100,
  auditRatio: 3,
};

const hex = (h: Uint8Array) => '0x' + Buffer.from(h).toString('hex');
const rand32 = () => '0x' + randomBytes(32).toString('hex');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function opsPerSecond(n: number, fn: (i: number) => void): number {
  const start = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return Math.round(n / ((performance.now() - start) / 1000));
}

/** opsPerSecond for an asynchronous operation, awaited one at a time. */
async function opsPerSecondAsync(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return Math.round(n / ((performance.now() - start) / 1000));
}

/** Array.from({ length: n }, fn) for an asynchronous fn, awaited one at a time. */
async function collect<T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await fn(i));
  return out;
}

async function gasOf(p: Promise<unknown>): Promise<number> {
  const receipt = await ((await p) as ContractTransactionResponse).wait();
  if (!receipt || receipt.status !== 1) throw new Error('transaction failed');
  return Number(receipt.gasUsed);
}

async function measureGas() {
  const chain = await startAnvil();
  const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, {
    staticNetwork: true,
    cacheTimeout: -1,
  });
  provider.pollingInterval = 20;
  try {
    const [a, p, o] = chain.accounts;
    const admin = new NonceManager(new Wallet(a!.privateKey, provider));
    const publisher = new Wallet(p!.privateKey, provider);
    const operator = new Wallet(o!.privateKey, provider);
    const deploy = async () => {
      const d = await deployTufchainLog(admin, {
        admin: a!.address,
        publishers: [publisher.address],
        logOperators: [operator.address],
      });
      return d.address;
    };

    // Release entries through ReleaseLogWriter (one firmware entry, random digests).
    const releaseAddress = await deploy();
    const writer = new ReleaseLogWriter({
      signer: publisher,
      contractAddress: releaseAddress,
      confirmations: 1,
      pollIntervalMs: 20,
    });
    const releaseGas: number[] = [];
    for (let v = 1; v <= 6; v++) {
      const r = await writer.logRelease({
        metadataVersion: v,
        metadataHash: rand32(),
        firmware: [{ digest: rand32(), hardwareId: 'ecu-brake-v1', version: v }],
      });
      const receipt = await provider.getTransactionReceipt(r.txHash);
      releaseGas.push(Number(receipt!.gasUsed));
    }

    // Anchors with this package's consistency proofs, checked on chain by the contract.
    const treeStart = performance.now();
    const tree = new MemoryTree();
    const seed = createHash('sha256').update('tufchain-bench').digest();
    for (let i = 0; i < 2 ** 20 + 1000; i++) {
      const leaf = Buffer.alloc(36);
      seed.copy(leaf);
      leaf.writeUInt32BE(i, 32);
      tree.append(leaf);
    }
    const treeBuildMs = Math.round(performance.now() - treeStart);
    const anchorPair = async (from: number, to: number) => {
      const address = await deploy();
      const c = new Contract(address, TUFCHAIN_LOG_ABI as never, operator);
      await gasOf(c.getFunction('anchor')(from, hex(tree.root(from)), []));
      const proof = tree.consistencyProof(from, to).map(hex);
      return {
        from,
        to,
        proofLength: proof.length,
        gas: await gasOf(c.getFunction('anchor')(to, hex(tree.root(to)), proof)),
      };
    };
    const to2p20 = [
      await anchorPair(2 ** 20 - 1, 2 ** 20),
      await anchorPair(2 ** 20 - 1000, 2 ** 20),
      await anchorPair(1_036_231, 2 ** 20),
    ];
    const batch1000 = [
      await anchorPair(2 ** 20, 2 ** 20 + 1000),
      await anchorPair(524_287, 525_287),
      await anchorPair(1_000_000, 1_001_000),
    ];
    return {
      gasReleaseEntry: median(releaseGas.slice(1)),
      gasAnchor2p20: Math.max(...to2p20.map((x) => x.gas)),
      gasPerAttestationBatch1000: Math.max(...batch1000.map((x) => x.gas)) / 1000,
      details: {
        releaseOneFirmware: releaseGas,
        anchorTo2p20: to2p20,
        anchorBatch1000: batch1000,
        treeBuildMs,
      },
    };
  } finally {
    provider.destroy();
    await chain.stop();
  }
}

async function measureProofs() {
  const dir = await mkdtemp(join(tmpdir(), 'tufchain-bench-'));
  const db = openLogDatabase(join(dir, 'log.sqlite'));
  try {
    const { privateKey } = generateKeyPairSync('ed25519');
    const log = new TransparencyLog({
      storage: new SqliteLogStorage(db),
      origin: 'bench/log',
      signers: [createNoteSigner('bench/log', privateKey)],
    });
    const size = 100_000;
    const appendStart = performance.now();
    for (let i = 0; i < size; i += 1000) {
      await log.append(
        ...Array.from({ length: 1000 }, (_, j) => ({
          type: 'recall' as const,
          subject: '0x' + (i + j).toString(16).padStart(64, '0'),
          reason: 'bench',
        })),
      );
    }
    const appendPerSecond = Math.round(size / ((performance.now() - appendStart) / 1000));
    const root = await log.root(size);
    const idx = (i: number) => (i * 7919) % size;
    const proofs = await collect(2000, (i) => log.inclusionProof(idx(i), size));
    const leaves = await collect(2000, async (i) => (await log.entry(idx(i))).leafHash);
    const old = (i: number) => 1 + ((i * 104_729) % (size - 1));
    const cproofs = await collect(2000, (i) => log.consistencyProof(old(i), size));
    const oldRoots = await collect(2000, (i) => log.root(old(i)));
    return {
      logSize: size,
      sqliteAppendPerSecond: appendPerSecond,
      inclusionProofGenPerSecond: await opsPerSecondAsync(2000, (i) =>
        log.inclusionProof(idx(i), size),
      ),
      inclusionProofVerifyPerSecond: opsPerSecond(2000, (i) =>
        verifyInclusion(leaves[i]!, idx(i), size, proofs[i]!, root),
      ),
      consistencyProofGenPerSecond: await opsPerSecondAsync(2000, (i) =>
        log.consistencyProof(old(i), size),
      ),
      consistencyProofVerifyPerSecond: opsPerSecond(2000, (i) =>
        verifyConsistency(old(i), size, oldRoots[i]!, root, cproofs[i]!),
      ),
    };
  } finally {
    db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Distinct leaves shaped like real log entries: install attestations (real signed bundles) and releases. */
async function leafTemplates() {
  const ca = await createVehicleCa({ commonName: 'bench CA' });
  const vehicle = await createVehicleIdentity(ca, {
    vin: 'WVWZZZ1JZXW000001',
    ecuSerial: 'ECU-0001',
  });
  const bundle = await installBundle(
    vehicle,
    { name: 'brake.bin', digest: randomBytes(32).toString('hex'), releaseCounter: 2 },
    { targetsVersion: 2, targetsHash: rand32() },
  );
  const installBytes = Buffer.from(encodeLogEntry({ type: 'install-attestation', bundle }));
  const pool = 4096;
  // Distinct bundles (a varied mediaType parameter): the log replay does not verify signatures.
  const poolBundles = Array.from({ length: pool }, (_, i) => ({
    ...(bundle as object),
    mediaType: `${(bundle as { mediaType: string }).mediaType};n=${i}`,
  }));
  const installs = poolBundles.map((b) =>
    encodeLogEntry({ type: 'install-attestation', bundle: b }),
  );
  return { ca, vehicle, bundle, installs, poolBundles, installBytes: installBytes.length };
}

async function measureAudit(templates: Awaited<ReturnType<typeof leafTemplates>>) {
  const total = RELEASES + ATTESTATIONS;
  const releaseDocs: LoggedRelease[] = [];
  const releaseLeaves: Uint8Array[] = [];
  for (let v = 1; v <= RELEASES; v++) {
    const metadataHash = '0x' + createHash('sha256').update(`release-${v}`).digest('hex');
    releaseDocs.push({
      metadataVersion: v,
      metadataHash,
      publisher: '0x0',
      txHash: '0x0',
      blockNumber: v,
      blockHash: '0x0',
      confirmations: 1,
      firmware: [],
    });
    releaseLeaves.push(
      encodeLogEntry({
        type: 'release',
        metadataVersion: v,
        metadataHash,
        firmware: [{ digest: rand32(), hardwareId: 'ecu-brake-v1', version: v }],
      }),
    );
  }
  const leafAt = (i: number) =>
    i < RELEASES
      ? releaseLeaves[i]!
      : templates.installs[(i - RELEASES) % templates.installs.length]!;
  const entries = (start: number, end: number) =>
    Promise.resolve(Array.from({ length: end - start }, (_, k) => leafAt(start + k)));

  // Untimed: the roots the log would have signed and anchored (every 100k entries and at the end).
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const signer = createNoteSigner('bench/log', privateKey);
  const sizes = new Set<number>([total]);
  for (let s = 100_000; s < total; s += 100_000) sizes.add(s);
  const pre = new CompactRange();
  const notes: string[] = [];
  const anchors: AnchoredCheckpoint[] = [];
  for (let i = 0; i < total; i++) {
    pre.appendLeafHash(hashLeaf(leafAt(i)));
    if (sizes.has(i + 1)) {
      const rootHash = pre.root();
      notes.push(
        await signCheckpoint({ origin: 'bench/log', size: i + 1, rootHash, extensions: [] }, [
          signer,
        ]),
      );
      anchors.push({
        size: i + 1,
        rootHash: hex(rootHash),
        operator: '0x0',
        previousSize: 0,
        txHash: '0x0',
        blockNumber: 1,
        blockHash: '0x0',
        confirmations: 1,
      });
    }
  }

  const sha256Start = performance.now();
  for (let start = 0; start < total; start += 10_000) {
    for (const leaf of await entries(start, Math.min(total, start + 10_000)))
      createHash('sha256').update(leaf).digest();
  }
  const sha256Ms = performance.now() - sha256Start;

  // Per attestation the server lists: its leaf hash (canonical JSON + SHA-256); measured apart,
  // like its signature check, because it scales with the server's list, not with the log.
  const encodeStart = performance.now();
  const attestationLeafHashes = templates.poolBundles.map((b) => installLeafHash(b)!);
  const perAttestationEncodeMs = (performance.now() - encodeStart) / templates.poolBundles.length;

  const findings: unknown[] = [];
  const auditStart = performance.now();
  const out = await auditLog({
    source: { checkpoints: () => Promise.resolve(notes), entries },
    verifiers: [createNoteVerifier('bench/log', publicKey)],
    origin: 'bench/log',
    anchors,
    releases: releaseDocs,
    // The server's attestation list: every pool bundle must be found in the log (a map lookup per leaf).
    attestations: templates.poolBundles,
    attestationLeafHashes,
    report: (f) => findings.push(f),
  });
  const auditMs = performance.now() - auditStart;
  if (
    findings.length > 0 ||
    out.checkpointsVerified !== notes.length ||
    out.anchorsVerified !== anchors.length
  ) {
    throw new Error(`bench audit is not clean: ${JSON.stringify(findings.slice(0, 3))}`);
  }

  // Signature + certificate verification of install attestations, measured on a sample.
  const sample = 200;
  const verifyStart = performance.now();
  for (let i = 0; i < sample; i++) {
    if (!(await verifyInstallBundle(templates.bundle, templates.ca.certificatePem, null, 'bench')))
      throw new Error('bundle did not verify');
  }
  const perAttestationVerifyMs = (performance.now() - verifyStart) / sample;
  return {
    releases: RELEASES,
    attestations: ATTESTATIONS,
    installLeafBytes: templates.installBytes,
    sha256Ms: Math.round(sha256Ms),
    auditMs: Math.round(auditMs),
    auditRatio: Number((auditMs / sha256Ms).toFixed(2)),
    attestationVerifyPerSecond: Math.round(1000 / perAttestationVerifyMs),
    attestationLeafHashPerSecond: Math.round(1000 / perAttestationEncodeMs),
    auditRatioWithSignatures: Number(
      ((auditMs + perAttestationVerifyMs * ATTESTATIONS) / sha256Ms).toFixed(1),
    ),
  };
}

async function main() {
  const gas = await measureGas();
  const proofs = await measureProofs();
  const audit = await measureAudit(await leafTemplates());
  const contractsBenchFile = join(ROOT, 'bench/results/contracts-gas.json');
  const contractsBench = existsSync(contractsBenchFile)
    ? (JSON.parse(readFileSync(contractsBenchFile, 'utf8')) as Record<string, unknown>)
    : null;
  const result = {
    gasReleaseEntry: gas.gasReleaseEntry,
    gasAnchor2p20: gas.gasAnchor2p20,
    gasPerAttestationBatch1000: gas.gasPerAttestationBatch1000,
    auditRatio: audit.auditRatio,
    goals: GOALS,
    gas: gas.details,
    proofs,
    audit,
    contractsBench: contractsBench && {
      gasReleaseEntry: contractsBench.gasReleaseEntry,
      gasAnchor2p20: contractsBench.gasAnchor2p20,
      gasPerAttestationBatch1000: contractsBench.gasPerAttestationBatch1000,
    },
    node: process.version,
    measuredAt: new Date().toISOString(),
  };
  const rows: [string, string, string][] = [
    [
      'release entry gas (1 firmware, median)',
      String(result.gasReleaseEntry),
      `<= ${GOALS.gasReleaseEntry}`,
    ],
    [
      'anchor to 2^20 with consistency proof (worst of 3)',
      String(result.gasAnchor2p20),
      `<= ${GOALS.gasAnchor2p20}`,
    ],
    [
      'gas per attestation, batch of 1000 (worst of 3)',
      result.gasPerAttestationBatch1000.toFixed(1),
      `<= ${GOALS.gasPerAttestationBatch1000}`,
    ],
    [
      `audit ratio (${RELEASES} releases + ${ATTESTATIONS} attestations, log replay / sha256)`,
      String(audit.auditRatio),
      `<= ${GOALS.auditRatio}`,
    ],
    [
      'audit ratio incl. verifying every attestation signature + cert',
      String(audit.auditRatioWithSignatures),
      'info',
    ],
    [
      'install attestation verify (sig + cert) per second',
      String(audit.attestationVerifyPerSecond),
      'info',
    ],
    [
      `inclusion proof gen / s (SQLite, n=${proofs.logSize})`,
      String(proofs.inclusionProofGenPerSecond),
      'info',
    ],
    ['inclusion proof verify / s', String(proofs.inclusionProofVerifyPerSecond), 'info'],
    ['consistency proof gen / s (SQLite)', String(proofs.consistencyProofGenPerSecond), 'info'],
    ['consistency proof verify / s', String(proofs.consistencyProofVerifyPerSecond), 'info'],
    ['SQLite log appends / s (batches of 1000)', String(proofs.sqliteAppendPerSecond), 'info'],
  ];
  console.log('| measurement | value | goal |\n|---|---|---|');
  for (const [k, v, g] of rows) console.log(`| ${k} | ${v} | ${g} |`);
  await mkdir(join(ROOT, 'bench/results'), { recursive: true });
  await writeFile(
    join(ROOT, 'bench/results/transparency.json'),
    JSON.stringify(result, null, 2) + '\n',
  );
  console.log(`\nwrote ${join(ROOT, 'bench/results/transparency.json')}`);
}

await main();
