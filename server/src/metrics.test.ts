import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestRepo, fakeVerifier, type TestRepo } from '../test/support/fixtures.js';
import { createServerParts, type ServerParts } from './app.js';
import type { TransparencyLogSink } from './log-sink.js';
import type { AnchoringHealthSample } from './metrics.js';

const healthy: AnchoringHealthSample = {
  pending: 2,
  sent: 1,
  oldestOpenAgeMs: 5_000,
  openAttempts: 1,
  lastConfirmedAt: 1_700_000_000_000,
  lastConfirmedSize: 7,
  consecutiveFailures: 0,
  failures: 3,
  transactionsSigned: 4,
  stalled: false,
};

/** What the test breaks: the store's metadata reads, and the anchoring health. */
interface Faults {
  store: boolean;
  anchoring: 'healthy' | 'throws' | 'not anchoring';
}

let t: TestRepo;
let faults: Faults;
let parts: ServerParts;
type LogLine = { level: number; msg: string; metric?: string };
let logLines: LogLine[];

beforeEach(async () => {
  t = await createTestRepo();
  faults = { store: false, anchoring: 'healthy' };
  logLines = [];
  // The real SQLite store, except that one read fails while `faults.store` is set.
  const store = new Proxy(t.repo.store, {
    get(target, prop, receiver) {
      if (prop === 'currentMetadataDigest' && faults.store) {
        return () => Promise.reject(new Error('disk I/O error'));
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
  // A transparency log double: only the anchoring health is read by /metrics.
  const transparencyLog = {
    anchors: {
      health: (): Promise<AnchoringHealthSample | undefined> => {
        if (faults.anchoring === 'throws') return Promise.reject(new Error('outbox unreadable'));
        return Promise.resolve(faults.anchoring === 'healthy' ? healthy : undefined);
      },
    },
  } as unknown as TransparencyLogSink;
  parts = createServerParts({
    store,
    blobs: t.repo.blobs,
    signers: {
      targets: t.signers.targets,
      snapshot: t.signers.snapshot,
      timestamp: t.signers.timestamp,
    },
    releaseLog: t.chain,
    verifier: fakeVerifier,
    transparencyLog,
    config: { resignIntervalMs: 0, binBits: 2 },
    logger: pino(
      { level: 'info' },
      { write: (line: string) => logLines.push(JSON.parse(line) as LogLine) },
    ),
  });
});
afterEach(async () => {
  await t.cleanup();
});

async function scrape(): Promise<string> {
  const res = await parts.app.request('/metrics');
  expect(res.status).toBe(200);
  return res.text();
}

/** The sample lines of one metric family (no HELP/TYPE lines). */
const samplesOf = (text: string, name: string): string[] =>
  text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

describe('GET /metrics', () => {
  describe('when a scrape-time collector fails', () => {
    it('shows none of the samples an earlier scrape collected', async () => {
      const before = await scrape();
      expect(samplesOf(before, 'tufchain_metadata_version')).toContain(
        'tufchain_metadata_version{role="timestamp"} 1',
      );
      expect(samplesOf(before, 'tufchain_anchor_stalled')).toEqual(['tufchain_anchor_stalled 0']);

      faults.store = true;
      faults.anchoring = 'throws';
      const during = await scrape();
      expect(samplesOf(during, 'tufchain_metadata_version')).toEqual([]);
      expect(samplesOf(during, 'tufchain_metadata_expiry_seconds')).toEqual([]);
      expect(samplesOf(during, 'tufchain_anchor_stalled')).toEqual([]);
      expect(samplesOf(during, 'tufchain_anchor_checkpoints_waiting')).toEqual([]);
      // Metrics that do not depend on the failed reads are still there.
      expect(samplesOf(during, 'tufchain_http_requests_total')).toContain(
        'tufchain_http_requests_total{method="GET",route="/metrics",status="200"} 1',
      );
    });

    it('counts the failure per metric and logs it once per failure streak', async () => {
      await scrape();
      faults.store = true;
      faults.anchoring = 'throws';
      await scrape();
      const twice = await scrape();
      expect(samplesOf(twice, 'tufchain_metrics_collector_failures_total')).toEqual(
        expect.arrayContaining([
          'tufchain_metrics_collector_failures_total{metric="tufchain_metadata_version"} 2',
          'tufchain_metrics_collector_failures_total{metric="tufchain_metadata_expiry_seconds"} 2',
          'tufchain_metrics_collector_failures_total{metric="tufchain_anchor_stalled"} 2',
        ]),
      );
      const warned = logLines.filter((l) => l.level === 40).map((l) => l.metric);
      expect(warned.filter((m) => m === 'tufchain_metadata_version')).toHaveLength(1);
      expect(warned.filter((m) => m === 'tufchain_anchor_stalled')).toHaveLength(1);

      faults.store = false;
      faults.anchoring = 'healthy';
      const after = await scrape();
      expect(samplesOf(after, 'tufchain_metadata_version')).toContain(
        'tufchain_metadata_version{role="timestamp"} 1',
      );
      expect(samplesOf(after, 'tufchain_metrics_collector_failures_total')).toContain(
        'tufchain_metrics_collector_failures_total{metric="tufchain_metadata_version"} 2',
      );
    });
  });

  describe('when the server stops anchoring', () => {
    it('drops every anchoring sample instead of showing the last ones or zeros', async () => {
      const before = await scrape();
      expect(samplesOf(before, 'tufchain_anchor_checkpoints_waiting')).toEqual([
        'tufchain_anchor_checkpoints_waiting{status="pending"} 2',
        'tufchain_anchor_checkpoints_waiting{status="sent"} 1',
      ]);
      expect(samplesOf(before, 'tufchain_anchor_failures_total')).toEqual([
        'tufchain_anchor_failures_total 3',
      ]);

      faults.anchoring = 'not anchoring';
      const after = await scrape();
      expect(after.split('\n').filter((l) => l.startsWith('tufchain_anchor_'))).toEqual([]);
      expect(samplesOf(after, 'tufchain_metrics_collector_failures_total')).toEqual([]);
    });
  });

  it('keeps every metric name, type and label', async () => {
    await scrape();
    const text = await scrape();
    const types = text
      .split('\n')
      .filter((l) => l.startsWith('# TYPE tufchain_') && !l.includes('collector_failures'))
      .sort();
    expect(types).toEqual(
      [
        '# TYPE tufchain_http_requests_total counter',
        '# TYPE tufchain_http_request_duration_seconds histogram',
        '# TYPE tufchain_publishes_total counter',
        '# TYPE tufchain_publish_duration_seconds histogram',
        '# TYPE tufchain_resigns_total counter',
        '# TYPE tufchain_install_attestations_total counter',
        '# TYPE tufchain_metadata_expiry_seconds gauge',
        '# TYPE tufchain_metadata_version gauge',
        '# TYPE tufchain_anchor_checkpoints_waiting gauge',
        '# TYPE tufchain_anchor_oldest_waiting_seconds gauge',
        '# TYPE tufchain_anchor_waiting_attempts gauge',
        '# TYPE tufchain_anchor_transactions_signed_total counter',
        '# TYPE tufchain_anchor_failures_total counter',
        '# TYPE tufchain_anchor_consecutive_failures gauge',
        '# TYPE tufchain_anchor_last_success_timestamp_seconds gauge',
        '# TYPE tufchain_anchor_last_confirmed_size gauge',
        '# TYPE tufchain_anchor_stalled gauge',
      ].sort(),
    );
    // Label order inside the braces is not significant in the exposition format.
    const infBucket = samplesOf(text, 'tufchain_http_request_duration_seconds_bucket').filter(
      (l) => l.includes('le="+Inf"') && l.includes('route="/metrics"'),
    );
    expect(infBucket).toHaveLength(1);
    expect(infBucket[0]).toMatch(/ 1$/);
    expect(samplesOf(text, 'tufchain_metadata_expiry_seconds').map((l) => l.split(' ')[0])).toEqual(
      expect.arrayContaining([
        'tufchain_metadata_expiry_seconds{role="root"}',
        'tufchain_metadata_expiry_seconds{role="targets"}',
        'tufchain_metadata_expiry_seconds{role="snapshot"}',
        'tufchain_metadata_expiry_seconds{role="timestamp"}',
      ]),
    );
    expect(samplesOf(text, 'tufchain_anchor_last_success_timestamp_seconds')).toEqual([
      'tufchain_anchor_last_success_timestamp_seconds 1700000000',
    ]);
  });
});
