import { describe, expect, it } from 'vitest';
import { changed, diff, flatten } from './diff';

describe('flatten', () => {
  it('names leaves by path', () => {
    const m = flatten({ a: 1, b: { c: 'x', 'd.e': true }, l: [1, { z: null }], e: {}, f: [] });
    expect([...m]).toEqual([
      ['a', '1'],
      ['b.c', '"x"'],
      ['b["d.e"]', 'true'],
      ['l[0]', '1'],
      ['l[1].z', 'null'],
      ['e', '{}'],
      ['f', '[]'],
    ]);
  });
  it('gives a scalar at the root the empty path', () => {
    expect([...flatten('x')]).toEqual([['', '"x"']]);
  });
});

describe('diff', () => {
  it('shows changed, added, removed and unchanged members', () => {
    const before = { registration: 'open', new_user_credit_micros: 0, site_name: 'A', gone: 1 };
    const after = { registration: 'invite', new_user_credit_micros: 0, site_name: 'A', announcement: 'hi' };
    expect(diff(before, after)).toEqual([
      { path: 'registration', kind: 'changed', before: '"open"', after: '"invite"' },
      { path: 'new_user_credit_micros', kind: 'same', before: '0', after: '0' },
      { path: 'site_name', kind: 'same', before: '"A"', after: '"A"' },
      { path: 'announcement', kind: 'added', after: '"hi"' },
      { path: 'gone', kind: 'removed', before: '1' },
    ]);
  });
  it('treats a missing side as nothing (creates and deletes)', () => {
    expect(diff(null, { model: 'x', input_micros: 5 })).toEqual([
      { path: 'model', kind: 'added', after: '"x"' },
      { path: 'input_micros', kind: 'added', after: '5' },
    ]);
    expect(changed(diff({ a: [1, 2] }, undefined))).toEqual([
      { path: 'a[0]', kind: 'removed', before: '1' },
      { path: 'a[1]', kind: 'removed', before: '2' },
    ]);
    expect(diff(null, null)).toEqual([]);
  });
  it('compares nested arrays by position', () => {
    expect(changed(diff({ m: ['a', 'b'] }, { m: ['a', 'c', 'd'] }))).toEqual([
      { path: 'm[1]', kind: 'changed', before: '"b"', after: '"c"' },
      { path: 'm[2]', kind: 'added', after: '"d"' },
    ]);
  });
});
