// Dates of the users and keys pages in the console's language.
import type { Locale } from '../../lib/format';

export function when(at: string | null | undefined, locale: Locale, time = true): string {
  if (!at) return '—';
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return '—';
  return new Intl.DateTimeFormat(locale, time ? { dateStyle: 'medium', timeStyle: 'short' } : { dateStyle: 'medium' }).format(d);
}
