import { describe, expect, it } from 'vitest';
import { apiQuery, dayStart, emptyFilters, exportHref, filtersToSearch, parseFilters, UndoQueue, type Timers } from './logic';

describe('URL filter state', () => {
  it('round-trips every filter', () => {
    const f = { q: '红色', model: 'gpt-image-1', size: '1024x1024', since: '2026-01-02', until: '2026-01-31', fav: 'true' as const, all: true };
    const s = filtersToSearch(f);
    expect(s).toBe('?q=%E7%BA%A2%E8%89%B2&model=gpt-image-1&size=1024x1024&since=2026-01-02&until=2026-01-31&favourite=true&all=1');
    expect(parseFilters(s)).toEqual(f);
  });
  it('is empty without filters and trims the search', () => {
    expect(filtersToSearch(emptyFilters())).toBe('');
    expect(filtersToSearch({ ...emptyFilters(), q: '  ' })).toBe('');
    expect(filtersToSearch({ ...emptyFilters(), q: ' fox ' })).toBe('?q=fox');
  });
  it('drops values the page cannot have written', () => {
    expect(parseFilters('?since=yesterday&until=2026-13&favourite=maybe&all=yes')).toEqual(emptyFilters());
    expect(parseFilters('?q=' + 'x'.repeat(300)).q).toHaveLength(200);
  });
  it('turns days into RFC 3339 bounds, until inclusive', () => {
    const q = apiQuery({ ...emptyFilters(), since: '2026-03-01', until: '2026-03-01', fav: 'false' });
    expect(q.since).toBe(dayStart('2026-03-01'));
    expect(new Date(q.until).getTime() - new Date(q.since).getTime()).toBeGreaterThanOrEqual(23 * 3600e3);
    expect(q.favourite).toBe('false');
    expect(apiQuery({ ...emptyFilters(), all: true })).toEqual({});
  });
  it('builds the export link with the filters', () => {
    expect(exportHref(emptyFilters())).toBe('/api/v1/me/gallery/export.zip');
    expect(exportHref({ ...emptyFilters(), model: 'dall-e-3', q: '狐' })).toBe('/api/v1/me/gallery/export.zip?q=%E7%8B%90&model=dall-e-3');
  });
});

function fakeTimers() {
  let now = 0;
  const list: { at: number; fn: () => void; id: number }[] = [];
  let n = 0;
  const timers: Timers = {
    set: (fn, ms) => {
      const id = ++n;
      list.push({ at: now + ms, fn, id });
      return id;
    },
    clear: (h) => {
      const i = list.findIndex((x) => x.id === h);
      if (i >= 0) list.splice(i, 1);
    },
  };
  const advance = (ms: number) => {
    now += ms;
    for (const x of list.filter((x) => x.at <= now)) {
      list.splice(list.indexOf(x), 1);
      x.fn();
    }
  };
  return { timers, advance };
}

describe('UndoQueue', () => {
  it('sends a delete only when the window passes', () => {
    const sent: number[][] = [];
    const { timers, advance } = fakeTimers();
    const q = new UndoQueue((ids) => void sent.push(ids), 5000, timers);
    q.add([1, 2]);
    expect([...q.hidden()]).toEqual([1, 2]);
    advance(4999);
    expect(sent).toEqual([]);
    advance(1);
    expect(sent).toEqual([[1, 2]]);
    expect(q.size).toBe(0);
  });
  it('undo cancels and gives the ids back', () => {
    const sent: number[][] = [];
    const { timers, advance } = fakeTimers();
    const q = new UndoQueue((ids) => void sent.push(ids), 5000, timers);
    const a = q.add([1]);
    const b = q.add([2, 3]);
    expect(q.undo(a)).toEqual([1]);
    expect(q.undo(a)).toEqual([]);
    expect([...q.hidden()]).toEqual([2, 3]);
    advance(6000);
    expect(sent).toEqual([[2, 3]]);
    expect(q.undo(b)).toEqual([]);
  });
  it('flush sends everything at once, in batches of 500', () => {
    const sent: number[][] = [];
    const { timers, advance } = fakeTimers();
    const q = new UndoQueue((ids) => void sent.push(ids), 5000, timers);
    q.add(Array.from({ length: 400 }, (_, i) => i + 1));
    q.add(Array.from({ length: 200 }, (_, i) => i + 401));
    const other: number[][] = [];
    q.flush((ids) => void other.push(ids));
    expect(other.map((x) => x.length)).toEqual([500, 100]);
    advance(10000);
    expect(sent).toEqual([]);
    expect(q.size).toBe(0);
  });
});
