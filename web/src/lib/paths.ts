// Pure helpers of the router, kept apart so unit tests need no browser.

// safeNext keeps a post-login redirect on this site: only a path, never
// "//host", "/\\host" or a scheme, and never back to login or setup.
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  if (/^\/(login|setup)(\/|\?|$)/.test(next)) return '/';
  return next;
}

// serverPath tells the gateway's own paths (the API, /v1, signed files,
// health and metrics) from console pages: links to them are real requests.
export function serverPath(href: string): boolean {
  return /^\/(api|v1|p|healthz|readyz|metrics)(\/|$|\?|#)/.test(href);
}
