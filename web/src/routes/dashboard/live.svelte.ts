// The live view (/api/v1/live, server-sent events, one event a second),
// open only while the tab is visible: a hidden tab holds no connection and
// the figures resume when it shows again.
import type { LiveEvent } from './logic';

export type LiveStatus = 'connecting' | 'open' | 'paused' | 'off';

export interface Live {
  readonly ev: LiveEvent | null;
  readonly status: LiveStatus;
}

// startLive opens the stream and returns the reactive state and a stop.
export function startLive(): { live: Live; stop: () => void } {
  const live = $state<{ ev: LiveEvent | null; status: LiveStatus }>({ ev: null, status: 'connecting' });
  let es: EventSource | null = null;

  function open() {
    if (es) return;
    live.status = 'connecting';
    es = new EventSource('/api/v1/live');
    es.addEventListener('open', () => {
      live.status = 'open';
    });
    es.addEventListener('live', (e) => {
      try {
        live.ev = JSON.parse((e as MessageEvent<string>).data) as LiveEvent;
        live.status = 'open';
      } catch {
        // A malformed event is skipped; the next comes in a second.
      }
    });
    es.addEventListener('error', () => {
      // EventSource retries by itself after a dropped connection; a refusal
      // (401, 403) closes it for good, and the page's other calls deal with
      // a lost session.
      if (es?.readyState === EventSource.CLOSED) {
        es = null;
        live.status = 'off';
      } else {
        live.status = 'connecting';
      }
    });
  }

  function close() {
    es?.close();
    es = null;
  }

  function onVisibility() {
    if (document.hidden) {
      close();
      live.status = 'paused';
    } else {
      open();
    }
  }

  document.addEventListener('visibilitychange', onVisibility);
  if (document.hidden) live.status = 'paused';
  else open();
  return {
    live,
    stop() {
      document.removeEventListener('visibilitychange', onVisibility);
      close();
    },
  };
}
