/** A small Prometheus registry (text exposition format 0.0.4). */
type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  const escape = (v: string): string =>
    v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
  return `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}`;
}

interface Family {
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(name: string): string[];
}

export class Counter {
  readonly #values = new Map<string, { labels: Labels; value: number }>();
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const cur = this.#values.get(key);
    if (cur) cur.value += by;
    else this.#values.set(key, { labels, value: by });
  }
  get(labels: Labels = {}): number {
    return this.#values.get(labelText(labels))?.value ?? 0;
  }
  render(name: string): string[] {
    return [...this.#values.values()].map((v) => `${name}${labelText(v.labels)} ${v.value}`);
  }
}

export class Histogram {
  readonly #buckets: readonly number[];
  readonly #series = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >();
  constructor(buckets: readonly number[]) {
    this.#buckets = buckets;
  }
  observe(value: number, labels: Labels = {}): void {
    const key = labelText(labels);
    let s = this.#series.get(key);
    if (!s) {
      s = { labels, counts: this.#buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    this.#buckets.forEach((b, i) => {
      if (value <= b) s.counts[i] = (s.counts[i] ?? 0) + 1;
    });
    s.sum += value;
    s.count += 1;
  }
  render(name: string): string[] {
    const out: string[] = [];
    for (const s of this.#series.values()) {
      this.#buckets.forEach((b, i) =>
        out.push(`${name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i] ?? 0}`),
      );
      out.push(`${name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`${name}_sum${labelText(s.labels)} ${s.sum}`);
      out.push(`${name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

export class MetricsRegistry {
  readonly #families = new Map<string, Family>();
  readonly #collectors: (() => Promise<void>)[] = [];

  counter(name: string, help: string): Counter {
    const c = new Counter();
    this.#families.set(name, { help, type: 'counter', render: (n) => c.render(n) });
    return c;
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    const h = new Histogram(buckets);
    this.#families.set(name, { help, type: 'histogram', render: (n) => h.render(n) });
    return h;
  }

  /** A gauge whose samples are computed at scrape time. */
  gauge(
    name: string,
    help: string,
    collect: () => Promise<{ labels: Labels; value: number }[]>,
    type: 'gauge' | 'counter' = 'gauge',
  ): void {
    let samples: { labels: Labels; value: number }[] = [];
    this.#collectors.push(async () => {
      samples = await collect();
    });
    this.#families.set(name, {
      help,
      type,
      render: (n) => samples.map((s) => `${n}${labelText(s.labels)} ${s.value}`),
    });
  }

  async render(): Promise<string> {
    for (const collect of this.#collectors) {
      await collect().catch(() => undefined);
    }
    const lines: string[] = [];
    for (const [name, f] of this.#families) {
      lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`, ...f.render(name));
    }
    return `${lines.join('\n')}\n`;
  }
}

export interface ServerMetrics {
  registry: MetricsRegistry;
  requests: Counter;
  requestSeconds: Histogram;
  publishes: Counter;
  publishSeconds: Histogram;
  resigns: Counter;
  attestations: Counter;
}

export function createServerMetrics(): ServerMetrics {
  const registry = new MetricsRegistry();
  return {
    registry,
    requests: registry.counter('tufchain_http_requests_total', 'HTTP requests by route and status'),
    requestSeconds: registry.histogram(
      'tufchain_http_request_duration_seconds',
      'HTTP request latency',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
    publishes: registry.counter('tufchain_publishes_total', 'Targets publishes by result'),
    publishSeconds: registry.histogram(
      'tufchain_publish_duration_seconds',
      'Publish latency including chain confirmation',
      [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    ),
    resigns: registry.counter('tufchain_resigns_total', 'Automatic re-signing of online roles'),
    attestations: registry.counter(
      'tufchain_install_attestations_total',
      'Install attestations by outcome',
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
  health: () => AnchoringHealthSample | undefined,
): void {
  const sample =
    (value: (h: AnchoringHealthSample) => { labels: Labels; value: number }[]) => () => {
      const h = health();
      return Promise.resolve(h ? value(h) : []);
    };
  const one = (f: (h: AnchoringHealthSample) => number) =>
    sample((h) => [{ labels: {}, value: f(h) }]);
  registry.gauge(
    'tufchain_anchor_checkpoints_waiting',
    'Checkpoints not yet anchored, by outbox status (pending: never sent; sent: not confirmed)',
    sample((h) => [
      { labels: { status: 'pending' }, value: h.pending },
      { labels: { status: 'sent' }, value: h.sent },
    ]),
  );
  registry.gauge(
    'tufchain_anchor_oldest_waiting_seconds',
    'Seconds since the oldest waiting checkpoint last changed state (0 when none waits)',
    one((h) => h.oldestOpenAgeMs / 1000),
  );
  registry.gauge(
    'tufchain_anchor_waiting_attempts',
    'Anchoring transactions signed for the checkpoints still waiting',
    one((h) => h.openAttempts),
  );
  registry.gauge(
    'tufchain_anchor_transactions_signed_total',
    'Anchoring transactions signed since the server started',
    one((h) => h.transactionsSigned),
    'counter',
  );
  registry.gauge(
    'tufchain_anchor_failures_total',
    'Anchoring failures (RPC, refused broadcasts, reverts) since the server started',
    one((h) => h.failures),
    'counter',
  );
  registry.gauge(
    'tufchain_anchor_consecutive_failures',
    'Anchoring failures since the last progress',
    one((h) => h.consecutiveFailures),
  );
  registry.gauge(
    'tufchain_anchor_last_success_timestamp_seconds',
    'Unix time the latest confirmed anchor was recorded (0 before the first)',
    one((h) => (h.lastConfirmedAt === null ? 0 : h.lastConfirmedAt / 1000)),
  );
  registry.gauge(
    'tufchain_anchor_last_confirmed_size',
    'Tree size of the latest confirmed anchor',
    one((h) => h.lastConfirmedSize),
  );
  registry.gauge(
    'tufchain_anchor_stalled',
    '1 while anchoring is stalled (see /readyz for the reason)',
    one((h) => (h.stalled ? 1 : 0)),
  );
}
