import { describe, expect, it } from 'vitest';
import { formOf, patchOf, type Settings } from './logic';

const current: Settings = {
  site_name: 'Switchyard',
  announcement: '',
  registration: 'off',
  default_group: 'default',
  new_user_credit_micros: 0,
  image_response_format: '',
  require_admin_2fa: false,
};

describe('settings form', () => {
  it('sends only what changed, money as exact micro-USD', () => {
    const f = formOf(current);
    expect(patchOf(f, current)).toEqual({ patch: {}, errors: {} });
    f.credit = '0.29';
    f.registration = 'invite';
    f.announcement = 'Maintenance on Sunday';
    f.site_name = ' Gateway ';
    expect(patchOf(f, current)).toEqual({
      patch: { new_user_credit_micros: 290_000, registration: 'invite', announcement: 'Maintenance on Sunday', site_name: 'Gateway' },
      errors: {},
    });
  });
  it('checks what the server checks without the database', () => {
    const f = formOf(current);
    f.site_name = 'a\nb';
    f.announcement = 'x'.repeat(4001);
    f.credit = '1000000.000001';
    f.default_group = ' ';
    expect(patchOf(f, current).errors).toEqual({
      site_name: 'one_line',
      announcement: 'too_long',
      new_user_credit_micros: 'range',
      default_group: 'required',
    });
    f.site_name = '名'.repeat(100);
    f.announcement = '字'.repeat(4000);
    f.credit = '-1';
    f.default_group = 'default';
    expect(patchOf(f, current).errors).toEqual({ new_user_credit_micros: 'negative' });
    f.site_name = '名'.repeat(101);
    expect(patchOf(f, current).errors.site_name).toBe('too_long');
  });
});
