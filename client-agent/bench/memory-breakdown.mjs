// bench:agent-memory — where the agent's resident memory goes (issue 19). Run by
// bench/memory-breakdown.ts in a Node process with the bin's V8 flags, from dist/: it loads what
// an update cycle loads (the entry points src/ imports, not whole packages), one package at a
// time in dependency order, and after each step (and a
// full GC) records the process's RSS (VmRSS), the V8 heap by space, and the memory outside the
// heap (external, ArrayBuffers); then the read-back worker (a second V8 isolate). Each step's
// figure is what that step added on top of the ones before it, so a package shared by two steps
// counts in the first. Plain JavaScript so that nothing but the measured code is loaded. Prints
// one JSON document on stdout.
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';
import { getHeapSpaceStatistics } from 'node:v8';

const MiB = 1024 * 1024;

function rssMiB() {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.memoryUsage().rss / MiB;
}

function snapshot(step) {
  globalThis.gc?.();
  const spaces = Object.fromEntries(
    getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]),
  );
  const mem = process.memoryUsage();
  const code = (spaces['code_space'] ?? 0) + (spaces['code_large_object_space'] ?? 0);
  return {
    step,
    rssMiB: rssMiB(),
    heapUsedMiB: mem.heapUsed / MiB,
    heapTotalMiB: mem.heapTotal / MiB,
    codeMiB: code / MiB,
    externalMiB: mem.external / MiB,
    arrayBuffersMiB: mem.arrayBuffers / MiB,
  };
}

const steps = [snapshot('node (no module)')];
const load = async (step, specifiers) => {
  for (const s of specifiers) await import(s);
  steps.push(snapshot(step));
};

await load("Node's own modules (http, https, tls, zlib, streams)", [
  'node:http',
  'node:https',
  'node:tls',
  'node:zlib',
  'node:stream',
  'node:fs/promises',
]);
await load('undici (HTTP)', ['undici']);
await load('zod (config, wire schemas)', ['zod']);
await load('ethers (chain reader, with @noble/*)', ['ethers']);
await load('tuf-js + @tufjs/models (TUF)', ['tuf-js', '@tufjs/models']);
await load('@tufchain/keys/vehicle (keys, certificates, PKCS#12)', ['@tufchain/keys/vehicle']);
await load('@tufchain/keys/attestation (@sigstore DSSE bundles)', ['@tufchain/keys/attestation']);
await load('@tufchain/transparency (wire, chain, delta, proofs)', [
  '@tufchain/transparency/wire',
  '@tufchain/transparency/chain',
  '@tufchain/transparency/delta',
  '@tufchain/transparency/proof-bundle',
]);
// What src/main.ts imports statically (the update cycle; enrollment, bundles and the poll loop
// load on demand).
await load(
  "the agent's own modules",
  ['agent.js', 'enroll/renewal.js', 'cli/progress.js', 'cli/settings.js', 'cli/wire.js'].map(
    (m) => new URL(`../dist/${m}`, import.meta.url).href,
  ),
);

// The read-back worker: a second isolate that hashes the slot as it is written (sha512Worker).
const { Worker } = await import('node:worker_threads');
const worker = new Worker('require("node:worker_threads").parentPort.postMessage("up")', {
  eval: true,
});
await new Promise((resolve) => worker.once('message', resolve));
steps.push(snapshot('read-back worker (second isolate, idle)'));
await worker.terminate();

process.stdout.write(
  `${JSON.stringify({ node: process.version, flags: process.execArgv, steps })}\n`,
);
