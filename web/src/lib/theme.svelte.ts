// Light/dark theme: the system's by default, switchable and persisted. The
// resolved theme is a data attribute on <html>; CSS does the rest.

export type ThemePref = 'system' | 'light' | 'dark';
const STORAGE_KEY = 'sy.theme';

function saved(): ThemePref {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    if (v === 'light' || v === 'dark' || v === 'system') return v;
  } catch {
    // Storage disabled: follow the system.
  }
  return 'system';
}

export const theme = $state<{ pref: ThemePref }>({ pref: saved() });

const media = matchMedia('(prefers-color-scheme: dark)');

export function applyTheme() {
  const dark = theme.pref === 'dark' || (theme.pref === 'system' && media.matches);
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
}

export function setTheme(p: ThemePref) {
  theme.pref = p;
  try {
    localStorage.setItem(STORAGE_KEY, p);
  } catch {
    // Not persisted.
  }
  applyTheme();
}

media.addEventListener('change', applyTheme);
