import { expect, test } from 'vitest';
import {
  chartStep,
  countHealth,
  formatRate,
  formatSpend,
  axisLabel,
  niceCeil,
  groupName,
  liveSuccess,
  niceIncrs,
  parseRange,
  peak,
  rangeHref,
  shape,
  successRatio,
  sum,
  tableStep,
  timeFormatter,
  withAlpha,
  type Point,
} from './logic';

function pt(time: string, requests: number, extra: Partial<Point> = {}): Point {
  return { time, requests, errors: 0, prompt_tokens: 0, completion_tokens: 0, spend_micros: 0, latency_p50_ms: 0, latency_p95_ms: 0, ...extra };
}

test('parseRange reads ?range= and falls back to 24h', () => {
  expect(parseRange('')).toBe('24h');
  expect(parseRange('?range=7d')).toBe('7d');
  expect(parseRange('?range=30d&x=1')).toBe('30d');
  expect(parseRange('?range=24h')).toBe('24h');
  expect(parseRange('?range=7D')).toBe('24h');
  expect(parseRange('?range=1y')).toBe('24h');
  expect(parseRange('?range=')).toBe('24h');
});

test('rangeHref sets the range, leaves the default out and keeps other parameters', () => {
  expect(rangeHref('', '7d')).toBe('/?range=7d');
  expect(rangeHref('?range=7d', '24h')).toBe('/');
  expect(rangeHref('?range=7d&tab=x', '30d')).toBe('/?range=30d&tab=x');
  expect(rangeHref('?tab=x&range=30d', '24h')).toBe('/?tab=x');
  expect(rangeHref('', '30d', '/me')).toBe('/me?range=30d');
});

test('chart and table steps follow the range', () => {
  expect(chartStep('24h')).toBe(900);
  expect(chartStep('7d')).toBe(3600);
  expect(chartStep('30d')).toBe(21600);
  expect(tableStep('24h')).toBe(3600);
  expect(tableStep('30d')).toBe(86400);
});

test('shape sums minute buckets into 15-minute buckets, empty ones included', () => {
  const pts = [
    pt('2026-12-06T10:00:00Z', 1, { errors: 1, prompt_tokens: 10, completion_tokens: 5, spend_micros: 300 }),
    pt('2026-12-06T10:01:00Z', 2, { prompt_tokens: 20, completion_tokens: 10, spend_micros: 600 }),
    pt('2026-12-06T10:14:00Z', 3),
    pt('2026-12-06T10:15:00Z', 0),
    pt('2026-12-06T10:31:00Z', 4, { errors: 2 }),
  ];
  const s = shape(pts, 900);
  const t0 = Date.parse('2026-12-06T10:00:00Z') / 1000;
  expect(s.x).toEqual([t0, t0 + 900, t0 + 1800]);
  expect(s.requests).toEqual([6, 0, 4]);
  expect(s.errors).toEqual([1, 0, 2]);
  expect(s.prompt).toEqual([30, 0, 0]);
  expect(s.completion).toEqual([15, 0, 0]);
  expect(s.tokens).toEqual([45, 0, 0]);
  expect(s.spend).toEqual([900, 0, 0]);
});

test('shape aligns day buckets to local midnight through the offset', () => {
  // UTC+8: 2026-12-06T15:00Z is 23:00 local, 16:00Z is midnight of the 7th.
  const pts = [pt('2026-12-06T15:00:00Z', 1), pt('2026-12-06T16:00:00Z', 2), pt('2026-12-07T15:59:00Z', 3)];
  const s = shape(pts, 86400, 8 * 3600);
  expect(s.requests).toEqual([1, 5]);
  expect(s.x[1]).toBe(Date.parse('2026-12-06T16:00:00Z') / 1000);
  // UTC: one day apart from midnight to midnight.
  expect(shape(pts, 86400, 0).requests).toEqual([3, 3]);
});

test('shape of nothing is empty, and skips times it cannot read', () => {
  expect(shape([], 900).x).toEqual([]);
  const s = shape([pt('2026-12-06T10:00:00Z', 1), pt('nonsense', 5), pt('2026-12-06T10:05:00Z', 1)], 900);
  expect(s.requests).toEqual([2]);
});

test('sum and peak find the total and the busiest bucket', () => {
  expect(sum([1, 2, 3])).toBe(6);
  expect(sum([])).toBe(0);
  expect(peak([100, 200, 300], [1, 5, 5])).toEqual({ value: 5, at: 200 });
  expect(peak([100, 200], [0, 0])).toEqual({ value: 0, at: -1 });
});

