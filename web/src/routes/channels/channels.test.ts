import { expect, test } from 'vitest';
import { ago, clock, remainingMs } from './countdown';
import { abbreviate, badges, bodyOf, emptyForm, fieldOf, splitList, testRefusal, validate } from './logic';
import { percentClass, usage } from './usage';

const now = Date.parse('2026-12-06T08:00:00Z');

test('remainingMs counts down to an instant and stops at zero', () => {
  expect(remainingMs('2026-12-06T08:01:05Z', now)).toBe(65_000);
  expect(remainingMs('2026-12-06T07:59:00Z', now)).toBe(0);
  expect(remainingMs(undefined, now)).toBe(0);
  expect(remainingMs('not a time', now)).toBe(0);
});

test('clock renders m:ss and h:mm:ss, rounding seconds up', () => {
  expect(clock(65_000)).toBe('1:05');
  expect(clock(3_725_000)).toBe('1:02:05');
  expect(clock(400)).toBe('0:01');
  expect(clock(0)).toBe('0:00');
  expect(clock(-5)).toBe('0:00');
});

test('usage fills against the daily limit and warns near it', () => {
  expect(usage(5, 0)).toEqual({ ratio: 0, level: 'none', limited: false });
  expect(usage(50, 100)).toEqual({ ratio: 0.5, level: 'ok', limited: true });
  expect(usage(95, 100).level).toBe('warn');
  expect(usage(100, 100)).toEqual({ ratio: 1, level: 'full', limited: true });
  expect(usage(150, 100).ratio).toBe(1);
});

test('percentClass snaps to 5 % steps within 0..100', () => {
  expect(percentClass(0)).toBe('w0');
  expect(percentClass(0.5)).toBe('w50');
  expect(percentClass(0.33)).toBe('w35');
  expect(percentClass(2)).toBe('w100');
  expect(percentClass(-1)).toBe('w0');
});

test('badges follow the status, and flag a failing OAuth refresh', () => {
  const base = { kind: 'key' as const, status: 'active' as const };
  expect(badges(base, now)).toEqual(['ok']);
  expect(badges({ ...base, status: 'cooldown', cooldown_until: '2026-12-06T08:00:30Z' }, now)).toEqual(['cooldown']);
  // A cooldown that ended since the last poll is shown as ok.
  expect(badges({ ...base, status: 'cooldown', cooldown_until: '2026-12-06T07:00:00Z' }, now)).toEqual(['ok']);
  expect(badges({ ...base, status: 'circuit_open' }, now)).toEqual(['circuit_open']);
  expect(badges({ ...base, status: 'disabled' }, now)).toEqual(['disabled']);
  const oauth = { kind: 'oauth' as const, status: 'disabled' as const, disabled_reason: 'oauth refresh refused: invalid_grant' };
  expect(badges(oauth, now)).toEqual(['disabled', 'refresh_failing']);
  expect(badges({ kind: 'oauth', status: 'active', expires_at: '2026-12-06T07:00:00Z' }, now)).toEqual(['ok', 'refresh_failing']);
  expect(badges({ kind: 'oauth', status: 'active', expires_at: '2026-12-06T09:00:00Z' }, now)).toEqual(['ok']);
});

test('ago picks the largest whole unit', () => {
  expect(ago('2026-12-06T07:59:30Z', now)).toEqual({ n: 30, unit: 's' });
  expect(ago('2026-12-06T07:55:00Z', now)).toEqual({ n: 5, unit: 'm' });
  expect(ago('2026-12-06T05:00:00Z', now)).toEqual({ n: 3, unit: 'h' });
  expect(ago('2026-12-01T08:00:00Z', now)).toEqual({ n: 5, unit: 'd' });
  expect(ago(undefined, now)).toBeNull();
});

test('abbreviate and splitList', () => {
  expect(abbreviate(['a', 'b', 'c', 'd', 'e'])).toEqual({ shown: ['a', 'b', 'c'], more: 2 });
  expect(abbreviate(['a'])).toEqual({ shown: ['a'], more: 0 });
  expect(splitList(' a, b\n\nc ,')).toEqual(['a', 'b', 'c']);
});

