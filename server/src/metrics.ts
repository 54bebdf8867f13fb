import pino, { type Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import { errorText } from './tuf/error-text.js';

type Labels = Record<string, string>;

export interface Sample {
  labels: Labels;
  value: number;
}

export interface CollectedMetric {
  name: string;
  help: string;
  /** The label names its samples carry (prom-client checks every sample against them). */
  labelNames?: readonly string[];
  /** `counter` for a running total read from elsewhere at scrape time. */
  type?: 'gauge' | 'counter';
  collect: () => Promise<Sample[]> | Sample[];
}

/**
 * The server's Prometheus metrics, on prom-client (text exposition format 0.0.4). Metrics whose
 * samples are computed at scrape time (`collected`) show exactly what their collector returned
 * for that scrape: a collector that throws shows no samples at all (never the previous scrape's),
 * counts in `tufchain_metrics_collector_failures_total{metric}` and is logged.
 */
export class MetricsRegistry {
  readonly #registry = new Registry();
  readonly #logger: Logger;
  readonly #collectorFailures: Counter<'metric'>;
  /** Collected metrics whose last scrape failed: logged once per failure streak, not per scrape. */
  readonly #failing = new Set<string>();
  readonly #collectors: (() => Promise<void>)[] = [];

  constructor(logger: Logger = pino({ level: 'silent' })) {
    this.#logger = logger;
    this.#collectorFailures = this.counter(
      'tufchain_metrics_collector_failures_total',
      'Scrapes in which a metric could not be collected (its samples were left out)',
      ['metric'],
    );
  }

  get contentType(): string {
    return this.#registry.contentType;
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.#registry] });
  }

  histogram<L extends string>(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames: readonly L[] = [],
  ): Histogram<L> {
    return new Histogram({
      name,
      help,
      labelNames,
      buckets: [...buckets],
      registers: [this.#registry],
    });
  }

  /** A metric whose samples `spec.collect` computes at each scrape. */
  collected(spec: CollectedMetric): void {
    const labelNames = [...(spec.labelNames ?? [])];
    const collect = async (metric: Gauge | Counter): Promise<void> => {
      let samples: Sample[];
      try {
        samples = await spec.collect();
      } catch (error) {
        clear(metric);
        this.#collectorFailures.inc({ metric: spec.name });
        if (!this.#failing.has(spec.name)) {
          this.#failing.add(spec.name);
          this.#logger.warn(
            { metric: spec.name, err: errorText(error) },
            'metrics collector failed; its samples are left out until it recovers',
          );
        }
        return;
      }
      if (this.#failing.delete(spec.name)) {
        this.#logger.info({ metric: spec.name }, 'metrics collector recovered');
      }
      // Replace, not update: a label set the collector no longer returns must not linger.
      clear(metric);
      for (const s of samples) {
        if (metric instanceof Gauge) metric.set(s.labels, s.value);
        else metric.inc(s.labels, s.value);
      }
    };
    const common = { name: spec.name, help: spec.help, labelNames, registers: [this.#registry] };
    const metric = spec.type === 'counter' ? new Counter(common) : new Gauge(common);
    this.#collectors.push(() => collect(metric));
  }

  /** tufchain_http_requests_total and tufchain_http_request_duration_seconds (RequestMetrics). */
  requestMetrics(buckets: readonly number[]): RequestMetrics {
    const m = new RequestMetrics(buckets);
    for (const metric of m.metrics()) this.#registry.registerMetric(metric);
    return m;
  }

  /**
   * Runs every collector first, then renders, so that a failure counted in this scrape shows in
   * this scrape's `tufchain_metrics_collector_failures_total`.
   */
  async render(): Promise<string> {
    await Promise.all(this.#collectors.map((collect) => collect()));
    return this.#registry.metrics();
  }
}

/** No samples at all: prom-client's reset() alone leaves a 0 sample on a metric without labels. */
function clear(metric: Gauge | Counter): void {
  metric.reset();
  metric.remove({});
}

/** One exported sample, as prom-client's Registry renders it. */
interface ExportedValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/**
 * HTTP requests by method, route and status (a counter) and their latency by route (a histogram),
 * kept in plain numbers and rendered at each scrape in prom-client's exposition, as its Counter
 * and Histogram render them (metrics.test.ts compares the two). prom-client's own classes copy,
 * check and hash the labels on every call: ~15 % of the CPU of a GET answered from memory
 * (bench:server), the path that has to keep up with nginx.
 */
export class RequestMetrics {
  static readonly COUNTER = 'tufchain_http_requests_total';
  static readonly HISTOGRAM = 'tufchain_http_request_duration_seconds';
  readonly #bounds: readonly number[];
  /** route → method → status → requests, in first-seen order. */
  readonly #counts = new Map<string, Map<string, Map<number, number>>>();
  /** route → requests per bucket (not cumulative; the last one is +Inf), sum and count. */
  readonly #latency = new Map<string, { buckets: number[]; sum: number; count: number }>();

  constructor(bounds: readonly number[]) {
    this.#bounds = [...bounds].sort((a, b) => a - b);
  }

  record(method: string, route: string, status: number, seconds: number): void {
    let byMethod = this.#counts.get(route);
    if (!byMethod) this.#counts.set(route, (byMethod = new Map<string, Map<number, number>>()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map<number, number>()));
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    let l = this.#latency.get(route);
    if (!l) {
      l = { buckets: new Array<number>(this.#bounds.length + 1).fill(0), sum: 0, count: 0 };
      this.#latency.set(route, l);
    }
    let b = 0;
    while (b < this.#bounds.length && seconds > (this.#bounds[b] as number)) b++;
    l.buckets[b] = (l.buckets[b] ?? 0) + 1;
    l.sum += seconds;
    l.count += 1;
  }

  /** The two metrics, for a prom-client Registry. */
  metrics(): Metric[] {
    const metric = (
      name: string,
      help: string,
      type: 'counter' | 'histogram',
      values: () => ExportedValue[],
    ): Metric => {
      const get = () => Promise.resolve({ name, help, type, aggregator: 'sum', values: values() });
      const reset = (): void => {
        if (type === 'counter') this.#counts.clear();
        else this.#latency.clear();
      };
      return { name, help, type, aggregator: 'sum', get, reset } as unknown as Metric;
    };
    return [
      metric(RequestMetrics.COUNTER, 'HTTP requests by route and status', 'counter', () => {
        const values: ExportedValue[] = [];
        for (const [route, byMethod] of this.#counts)
          for (const [method, byStatus] of byMethod)
            for (const [status, value] of byStatus)
              values.push({ value, labels: { method, route, status: String(status) } });
        return values;
      }),
      metric(RequestMetrics.HISTOGRAM, 'HTTP request latency', 'histogram', () => {
        const values: ExportedValue[] = [];
        const name = RequestMetrics.HISTOGRAM;
        for (const [route, l] of this.#latency) {
          let below = 0;
          this.#bounds.forEach((le, i) => {
            below += l.buckets[i] ?? 0;
            values.push({ value: below, labels: { le, route }, metricName: `${name}_bucket` });
          });
          values.push(
            { value: l.count, labels: { le: '+Inf', route }, metricName: `${name}_bucket` },
            { value: l.sum, labels: { route }, metricName: `${name}_sum` },
            { value: l.count, labels: { route }, metricName: `${name}_count` },
          );
        }
        return values;
      }),
    ];
  }
}

export interface ServerMetrics {
  registry: MetricsRegistry;
  http: RequestMetrics;
  publishes: Counter<'result'>;
  publishSeconds: Histogram;
  resigns: Counter<'role'>;
  attestations: Counter<'result'>;
}

export function createServerMetrics(logger?: Logger): ServerMetrics {
  const registry = new MetricsRegistry(logger);
  return {
    registry,
    http: registry.requestMetrics([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
    publishes: registry.counter('tufchain_publishes_total', 'Targets publishes by result', [
      'result',
    ]),
    publishSeconds: registry.histogram(
      'tufchain_publish_duration_seconds',
      'Publish latency including chain confirmation',
      [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    ),
    resigns: registry.counter('tufchain_resigns_total', 'Automatic re-signing of online roles', [
      'role',
    ]),
    attestations: registry.counter(
      'tufchain_install_attestations_total',
      'Install attestations by outcome',
      ['result'],
    ),
  };
}

/** What the anchoring metrics read at scrape time (AnchorService.health()). */
export interface AnchoringHealthSample {
  pending: number;
  sent: number;
  oldestOpenAgeMs: number;
  openAttempts: number;
  lastConfirmedAt: number | null;
  lastConfirmedSize: number;
  consecutiveFailures: number;
  failures: number;
  transactionsSigned: number;
  stalled: boolean;
}

/**
 * The transparency-log anchoring, exported so that a stall is visible without reading logs:
 * what waits and for how long, what was tried, when it last worked, and whether it is stalled.
 * No series at all when the server does not anchor.
 */
export function registerAnchoringMetrics(
  registry: MetricsRegistry,
  health: () => Promise<AnchoringHealthSample | undefined>,
): void {
  // A scrape starts every collector at once, so they all share one in-flight read of the outbox.
  let inFlight: Promise<AnchoringHealthSample | undefined> | undefined;
  const sample = () =>
    (inFlight ??= health().finally(() => {
      inFlight = undefined;
    }));
  const anchoring = (
    name: string,
    help: string,
    value: (h: AnchoringHealthSample) => Sample[],
    more: Pick<CollectedMetric, 'labelNames' | 'type'> = {},
  ): void =>
    registry.collected({
      name,
      help,
      ...more,
      collect: async () => {
        const h = await sample();
        return h ? value(h) : [];
      },
    });
  const one = (f: (h: AnchoringHealthSample) => number) => (h: AnchoringHealthSample) => [
    { labels: {}, value: f(h) },
  ];
  anchoring(
    'tufchain_anchor_checkpoints_waiting',
    'Checkpoints not yet anchored, by outbox status (pending: never sent; sent: not confirmed)',
    (h) => [
      { labels: { status: 'pending' }, value: h.pending },
      { labels: { status: 'sent' }, value: h.sent },
    ],
    { labelNames: ['status'] },
  );
  anchoring(
    'tufchain_anchor_oldest_waiting_seconds',
    'Seconds since the oldest waiting checkpoint last changed state (0 when none waits)',
    one((h) => h.oldestOpenAgeMs / 1000),
  );
  anchoring(
    'tufchain_anchor_waiting_attempts',
    'Anchoring transactions signed for the checkpoints still waiting',
    one((h) => h.openAttempts),
  );
  anchoring(
    'tufchain_anchor_transactions_signed_total',
    'Anchoring transactions signed since the server started',
    one((h) => h.transactionsSigned),
    { type: 'counter' },
  );
  anchoring(
    'tufchain_anchor_failures_total',
    'Anchoring failures (RPC, refused broadcasts, reverts) since the server started',
    one((h) => h.failures),
    { type: 'counter' },
  );
  anchoring(
    'tufchain_anchor_consecutive_failures',
    'Anchoring failures since the last progress',
    one((h) => h.consecutiveFailures),
  );
  anchoring(
    'tufchain_anchor_last_success_timestamp_seconds',
    'Unix time the latest confirmed anchor was recorded (0 before the first)',
    one((h) => (h.lastConfirmedAt === null ? 0 : h.lastConfirmedAt / 1000)),
  );
  anchoring(
    'tufchain_anchor_last_confirmed_size',
    'Tree size of the latest confirmed anchor',
    one((h) => h.lastConfirmedSize),
  );
  anchoring(
    'tufchain_anchor_stalled',
    '1 while anchoring is stalled (see /readyz for the reason)',
    one((h) => (h.stalled ? 1 : 0)),
  );
}
