// Calls typed by the generated schema (schema.d.ts, from the console API's
// OpenAPI fragments): the path, the body and the answer are checked against
// the server's document at compile time, so the UI cannot drift from the API
// unnoticed. Everything still goes through client.ts.
//
//   const s = await call('get', '/api/v1/setup');            // s.needed: boolean
//   await call('post', '/api/v1/admin/users/{id}/credit', { params: { id: 3 }, body: { amount_micros: 5e6, reason: 'gift' } });
import type { paths } from './schema';
import { request, type RequestOptions } from './client';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

type Op<P extends keyof paths, M extends Method> = M extends keyof paths[P] ? paths[P][M] : never;
type JsonOf<R> = R extends { content: { 'application/json': infer B } } ? B : undefined;
type Success<O> = O extends { responses: infer R }
  ? 200 extends keyof R
    ? JsonOf<R[200]>
    : 201 extends keyof R
      ? JsonOf<R[201]>
      : undefined
  : never;
type Body<O> = O extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

// PathsWith lists the documented paths that have method M.
export type PathsWith<M extends Method> = {
  [P in keyof paths]: paths[P] extends { [K in M]: object } ? P : never;
}[keyof paths];

export type ResponseOf<P extends PathsWith<M>, M extends Method> = Success<Op<P, M>>;
export type BodyOf<P extends PathsWith<M>, M extends Method> = Body<Op<P, M>>;

export interface CallOptions<B> extends RequestOptions {
  params?: Record<string, string | number>;
  body?: B;
}

// fillPath puts path parameters into a templated path: /users/{id} → /users/3.
export function fillPath(path: string, params: Record<string, string | number> = {}): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (!(name in params)) throw new Error(`missing path parameter ${name} for ${path}`);
    return encodeURIComponent(String(params[name]));
  });
}

export function call<M extends Method, P extends PathsWith<M>>(
  method: M,
  path: P,
  opts: CallOptions<BodyOf<P, M>> = {},
): Promise<ResponseOf<P, M>> {
  const { params, body, ...rest } = opts;
  return request<ResponseOf<P, M>>(method.toUpperCase(), fillPath(path as string, params), body, rest);
}
