import { describe, expect, it } from 'vitest';
import { batchCSV, batchFileName, cell, csv, localToISO, usd6 } from './csv';

describe('csv', () => {
  it('quotes what needs quoting and guards formulas', () => {
    expect(cell('plain')).toBe('plain');
    expect(cell('a,b')).toBe('"a,b"');
    expect(cell('say "hi"')).toBe('"say ""hi"""');
    expect(cell('=SUM(A1)')).toBe("'=SUM(A1)");
    expect(cell('-1')).toBe("'-1");
    expect(csv([['a', 'b'], ['1', '']])).toBe('a,b\r\n1,\r\n');
  });
  it('writes a generated batch with exact dollar values', () => {
    expect(batchCSV({ codes: ['SYC-1', 'SYC-2'], value_micros: 1_500_000, batch: 'promo, dec', expires_at: null })).toBe(
      'code,value_usd,batch,expires_at\r\nSYC-1,1.500000,"promo, dec",\r\nSYC-2,1.500000,"promo, dec",\r\n',
    );
  });
  it('writes six decimals as the server does', () => {
    expect(usd6(1_500_000)).toBe('1.500000');
    expect(usd6(1)).toBe('0.000001');
    expect(usd6(-2_500)).toBe('-0.002500');
  });
  it('names the file after the batch', () => {
    expect(batchFileName('Promo Dec/2026')).toBe('codes-Promo-Dec-2026.csv');
    expect(batchFileName('', new Date('2026-12-06T07:08:09Z'))).toBe('codes-20261206070809.csv');
  });
  it('reads a datetime-local value', () => {
    expect(localToISO('')).toBe('');
    expect(localToISO('nonsense')).toBeUndefined();
    expect(localToISO('2030-01-02T03:04')).toBe(new Date('2030-01-02T03:04').toISOString());
  });
});
