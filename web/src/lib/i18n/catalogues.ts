import { en, type MessageKey } from './en';
import { zhCN } from './zh-CN';
import type { Locale } from '../format';

export const catalogues: Record<Locale, Record<MessageKey, string>> = { en, 'zh-CN': zhCN };

export const localeNames: Record<Locale, string> = { en: 'English', 'zh-CN': '简体中文' };

// pickLocale maps browser languages to a catalogue: any zh-* (including
// zh-TW, for now) to 简体中文, else English.
export function pickLocale(languages: readonly string[]): Locale {
  for (const l of languages) {
    const low = l.toLowerCase();
    if (low.startsWith('zh')) return 'zh-CN';
    if (low.startsWith('en')) return 'en';
  }
  return 'en';
}

export function interpolate(s: string, params?: Record<string, string | number>): string {
  if (!params) return s;
  return s.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m));
}
