// The console's i18n: a reactive locale, t() for messages, persisted choice,
// browser language as the default.
import { catalogues, interpolate, pickLocale } from './catalogues';
import type { MessageKey } from './en';
import type { Locale } from '../format';

const STORAGE_KEY = 'sy.locale';

function initial(): Locale {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'en' || saved === 'zh-CN') return saved;
  } catch {
    // Storage can be disabled; fall back to the browser language.
  }
  return pickLocale(typeof navigator === 'undefined' ? [] : navigator.languages ?? [navigator.language]);
}

export const i18n = $state<{ locale: Locale }>({ locale: initial() });

export function setLocale(l: Locale) {
  i18n.locale = l;
  try {
    localStorage.setItem(STORAGE_KEY, l);
  } catch {
    // Not persisted; the choice still holds for this page.
  }
  document.documentElement.lang = l;
}

export function t(key: MessageKey, params?: Record<string, string | number>): string {
  return interpolate(catalogues[i18n.locale][key] ?? catalogues.en[key] ?? key, params);
}

export type { MessageKey };
