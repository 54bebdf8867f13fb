import { describe, expect, it } from 'vitest';
import { renderAlertBanner, type ConsoleAlert } from './alerts.js';

const alert = (over: Partial<ConsoleAlert> = {}): ConsoleAlert => ({
  id: 'rogue-release:0xabc',
  severity: 'critical',
  title: 'A logged release the OEM does not know',
  raisedAt: '2026-12-06T03:00:00.000Z',
  ...over,
});

describe('renderAlertBanner', () => {
  it('draws nothing without a source, or when it has no alert', async () => {
    expect(String(await renderAlertBanner(undefined))).toBe('');
    expect(String(await renderAlertBanner({ alerts: () => Promise.resolve([]) }))).toBe('');
  });

  it('draws each open alert with its id, escaping what the source says', async () => {
    const out = String(
      await renderAlertBanner({
        alerts: () => Promise.resolve([alert({ detail: '<img src=x onerror=alert(1)>' })]),
      }),
    );
    expect(out).toContain('class="banner critical"');
    expect(out).toContain('data-alert-id="rogue-release:0xabc"');
    expect(out).not.toContain('<img');
    expect(out).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('says so when the source fails, rather than drawing an empty banner', async () => {
    const out = String(
      await renderAlertBanner({ alerts: () => Promise.reject(new Error('monitor down')) }),
    );
    expect(out).toContain('did not answer');
  });

  it('shows at most five alerts and counts the rest', async () => {
    const many = Array.from({ length: 7 }, (_, i) => alert({ id: `a${i}`, severity: 'warning' }));
    const out = String(await renderAlertBanner({ alerts: () => Promise.resolve(many) }));
    expect(out.match(/data-alert-id=/g)).toHaveLength(5);
    expect(out).toContain('7 recent alerts');
    expect(out).toContain('and 2 more');
  });
});
