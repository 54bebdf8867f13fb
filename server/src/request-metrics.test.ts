import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { MetricsRegistry, RequestMetrics } from './metrics.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What prom-client's own Counter and Histogram render for the same requests. */
async function promClientText(
  requests: readonly [string, string, number, number][],
): Promise<string> {
  const registry = new Registry();
  const counter = new Counter({
    name: RequestMetrics.COUNTER,
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const histogram = new Histogram({
    name: RequestMetrics.HISTOGRAM,
    help: 'HTTP request latency',
    labelNames: ['route'],
    buckets: BUCKETS,
    registers: [registry],
  });
  for (const [method, route, status, seconds] of requests) {
    counter.inc({ method, route, status: String(status) });
    histogram.observe({ route }, seconds);
  }
  return registry.metrics();
}

/** Exposition lines; the order of samples within a family carries no meaning. */
const lines = (text: string): string[] => text.split('\n').filter(Boolean).sort();

describe('RequestMetrics', () => {
  it('renders exactly what prom-client renders for the same requests', async () => {
    const request = fc.tuple(
      fc.constantFrom('GET', 'HEAD', 'POST', 'PUT'),
      fc.constantFrom('/metadata/:file', '/targets/:file', '/api/v1/attestations', 'a"b\\c\nd'),
      fc.constantFrom(200, 201, 206, 304, 404, 413, 500),
      fc.oneof(fc.constantFrom(0, ...BUCKETS, 11), fc.double({ min: 0, max: 20, noNaN: true })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(request, { maxLength: 60 }), async (requests) => {
        const ours = new MetricsRegistry();
        const http = ours.requestMetrics(BUCKETS);
        for (const [method, route, status, seconds] of requests) {
          http.record(method, route, status, seconds);
        }
        // The registry's own collector-failure counter is not a request metric.
        const rendered = lines(await ours.render()).filter(
          (l) => !l.includes('tufchain_metrics_collector_failures_total'),
        );
        expect(rendered).toEqual(lines(await promClientText(requests)));
      }),
      { numRuns: 200 },
    );
  });

  it('counts a value on a bucket bound in that bucket, and one above every bound only in +Inf', async () => {
    const ours = new MetricsRegistry();
    const http = ours.requestMetrics([0.1, 1]);
    http.record('GET', '/x', 200, 0.1);
    http.record('GET', '/x', 200, 1.5);
    const text = await ours.render();
    expect(text).toContain('tufchain_http_request_duration_seconds_bucket{le="0.1",route="/x"} 1');
    expect(text).toContain('tufchain_http_request_duration_seconds_bucket{le="1",route="/x"} 1');
    expect(text).toContain('tufchain_http_request_duration_seconds_bucket{le="+Inf",route="/x"} 2');
    expect(text).toContain('tufchain_http_request_duration_seconds_sum{route="/x"} 1.6');
    expect(text).toContain('tufchain_http_requests_total{method="GET",route="/x",status="200"} 2');
  });
});
