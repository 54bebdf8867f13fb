import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MemoryAnswerServer {
  get(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/**
 * A real HTTP server whose every request goes to an in-memory answerer first, as in startServer
 * (MetadataCache, TargetCache); a request it leaves to the router answers 599 so tests see it.
 */
export async function startMemoryAnswerServer(
  answer: (req: IncomingMessage, res: ServerResponse) => boolean,
): Promise<MemoryAnswerServer> {
  const server = createServer((req, res) => {
    if (!answer(req, res)) {
      res.writeHead(599);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port.toString()}`;
  return {
    get: (path, init) => fetch(`${base}${path}`, init),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
