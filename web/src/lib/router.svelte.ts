// A small history router: the Go server answers every console path with
// index.html, so deep links and reloads work. Links are plain <a href="/…">;
// a click on one is turned into pushState here, once, for the whole app.

import { serverPath } from './paths';

export { safeNext } from './paths';

export const route = $state({ path: location.pathname, search: location.search });

function sync() {
  route.path = location.pathname;
  route.search = location.search;
}

export function navigate(to: string, opts: { replace?: boolean } = {}) {
  const url = new URL(to, location.origin);
  if (url.origin !== location.origin) {
    location.assign(to);
    return;
  }
  const target = url.pathname + url.search + url.hash;
  if (opts.replace) history.replaceState(null, '', target);
  else if (target !== location.pathname + location.search + location.hash) history.pushState(null, '', target);
  sync();
}

export function queryParam(name: string): string | null {
  return new URLSearchParams(route.search).get(name);
}

// currentLocation is where to come back to after signing in again.
export function currentLocation(): string {
  return location.pathname + location.search;
}

let started = false;
export function startRouter() {
  if (started) return;
  started = true;
  addEventListener('popstate', sync);
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.('a');
    if (!a || a.target || a.hasAttribute('download') || a.dataset.external !== undefined) return;
    const href = a.getAttribute('href');
    if (!href || !href.startsWith('/') || href.startsWith('//')) return;
    // The API and the gateway's own endpoints are real server paths.
    if (serverPath(href)) return;
    e.preventDefault();
    navigate(href);
  });
}
