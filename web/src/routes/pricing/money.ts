// Dollar amounts typed by an administrator, turned into the integer
// micro-USD the API stores, exactly: the decimal text is split into its
// whole and fractional digits, never parsed as a float, so "0.15" is
// 150000 and not 149999.99…

export type MoneyProblem = 'format' | 'decimals' | 'range' | 'negative';

export type ParsedMoney = { ok: true; micros: number } | { ok: false; problem: MoneyProblem };

// The largest amount that survives JSON as an exact number.
const MAX = BigInt(Number.MAX_SAFE_INTEGER);

// parseUsd reads "2.5", "$2.50", " 0.000001 ", "1,234.5" (commas as
// thousands separators only when grouped by three), "-3" when negative is
// allowed. At most six decimals: a micro-dollar is the smallest unit.
export function parseUsd(text: string, opts: { allowNegative?: boolean } = {}): ParsedMoney {
  let s = text.trim().replace(/^US\$|^\$/, '').trim();
  let negative = false;
  if (s.startsWith('-')) {
    negative = true;
    s = s.slice(1).replace(/^US\$|^\$/, '');
  }
  if (/^\d{1,3}(,\d{3})+(\.\d*)?$/.test(s)) s = s.replace(/,/g, '');
  const m = /^(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[1] === '' && (m[2] ?? '') === '')) return { ok: false, problem: 'format' };
  const whole = m[1] || '0';
  const frac = m[2] ?? '';
  if (frac.length > 6) {
    // Trailing zeros past the sixth decimal change nothing.
    if (/[^0]/.test(frac.slice(6))) return { ok: false, problem: 'decimals' };
  }
  const v = BigInt(whole) * 1_000_000n + BigInt((frac.slice(0, 6) + '000000').slice(0, 6));
  if (v > MAX) return { ok: false, problem: 'range' };
  if (negative && v !== 0n) {
    if (!opts.allowNegative) return { ok: false, problem: 'negative' };
    return { ok: true, micros: -Number(v) };
  }
  return { ok: true, micros: Number(v) };
}

// usdText is micro-USD as plain decimal text for an input: 2500000 → "2.5",
// 150000 → "0.15", 0 → "0". No symbol and no grouping, so it parses back.
export function usdText(micros: number | bigint): string {
  let v = typeof micros === 'bigint' ? micros : BigInt(Math.trunc(micros));
  const neg = v < 0n;
  if (neg) v = -v;
  const whole = v / 1_000_000n;
  const frac = (v % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  return (neg ? '-' : '') + whole.toString() + (frac ? '.' + frac : '');
}
