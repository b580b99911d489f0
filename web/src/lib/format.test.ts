import { describe, expect, test } from 'vitest';
import { formatDuration, formatInteger, formatMicros, formatPercent, formatTokens } from './format';

describe('formatMicros', () => {
  test.each([
    [1_234_567, '$1.234567'],
    [1_500_000, '$1.50'],
    [0, '$0.00'],
    [1, '$0.000001'],
    [2_500, '$0.0025'],
    [-2_500_000, '-$2.50'],
    [1_234_567_000_000, '$1,234,567.00'],
    [999_999_999_999_999n, '$999,999,999.999999'],
  ])('%s micros → %s', (m, want) => {
    expect(formatMicros(m, 'en')).toBe(want);
  });

  test('zh-CN writes US$ so dollars are not read as yuan', () => {
    expect(formatMicros(1_234_567, 'zh-CN')).toBe('US$1.234567');
    expect(formatMicros(12_345_000_000, 'zh-CN')).toBe('US$12,345.00');
    expect(formatMicros(-500_000, 'zh-CN')).toBe('-US$0.50');
  });

  test('rounds to maxDecimals half away from zero', () => {
    expect(formatMicros(1_234_567, 'en', { maxDecimals: 2 })).toBe('$1.23');
    expect(formatMicros(1_235_000, 'en', { maxDecimals: 2 })).toBe('$1.24');
    expect(formatMicros(-1_235_000, 'en', { maxDecimals: 2 })).toBe('-$1.24');
    expect(formatMicros(999_999, 'en', { maxDecimals: 2 })).toBe('$1.00');
    expect(formatMicros(4_000, 'en', { maxDecimals: 2 })).toBe('$0.00');
    expect(formatMicros(7_000_000, 'en', { maxDecimals: 0, minDecimals: 0 })).toBe('$7');
  });

  test('never shows a negative zero', () => {
    expect(formatMicros(-1, 'en', { maxDecimals: 2 })).toBe('$0.00');
  });

  test('integer arithmetic: no float error', () => {
    // 0.1 + 0.2 dollars in micros.
    expect(formatMicros(100_000 + 200_000)).toBe('$0.30');
  });
});

describe('formatTokens', () => {
  test.each([
    [0, '0'],
    [950, '950'],
    [1_000, '1K'],
    [1_500, '1.5K'],
    [12_345, '12.3K'],
    [123_456, '123K'],
    [999_950, '1M'],
    [1_234_567, '1.23M'],
    [2_000_000_000, '2B'],
    [-12_345, '-12.3K'],
  ])('en %s → %s', (n, want) => {
    expect(formatTokens(n, 'en')).toBe(want);
  });

  test.each([
    [950, '950'],
    [9_999, '9,999'],
    [12_345, '1.23万'],
    [123_456, '12.3万'],
    [99_999_999, '1亿'],
    [123_456_789, '1.23亿'],
  ])('zh-CN %s → %s', (n, want) => {
    expect(formatTokens(n, 'zh-CN')).toBe(want);
  });
});

describe('formatDuration', () => {
  test.each([
    [850, '850 ms', '850 毫秒'],
    [1_234, '1.23 s', '1.23 秒'],
    [59_000, '59 s', '59 秒'],
    [65_000, '1m 5s', '1分5秒'],
    [3_723_000, '1h 2m', '1小时2分'],
    [90_061_000, '1d 1h', '1天1小时'],
  ])('%s ms', (ms, en, zh) => {
    expect(formatDuration(ms, 'en')).toBe(en);
    expect(formatDuration(ms, 'zh-CN')).toBe(zh);
  });

  test('invalid input', () => {
    expect(formatDuration(-1)).toBe('—');
    expect(formatDuration(NaN)).toBe('—');
  });
});

test('formatInteger and formatPercent', () => {
  expect(formatInteger(1_234_567)).toBe('1,234,567');
  expect(formatInteger(-1_000)).toBe('-1,000');
  expect(formatPercent(0.98765)).toBe('98.8%');
  expect(formatPercent(1)).toBe('100%');
});
