import { describe, expect, it } from 'vitest';
import {
  checkCustom, clock, customPrice, decimalsOf, expiresIn, filtersFrom, formatDecimal, formatPrice, parsePrice, parseUSD,
  providerBody, providerFormOf, searchOf, settling, statusTone, usdText,
} from './logic';

describe('amounts', () => {
  it('knows zero-decimal currencies', () => {
    expect(decimalsOf('JPY')).toBe(0);
    expect(decimalsOf('cny')).toBe(2);
  });
  it('parses prices exactly into minor units', () => {
    expect(parsePrice('10.5', 'cny')).toBe(1050);
    expect(parsePrice('10.50', 'usd')).toBe(1050);
    expect(parsePrice('0.1', 'usd')).toBe(10);
    expect(parsePrice('19.99', 'usd')).toBe(1999);
    expect(parsePrice('1,000', 'usd')).toBe(100000);
    expect(parsePrice('500', 'jpy')).toBe(500);
    expect(parsePrice('500.5', 'jpy')).toBeNull();
    expect(parsePrice('1.234', 'usd')).toBeNull();
    expect(parsePrice('-1', 'usd')).toBeNull();
    expect(parsePrice('1e3', 'usd')).toBeNull();
    expect(parsePrice('', 'usd')).toBeNull();
    expect(parsePrice('.', 'usd')).toBeNull();
    expect(parsePrice('.5', 'usd')).toBe(50);
  });
  it('parses USD into micro-USD exactly', () => {
    expect(parseUSD('0.000001')).toBe(1);
    expect(parseUSD('1.1')).toBe(1_100_000);
    expect(parseUSD('0.3')).toBe(300_000);
    expect(parseUSD('0.0000001')).toBeNull();
    expect(usdText(1_100_000)).toBe('1.1');
    expect(usdText(10_000_000)).toBe('10');
    expect(usdText(1)).toBe('0.000001');
  });
  it('formats prices', () => {
    expect(formatDecimal(5, 2)).toBe('0.05');
    expect(formatPrice(1050, 'cny')).toBe('10.50 CNY');
    expect(formatPrice(500, 'jpy')).toBe('500 JPY');
  });
  it('prices free amounts rounded up', () => {
    expect(customPrice(5_000_000, 100)).toBe(500);
    expect(customPrice(1_000_001, 100)).toBe(101);
  });
  it('checks free amounts against the bounds', () => {
    expect(checkCustom('', 1, 2)).toEqual({ problem: 'required' });
    expect(checkCustom('x', 1, 2)).toEqual({ problem: 'invalid' });
    expect(checkCustom('4.99', 5_000_000, 500_000_000)).toEqual({ problem: 'too_small' });
    expect(checkCustom('501', 5_000_000, 500_000_000)).toEqual({ problem: 'too_large' });
    expect(checkCustom('5', 5_000_000, 500_000_000)).toEqual({ micros: 5_000_000 });
  });
});

describe('status', () => {
  it('tones', () => {
    expect(statusTone('credited')).toBe('ok');
    expect(statusTone('pending')).toBe('warn');
    expect(statusTone('expired')).toBe('off');
    expect(statusTone('refunded')).toBe('bad');
  });
  it('counts down pending orders only', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(expiresIn({ status: 'pending', expires_at: '2026-01-01T00:01:05Z' }, now)).toBe(65_000);
    expect(expiresIn({ status: 'pending', expires_at: '2025-12-31T00:00:00Z' }, now)).toBe(0);
    expect(expiresIn({ status: 'paid', expires_at: '2026-01-01T00:01:05Z' }, now)).toBe(0);
    expect(clock(65_000)).toBe('1:05');
    expect(clock(64_001)).toBe('1:05');
    expect(clock(3_725_000)).toBe('1:02:05');
    expect(clock(0)).toBe('0:00');
  });
  it('re-checks paid orders unless held', () => {
    expect(settling({ status: 'paid', flags: [] })).toBe(true);
    expect(settling({ status: 'paid', flags: ['amount_mismatch'] })).toBe(false);
    expect(settling({ status: 'credited', flags: [] })).toBe(false);
  });
});

describe('url state', () => {
  it('reads and writes filters', () => {
    const f = filtersFrom('?tab=orders&status=paid&flag=late&user_id=3&provider=epay');
    expect(f).toEqual({ status: 'paid', provider: 'epay', flag: 'late', user_id: '3' });
    expect(filtersFrom('?status=bogus&user_id=0')).toEqual({ status: '', provider: '', flag: '', user_id: '' });
    expect(searchOf('orders', f, 'TU1')).toBe('?tab=orders&status=paid&provider=epay&flag=late&user_id=3&ref=TU1');
    expect(searchOf('packages', { status: '', provider: '', flag: '', user_id: '' })).toBe('');
  });
});

describe('provider settings form', () => {
  const saved = {
    enabled: true, api_base: '', gateway: '', pid: '', type: '', currency: '', instructions: '', updated_at: '2026-01-01T00:00:00Z',
    secret_key: { set: true, last4: 'abcd' }, key: { set: false, last4: '' },
    webhook_secrets: [{ set: true, last4: '1111' }, { set: true, last4: '2222' }],
  };
  it('starts secrets empty and keeps every saved webhook secret', () => {
    const f = providerFormOf('stripe', saved);
    expect(f.secret_key).toBe('');
    expect(f.keep).toEqual([true, true]);
    expect(f.hints.secret_key?.last4).toBe('abcd');
    expect(providerBody(f)).toEqual({ enabled: true, api_base: '' });
  });
  it('sends a new secret, the kept indexes only when one is dropped, and the added secret', () => {
    const f = providerFormOf('stripe', saved);
    f.secret_key = ' sk_live_new ';
    f.keep = [false, true];
    f.add_secret = 'whsec_new';
    expect(providerBody(f)).toEqual({ enabled: true, api_base: '', secret_key: 'sk_live_new', webhook_secrets_keep: [1], webhook_secrets_add: ['whsec_new'] });
  });
  it('sends only the EPay members, the key only when typed', () => {
    const f = providerFormOf('epay', null);
    Object.assign(f, { gateway: ' https://pay.test/ ', pid: '1001', currency: 'CNY' });
    expect(providerBody(f)).toEqual({ enabled: true, gateway: 'https://pay.test/', pid: '1001', type: '', currency: 'cny' });
    f.key = 'k';
    expect(providerBody(f).key).toBe('k');
  });
  it('sends the manual instructions', () => {
    const f = providerFormOf('manual', null);
    f.instructions = ' IBAN XX00 ';
    expect(providerBody(f)).toEqual({ enabled: true, instructions: 'IBAN XX00' });
  });
});
