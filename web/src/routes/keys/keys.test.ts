import { describe, expect, it } from 'vitest';
import { emptyKeyForm, gatewayURL, keyBody, keyFormOf, pickModel, snippets, splitList, validateKey, type Key } from './logic';

describe('snippets', () => {
  const base = gatewayURL('https://ai.example.com/');
  const key = 'sk-sy-abc123';
  const s = snippets(base, key, 'gpt-4o-mini');
  it('use this gateway and the key', () => {
    expect(base).toBe('https://ai.example.com/v1');
    for (const text of [s.curl, s.python, s.js]) {
      expect(text).toContain('https://ai.example.com/v1');
      expect(text).toContain(key);
      expect(text).toContain('gpt-4o-mini');
    }
    expect(s.curl).toContain("curl 'https://ai.example.com/v1/chat/completions'");
    expect(s.curl).toContain("-H 'Authorization: Bearer sk-sy-abc123'");
    expect(s.python).toContain('client = OpenAI(base_url="https://ai.example.com/v1", api_key="sk-sy-abc123")');
    expect(s.js).toContain('new OpenAI({ baseURL: "https://ai.example.com/v1", apiKey: "sk-sy-abc123" })');
  });
  it('carry a body the API reads', () => {
    const body = /-d '(.*)'$/.exec(s.curl)?.[1] ?? '';
    expect(JSON.parse(body)).toEqual({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello!' }] });
  });
  it('quote what needs quoting', () => {
    const odd = snippets('http://127.0.0.1:8080/v1', key, `it's "odd"`);
    expect(odd.curl).toContain(`it'\\''s`);
    expect(odd.python).toContain(`model="it's \\"odd\\"",`);
    expect(odd.js).toContain(`model: "it's \\"odd\\"",`);
    // The shell's quoting undone gives the JSON body back.
    const quoted = /-d '(.*)'$/.exec(odd.curl)?.[1] ?? '';
    expect(JSON.parse(quoted.replace(/'\\''/g, "'")).model).toBe(`it's "odd"`);
  });
  it('pick a model the key may use', () => {
    expect(pickModel(['gpt-4o', 'claude-*'])).toBe('gpt-4o');
    expect(pickModel(['claude-*'], ['gpt-4o-mini', 'claude-3-haiku'])).toBe('claude-3-haiku');
    expect(pickModel([], ['text-embedding-3-small', 'gpt-4o-mini'])).toBe('text-embedding-3-small');
    expect(pickModel(['o?-mini'], ['gpt-4o', 'o3-mini'])).toBe('o3-mini');
    expect(pickModel([], [])).toBe('gpt-4o-mini');
  });
});

describe('key form', () => {
  const today = '2026-12-06';
  const f = { ...emptyKeyForm(), name: 'ci' };
  it('checks limits', () => {
    expect(validateKey(f, today)).toEqual({});
    expect(validateKey({ ...f, name: ' ' }, today)).toEqual({ name: 'required' });
    expect(validateKey({ ...f, quota: '12.50' }, today)).toEqual({});
    expect(validateKey({ ...f, quota: '0' }, today)).toEqual({});
    expect(validateKey({ ...f, quota: '-1' }, today)).toEqual({ quota_micros: 'negative' });
    expect(validateKey({ ...f, quota: 'lots' }, today)).toEqual({ quota_micros: 'amount' });
    expect(validateKey({ ...f, rpm: '-1', daily_requests: 'x' }, today)).toEqual({ rpm: 'integer', daily_requests: 'integer' });
    expect(validateKey({ ...f, ip_allow: '10.0.0.0/8, ::1, 2001:db8::/32' }, today)).toEqual({});
    expect(validateKey({ ...f, ip_allow: 'office' }, today)).toEqual({ ip_allow: 'ip' });
    expect(validateKey({ ...f, expires: '2026-12-06' }, today)).toEqual({ expires_at: 'date' });
    expect(validateKey({ ...f, expires: '2027-01-01' }, today)).toEqual({});
  });
  it('sends the API body, null for no cap and never', () => {
    expect(keyBody({ ...f, models: 'gpt-4o, claude-*\no3-mini', quota: '0.29', rpm: '60', expires: '2027-01-01' })).toEqual({
      name: 'ci',
      models: ['gpt-4o', 'claude-*', 'o3-mini'],
      ip_allow: [],
      quota_micros: 290_000,
      rpm: 60,
      tpm: 0,
      daily_requests: 0,
      expires_at: '2027-01-01T23:59:59Z',
      image_response_format: '',
    });
    expect(keyBody(f).quota_micros).toBeNull();
    expect(keyBody(f).expires_at).toBeNull();
  });
  it('round-trips a key', () => {
    const k = { name: 'ci', models: ['a'], ip_allow: [], quota_micros: 1_500_000, rpm: 1, tpm: 2, daily_requests: 3, expires_at: '2027-01-01T23:59:59Z', image_response_format: 'url' } as unknown as Key;
    const form = keyFormOf(k);
    expect(form.quota).toBe('1.5');
    expect(form.expires).toBe('2027-01-01');
    expect(keyBody(form)).toMatchObject({ quota_micros: 1_500_000, rpm: 1, tpm: 2, daily_requests: 3, expires_at: '2027-01-01T23:59:59Z' });
  });
  it('splits lists', () => {
    expect(splitList(' a, b\n\nc  d ')).toEqual(['a', 'b', 'c', 'd']);
  });
});
