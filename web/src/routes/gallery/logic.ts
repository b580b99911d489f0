// The gallery's URL filter state and the undo queue of batch deletes.

export interface Filters {
  q: string;
  model: string;
  size: string;
  since: string; // YYYY-MM-DD (a local day), or ''
  until: string; // YYYY-MM-DD, inclusive, or ''
  fav: '' | 'true' | 'false';
  all: boolean; // admins: everyone's images
}

export const emptyFilters = (): Filters => ({ q: '', model: '', size: '', since: '', until: '', fav: '', all: false });

const day = /^\d{4}-\d{2}-\d{2}$/;

// parseFilters reads the filters from a location's search string, dropping
// values the page could not have written.
export function parseFilters(search: string): Filters {
  const p = new URLSearchParams(search);
  const f = emptyFilters();
  f.q = (p.get('q') ?? '').slice(0, 200);
  f.model = p.get('model') ?? '';
  f.size = p.get('size') ?? '';
  const since = p.get('since') ?? '';
  const until = p.get('until') ?? '';
  f.since = day.test(since) ? since : '';
  f.until = day.test(until) ? until : '';
  const fav = p.get('favourite');
  f.fav = fav === 'true' || fav === 'false' ? fav : '';
  f.all = p.get('all') === '1';
  return f;
}

// filtersToSearch is the search string for filters ('' when none), in a
// stable order so equal filters give equal URLs.
export function filtersToSearch(f: Filters): string {
  const p = new URLSearchParams();
  if (f.q.trim()) p.set('q', f.q.trim());
  if (f.model) p.set('model', f.model);
  if (f.size) p.set('size', f.size);
  if (f.since) p.set('since', f.since);
  if (f.until) p.set('until', f.until);
  if (f.fav) p.set('favourite', f.fav);
  if (f.all) p.set('all', '1');
  const s = p.toString();
  return s ? `?${s}` : '';
}

// dayStart is the RFC 3339 instant a local day starts; offset days later
// with add (until is inclusive: it ends where the next day starts).
export function dayStart(d: string, add = 0): string {
  const [y, m, dd] = d.split('-').map(Number);
  return new Date(y, m - 1, dd + add).toISOString();
}

// apiQuery is the list/export query for filters (no paging).
export function apiQuery(f: Filters): Record<string, string> {
  const q: Record<string, string> = {};
  if (f.q.trim()) q.q = f.q.trim();
  if (f.model) q.model = f.model;
  if (f.size) q.size = f.size;
  if (f.since) q.since = dayStart(f.since);
  if (f.until) q.until = dayStart(f.until, 1);
  if (f.fav) q.favourite = f.fav;
  return q;
}

export function exportHref(f: Filters): string {
  const s = new URLSearchParams(apiQuery(f)).toString();
  return '/api/v1/me/gallery/export.zip' + (s ? `?${s}` : '');
}

export const SIZES = ['256x256', '512x512', '1024x1024', '1024x1536', '1536x1024', '1792x1024', '1024x1792'];

// UndoQueue holds deletes back for a few seconds: add hides ids at once,
// undo gives them back, and the delete is sent when the window passes, or
// at once by flush (the page is left).
export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(h: unknown): void;
}

interface Pending {
  ids: number[];
  timer: unknown;
}

export class UndoQueue {
  private pending = new Map<number, Pending>();
  private next = 1;
  constructor(
    private send: (ids: number[]) => Promise<unknown> | void,
    private delayMs = 6000,
    private timers: Timers = { set: (fn, ms) => setTimeout(fn, ms), clear: (h) => clearTimeout(h as number) },
  ) {}

  // add queues ids for deletion and returns the token to undo it with.
  add(ids: number[]): number {
    const token = this.next++;
    const timer = this.timers.set(() => this.fire(token), this.delayMs);
    this.pending.set(token, { ids: [...ids], timer });
    return token;
  }

  // undo cancels a queued delete and returns its ids ([] when already sent).
  undo(token: number): number[] {
    const p = this.pending.get(token);
    if (!p) return [];
    this.timers.clear(p.timer);
    this.pending.delete(token);
    return p.ids;
  }

  // hidden lists every id waiting to be deleted.
  hidden(): Set<number> {
    const s = new Set<number>();
    for (const p of this.pending.values()) for (const id of p.ids) s.add(id);
    return s;
  }

  has(token: number): boolean {
    return this.pending.has(token);
  }

  get size(): number {
    return this.pending.size;
  }

  // flush sends every queued delete now, as one request per 500 ids.
  flush(send: (ids: number[]) => Promise<unknown> | void = this.send) {
    const ids: number[] = [];
    for (const [token, p] of this.pending) {
      this.timers.clear(p.timer);
      this.pending.delete(token);
      ids.push(...p.ids);
    }
    for (let i = 0; i < ids.length; i += 500) void send(ids.slice(i, i + 500));
  }

  private fire(token: number) {
    const p = this.pending.get(token);
    if (!p) return;
    this.pending.delete(token);
    // Sent in batches of 500 (the API's bound).
    for (let i = 0; i < p.ids.length; i += 500) void this.send(p.ids.slice(i, i + 500));
  }
}
