// Countdowns and ages of the instants the scheduler reports (cooldown_until,
// circuit_open_until, last_error_at), against a clock the page ticks.

// remainingMs is the time left until an RFC 3339 instant, 0 once past or
// when there is none.
export function remainingMs(until: string | undefined | null, now: number): number {
  if (!until) return 0;
  const t = Date.parse(until);
  if (!Number.isFinite(t)) return 0;
  return Math.max(0, t - now);
}

// clock renders a countdown: 65 s → "1:05", 3725 s → "1:02:05". Seconds
// round up, so the display never shows 0:00 while time is left.
export function clock(ms: number): string {
  const total = Math.ceil(Math.max(0, ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

// ago says how long ago an instant was, in the largest whole unit.
export function ago(at: string | undefined | null, now: number): { n: number; unit: 's' | 'm' | 'h' | 'd' } | null {
  if (!at) return null;
  const t = Date.parse(at);
  if (!Number.isFinite(t)) return null;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return { n: s, unit: 's' };
  if (s < 3600) return { n: Math.floor(s / 60), unit: 'm' };
  if (s < 86400) return { n: Math.floor(s / 3600), unit: 'h' };
  return { n: Math.floor(s / 86400), unit: 'd' };
}
