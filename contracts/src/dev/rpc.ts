/** Minimal JSON-RPC probe used while a node boots (ethers would retry and log on its own). */
export async function requestChainId(rpcUrl: string, timeoutMs = 1_000): Promise<number> {
  const response = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await response.json()) as { result?: unknown };
  if (typeof body.result !== 'string') throw new Error(`eth_chainId: unexpected answer`);
  return Number.parseInt(body.result, 16);
}

export async function waitForRpc(
  rpcUrl: string,
  opts: { timeoutMs: number; aborted?: () => Error | undefined },
): Promise<number> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const abort = opts.aborted?.();
    if (abort) throw abort;
    try {
      return await requestChainId(rpcUrl);
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`RPC at ${rpcUrl} did not answer within ${opts.timeoutMs.toString()} ms`, {
        cause: lastError,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
