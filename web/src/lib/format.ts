// Money, token and duration formatting: the one place the console turns
// server numbers into text. Money arrives as integer micro-USD (members named
// *_micros); it is formatted with integer arithmetic so no float rounding
// ever shows a wrong cent.

export type Locale = 'en' | 'zh-CN';

const MICROS = 1_000_000n;

function toBig(n: number | bigint): bigint {
  if (typeof n === 'bigint') return n;
  if (!Number.isFinite(n)) throw new RangeError(`not a finite number: ${n}`);
  return BigInt(Math.trunc(n));
}

// groupDigits puts thousands separators in a string of digits. Both locales
// the console speaks group by three with a comma.
function groupDigits(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export interface MoneyOptions {
  // Decimals to keep at least (trailing zeros past this are trimmed); 2 by default.
  minDecimals?: number;
  // Decimals to show at most (rounded half away from zero); 6 (exact) by default.
  maxDecimals?: number;
}

// formatMicros renders micro-USD: 1234567 → "$1.234567", 1500000 → "$1.50",
// -2500 → "-$0.0025". zh-CN writes "US$" so a dollar amount is never read as yuan.
export function formatMicros(micros: number | bigint, locale: Locale = 'en', opts: MoneyOptions = {}): string {
  const minDec = opts.minDecimals ?? 2;
  const maxDec = opts.maxDecimals ?? 6;
  let v = toBig(micros);
  const negative = v < 0n;
  if (negative) v = -v;
  if (maxDec < 6) {
    const step = 10n ** BigInt(6 - maxDec);
    v = ((v + step / 2n) / step) * step;
  }
  const whole = v / MICROS;
  let frac = (v % MICROS).toString().padStart(6, '0').slice(0, maxDec);
  while (frac.length > minDec && frac.endsWith('0')) frac = frac.slice(0, -1);
  const symbol = locale === 'zh-CN' ? 'US$' : '$';
  const body = groupDigits(whole.toString()) + (frac ? '.' + frac : '');
  const sign = negative && v !== 0n ? '-' : '';
  return sign + symbol + body;
}

// formatInteger groups an integer: 1234567 → "1,234,567".
export function formatInteger(n: number | bigint, _locale: Locale = 'en'): string {
  const v = toBig(n);
  return (v < 0n ? '-' : '') + groupDigits((v < 0n ? -v : v).toString());
}

interface Unit {
  size: number;
  suffix: string;
}
const unitsEn: Unit[] = [
  { size: 1e12, suffix: 'T' },
  { size: 1e9, suffix: 'B' },
  { size: 1e6, suffix: 'M' },
  { size: 1e3, suffix: 'K' },
];
// Chinese counts in 万 (10^4) and 亿 (10^8), not thousands.
const unitsZh: Unit[] = [
  { size: 1e12, suffix: '万亿' },
  { size: 1e8, suffix: '亿' },
  { size: 1e4, suffix: '万' },
];

// threeSig keeps three significant digits and drops trailing zeros.
function threeSig(x: number): string {
  const digits = x >= 100 ? 0 : x >= 10 ? 1 : 2;
  const s = x.toFixed(digits);
  return digits > 0 ? s.replace(/\.?0+$/, '') : s;
}

// formatTokens is a compact count for tables and cards: 950 → "950",
// 12345 → "12.3K" (en) or "1.23万" (zh-CN). Small counts stay exact.
export function formatTokens(n: number, locale: Locale = 'en'): string {
  if (!Number.isFinite(n)) return '—';
  const neg = n < 0;
  let x = Math.abs(n);
  const units = locale === 'zh-CN' ? unitsZh : unitsEn;
  const smallest = units[units.length - 1].size;
  let out: string;
  if (x < smallest) {
    out = formatInteger(Math.round(x), locale);
  } else {
    out = '';
    for (let i = 0; i < units.length; i++) {
      const u = units[i];
      if (x < u.size) continue;
      let s = threeSig(x / u.size);
      // 999,950 rounds to "1000K": carry into the next unit up.
      if (Number(s) * u.size >= (units[i - 1]?.size ?? Infinity)) {
        s = threeSig(x / units[i - 1].size);
        out = s + units[i - 1].suffix;
      } else {
        out = s + u.suffix;
      }
      break;
    }
  }
  return (neg ? '-' : '') + out;
}

// formatDuration renders milliseconds: 850 → "850 ms", 1234 → "1.23 s",
// 65000 → "1m 5s" (en) or "1分5秒" (zh-CN), 3723000 → "1h 2m", 90061000 → "1d 1h".
export function formatDuration(ms: number, locale: Locale = 'en'): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const zh = locale === 'zh-CN';
  if (ms < 1000) return `${Math.round(ms)} ${zh ? '毫秒' : 'ms'}`;
  if (ms < 60_000) {
    const s = threeSig(ms / 1000);
    return zh ? `${s} 秒` : `${s} s`;
  }
  const total = Math.floor(ms / 1000);
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const [a, au, b, bu] =
    d > 0 ? [d, 'd', h, 'h'] : h > 0 ? [h, 'h', m, 'm'] : [m, 'm', s, 's'];
  if (zh) {
    const zhUnit: Record<string, string> = { d: '天', h: '小时', m: '分', s: '秒' };
    return `${a}${zhUnit[au]}${b}${zhUnit[bu]}`;
  }
  return `${a}${au} ${b}${bu}`;
}

// formatPercent: 0.98765 → "98.8%".
export function formatPercent(ratio: number, _locale: Locale = 'en'): string {
  if (!Number.isFinite(ratio)) return '—';
  return `${(ratio * 100).toFixed(1).replace(/\.0$/, '')}%`;
}
