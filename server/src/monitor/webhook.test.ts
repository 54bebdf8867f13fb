import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from './alert.js';
import { deliverWebhook, SIGNATURE_HEADER, signWebhookBody } from './webhook.js';

const alert: Alert = {
  id: 'ab'.repeat(32),
  chainId: 31337,
  detectedAt: '2030-01-01T00:00:00.000Z',
  kind: 'UNEXPECTED_RELEASE',
  severity: 'critical',
  message: 'm',
  subject: 's',
};

describe('signWebhookBody', () => {
  it('is sha256= and the hex HMAC-SHA256 of the exact body with the secret', () => {
    const body = '{"a":1}';
    expect(signWebhookBody(body, 'sixteen-char-key')).toBe(
      `sha256=${createHmac('sha256', 'sixteen-char-key').update(body).digest('hex')}`,
    );
    expect(signWebhookBody(body, 'another-secret-x')).not.toBe(
      signWebhookBody(body, 'sixteen-char-key'),
    );
  });
});

describe('deliverWebhook', () => {
  let server: Server | undefined;
  afterEach(
    () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
  );

  async function receiver(
    statuses: number[],
  ): Promise<{ url: string; got: { body: string; signature: string }[] }> {
    const got: { body: string; signature: string }[] = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        got.push({ body, signature: String(req.headers[SIGNATURE_HEADER]) });
        res.writeHead(statuses.shift() ?? 200).end();
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
  }

  it('retries a 503 with backoff and delivers a body whose signature verifies', async () => {
    const r = await receiver([503, 500]);
    const failures: string[] = [];
    const ok = await deliverWebhook(
      alert,
      { url: r.url, secret: 'sixteen-char-key', backoffMs: 5 },
      (_a, why) => failures.push(why),
    );
    expect(ok).toBe(true);
    expect(failures).toEqual(['HTTP 503', 'HTTP 500']);
    expect(r.got).toHaveLength(3);
    const last = r.got[2]!;
    expect(JSON.parse(last.body)).toEqual(alert);
    expect(last.signature).toBe(signWebhookBody(last.body, 'sixteen-char-key'));
  });

  it('gives up after the last attempt and says so', async () => {
    const r = await receiver([500, 500, 500]);
    const ok = await deliverWebhook(
      alert,
      { url: r.url, secret: 'sixteen-char-key', attempts: 3, backoffMs: 1 },
      () => {},
    );
    expect(ok).toBe(false);
    expect(r.got).toHaveLength(3);
  });
});
