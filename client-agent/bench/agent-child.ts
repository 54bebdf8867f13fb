/**
 * One verified update in its own process, so that its peak RSS is the agent's alone.
 * Prints `{ ms, maxRssMiB, rssBeforeMiB, status }` as JSON.
 */
import { createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createKeySigner } from '@tufchain/keys';
import { ChainReader } from '@tufchain/transparency';
import { FileSlotStore, runUpdate } from '../src/index.js';

export interface BenchChildInput {
  serverUrl: string;
  metadataDir: string;
  stateDir: string;
  slotsDir: string;
  rootPath: string;
  hardwareId: string;
  ecuSerial: string;
  chain: {
    rpcUrl: string;
    address: string;
    chainId: number;
    fromBlock: number;
    confirmations: number;
  };
  firmwareKey: { publicKeyPem: string; keyId: string };
  vehicle: { privateKeyPem: string; certificatePem: string; vinCommitment: string };
}

const input = JSON.parse(await readFile(process.argv[2] ?? '', 'utf8')) as BenchChildInput;
const chain = new ChainReader({
  rpcUrls: [input.chain.rpcUrl],
  quorum: 1,
  contractAddress: input.chain.address,
  confirmations: input.chain.confirmations,
  chainId: input.chain.chainId,
  fromBlock: input.chain.fromBlock,
});
const rssBefore = process.memoryUsage().rss;
const started = performance.now();
const result = await runUpdate({
  serverUrl: input.serverUrl,
  metadataDir: input.metadataDir,
  stateDir: input.stateDir,
  trustedRootJson: await readFile(input.rootPath),
  hardwareId: input.hardwareId,
  ecuSerial: input.ecuSerial,
  chain,
  chainId: input.chain.chainId,
  firmwareKey: input.firmwareKey,
  slots: new FileSlotStore(input.slotsDir),
  vehicle: {
    signer: createKeySigner(createPrivateKey(input.vehicle.privateKeyPem)),
    certificatePem: input.vehicle.certificatePem,
    vinCommitment: input.vehicle.vinCommitment,
  },
  sendReports: false,
});
const ms = performance.now() - started;
chain.destroy();
process.stdout.write(
  `${JSON.stringify({
    ms,
    status: result.status,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    rssBeforeMiB: rssBefore / 1024 / 1024,
  })}\n`,
);
