// Dollar amounts typed by an admin, read exactly: the text's digits become
// integer micro-USD by string arithmetic, never through a float, so
// "0.1" is 100000 and "19.99" is 19990000, not 19989999.

// The API's bound on one credit adjustment and on a key's quota: 10^12 micros ($1,000,000).
export const MAX_MICROS = 1_000_000_000_000;
export const MICROS_PER_USD = 1_000_000;

export type AmountProblem = 'required' | 'amount' | 'precision' | 'too_large' | 'negative' | 'zero';

export type Amount = { ok: true; micros: number } | { ok: false; problem: AmountProblem };

export interface AmountRules {
  // A leading minus sign takes credit away (credit adjustments); else refused.
  allowNegative?: boolean;
  // 0 is refused (a credit adjustment of nothing).
  allowZero?: boolean;
}

// parseUSD reads "12", "12.5", "$1,000.25", "US$3", "-0.000001", "+5" (and
// the typographic minus "−"). At most six decimals; thousands commas only in
// groups of three.
export function parseUSD(text: string, rules: AmountRules = {}): Amount {
  let s = text.trim().replace(/\s+/g, '');
  if (!s) return { ok: false, problem: 'required' };
  let negative = false;
  if (/^[-−+]/.test(s)) {
    negative = s[0] !== '+';
    s = s.slice(1);
  }
  s = s.replace(/^(US)?\$/i, '');
  const m = /^(\d{1,3}(?:,\d{3})+|\d+)?(?:\.(\d*))?$/.exec(s);
  if (!m || (m[1] === undefined && !m[2])) return { ok: false, problem: 'amount' };
  const whole = (m[1] ?? '0').replace(/,/g, '');
  const frac = m[2] ?? '';
  if (frac.length > 6) return { ok: false, problem: 'precision' };
  const micros = BigInt(whole) * 1_000_000n + BigInt(frac.padEnd(6, '0') || '0');
  if (micros > BigInt(MAX_MICROS)) return { ok: false, problem: 'too_large' };
  if (micros === 0n && !rules.allowZero) return { ok: false, problem: 'zero' };
  if (negative && micros !== 0n && !rules.allowNegative) return { ok: false, problem: 'negative' };
  const n = Number(micros);
  return { ok: true, micros: negative && n !== 0 ? -n : n };
}

// usdText is micros as plain text for an input ("12.5", "-0.000001"): the
// inverse of parseUSD, exact, without symbol or grouping.
export function usdText(micros: number): string {
  let v = BigInt(Math.trunc(micros));
  const neg = v < 0n;
  if (neg) v = -v;
  const whole = v / 1_000_000n;
  const frac = (v % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  return (neg ? '-' : '') + whole.toString() + (frac ? '.' + frac : '');
}