test('successRatio and liveSuccess say "unknown" without traffic', () => {
  expect(successRatio(10, 1)).toBe(0.9);
  expect(successRatio(0, 0)).toBeNaN();
  expect(successRatio(2, 5)).toBe(0);
  expect(liveSuccess({ requests_per_second: 4, errors_per_second: 1 })).toBe(0.75);
  expect(liveSuccess({ requests_per_second: 0, errors_per_second: 0 })).toBeNaN();
  expect(liveSuccess(null)).toBeNaN();
});

test('formatRate keeps one decimal below 100 and groups above', () => {
  expect(formatRate(0)).toBe('0');
  expect(formatRate(0.01)).toBe('<0.1');
  expect(formatRate(0.4)).toBe('0.4');
  expect(formatRate(2)).toBe('2');
  expect(formatRate(12.46)).toBe('12.5');
  expect(formatRate(1234.4)).toBe('1,234');
  expect(formatRate(NaN)).toBe('—');
  expect(formatRate(-1)).toBe('—');
});

test('axis steps are whole numbers in 1-2-5 order', () => {
  expect(niceIncrs.slice(0, 6)).toEqual([1, 2, 5, 10, 20, 50]);
  expect(niceIncrs.every((n) => Number.isInteger(n))).toBe(true);
});

test('withAlpha makes rgba from hex and leaves other colours', () => {
  expect(withAlpha('#2f5bd3', 0.2)).toBe('rgba(47, 91, 211, 0.2)');
  expect(withAlpha(' #fff ', 0.5)).toBe('rgba(255, 255, 255, 0.5)');
  expect(withAlpha('rgb(1, 2, 3)', 0.5)).toBe('rgb(1, 2, 3)');
});

test('timeFormatter shows clock times for 24h and dates for days', () => {
  const t = Date.parse('2026-12-06T09:05:00Z') / 1000;
  expect(timeFormatter('24h', 'en', 'axis', 'UTC')(t)).toBe('09:05');
  expect(timeFormatter('7d', 'en', 'axis', 'UTC')(t)).toBe('12/6');
  expect(timeFormatter('7d', 'en', 'row', 'UTC')(t)).toBe('12/6');
  expect(timeFormatter('7d', 'en', 'point', 'UTC')(t)).toContain('09:05');
  expect(timeFormatter('24h', 'en', 'row', 'UTC')(t)).toBe('09:05');
  expect(timeFormatter('30d', 'zh-CN', 'row', 'UTC')(t)).toBe('12/6');
});

test('countHealth tallies channels and credential states', () => {
  const now = Date.parse('2026-12-06T10:00:00Z');
  const h = countHealth(
    [{ disabled: false }, { disabled: true }],
    [
      { status: 'active' },
      { status: 'cooldown', cooldown_until: '2026-12-06T10:05:00Z' },
      { status: 'cooldown', cooldown_until: '2026-12-06T09:55:00Z' },
      { status: 'circuit_open' },
      { status: 'disabled' },
    ],
    now,
  );
  expect(h).toEqual({ channels: 2, channelsDisabled: 1, credentials: 5, ok: 2, cooldown: 1, circuitOpen: 1, disabled: 1 });
});

test('groupName prefers the label and marks ids', () => {
  expect(groupName({ value: 'gpt-4o-mini', label: '' }, 'model')).toBe('gpt-4o-mini');
  expect(groupName({ value: '7', label: 'ann@example.com' }, 'user')).toBe('ann@example.com');
  expect(groupName({ value: '7', label: '' }, 'user')).toBe('#7');
  expect(groupName({ value: '', label: '' }, 'channel')).toBe('');
});

test('niceCeil rounds the top of a chart up', () => {
  expect(niceCeil(0)).toBe(1);
  expect(niceCeil(1)).toBe(1);
  expect(niceCeil(6)).toBe(6);
  expect(niceCeil(6.6)).toBe(8);
  expect(niceCeil(51)).toBe(60);
  expect(niceCeil(1234)).toBe(1500);
  expect(niceCeil(9000)).toBe(10000);
});

test('axisLabel shows clock times, and dates at midnight over days', () => {
  const at = (s: string) => Date.parse(s) / 1000;
  expect(axisLabel('24h', 'en', 'UTC')(at('2026-12-06T00:00:00Z'))).toBe('00:00');
  expect(axisLabel('7d', 'en', 'UTC')(at('2026-12-06T00:00:00Z'))).toBe('12/6');
  expect(axisLabel('7d', 'en', 'UTC')(at('2026-12-06T12:00:00Z'))).toContain('12:00');
});

test('formatSpend is exact for fractions of a cent and rounds larger sums', () => {
  expect(formatSpend(45)).toBe('$0.000045');
  expect(formatSpend(0)).toBe('$0.00');
  expect(formatSpend(123_456)).toBe('$0.1235');
  expect(formatSpend(12_345_678)).toBe('$12.35');
  expect(formatSpend(12_345_678, 'zh-CN')).toBe('US$12.35');
  expect(formatSpend(NaN)).toBe('—');
});
