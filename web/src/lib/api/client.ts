// The one module every console call goes through: JSON in and out, the
// server's error shape turned into ApiError (with the field for forms and the
// request id for toasts), and a lost session sent back to login.

import type { components } from './schema';

// The server's error shape, from the generated schema (core.yaml).
export type ErrorBody = components['schemas']['Error'];

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  readonly requestId?: string;
  readonly retryAfter?: number; // seconds, from Retry-After on 429

  constructor(init: { status: number; code: string; message: string; field?: string; requestId?: string; retryAfter?: number }) {
    super(init.message);
    this.name = 'ApiError';
    this.status = init.status;
    this.code = init.code;
    this.field = init.field;
    this.requestId = init.requestId;
    this.retryAfter = init.retryAfter;
  }
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined | null>;
  signal?: AbortSignal;
  // A 401 normally ends the session and goes to login; the login and
  // session probes handle 401 themselves.
  allowUnauthenticated?: boolean;
  fetch?: typeof fetch;
}

type UnauthenticatedHook = (err: ApiError) => void;
let onUnauthenticated: UnauthenticatedHook = () => {};

// setUnauthenticatedHandler is called once by the app shell.
export function setUnauthenticatedHandler(h: UnauthenticatedHook) {
  onUnauthenticated = h;
}

function buildURL(path: string, query?: RequestOptions['query']): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path;
}

async function errorFrom(res: Response): Promise<ApiError> {
  const requestId = res.headers.get('X-Request-Id') ?? undefined;
  const ra = Number(res.headers.get('Retry-After'));
  const retryAfter = Number.isFinite(ra) && ra > 0 ? ra : undefined;
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const e = (body as ErrorBody | undefined)?.error;
  if (e && typeof e.code === 'string') {
    return new ApiError({ status: res.status, code: e.code, message: e.message ?? e.code, field: e.field || undefined, requestId, retryAfter });
  }
  // Not the console's error shape: a proxy's page or the OpenAI-shaped 404.
  return new ApiError({ status: res.status, code: `http_${res.status}`, message: res.statusText || `HTTP ${res.status}`, requestId, retryAfter });
}

export async function request<T>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  let payload: BodyInit | undefined;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const doFetch = opts.fetch ?? fetch;
  let res: Response;
  try {
    res = await doFetch(buildURL(path, opts.query), {
      method,
      headers,
      body: payload,
      credentials: 'same-origin',
      signal: opts.signal,
    });
  } catch (err) {
    if ((err as Error)?.name === 'AbortError') throw err;
    throw new ApiError({ status: 0, code: 'network', message: String((err as Error)?.message ?? err) });
  }
  if (!res.ok) {
    const err = await errorFrom(res);
    if (res.status === 401 && !opts.allowUnauthenticated) onUnauthenticated(err);
    throw err;
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const api = {
  get: <T>(path: string, opts?: RequestOptions) => request<T>('GET', path, undefined, opts),
  post: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('POST', path, body ?? {}, opts),
  put: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('PUT', path, body, opts),
  patch: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('PATCH', path, body, opts),
  del: <T>(path: string, opts?: RequestOptions) => request<T>('DELETE', path, undefined, opts),
};

// fieldErrors collects a validation error for a form: { email: "…" }. The
// server names one field per error (a JSON path such as credentials[2].key).
export function fieldError(err: unknown): { field: string; message: string } | undefined {
  if (err instanceof ApiError && err.field) return { field: err.field, message: err.message };
  return undefined;
}
