import { describe, expect, it } from 'vitest';
import { parseUsd, usdText } from './money';

describe('parseUsd', () => {
  it('reads decimals exactly, without float rounding', () => {
    expect(parseUsd('2.5')).toEqual({ ok: true, micros: 2_500_000 });
    expect(parseUsd('0.15')).toEqual({ ok: true, micros: 150_000 });
    expect(parseUsd('0.29')).toEqual({ ok: true, micros: 290_000 }); // 0.29 * 1e6 = 289999.99999999994
    expect(parseUsd('1.005')).toEqual({ ok: true, micros: 1_005_000 });
    expect(parseUsd('0.000001')).toEqual({ ok: true, micros: 1 });
    expect(parseUsd('9007199254.740991')).toEqual({ ok: true, micros: Number.MAX_SAFE_INTEGER });
  });
  it('accepts the usual spellings', () => {
    expect(parseUsd(' $3 ')).toEqual({ ok: true, micros: 3_000_000 });
    expect(parseUsd('US$3.10')).toEqual({ ok: true, micros: 3_100_000 });
    expect(parseUsd('.5')).toEqual({ ok: true, micros: 500_000 });
    expect(parseUsd('5.')).toEqual({ ok: true, micros: 5_000_000 });
    expect(parseUsd('1,234.5')).toEqual({ ok: true, micros: 1_234_500_000 });
    expect(parseUsd('0')).toEqual({ ok: true, micros: 0 });
    expect(parseUsd('1.2500000')).toEqual({ ok: true, micros: 1_250_000 });
  });
  it('refuses what is not an amount', () => {
    for (const s of ['', ' ', 'abc', '1.2.3', '1e3', '1,23', '12,34.5', '.', '$', '0x10', '1 000']) {
      expect(parseUsd(s)).toEqual({ ok: false, problem: 'format' });
    }
  });
  it('refuses more than six decimals, too large and negative amounts', () => {
    expect(parseUsd('0.0000001')).toEqual({ ok: false, problem: 'decimals' });
    expect(parseUsd('9007199254.740992')).toEqual({ ok: false, problem: 'range' });
    expect(parseUsd('-1')).toEqual({ ok: false, problem: 'negative' });
    expect(parseUsd('-1', { allowNegative: true })).toEqual({ ok: true, micros: -1_000_000 });
    expect(parseUsd('-0')).toEqual({ ok: true, micros: 0 });
  });
});

describe('usdText', () => {
  it('writes micro-USD as plain decimal text that parses back', () => {
    expect(usdText(2_500_000)).toBe('2.5');
    expect(usdText(150_000)).toBe('0.15');
    expect(usdText(0)).toBe('0');
    expect(usdText(1)).toBe('0.000001');
    expect(usdText(-2_500)).toBe('-0.0025');
    expect(usdText(12_000_000_000n)).toBe('12000');
    for (const m of [0, 1, 999_999, 1_000_000, 123_456_789, Number.MAX_SAFE_INTEGER]) {
      expect(parseUsd(usdText(m))).toEqual({ ok: true, micros: m });
    }
  });
});
