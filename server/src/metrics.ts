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
  ): void {
    let samples: { labels: Labels; value: number }[] = [];
    this.#collectors.push(async () => {
      samples = await collect();
    });
    this.#families.set(name, {
      help,
      type: 'gauge',
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
