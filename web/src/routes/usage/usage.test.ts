import { describe, expect, test } from 'vitest';
import {
  activeCount,
  apiQuery,
  csvHref,
  detailId,
  emptyFilters,
  filtersQuery,
  formatFullTime,
  formatTime,
  fromLocalInput,
  localInput,
  pageHref,
  parseFilters,
  rowsAfter,
  shortId,
  statusTone,
  toRFC3339,
  type UsageRow,
} from './logic';

describe('filters ⇄ URL query', () => {
  test('every admin filter survives a round trip', () => {
    const search = '?range=7d&user_id=3&key_id=9&model=gpt-4o&channel=main&credential_id=12&status=5xx&stream=true&request_id=req_1';
    const f = parseFilters(search, 'admin');
    expect(f).toEqual({
      ...emptyFilters(),
      range: '7d',
      user_id: '3',
      key_id: '9',
      model: 'gpt-4o',
      channel: 'main',
      credential_id: '12',
      status: '5xx',
      stream: 'true',
      request_id: 'req_1',
    });
    expect('?' + filtersQuery(f, 'admin').toString()).toBe(search);
    expect(parseFilters(filtersQuery(f, 'admin').toString(), 'admin')).toEqual(f);
  });

  test('a custom range keeps since and until and wins over range', () => {
    const f = parseFilters('range=24h&since=2026-01-02T03:04:05Z&until=2026-01-03T00:00:00Z', 'admin');
    expect(f.range).toBe('custom');
    expect(filtersQuery(f, 'admin').toString()).toBe('since=2026-01-02T03%3A04%3A05Z&until=2026-01-03T00%3A00%3A00Z');
    expect(parseFilters(filtersQuery(f, 'admin').toString(), 'admin')).toEqual(f);
  });

  test('an unknown range is any time; the detail id is not a filter', () => {
    const f = parseFilters('range=2y&id=5&model=%20m%20', 'admin');
    expect(f.range).toBe('');
    expect(f.model).toBe('m');
    expect(filtersQuery(f, 'admin').toString()).toBe('model=m');
  });

  test("a user's view drops the admin-only filters", () => {
    const f = parseFilters('user_id=3&channel=main&credential_id=1&key_id=4&status=ok', 'me');
    expect(f.user_id).toBe('');
    expect(f.channel).toBe('');
    expect(filtersQuery({ ...f, channel: 'x' }, 'me').toString()).toBe('key_id=4&status=ok');
  });

  test('equal filters give equal URLs whatever the input order', () => {
    const a = filtersQuery(parseFilters('status=ok&model=m&range=1h', 'admin'), 'admin').toString();
    const b = filtersQuery(parseFilters('range=1h&model=m&status=ok', 'admin'), 'admin').toString();
    expect(a).toBe(b);
  });

  test('activeCount counts a time range once', () => {
    expect(activeCount(emptyFilters(), 'admin')).toBe(0);
    expect(activeCount(parseFilters('since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z&model=m', 'admin'), 'admin')).toBe(2);
    expect(activeCount(parseFilters('until=2026-01-02T00:00:00Z', 'admin'), 'admin')).toBe(1);
    expect(activeCount(parseFilters('range=24h&channel=a', 'me'), 'me')).toBe(1);
  });

  test('the API query turns a relative range into since', () => {
    const now = new Date('2026-12-06T12:00:00.500Z');
    expect(apiQuery(parseFilters('range=24h&model=m', 'admin'), 'admin', now)).toEqual({ since: '2026-12-05T12:00:00Z', model: 'm' });
    expect(apiQuery(parseFilters('range=1h', 'me'), 'me', now)).toEqual({ since: '2026-12-06T11:00:00Z' });
    expect(apiQuery(parseFilters('since=2026-01-01T00:00:00Z', 'admin'), 'admin', now)).toEqual({ since: '2026-01-01T00:00:00Z' });
    expect(apiQuery(emptyFilters(), 'admin', now)).toEqual({});
  });

  test('the CSV link carries the same filters to the scope’s CSV route', () => {
    const now = new Date('2026-12-06T12:00:00Z');
    expect(csvHref('admin', parseFilters('model=gpt-4o&status=error', 'admin'), now)).toBe('/api/v1/admin/usage.csv?model=gpt-4o&status=error');
    expect(csvHref('me', parseFilters('range=7d&channel=x', 'me'), now)).toBe('/api/v1/me/usage.csv?since=2026-11-29T12%3A00%3A00Z');
    expect(csvHref('me', emptyFilters(), now)).toBe('/api/v1/me/usage.csv');
  });

  test('page links keep the filters and add the open row', () => {
    const f = parseFilters('model=m&range=1h', 'admin');
    expect(pageHref('admin', f, 42)).toBe('/usage?range=1h&model=m&id=42');
    expect(pageHref('me', emptyFilters())).toBe('/me/usage');
    expect(detailId('?model=m&id=42')).toBe(42);
    expect(detailId('?id=abc')).toBe(0);
    expect(detailId('?id=-3')).toBe(0);
    expect(detailId('')).toBe(0);
  });
});

describe('times', () => {
  test('RFC 3339 in whole UTC seconds', () => {
    expect(toRFC3339(new Date('2026-01-02T03:04:05.678Z'))).toBe('2026-01-02T03:04:05Z');
  });

  test('datetime-local values round-trip through RFC 3339', () => {
    const v = '2026-03-04T05:06';
    expect(localInput(fromLocalInput(v))).toBe(v);
    expect(fromLocalInput('')).toBe('');
    expect(fromLocalInput('nonsense')).toBe('');
    expect(localInput('')).toBe('');
    expect(localInput('nonsense')).toBe('');
  });

  test('table times in each language', () => {
    expect(formatTime('2026-12-06T19:43:28Z', 'en', 'UTC')).toBe('Dec 6 19:43:28');
    expect(formatTime('2026-12-06T19:43:28Z', 'zh-CN', 'Asia/Shanghai')).toBe('12月7日 03:43:28');
    expect(formatTime('garbage', 'en')).toBe('garbage');
  });

  test('the detail time is complete', () => {
    expect(formatFullTime('2026-12-06T19:43:28.12Z', 'UTC')).toBe('2026-12-06 19:43:28.120 UTC');
    expect(formatFullTime('2026-12-06T19:43:28Z', 'Asia/Shanghai')).toBe('2026-12-07 03:43:28.000 UTC+08:00');
  });
});

describe('cells', () => {
  test('status tones', () => {
    expect(statusTone(200)).toBe('ok');
    expect(statusTone(204)).toBe('ok');
    expect(statusTone(429)).toBe('warn');
    expect(statusTone(400)).toBe('warn');
    expect(statusTone(499)).toBe('off');
    expect(statusTone(502)).toBe('bad');
    expect(statusTone(0)).toBe('bad');
  });

  test('short request ids', () => {
    expect(shortId('req_1')).toBe('req_1');
    expect(shortId('0123456789abcdef0123456789')).toBe('012345…6789');
  });

  test('pages append without repeating a row', () => {
    const r = (id: number) => ({ id }) as UsageRow;
    expect(rowsAfter([r(5), r(4)], [r(4), r(3)]).map((x) => x.id)).toEqual([5, 4, 3]);
  });
});
