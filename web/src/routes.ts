// The console's pages. A page is a folder under routes/; add one here with
// its path, who may see it, and where it sits in the navigation. Pages load
// on demand so the login page stays small.
import type { Component } from 'svelte';
import type { MessageKey } from './lib/i18n/index.svelte';

// Every page gets its translated title.
export interface PageProps {
  title: string;
}

export type Access = 'user' | 'admin';
export type Section = 'operate' | 'manage' | 'you';

export interface PageDef {
  path: string;
  title: MessageKey;
  access: Access;
  section: Section;
  load: () => Promise<{ default: Component<PageProps> }>;
}

export const pages: PageDef[] = [
  { path: '/', title: 'nav.dashboard', access: 'user', section: 'operate', load: () => import('./routes/dashboard/Dashboard.svelte') },
  { path: '/channels', title: 'nav.channels', access: 'admin', section: 'operate', load: () => import('./routes/channels/Channels.svelte') },
  { path: '/usage', title: 'nav.usage', access: 'admin', section: 'operate', load: () => import('./routes/usage/Usage.svelte') },
  { path: '/users', title: 'nav.users', access: 'admin', section: 'manage', load: () => import('./routes/users/Users.svelte') },
  { path: '/keys', title: 'nav.keys', access: 'admin', section: 'manage', load: () => import('./routes/keys/Keys.svelte') },
  { path: '/pricing', title: 'nav.pricing', access: 'admin', section: 'manage', load: () => import('./routes/pricing/Pricing.svelte') },
  { path: '/codes', title: 'nav.codes', access: 'admin', section: 'manage', load: () => import('./routes/codes/Codes.svelte') },
  { path: '/topup', title: 'nav.topup_admin', access: 'admin', section: 'manage', load: () => import('./routes/topup/TopupAdmin.svelte') },
  { path: '/settings', title: 'nav.settings', access: 'admin', section: 'manage', load: () => import('./routes/settings/Settings.svelte') },
  { path: '/audit', title: 'nav.audit', access: 'admin', section: 'manage', load: () => import('./routes/audit/Audit.svelte') },
  { path: '/backups', title: 'nav.backups', access: 'admin', section: 'manage', load: () => import('./routes/backups/Backups.svelte') },
  { path: '/me/keys', title: 'nav.my_keys', access: 'user', section: 'you', load: () => import('./routes/keys/MyKeys.svelte') },
  { path: '/me/usage', title: 'nav.my_usage', access: 'user', section: 'you', load: () => import('./routes/usage/MyUsage.svelte') },
  { path: '/me/wallet', title: 'nav.my_wallet', access: 'user', section: 'you', load: () => import('./routes/wallet/Wallet.svelte') },
  { path: '/me/topup', title: 'nav.topup', access: 'user', section: 'you', load: () => import('./routes/topup/Topup.svelte') },
  { path: '/studio', title: 'nav.studio', access: 'user', section: 'you', load: () => import('./routes/studio/Studio.svelte') },
  { path: '/gallery', title: 'nav.gallery', access: 'user', section: 'you', load: () => import('./routes/gallery/Gallery.svelte') },
  { path: '/playground', title: 'nav.playground', access: 'user', section: 'you', load: () => import('./routes/playground/Playground.svelte') },
  { path: '/account', title: 'nav.account', access: 'user', section: 'you', load: () => import('./routes/account/Account.svelte') },
];

export function findPage(path: string): PageDef | undefined {
  const p = path.length > 1 ? path.replace(/\/+$/, '') : path;
  return pages.find((x) => x.path === p);
}
