import { describe, expect, it } from 'vitest';
import {
  createBody,
  emptyGroupForm,
  emptyUserForm,
  filtersOf,
  groupBody,
  needsStepUp,
  patchBody,
  searchOf,
  validateCredit,
  validateGroup,
  validateUser,
  type User,
} from './logic';
import { MAX_MICROS, parseUSD, usdText } from './money';

describe('parseUSD', () => {
  const micros = (s: string, neg = true) => {
    const a = parseUSD(s, { allowNegative: neg });
    return a.ok ? a.micros : a.problem;
  };
  it('reads dollars into exact micros', () => {
    expect(micros('12')).toBe(12_000_000);
    expect(micros('12.5')).toBe(12_500_000);
    expect(micros('0.1')).toBe(100_000);
    expect(micros('19.99')).toBe(19_990_000);
    expect(micros('0.29')).toBe(290_000); // 0.29 * 1e6 is 289999.99999999994 as floats
    expect(micros('1.005')).toBe(1_005_000);
    expect(micros('4.35')).toBe(4_350_000); // 4.35 * 1e6 = 4349999.999999999
    expect(micros('0.000001')).toBe(1);
    expect(micros('.5')).toBe(500_000);
    expect(micros('7.')).toBe(7_000_000);
  });
  it('takes symbols, grouping, signs and spaces', () => {
    expect(micros('$1,000.25')).toBe(1_000_250_000);
    expect(micros('US$3')).toBe(3_000_000);
    expect(micros(' -$2.50 ')).toBe(-2_500_000);
    expect(micros('−0.000001')).toBe(-1);
    expect(micros('+5')).toBe(5_000_000);
    expect(micros('1 000')).toBe(1_000_000_000);
  });
  it('refuses what is not an amount', () => {
    expect(micros('')).toBe('required');
    expect(micros('   ')).toBe('required');
    expect(micros('abc')).toBe('amount');
    expect(micros('1e3')).toBe('amount');
    expect(micros('1,00')).toBe('amount');
    expect(micros('1.2.3')).toBe('amount');
    expect(micros('.')).toBe('amount');
    expect(micros('$')).toBe('amount');
    expect(micros('--1')).toBe('amount');
    expect(micros('0x10')).toBe('amount');
  });
  it('knows the limits', () => {
    expect(micros('0.0000001')).toBe('precision');
    expect(micros('0')).toBe('zero');
    expect(micros('-0.00')).toBe('zero');
    expect(micros('1000000')).toBe(MAX_MICROS);
    expect(micros('-1000000')).toBe(-MAX_MICROS);
    expect(micros('1000000.000001')).toBe('too_large');
    expect(micros('99999999999999999999')).toBe('too_large');
    expect(micros('-1', false)).toBe('negative');
    expect(parseUSD('0', { allowZero: true })).toEqual({ ok: true, micros: 0 });
  });
  it('round-trips through usdText', () => {
    for (const m of [0, 1, 100_000, 12_500_000, -2_500_000, 1_000_250_000, MAX_MICROS, 123_456_789]) {
      const a = parseUSD(usdText(m), { allowNegative: true, allowZero: true });
      expect(a).toEqual({ ok: true, micros: m });
    }
    expect(usdText(12_500_000)).toBe('12.5');
    expect(usdText(-1)).toBe('-0.000001');
    expect(usdText(3_000_000)).toBe('3');
  });
});

describe('credit form', () => {
  it('reads the amount and checks the reason', () => {
    expect(validateCredit({ amount: '25.50', reason: 'refund' })).toEqual({ micros: 25_500_000, problems: {} });
    expect(validateCredit({ amount: '-3', reason: 'correction' }).micros).toBe(-3_000_000);
    expect(validateCredit({ amount: '', reason: '' }).problems).toEqual({ amount_micros: 'required', reason: 'required' });
    expect(validateCredit({ amount: '1.1234567', reason: 'x' }).problems).toEqual({ amount_micros: 'precision' });
    expect(validateCredit({ amount: '1', reason: 'x'.repeat(256) }).problems).toEqual({ reason: 'too_long' });
  });
  it('asks for a step-up above $100 either way', () => {
    expect(needsStepUp(100_000_000)).toBe(false);
    expect(needsStepUp(100_000_001)).toBe(true);
    expect(needsStepUp(-100_000_001)).toBe(true);
    expect(needsStepUp(-5)).toBe(false);
  });
});

