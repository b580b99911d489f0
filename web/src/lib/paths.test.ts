import { expect, test } from 'vitest';
import { safeNext, serverPath } from './paths';
import { pickLocale, interpolate } from './i18n/catalogues';

test('safeNext keeps redirects on this site', () => {
  expect(safeNext('/users?x=1')).toBe('/users?x=1');
  expect(safeNext('/')).toBe('/');
  for (const bad of [null, undefined, '', 'users', 'https://evil.example/', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)', '/login', '/login?next=/x', '/setup?token=a']) {
    expect(safeNext(bad), String(bad)).toBe('/');
  }
  expect(safeNext('/logins')).toBe('/logins');
});

test('serverPath', () => {
  for (const p of ['/api/v1/me', '/v1/models', '/p/img/a/0', '/healthz', '/metrics', '/api']) expect(serverPath(p), p).toBe(true);
  for (const p of ['/', '/users', '/apiary', '/v10', '/pricing']) expect(serverPath(p), p).toBe(false);
});

test('pickLocale follows the browser', () => {
  expect(pickLocale(['zh-CN', 'en'])).toBe('zh-CN');
  expect(pickLocale(['zh-TW'])).toBe('zh-CN');
  expect(pickLocale(['en-GB', 'zh-CN'])).toBe('en');
  expect(pickLocale(['fr-FR', 'zh'])).toBe('zh-CN');
  expect(pickLocale(['fr-FR'])).toBe('en');
  expect(pickLocale([])).toBe('en');
});

test('interpolate', () => {
  expect(interpolate('Hi {name}, {n} left', { name: 'Ada', n: 3 })).toBe('Hi Ada, 3 left');
  expect(interpolate('Hi {name}', {})).toBe('Hi {name}');
});
