// Usage bars: today's use of a credential against its daily limit.

export interface Usage {
  // fraction filled, 0..1 (0 without a limit)
  ratio: number;
  // the bar's tone: over 90 % is a warning, at the limit it is full
  level: 'none' | 'ok' | 'warn' | 'full';
  limited: boolean;
}

// usage is today's use against a daily limit (0 = none).
export function usage(used: number, limit: number): Usage {
  if (!limit || limit <= 0) return { ratio: 0, level: 'none', limited: false };
  const ratio = Math.min(1, Math.max(0, used / limit));
  const level = used >= limit ? 'full' : ratio >= 0.9 ? 'warn' : 'ok';
  return { ratio, level, limited: true };
}

// percentClass maps a ratio to one of 21 width classes (0, 5, …, 100): the
// CSP forbids style attributes, so bar widths are classes.
export function percentClass(ratio: number): string {
  const step = Math.round(Math.min(1, Math.max(0, ratio)) * 20) * 5;
  return `w${step}`;
}