describe('user form', () => {
  it('checks a new user', () => {
    const f = { ...emptyUserForm(), email: 'bob@example.com' };
    expect(validateUser(f, true)).toEqual({});
    expect(validateUser({ ...f, email: '' }, true)).toEqual({ email: 'required' });
    expect(validateUser({ ...f, email: 'bob' }, true)).toEqual({ email: 'email' });
    expect(validateUser({ ...f, email: 'bob@example' }, true)).toEqual({ email: 'email' });
    expect(validateUser({ ...f, password: 'short' }, true)).toEqual({ password: 'password' });
    expect(validateUser({ ...f, password: '十二个字符的密码足够长了吗' }, true)).toEqual({});
    expect(validateUser({ ...f, password: '12345678901' }, true)).toEqual({ password: 'password' });
    expect(validateUser({ ...f, name: 'é'.repeat(96) }, true)).toEqual({ name: 'too_long' });
    expect(validateUser({ ...f, group: ' ' }, true)).toEqual({ group: 'required' });
  });
  it('sends what it should', () => {
    const f = { ...emptyUserForm(), email: ' Bob@Example.com ', password: 'correct horse battery' };
    expect(createBody(f)).toEqual({ email: 'Bob@Example.com', role: 'user', group: 'default', password: 'correct horse battery' });
    expect(createBody({ ...f, password: '', name: 'Bob' })).toEqual({ email: 'Bob@Example.com', role: 'user', group: 'default', name: 'Bob' });
    const u: User = { id: 2, email: 'bob@example.com', name: 'Bob', group: 'default', role: 'user', status: 'active', balance_micros: 0, managed_by: 'api', created_at: '' };
    expect(patchBody(u, { ...emptyUserForm(), email: u.email, name: 'Bob' })).toEqual({});
    expect(patchBody(u, { ...emptyUserForm(), name: 'Bobby', role: 'admin' })).toEqual({ name: 'Bobby', role: 'admin' });
  });
});

describe('group form', () => {
  it('checks ratio and limits', () => {
    const f = { ...emptyGroupForm(), name: 'gold' };
    expect(validateGroup(f)).toEqual({});
    expect(validateGroup({ ...f, name: '' })).toEqual({ name: 'required' });
    expect(validateGroup({ ...f, ratio: '0.5' })).toEqual({});
    expect(validateGroup({ ...f, ratio: '-1' })).toEqual({ ratio: 'ratio' });
    expect(validateGroup({ ...f, ratio: '1001' })).toEqual({ ratio: 'ratio' });
    expect(validateGroup({ ...f, ratio: 'x' })).toEqual({ ratio: 'ratio' });
    expect(validateGroup({ ...f, rpm: '1.5', tpm: '-1' })).toEqual({ rpm: 'integer', tpm: 'integer' });
    expect(groupBody({ ...f, ratio: '0.75', rpm: '60' })).toEqual({ name: 'gold', ratio: 0.75, rpm: 60, tpm: 0, daily_requests: 0, image_response_format: '' });
  });
});

describe('filters in the URL', () => {
  it('reads and writes them', () => {
    expect(filtersOf('?email=bob&role=admin&status=nope&group=vip')).toEqual({ email: 'bob', role: 'admin', status: '', group: 'vip' });
    expect(filtersOf('')).toEqual({ email: '', role: '', status: '', group: '' });
    expect(searchOf({ email: 'a b', role: '', status: 'disabled', group: '' })).toBe('?email=a+b&status=disabled');
    expect(searchOf({ email: '', role: '', status: '', group: '' }, '?tab=groups&email=x&id=3')).toBe('?tab=groups');
  });
});
