// Pure helpers of the self-service pages (account, wallet, register), kept
// out of the components so vitest can check them.

// Otpauth is what an otpauth://totp/ URI tells an authenticator app.
export interface Otpauth {
  issuer: string;
  account: string;
  secret: string;
  digits: number;
  period: number;
  algorithm: string;
}

// parseOtpauth reads otpauth://totp/Issuer:account?secret=…&issuer=…; null
// when it is not a TOTP URI with a secret.
export function parseOtpauth(uri: string): Otpauth | null {
  const m = /^otpauth:\/\/totp\/([^?]*)(?:\?(.*))?$/i.exec(uri.trim());
  if (!m) return null;
  let label: string;
  try {
    label = decodeURIComponent(m[1]);
  } catch {
    return null;
  }
  const q = new URLSearchParams(m[2] ?? '');
  const secret = (q.get('secret') ?? '').replace(/\s+/g, '').toUpperCase();
  if (!secret) return null;
  const colon = label.indexOf(':');
  const labelIssuer = colon >= 0 ? label.slice(0, colon).trim() : '';
  const account = (colon >= 0 ? label.slice(colon + 1) : label).trim();
  const num = (v: string | null, d: number) => {
    const n = Number(v);
    return v && Number.isInteger(n) && n > 0 ? n : d;
  };
  return {
    issuer: q.get('issuer') || labelIssuer,
    account,
    secret,
    digits: num(q.get('digits'), 6),
    period: num(q.get('period'), 30),
    algorithm: (q.get('algorithm') || 'SHA1').toUpperCase(),
  };
}

// groupSecret splits a base32 secret into groups of four for typing it
// into an app by hand: "JBSWY3DPEHPK3PXP" → "JBSW Y3DP EHPK 3PXP".
export function groupSecret(secret: string): string {
  return (secret.replace(/\s+/g, '').toUpperCase().match(/.{1,4}/g) ?? []).join(' ');
}

// normalizeCode keeps the digits of a typed authenticator code ("123 456").
export function normalizeCode(s: string): string {
  return s.replace(/\D+/g, '');
}

// recoveryFile is the text of the recovery codes download: a heading that
// names the site and account, then one code per line, numbered.
export function recoveryFile(codes: string[], site: string, account: string, when: Date): string {
  const head = [`${site} recovery codes for ${account}`, `Created ${when.toISOString()}`, 'Each code works once.', ''];
  return head.concat(codes.map((c, i) => `${String(i + 1).padStart(2, ' ')}. ${c}`)).join('\n') + '\n';
}

// recoveryText is the codes as copied to the clipboard: one per line.
export function recoveryText(codes: string[]): string {
  return codes.join('\n');
}

// qrPath turns a QR bitmap into one SVG path of unit squares (one per dark
// module, offset by pad), so the code renders without inline styles.
export function qrPath(code: { size: number; get(x: number, y: number): boolean }, pad = 0): string {
  const parts: string[] = [];
  for (let y = 0; y < code.size; y++) {
    for (let x = 0; x < code.size; x++) {
      if (!code.get(x, y)) continue;
      // Runs of dark modules on a row become one rectangle.
      let run = 1;
      while (x + run < code.size && code.get(x + run, y)) run++;
      parts.push(`M${x + pad} ${y + pad}h${run}v1h-${run}z`);
      x += run - 1;
    }
  }
  return parts.join('');
}

// device names the browser and system of a user agent in a few words:
// "Chrome on Linux", "Safari on iOS"; '' when it cannot tell.
export function device(ua: string): string {
  if (!ua) return '';
  const os = /Windows/.test(ua)
    ? 'Windows'
    : /iPhone|iPad|iPod/.test(ua)
      ? 'iOS'
      : /Android/.test(ua)
        ? 'Android'
        : /Mac OS X|Macintosh/.test(ua)
          ? 'macOS'
          : /CrOS/.test(ua)
            ? 'ChromeOS'
            : /Linux/.test(ua)
              ? 'Linux'
              : '';
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /OPR\//.test(ua)
      ? 'Opera'
      : /Firefox\//.test(ua)
        ? 'Firefox'
        : /HeadlessChrome|Chrome\/|Chromium\//.test(ua)
          ? 'Chrome'
          : /Safari\//.test(ua)
            ? 'Safari'
            : /^curl\//.test(ua)
              ? 'curl'
              : '';
  if (browser && os) return `${browser} · ${os}`;
  return browser || os || ua.slice(0, 40);
}

// inviteLink is the registration link that carries an invite code.
export function inviteLink(origin: string, code: string): string {
  return `${origin}/register?invite=${encodeURIComponent(code)}`;
}

// expiryFrom turns the token form's choice (days from now, 0 = never) into
// the RFC 3339 instant the API wants, or null.
export function expiryFrom(days: number, now: Date): string | null {
  if (!days) return null;
  return new Date(now.getTime() + days * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// signed renders a ledger amount with its sign always shown: "+$5.00", "-$0.02".
export function signed(formatted: string, micros: number): string {
  return micros > 0 ? '+' + formatted : formatted;
}
