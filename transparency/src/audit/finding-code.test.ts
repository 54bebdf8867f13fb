import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { auditFindingMeanings } from './finding-code.js';

const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

/** code -> meaning, from the table of the README's "Findings" section. */
function readmeTable(): Map<string, string> {
  const section = readme.slice(readme.indexOf('### Findings'));
  const rows = section.slice(0, section.indexOf('\n## ')).split('\n');
  const table = new Map<string, string>();
  for (const row of rows) {
    const cells = row.split('|').map((c) => c.trim());
    const code = /^`([A-Z_]+)`$/.exec(cells[1] ?? '')?.[1];
    if (code) table.set(code, cells[3] ?? '');
  }
  return table;
}

describe('audit finding codes', () => {
  it('are documented in the README with the meaning the code gives them', () => {
    expect(readmeTable()).toEqual(new Map(Object.entries(auditFindingMeanings)));
  });

  it('each have a one-line meaning', () => {
    for (const meaning of Object.values(auditFindingMeanings)) {
      expect(meaning).toMatch(/^[a-z`][^\n]{10,120}$/);
    }
  });

  it('are each reported somewhere in the auditor', () => {
    const dir = fileURLToPath(new URL('.', import.meta.url));
    const sources = readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'finding-code.ts')
      .map((f) => readFileSync(`${dir}${f}`, 'utf8'))
      .join('\n');
    const unused = Object.keys(auditFindingMeanings).filter((c) => !sources.includes(`'${c}'`));
    expect(unused).toEqual([]);
  });
});
