// Top-up helpers: exact conversions between what people type (a price in
// the currency's major unit, credit in USD) and the integers the API takes
// (minor units, micro-USD), and the order states shown as badges.
import type { components } from '../../lib/api/schema';

export type Order = components['schemas']['TopupOrder'];
export type Package = components['schemas']['TopupPackage'];
export type Offer = components['schemas']['TopupOffer'];
export type Status = Order['status'];
export type Flag = Order['flags'][number];

export const statuses: Status[] = ['pending', 'paid', 'credited', 'expired', 'cancelled', 'refunded'];
export const flags: Flag[] = ['late', 'amount_mismatch', 'forced'];

// The currencies without minor units (as Stripe and the server list them).
const zeroDecimal = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']);

export function decimalsOf(currency: string): number {
  return zeroDecimal.has(currency.trim().toLowerCase()) ? 0 : 2;
}

// parseDecimal reads a non-negative decimal with at most `places`
// decimals into an integer scaled by 10^places; more decimals, signs,
// exponents or anything else are refused (null), never rounded.
export function parseDecimal(s: string, places: number): number | null {
  const v = s.trim().replace(/,/g, '');
  const m = /^(\d*)(?:\.(\d*))?$/.exec(v);
  if (!m || (m[1] === '' && (m[2] ?? '') === '')) return null;
  const frac = m[2] ?? '';
  if (frac.length > places) return null;
  const n = BigInt((m[1] || '0') + frac.padEnd(places, '0'));
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(n);
}

// formatDecimal is parseDecimal's inverse: 1050, 2 → "10.50".
export function formatDecimal(n: number, places: number): string {
  const neg = n < 0;
  const s = String(Math.abs(Math.trunc(n))).padStart(places + 1, '0');
  const body = places ? `${s.slice(0, -places)}.${s.slice(-places)}` : s;
  return (neg ? '-' : '') + body;
}

// parsePrice: "10.5" cny → 1050; "500" jpy → 500; "1.234" usd → null.
export function parsePrice(s: string, currency: string): number | null {
  return parseDecimal(s, decimalsOf(currency));
}

export function priceText(minor: number, currency: string): string {
  return formatDecimal(minor, decimalsOf(currency));
}

// formatPrice: 1050 cny → "10.50 CNY".
export function formatPrice(minor: number, currency: string): string {
  return `${priceText(minor, currency)} ${currency.toUpperCase()}`;
}

// parseUSD: "1.5" → 1_500_000 micro-USD (up to 6 decimals, exactly).
export function parseUSD(s: string): number | null {
  return parseDecimal(s, 6);
}

// usdText: 1_500_000 → "1.5" (trailing zeros trimmed) for a form field.
export function usdText(micros: number): string {
  return formatDecimal(micros, 6).replace(/\.?0+$/, '');
}

// customPrice: what a free amount costs, rounded up to a whole minor unit
// (price_per_usd_minor per 1 USD of credit).
export function customPrice(creditMicros: number, pricePerUSDMinor: number): number {
  return Number((BigInt(creditMicros) * BigInt(pricePerUSDMinor) + 999_999n) / 1_000_000n);
}

export type CustomProblem = 'required' | 'invalid' | 'too_small' | 'too_large';

// checkCustom validates a free amount typed in USD against the bounds.
export function checkCustom(s: string, min: number, max: number): { micros: number } | { problem: CustomProblem } {
  if (!s.trim()) return { problem: 'required' };
  const m = parseUSD(s);
  if (m === null || m <= 0) return { problem: 'invalid' };
  if (min > 0 && m < min) return { problem: 'too_small' };
  if (max > 0 && m > max) return { problem: 'too_large' };
  return { micros: m };
}

// tone of a status badge.
export function statusTone(s: Status): 'ok' | 'warn' | 'bad' | 'off' {
  switch (s) {
    case 'credited':
      return 'ok';
    case 'pending':
    case 'paid':
      return 'warn';
    case 'refunded':
      return 'bad';
    default:
      return 'off';
  }
}

