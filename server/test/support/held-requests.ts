import { connect, type Socket } from 'node:net';

/**
 * Requests that hold a place under a server's in-flight bound (`maxInFlightRequests`): each is a
 * report whose body stops after its first byte, which the router holds until the rest comes or
 * its client goes away.
 */
export class HeldRequests {
  readonly #baseUrl: string;
  readonly #sockets: Socket[] = [];
  /** Sent and not answered (nor closed). */
  #live = 0;

  constructor(baseUrl: string) {
    this.#baseUrl = baseUrl;
  }

  /**
   * Holds one more, once the router counts it; `answer` is what the server sends once the body
   * ends or the socket closes. A request refused as busy is sent again.
   */
  async hold(): Promise<{ socket: Socket; answer: Promise<string> }> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const held = await this.#send();
      // A scrape sent on a connection already open can reach the router before this request on
      // its new one, take the last place, and get this one refused: the scrape comes later.
      await new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
      // Every request held and not answered yet, and the scrape that counts them.
      if (await this.#taken(held, this.#live + 1))
        return { socket: held.socket, answer: held.answer };
      held.socket.destroy();
    }
    throw new Error('the server refused every request sent to hold a place');
  }

  /** Lets every held request go (their clients go away). */
  releaseAll(): void {
    for (const socket of this.#sockets.splice(0)) socket.destroy();
  }

  async #send(): Promise<{ socket: Socket; answer: Promise<string>; received: () => string }> {
    const { hostname, port } = new URL(this.#baseUrl);
    const socket = connect(Number(port), hostname);
    this.#sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    let received = '';
    this.#live += 1;
    const answer = new Promise<string>((resolve) => {
      socket.on('data', (d: Buffer) => {
        received += d.toString('latin1');
        if (/\r\n\r\n[\s\S]*\}$/.test(received)) resolve(received);
      });
      socket.on('close', () => resolve(received));
    }).finally(() => {
      this.#live -= 1;
    });
    socket.write(
      `POST /api/v1/attestations HTTP/1.1\r\nHost: ${hostname}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{',
    );
    return { socket, answer, received: () => received };
  }

  /** Whether the router took `held` in (counted in flight: `expected` with the scrape). */
  async #taken(held: { received: () => string }, expected: number): Promise<boolean> {
    for (let i = 0; i < 200; i++) {
      if (held.received().length > 0) {
        if (/^HTTP\/1\.1 503 /.test(held.received())) return false;
        throw new Error(`a held request was answered: ${held.received().slice(0, 80)}`);
      }
      if ((await this.#inFlight()) >= expected) return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('a held request never reached the router');
  }

  async #inFlight(): Promise<number> {
    const text = await (await fetch(`${this.#baseUrl}/metrics`)).text();
    const m = /^tufchain_http_requests_in_flight (\d+)$/m.exec(text);
    if (!m) throw new Error('no tufchain_http_requests_in_flight in /metrics');
    return Number(m[1]);
  }
}

/**
 * GETs `path` until it answers `status` (a server reads ahead after a commit asynchronously), for
 * at most 5 s.
 */
export async function untilStatus(
  baseUrl: string,
  path: string,
  status: number,
): Promise<Response> {
  for (let i = 0; i < 200; i++) {
    const res = await fetch(`${baseUrl}${path}`);
    if (res.status === status) return res;
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${path} never answered ${status}`);
}
