import { expect, test, vi } from 'vitest';
import { ApiError, request, setUnauthenticatedHandler } from './client';

function fakeFetch(status: number, body: unknown, headers: Record<string, string> = {}) {
  return vi.fn(async () => new Response(body === undefined ? null : JSON.stringify(body), { status, headers }));
}

test('decodes JSON on success and sends JSON bodies', async () => {
  const f = fakeFetch(200, { user: { id: 1 } });
  const got = await request<{ user: { id: number } }>('POST', '/api/v1/x', { a: 1 }, { fetch: f, query: { limit: 5, cursor: '' } });
  expect(got.user.id).toBe(1);
  const [url, init] = f.mock.calls[0] as unknown as [string, RequestInit];
  expect(url).toBe('/api/v1/x?limit=5');
  expect(init.body).toBe('{"a":1}');
  expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
});

test('turns the error shape into ApiError with field and request id', async () => {
  const f = fakeFetch(422, { error: { code: 'invalid', message: 'too short', field: 'password' } }, { 'X-Request-Id': 'RID1' });
  const err = await request('POST', '/api/v1/setup', {}, { fetch: f }).catch((e) => e);
  expect(err).toBeInstanceOf(ApiError);
  expect(err).toMatchObject({ status: 422, code: 'invalid', field: 'password', requestId: 'RID1', message: 'too short' });
});

test('a 401 calls the unauthenticated hook unless allowed', async () => {
  const hook = vi.fn();
  setUnauthenticatedHandler(hook);
  const body = { error: { code: 'unauthenticated', message: 'sign in' } };
  await request('GET', '/api/v1/me', undefined, { fetch: fakeFetch(401, body) }).catch(() => {});
  expect(hook).toHaveBeenCalledTimes(1);
  await request('GET', '/api/v1/me', undefined, { fetch: fakeFetch(401, body), allowUnauthenticated: true }).catch(() => {});
  expect(hook).toHaveBeenCalledTimes(1);
});

test('non-console errors and network failures still become ApiError', async () => {
  const html = vi.fn(async () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway', headers: { 'Retry-After': '3' } }));
  const e1 = await request('GET', '/api/v1/x', undefined, { fetch: html }).catch((e) => e);
  expect(e1).toMatchObject({ status: 502, code: 'http_502', retryAfter: 3 });
  const down = vi.fn(async () => {
    throw new TypeError('Failed to fetch');
  });
  const e2 = await request('GET', '/api/v1/x', undefined, { fetch: down }).catch((e) => e);
  expect(e2).toMatchObject({ status: 0, code: 'network' });
});