// remainingMs until an order expires (0 once past or not pending).
export function expiresIn(o: Pick<Order, 'status' | 'expires_at'>, now: number): number {
  if (o.status !== 'pending') return 0;
  const t = Date.parse(o.expires_at);
  return Number.isFinite(t) ? Math.max(0, t - now) : 0;
}

// clock renders a countdown: 65 s → "1:05"; seconds round up.
export function clock(ms: number): string {
  const total = Math.ceil(Math.max(0, ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

// settling: the order is paid but not yet credited (worth re-checking),
// unless it is held for an amount mismatch.
export function settling(o: Pick<Order, 'status' | 'flags'>): boolean {
  return o.status === 'paid' && !o.flags.includes('amount_mismatch');
}

// Admin order filters live in the URL.
export interface OrderFilters {
  status: string;
  provider: string;
  flag: string;
  user_id: string;
}

export function filtersFrom(search: string): OrderFilters {
  const q = new URLSearchParams(search);
  const status = q.get('status') ?? '';
  const flag = q.get('flag') ?? '';
  const uid = q.get('user_id') ?? '';
  return {
    status: (statuses as string[]).includes(status) ? status : '',
    provider: q.get('provider') ?? '',
    flag: (flags as string[]).includes(flag) ? flag : '',
    user_id: /^[1-9]\d*$/.test(uid) ? uid : '',
  };
}

// searchOf writes the tab, filters and the open order back to a query string.
export function searchOf(tab: string, f: OrderFilters, ref = ''): string {
  const q = new URLSearchParams();
  if (tab && tab !== 'packages') q.set('tab', tab);
  for (const [k, v] of Object.entries(f)) if (v) q.set(k, v);
  if (ref) q.set('ref', ref);
  const s = q.toString();
  return s ? `?${s}` : '';
}

// Provider settings: the edit form of one provider, and the body it
// sends. Secrets are write-only: the form starts them empty (the server
// keeps a secret it is not sent) and shows what is saved as hints.
export type ProviderConfig = components['schemas']['TopupProviderConfig'];
export type ProviderInput = components['schemas']['TopupProviderInput'];
type Hint = ProviderConfig['secret_key'];

export interface ProviderForm {
  name: string;
  enabled: boolean;
  api_base: string;
  gateway: string;
  pid: string;
  type: string;
  currency: string;
  instructions: string;
  secret_key: string;
  key: string;
  add_secret: string;
  keep: boolean[]; // per saved webhook secret
  hints: { secret_key: Hint | null; key: Hint | null; webhook_secrets: Hint[] };
}

export function providerFormOf(name: string, c: ProviderConfig | null): ProviderForm {
  return {
    name,
    enabled: c ? c.enabled : true,
    api_base: c?.api_base ?? '',
    gateway: c?.gateway ?? '',
    pid: c?.pid ?? '',
    type: c?.type ?? '',
    currency: c?.currency ?? '',
    instructions: c?.instructions ?? '',
    secret_key: '',
    key: '',
    add_secret: '',
    keep: (c?.webhook_secrets ?? []).map(() => true),
    hints: { secret_key: c?.secret_key.set ? c.secret_key : null, key: c?.key.set ? c.key : null, webhook_secrets: c?.webhook_secrets ?? [] },
  };
}

// providerBody sends only the members of the form's provider; an empty
// secret is left out (kept), and the webhook secrets kept are sent by
// index only when one was unticked.
export function providerBody(f: ProviderForm): ProviderInput {
  const b: ProviderInput = { enabled: f.enabled };
  if (f.name === 'stripe') {
    b.api_base = f.api_base.trim();
    if (f.secret_key.trim()) b.secret_key = f.secret_key.trim();
    if (f.keep.some((k) => !k)) b.webhook_secrets_keep = f.keep.flatMap((k, i) => (k ? [i] : []));
    if (f.add_secret.trim()) b.webhook_secrets_add = [f.add_secret.trim()];
  } else if (f.name === 'epay') {
    Object.assign(b, { gateway: f.gateway.trim(), pid: f.pid.trim(), type: f.type.trim(), currency: f.currency.trim().toLowerCase() });
    if (f.key.trim()) b.key = f.key.trim();
  } else {
    b.instructions = f.instructions.trim();
  }
  return b;
}
