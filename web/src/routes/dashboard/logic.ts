// The dashboard's logic worth a unit test: the range in the URL, shaping
// the analytics series into chart buckets and table rows, the live figures
// and the small number formats the tiles use. No DOM here.
import type { components } from '../../lib/api/schema';
import { formatInteger, formatMicros, type Locale } from '../../lib/format';

export type Analytics = components['schemas']['Analytics'];
export type Figures = components['schemas']['AnalyticsFigures'];
export type Point = components['schemas']['AnalyticsPoint'];
export type Group = components['schemas']['AnalyticsGroup'];
export type LiveEvent = components['schemas']['LiveEvent'];

export type Range = '24h' | '7d' | '30d';
export const ranges: readonly Range[] = ['24h', '7d', '30d'];
export const defaultRange: Range = '24h';

// parseRange reads ?range= from a location's search; anything else (absent,
// misspelt, another case) is the default, so a stale link still works.
export function parseRange(search: string): Range {
  const v = new URLSearchParams(search).get('range');
  return (ranges as readonly string[]).includes(v ?? '') ? (v as Range) : defaultRange;
}

// rangeHref is the address of the same view with another range; the
// default range leaves the parameter out, so "/" stays the canonical view.
// Other parameters are kept.
export function rangeHref(search: string, r: Range, path = '/'): string {
  const q = new URLSearchParams(search);
  if (r === defaultRange) q.delete('range');
  else q.set('range', r);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

// chartStep is a chart bucket in seconds: the API answers minute buckets
// for 24 h and hour buckets for 7 and 30 days; charts read better with
// 15-minute, 1-hour and 6-hour buckets.
export function chartStep(r: Range): number {
  return r === '24h' ? 900 : r === '7d' ? 3600 : 6 * 3600;
}

// tableStep is a row of the text alternative: an hour for 24 h, a day for
// 7 and 30 days.
export function tableStep(r: Range): number {
  return r === '24h' ? 3600 : 86400;
}

export interface Shaped {
  x: number[]; // bucket starts, Unix seconds
  requests: number[];
  errors: number[];
  prompt: number[];
  completion: number[];
  tokens: number[];
  spend: number[]; // micro-USD
}

function emptyShaped(): Shaped {
  return { x: [], requests: [], errors: [], prompt: [], completion: [], tokens: [], spend: [] };
}

// shape sums the API's buckets into buckets of step seconds, aligned to
// step in the zone whose UTC offset is offsetSec (a day bucket starts at
// local midnight). Points arrive in time order; a bucket exists for every
// step the points span, so empty time shows as zero, not as a gap.
export function shape(points: readonly Point[], step: number, offsetSec = 0): Shaped {
  const out = emptyShaped();
  if (!points.length) return out;
  const at = (p: Point) => Math.floor(Date.parse(p.time) / 1000);
  const start = (t: number) => Math.floor((t + offsetSec) / step) * step - offsetSec;
  const first = start(at(points[0]));
  const last = start(at(points[points.length - 1]));
  const n = Math.max(0, Math.round((last - first) / step)) + 1;
  for (let i = 0; i < n; i++) {
    out.x.push(first + i * step);
    out.requests.push(0);
    out.errors.push(0);
    out.prompt.push(0);
    out.completion.push(0);
    out.tokens.push(0);
    out.spend.push(0);
  }
  for (const p of points) {
    const t = at(p);
    if (!Number.isFinite(t)) continue;
    const i = Math.round((start(t) - first) / step);
    if (i < 0 || i >= n) continue;
    out.requests[i] += p.requests;
    out.errors[i] += p.errors;
    out.prompt[i] += p.prompt_tokens;
    out.completion[i] += p.completion_tokens;
    out.tokens[i] += p.prompt_tokens + p.completion_tokens;
    out.spend[i] += p.spend_micros;
  }
  return out;
}

// offsetSeconds is the browser's UTC offset at t, as shape wants it
// (positive east of Greenwich).
export function offsetSeconds(t = new Date()): number {
  return -t.getTimezoneOffset() * 60;
}

export interface Peak {
  value: number;
  at: number; // Unix seconds; -1 when every bucket is zero
}

export function sum(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

// peak is the largest bucket and when it started (the first if tied).
export function peak(x: readonly number[], values: readonly number[]): Peak {
  let best: Peak = { value: 0, at: -1 };
  values.forEach((v, i) => {
    if (v > best.value) best = { value: v, at: x[i] };
  });
  return best;
}

// successRatio is the share of requests answered 2xx; NaN without requests
// (a tile shows "—" rather than a made-up 100 %).
export function successRatio(requests: number, errors: number): number {
  if (!(requests > 0)) return NaN;
  return Math.min(1, Math.max(0, (requests - errors) / requests));
}

// liveSuccess is the success rate of the last seconds of a live event.
export function liveSuccess(ev: Pick<LiveEvent, 'requests_per_second' | 'errors_per_second'> | null): number {
  if (!ev) return NaN;
  return successRatio(ev.requests_per_second, ev.errors_per_second);
}

// formatRate renders requests per second: "0", "0.4", "12.5", "1,234".
export function formatRate(n: number, locale: Locale = 'en'): string {
  if (!Number.isFinite(n) || n < 0) return '—';
  if (n === 0) return '0';
  if (n < 0.05) return '<0.1';
  if (n < 100) return n.toFixed(1).replace(/\.0$/, '');
  return formatInteger(Math.round(n), locale);
}

// niceIncrs are the axis steps uPlot may pick: whole numbers only, since
// requests, tokens and micro-USD are counted, never split.
export const niceIncrs: number[] = (() => {
  const out: number[] = [];
  for (let e = 0; e <= 12; e++) for (const m of [1, 2, 5]) out.push(m * 10 ** e);
  return out;
})();

// withAlpha turns a #rrggbb (or #rgb) colour into rgba() for the area under
// a line; any other colour is returned as it is.
export function withAlpha(color: string, alpha: number): string {
  let c = color.trim();
  if (/^#[0-9a-f]{3}$/i.test(c)) c = '#' + [...c.slice(1)].map((d) => d + d).join('');
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(c);
  if (!m) return c;
  const [r, g, b] = m.slice(1).map((h) => parseInt(h, 16));
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

// Time labels: the axis, the hover readout and the table rows, in the
// console's language and the browser's zone.
export function timeFormatter(r: Range, locale: Locale, kind: 'axis' | 'point' | 'row', timeZone?: string): (sec: number) => string {
  const opts: Intl.DateTimeFormatOptions = { timeZone, hourCycle: 'h23' };
  const day = kind === 'row' ? r !== '24h' : r !== '24h' && kind === 'axis';
  if (day) Object.assign(opts, { month: 'numeric', day: 'numeric' });
  else if (r === '24h') Object.assign(opts, { hour: '2-digit', minute: '2-digit' });
  else Object.assign(opts, { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  const f = new Intl.DateTimeFormat(locale, opts);
  return (sec: number) => f.format(new Date(sec * 1000));
}

// Upstream health at a glance: channels on and off, credentials by state.
export interface Health {
  channels: number;
  channelsDisabled: number;
  credentials: number;
  ok: number;
  cooldown: number;
  circuitOpen: number;
  disabled: number;
}

export function emptyHealth(): Health {
  return { channels: 0, channelsDisabled: 0, credentials: 0, ok: 0, cooldown: 0, circuitOpen: 0, disabled: 0 };
}

interface CredState {
  status: 'active' | 'disabled' | 'cooldown' | 'circuit_open';
  cooldown_until?: string;
}

// countHealth tallies the channel list and their credentials. A cooldown
// that has ended since the scheduler last wrote counts as OK, as on the
// channels page.
export function countHealth(channels: readonly { disabled: boolean }[], creds: readonly CredState[], now: number): Health {
  const h = emptyHealth();
  h.channels = channels.length;
  h.channelsDisabled = channels.filter((c) => c.disabled).length;
  for (const c of creds) {
    h.credentials++;
    switch (c.status) {
      case 'disabled':
        h.disabled++;
        break;
      case 'circuit_open':
        h.circuitOpen++;
        break;
      case 'cooldown': {
        const until = c.cooldown_until ? Date.parse(c.cooldown_until) : NaN;
        if (until > now) h.cooldown++;
        else h.ok++;
        break;
      }
      default:
        h.ok++;
    }
  }
  return h;
}

// groupName is what a breakdown row shows: the label (an email, a key's
// name) when there is one, else the value; "" stands for none.
export function groupName(g: Pick<Group, 'value' | 'label'>, dim: 'model' | 'channel' | 'user' | 'key'): string {
  if (g.label) return g.label;
  if (!g.value) return '';
  return dim === 'user' || dim === 'key' ? `#${g.value}` : g.value;
}

// niceCeil rounds a chart's top up to a round number (1, 1.5, 2, 2.5, 3,
// 4, 5, 6, 8 times a power of ten), at least 1, so the top gridline is labelled.
export function niceCeil(x: number): number {
  if (!(x > 1)) return 1;
  const e = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * e >= x) return m * e;
  return 10 * e;
}

// axisLabel is a time axis tick: clock times over 24 h; over days, the date
// at midnight and date and time elsewhere.
export function axisLabel(r: Range, locale: Locale, timeZone?: string): (sec: number) => string {
  const clock = timeFormatter('24h', locale, 'axis', timeZone);
  const date = timeFormatter(r, locale, 'row', timeZone);
  const both = timeFormatter(r, locale, 'point', timeZone);
  return (sec: number) => {
    if (r === '24h') return clock(sec);
    return clock(sec) === '00:00' ? date(sec) : both(sec);
  };
}

// formatSpend is money for tiles and tables: exact below a cent (small
// requests cost fractions of one), four decimals below a dollar, cents above.
export function formatSpend(micros: number, locale: Locale = 'en'): string {
  if (!Number.isFinite(micros)) return '—';
  const a = Math.abs(micros);
  if (a >= 1_000_000) return formatMicros(micros, locale, { maxDecimals: 2 });
  if (a >= 10_000) return formatMicros(micros, locale, { maxDecimals: 4 });
  return formatMicros(micros, locale);
}
