// Errors that belong to no field: shown as toasts with the request id, so an
// operator can find the request in the log.
import { ApiError } from './api/client';
import { t, type MessageKey } from './i18n/index.svelte';

export interface Toast {
  id: number;
  message: string;
  requestId?: string;
}

export const toasts = $state<Toast[]>([]);
let next = 1;

// errorMessage is the translated sentence for an API error; the server's own
// message (English) is used for codes the catalogue does not know.
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.code === 'network') return t('error.network');
    const key = `error.${err.code}` as MessageKey;
    const known: string[] = ['forbidden', 'csrf_failed', 'rate_limited', 'invalid', 'not_found', 'conflict', 'internal'];
    if (known.includes(err.code)) return t(key);
    if (err.message && !err.code.startsWith('http_')) return err.message;
  }
  return t('error.generic');
}

export function showError(err: unknown) {
  const requestId = err instanceof ApiError ? err.requestId : undefined;
  const id = next++;
  toasts.push({ id, message: errorMessage(err), requestId });
  setTimeout(() => dismiss(id), 12_000);
}

export function dismiss(id: number) {
  const i = toasts.findIndex((x) => x.id === id);
  if (i >= 0) toasts.splice(i, 1);
}
