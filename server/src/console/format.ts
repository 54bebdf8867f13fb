import { html } from 'hono/html';

export type Html = ReturnType<typeof html>;

/** A hash in monospace, shortened to its first and last characters, whole in the tooltip. */
export function shortHash(value: string | null | undefined, keep = 10): Html {
  if (!value) return html`<span class="muted">—</span>`;
  const hex = value.startsWith('0x') ? value.slice(2) : value;
  const prefix = value.length - hex.length;
  const short = hex.length > keep + 6 ? `${value.slice(0, prefix + keep)}…${hex.slice(-4)}` : value;
  return html`<code class="hash" title="${value}">${short}</code>`;
}

/** `3 d 4 h`, `12 min`, `40 s`; negative durations read `expired 2 h ago`. */
export function duration(seconds: number): string {
  const s = Math.abs(Math.trunc(seconds));
  const parts: string[] = [];
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3_600);
  const m = Math.floor((s % 3_600) / 60);
  if (d > 0) parts.push(`${d} d`, `${h} h`);
  else if (h > 0) parts.push(`${h} h`, `${m} min`);
  else if (m > 0) parts.push(`${m} min`);
  else parts.push(`${s} s`);
  return parts.join(' ');
}

/** `2026-12-06 03:01 UTC`, full ISO time in the tooltip. */
export function when(iso: string | null | undefined): Html {
  if (!iso) return html`<span class="muted">—</span>`;
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return html`${iso}`;
  const text = `${t.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return html`<time datetime="${t.toISOString()}" title="${t.toISOString()}">${text}</time>`;
}

/** A small coloured label: `ok`, `warn`, `bad` or `info`. */
export function badge(text: string, tone: 'ok' | 'warn' | 'bad' | 'info'): Html {
  return html`<span class="badge ${tone}">${text}</span>`;
}

/** Bytes for people: `812 B`, `80.0 KiB`, `12.4 MiB`. */
export function byteSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}
