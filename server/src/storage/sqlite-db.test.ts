import { describe, expect, it } from 'vitest';
import { SqliteDb } from './sqlite-db.js';

describe('SqliteDb prepared statements', () => {
  it('reuses a statement after a partial read and after a refusal', () => {
    const db = new SqliteDb(':memory:');
    db.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
    const insert = 'INSERT INTO t (x) VALUES (?)';
    for (const x of [3, 1, 2]) db.run(insert, x);
    const ordered = 'SELECT x FROM t ORDER BY x';
    expect(db.get(ordered)).toEqual({ x: 1 });
    expect(db.all(ordered)).toEqual([{ x: 1 }, { x: 2 }, { x: 3 }]);
    expect(() => db.run(insert, 2)).toThrow(/UNIQUE/);
    expect(db.run(insert, 4)).toEqual({ changes: 1, lastInsertRowid: 4 });
    db.close();
  });

  it('answers right past the cache bound, evicted statements included', () => {
    const db = new SqliteDb(':memory:');
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 400; i++) expect(db.get(`SELECT ${i} AS n`)).toEqual({ n: i });
    }
    db.close();
  });
});
