import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContractsError } from '../src/index.js';
import { resolveAnvilBinary, startAnvil } from '../src/entry/dev.js';
import { requestChainId } from '../src/dev/rpc.js';

const execFileAsync = promisify(execFile);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function rpc(url: string, method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return ((await res.json()) as { result: unknown }).result;
}

describe('startAnvil', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tufchain-anvil-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves the binary from the platform package of @foundry-rs/anvil', async () => {
    const binary = resolveAnvilBinary();
    expect(binary).toMatch(/@foundry-rs[/\\]anvil-[a-z0-9]+-[a-z0-9]+[/\\]bin[/\\]anvil/);
    expect((await stat(binary)).isFile()).toBe(true);
  });

  describe('when two chains start at once', () => {
    it('gives each its own free loopback port, answers RPC, and stop() ends the process', async () => {
      const [a, b] = await Promise.all([startAnvil({ chainId: 4242 }), startAnvil()]);
      try {
        expect(a.rpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(a.rpcUrl).not.toBe(b.rpcUrl);
        expect(a.chainId).toBe(4242);
        expect(await requestChainId(b.rpcUrl)).toBe(b.chainId);
        expect(a.accounts).toHaveLength(10);
        const balance = (await rpc(a.rpcUrl, 'eth_getBalance', [
          a.accounts[0]?.address,
          'latest',
        ])) as string;
        expect(BigInt(balance)).toBeGreaterThan(0n);
        expect(isAlive(a.pid)).toBe(true);
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
      expect(isAlive(a.pid)).toBe(false);
      expect(isAlive(b.pid)).toBe(false);
      await expect(requestChainId(a.rpcUrl)).rejects.toThrow();
      await a.stop(); // idempotent
    });
  });

  describe('when the parent process ends without stop()', () => {
    const script = fileURLToPath(new URL('./fixtures/exit-without-stop.ts', import.meta.url));
    const runChild = async (args: string[]): Promise<number> => {
      const { stdout } = await execFileAsync(
        process.execPath,
        ['--import', 'tsx', script, ...args],
        {
          cwd: fileURLToPath(new URL('..', import.meta.url)),
        },
      ).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
      return Number.parseInt(stdout.trim(), 10);
    };

    it('leaves no anvil behind after process.exit() or an uncaught exception', async () => {
      const pids = await Promise.all([runChild([]), runChild(['--throw'])]);
      for (const pid of pids) expect(pid).toBeGreaterThan(0);
      const deadline = Date.now() + 5_000;
      while (pids.some(isAlive) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(pids.filter(isAlive)).toEqual([]);
    });
  });

  describe('when a fixed port is already taken', () => {
    let blocker: Server;
    let port: number;
    const sockets = new Set<Socket>();
    beforeAll(async () => {
      blocker = createServer((socket) => {
        sockets.add(socket);
        socket.destroy();
      });
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const address = blocker.address();
      port = typeof address === 'object' && address ? address.port : 0;
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blocker.close(resolve));
    });

    it('throws ANVIL_PORT_IN_USE instead of hanging', async () => {
      const started = Date.now();
      const err = await startAnvil({ port, startTimeoutMs: 20_000 }).catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(err).toBeInstanceOf(ContractsError);
      expect((err as ContractsError).code).toBe('ANVIL_PORT_IN_USE');
    });
  });

  describe('when given a state file', () => {
    it('dumps the chain on stop and loads it on the next start', async () => {
      const stateFile = join(dir, 'data', 'chain', 'state.json'); // directories created on start
      const first = await startAnvil({ stateFile });
      await rpc(first.rpcUrl, 'anvil_mine', ['0x5']);
      const mined = BigInt((await rpc(first.rpcUrl, 'eth_blockNumber')) as string);
      await first.stop();
      expect((await stat(stateFile)).size).toBeGreaterThan(0);

      const second = await startAnvil({ stateFile });
      try {
        expect(BigInt((await rpc(second.rpcUrl, 'eth_blockNumber')) as string)).toBe(mined);
      } finally {
        await second.stop();
      }
    });
  });
});