test('validate applies the server rules that need no state', () => {
  const f = { ...emptyForm(), name: 'up1', base_url: 'https://api.example.com', models: 'gpt-4o' };
  expect(validate(f)).toEqual({});
  expect(validate({ ...f, name: ' ', base_url: '' })).toEqual({ name: 'required', base_url: 'required' });
  expect(validate({ ...f, base_url: 'ftp://x' }).base_url).toBe('url');
  expect(validate({ ...f, base_url: 'api.example.com' }).base_url).toBe('url');
  expect(validate({ ...f, type: 'azure' }).api_version).toBe('azure_version');
  expect(validate({ ...f, models: '' }).models).toBe('required');
  expect(validate({ ...f, models: 'gpt-*' }).test_model).toBe('required');
  expect(validate({ ...f, test_model: 'gpt-*' }).test_model).toBe('pattern_test_model');
  expect(validate({ ...f, weight: '0' }).weight).toBe('weight');
  expect(validate({ ...f, weight: 'x', priority: '1.5' })).toEqual({ weight: 'integer', priority: 'integer' });
  expect(validate({ ...f, proxy: 'ftp://h' }).proxy).toBe('proxy');
  expect(validate({ ...f, proxy: 'socks5://127.0.0.1:1080' })).toEqual({});
  expect(validate({ ...f, max_images: '11' }).max_images).toBe('max_images');
  expect(validate({ ...f, max_images: '-1' }).max_images).toBe('max_images');
  expect(validate({ ...f, max_images: '10' })).toEqual({});
});

test('bodyOf sends the form as ChannelInput; fieldOf maps server paths to inputs', () => {
  const b = bodyOf({ ...emptyForm(), name: ' up1 ', base_url: 'https://x.test', models: 'a, b', priority: '2', weight: '3' });
  expect(b).toMatchObject({ name: 'up1', models: ['a', 'b'], groups: ['default'], priority: 2, weight: 3, max_images: 0, hosted_tools: '' });
  expect(b.api_version).toBeUndefined();
  expect(fieldOf('models[2]')).toBe('models');
  expect(fieldOf('model_map["x"]')).toBe('model_map');
  expect(fieldOf('base_url')).toBe('base_url');
});

test('testRefusal turns a 422 into an inline failure, nothing else', () => {
  expect(testRefusal({ status: 422, message: 'channel x has no credentials to test with' })).toMatchObject({ ok: false, error: 'channel x has no credentials to test with' });
  expect(testRefusal({ status: 500, message: 'boom' })).toBeNull();
});

test('validate mirrors the server for bedrock, vertex and flavors', () => {
  const base = { ...emptyForm(), name: 'c', models: 'm' };
  const br = { ...base, type: 'bedrock', region: 'us-east-1' };
  expect(validate(br)).toEqual({});
  expect(validate({ ...br, region: '' }).region).toBe('required');
  expect(validate({ ...br, region: 'US East' }).region).toBe('region');
  expect(validate({ ...br, region: 'us-gov-west-1' })).toEqual({});
  expect(validate({ ...br, base_url: 'nope' }).base_url).toBe('url');
  const vx = { ...base, type: 'vertex', project: 'proj-1', location: 'global' };
  expect(validate(vx)).toEqual({});
  expect(validate({ ...vx, project: '', location: '' })).toEqual({ project: 'required', location: 'required' });
  expect(validate({ ...vx, project: 'a/b' }).project).toBe('project');
  expect(validate({ ...vx, location: 'Europe West' }).location).toBe('location');
  // Only regional types may leave base_url blank.
  expect(validate({ ...base, type: 'openai' }).base_url).toBe('required');
});

test('bodyOf sends the members of the chosen type and clears the others', () => {
  const f = { ...emptyForm(), name: 'c', models: 'm', type: 'bedrock', region: ' eu-west-1 ', project: 'p', location: 'l', flavor: 'qwen', quirks: ['keyless'] };
  const b = bodyOf(f);
  expect(b).toMatchObject({ type: 'bedrock', region: 'eu-west-1', project: '', location: '', flavor: '', quirks: [], base_url: '' });
  expect(bodyOf({ ...f, type: 'vertex' })).toMatchObject({ region: '', project: 'p', location: 'l', flavor: '' });
  expect(bodyOf({ ...f, type: 'openai' })).toMatchObject({ region: '', project: '', flavor: 'qwen', quirks: ['keyless'] });
});
