// The usage log's pure logic: filters kept in the page's URL query (so a
// view can be shared and reloaded), the API query and CSV link they make,
// and the page's own formatting. No Svelte, no DOM: unit-tested beside.
import type { components } from '../../lib/api/schema';
import type { Locale } from '../../lib/format';

export type UsageRow = components['schemas']['UsageRow'];
export type UsageAttempt = components['schemas']['UsageAttempt'];

// admin reads every user's log (/api/v1/admin/usage), me the caller's own.
export type Scope = 'admin' | 'me';

export const RANGES = ['1h', '24h', '7d', '30d'] as const;
export type Range = (typeof RANGES)[number];
const rangeMs: Record<Range, number> = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 };

// Every filter as the URL holds it: text, checked by the server (an
// invalid one is a 422 naming its parameter, shown on its field).
export interface Filters {
  range: Range | '' | 'custom'; // '' = any time
  since: string; // RFC 3339, with range 'custom'
  until: string;
  user_id: string; // admin
  key_id: string;
  model: string;
  channel: string; // admin
  credential_id: string; // admin
  status: string;
  stream: string; // '' | 'true' | 'false'
  request_id: string;
}

// The filters of each scope, in the URL's (stable) order after range,
// since and until. A user's log has no user, channel or credential.
const adminOnly = ['user_id', 'channel', 'credential_id'] as const;
const textKeys = ['user_id', 'key_id', 'model', 'channel', 'credential_id', 'status', 'stream', 'request_id'] as const;
export type FilterKey = (typeof textKeys)[number] | 'since' | 'until' | 'range';

export function filterKeys(scope: Scope): (typeof textKeys)[number][] {
  return textKeys.filter((k) => scope === 'admin' || !(adminOnly as readonly string[]).includes(k));
}

export function emptyFilters(): Filters {
  return { range: '', since: '', until: '', user_id: '', key_id: '', model: '', channel: '', credential_id: '', status: '', stream: '', request_id: '' };
}

// parseFilters reads the page's query. since/until make the range custom;
// an unknown range is ignored; another scope's filters are dropped.
export function parseFilters(search: string, scope: Scope): Filters {
  const q = new URLSearchParams(search);
  const f = emptyFilters();
  for (const k of filterKeys(scope)) f[k] = (q.get(k) ?? '').trim();
  f.since = (q.get('since') ?? '').trim();
  f.until = (q.get('until') ?? '').trim();
  const r = q.get('range') ?? '';
  if (f.since || f.until) f.range = 'custom';
  else if ((RANGES as readonly string[]).includes(r)) f.range = r as Range;
  return f;
}

// filtersQuery is the page's query for f: only what is set, in a stable
// order, so equal filters give equal URLs.
export function filtersQuery(f: Filters, scope: Scope): URLSearchParams {
  const q = new URLSearchParams();
  if (f.range === 'custom') {
    if (f.since.trim()) q.set('since', f.since.trim());
    if (f.until.trim()) q.set('until', f.until.trim());
  } else if (f.range) {
    q.set('range', f.range);
  }
  for (const k of filterKeys(scope)) {
    const v = f[k].trim();
    if (v) q.set(k, v);
  }
  return q;
}

// activeCount is how many filters narrow the log (the time range counts once).
export function activeCount(f: Filters, scope: Scope): number {
  const q = filtersQuery(f, scope);
  let n = 0;
  for (const k of q.keys()) if (k !== 'until' || !q.has('since')) n++;
  return n;
}

// apiQuery is the API's query for f at now: a relative range becomes since.
export function apiQuery(f: Filters, scope: Scope, now: Date): Record<string, string> {
  const q = filtersQuery(f, scope);
  const out: Record<string, string> = {};
  for (const [k, v] of q) if (k !== 'range') out[k] = v;
  if (f.range && f.range !== 'custom') out.since = toRFC3339(new Date(now.getTime() - rangeMs[f.range]));
  return out;
}

