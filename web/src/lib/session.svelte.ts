// The signed-in user, loaded once at start and replaced on login/logout.
import { api, ApiError } from './api/client';
import type { PublicSettings, User } from './api/types';

export const session = $state<{ user: User | null }>({ user: null });
export const site = $state<{ settings: PublicSettings }>({ settings: {} });

function unwrapUser(v: unknown): User {
  const o = v as { user?: User } & User;
  return o && typeof o === 'object' && o.user ? o.user : o;
}

// loadSession asks who is signed in; null when nobody is.
export async function loadSession(): Promise<User | null> {
  try {
    session.user = unwrapUser(await api.get('/api/v1/me', { allowUnauthenticated: true }));
  } catch (err) {
    // 404: a node whose console has no auth routes yet; its login form
    // will say so with the request id, which beats a dead end here.
    if (err instanceof ApiError && (err.status === 401 || err.status === 404)) session.user = null;
    else throw err;
  }
  return session.user;
}

export function signedIn(v: unknown) {
  session.user = unwrapUser(v);
}

export async function logout() {
  try {
    await api.post('/api/v1/auth/logout', undefined, { allowUnauthenticated: true });
  } finally {
    session.user = null;
  }
}

export async function loadPublicSettings() {
  try {
    site.settings = await api.get<PublicSettings>('/api/v1/settings/public', { allowUnauthenticated: true });
  } catch {
    // The console works without them: the defaults name the product.
  }
}

export function siteName(): string {
  return site.settings.site_name || 'Switchyard';
}
