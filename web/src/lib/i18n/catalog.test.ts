import { expect, test } from 'vitest';
import { en } from './en';
import { zhCN } from './zh-CN';
import { catalogues } from './catalogues';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test('every catalogue has exactly the English keys, none empty', () => {
  const keys = Object.keys(en).sort();
  for (const [locale, cat] of Object.entries(catalogues)) {
    expect(Object.keys(cat).sort(), locale).toEqual(keys);
    for (const [k, v] of Object.entries(cat)) {
      expect(typeof v === 'string' && v.trim().length > 0, `${locale} ${k} is empty`).toBe(true);
    }
  }
});

test('translations keep the placeholders of the English text', () => {
  for (const [k, v] of Object.entries(en)) {
    expect(placeholders(zhCN[k as keyof typeof en]), k).toEqual(placeholders(v));
  }
});

test('the Chinese catalogue is translated, not copied', () => {
  // Brand names may stay as they are; everything else must differ.
  const same = Object.keys(en).filter((k) => k !== 'app.name' && en[k as keyof typeof en] === zhCN[k as keyof typeof en]);
  expect(same).toEqual([]);
});