export function listPath(scope: Scope): '/api/v1/admin/usage' | '/api/v1/me/usage' {
  return scope === 'admin' ? '/api/v1/admin/usage' : '/api/v1/me/usage';
}

export function pagePath(scope: Scope): string {
  return scope === 'admin' ? '/usage' : '/me/usage';
}

// csvHref is the CSV route with the same filters: a plain link, so the
// browser downloads it with the session cookie.
export function csvHref(scope: Scope, f: Filters, now: Date): string {
  const q = new URLSearchParams(apiQuery(f, scope, now)).toString();
  return `${listPath(scope)}.csv${q ? '?' + q : ''}`;
}

// pageHref is the page's URL for f, with a row's detail open when id is set.
export function pageHref(scope: Scope, f: Filters, id?: number): string {
  const q = filtersQuery(f, scope);
  if (id) q.set('id', String(id));
  const s = q.toString();
  return pagePath(scope) + (s ? '?' + s : '');
}

// detailId is the row open in the side panel (?id=), 0 for none.
export function detailId(search: string): number {
  const n = Number(new URLSearchParams(search).get('id'));
  return Number.isInteger(n) && n > 0 ? n : 0;
}

// toRFC3339 writes a time the API parses: UTC, whole seconds.
export function toRFC3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

// localInput turns an RFC 3339 time into a datetime-local value (the
// browser's time zone); '' when it does not parse.
export function localInput(rfc: string): string {
  if (!rfc) return '';
  const d = new Date(rfc);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// fromLocalInput is the reverse: a datetime-local value (local time) as
// RFC 3339 UTC; '' for an empty or unreadable value.
export function fromLocalInput(v: string): string {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : toRFC3339(d);
}

// The status codes the filter offers; others in a URL are kept as they are.
export const STATUS_CHOICES = ['ok', 'error', '2xx', '4xx', '5xx', '429', '499'] as const;

export type Tone = 'ok' | 'warn' | 'bad' | 'off';

// statusTone: 2xx fine, 499 the client left, other 4xx the client's
// fault, the rest the gateway's or the upstream's.
export function statusTone(status: number): Tone {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 499) return 'off';
  if (status >= 400 && status < 500) return 'warn';
  return 'bad';
}

// formatTime is a row's time in a table: "Dec 6, 19:43:28" / "12月6日 19:43:28",
// in the browser's time zone unless one is given.
export function formatTime(iso: string, locale: Locale, timeZone?: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const date = new Intl.DateTimeFormat(locale, { month: 'short', day: 'numeric', timeZone }).format(d);
  return `${date} ${clock(d, timeZone)}`;
}

function clock(d: Date, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZone }).formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '00';
  return `${get('hour')}:${get('minute')}:${get('second')}`;
}

// formatFullTime is the detail's time: "2026-12-06 19:43:28.120 UTC+08:00",
// every part there, the same in both languages.
export function formatFullTime(iso: string, timeZone?: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const parts = new Intl.DateTimeFormat('en-GB', {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    hourCycle: 'h23', timeZone, timeZoneName: 'longOffset',
  }).formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const zone = get('timeZoneName').replace(/^GMT/, 'UTC').replace(/^UTC\+00:00$/, 'UTC');
  const ms = String(d.getUTCMilliseconds()).padStart(3, '0');
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')}.${ms} ${zone}`;
}

// shortId keeps the start and end of a long request id for a table cell.
export function shortId(id: string, keep = 6): string {
  return id.length <= keep * 2 + 1 ? id : `${id.slice(0, keep)}…${id.slice(-4)}`;
}

// rowsAfter appends a page, dropping rows already shown (a row written
// between pages cannot shift a keyset page, but a reload racing a
// scroll could repeat one).
export function rowsAfter(rows: UsageRow[], page: UsageRow[]): UsageRow[] {
  const seen = new Set(rows.map((r) => r.id));
  return [...rows, ...page.filter((r) => !seen.has(r.id))];
}
