// The keys pages' logic worth a unit test: the key form's checks and body,
// and the ready-made snippets shown once with a new key.
import type { components } from '../../lib/api/schema';
import { parseUSD, usdText } from '../users/money';

export type Key = components['schemas']['APIKey'];
export type KeyCreated = components['schemas']['APIKeyCreated'];
export type KeyWrite = components['schemas']['APIKeyWrite'];

export type KeyProblem = 'required' | 'too_long' | 'integer' | 'ip' | 'date' | 'amount' | 'precision' | 'too_large' | 'negative' | 'owner';

export interface KeyForm {
  name: string;
  models: string;
  ip_allow: string;
  quota: string; // USD; empty = no cap
  rpm: string;
  tpm: string;
  daily_requests: string;
  expires: string; // YYYY-MM-DD (UTC); empty = never
  image_response_format: string;
}

export function emptyKeyForm(): KeyForm {
  return { name: '', models: '', ip_allow: '', quota: '', rpm: '0', tpm: '0', daily_requests: '0', expires: '', image_response_format: '' };
}

export function keyFormOf(k: Key): KeyForm {
  return {
    name: k.name,
    models: k.models.join(', '),
    ip_allow: k.ip_allow.join(', '),
    quota: k.quota_micros === null ? '' : usdText(k.quota_micros),
    rpm: String(k.rpm),
    tpm: String(k.tpm),
    daily_requests: String(k.daily_requests),
    expires: k.expires_at ? k.expires_at.slice(0, 10) : '',
    image_response_format: k.image_response_format,
  };
}

// splitList reads a comma-, space- or newline-separated list, dropping blanks.
export function splitList(s: string): string[] {
  return s
    .split(/[,\s]+/)
    .map((x) => x.trim())
    .filter(Boolean);
}

const isCount = (s: string) => /^\d+$/.test(s.trim()) && Number.isSafeInteger(Number(s.trim()));

// An IPv4 or IPv6 address, optionally with a prefix length: enough to catch
// typos; the server parses it for real.
const ipRe = /^(\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?|[0-9a-fA-F:]*:[0-9a-fA-F:.]*(\/\d{1,3})?)$/;

export function validateKey(f: KeyForm, today = new Date().toISOString().slice(0, 10)): Record<string, KeyProblem> {
  const p: Record<string, KeyProblem> = {};
  const name = f.name.trim();
  if (!name) p.name = 'required';
  else if (new TextEncoder().encode(name).length > 191) p.name = 'too_long';
  if (splitList(f.ip_allow).some((a) => !ipRe.test(a))) p.ip_allow = 'ip';
  if (f.quota.trim()) {
    const q = parseUSD(f.quota, { allowZero: true });
    if (!q.ok) p.quota_micros = q.problem === 'zero' || q.problem === 'required' ? 'amount' : q.problem;
  }
  for (const k of ['rpm', 'tpm', 'daily_requests'] as const) if (!isCount(f[k])) p[k] = 'integer';
  if (f.expires && (!/^\d{4}-\d{2}-\d{2}$/.test(f.expires) || Number.isNaN(Date.parse(f.expires)) || f.expires <= today)) p.expires_at = 'date';
  return p;
}

// keyBody is the form as the API's APIKeyWrite. An edit sends the quota and
// the expiry as null to remove them.
export function keyBody(f: KeyForm): KeyWrite {
  const q = f.quota.trim() ? parseUSD(f.quota, { allowZero: true }) : null;
  return {
    name: f.name.trim(),
    models: splitList(f.models),
    ip_allow: splitList(f.ip_allow),
    quota_micros: q && q.ok ? q.micros : null,
    rpm: Number(f.rpm.trim()),
    tpm: Number(f.tpm.trim()),
    daily_requests: Number(f.daily_requests.trim()),
    // The end of the chosen day is when the key stops (UTC).
    expires_at: f.expires ? `${f.expires}T23:59:59Z` : null,
    image_response_format: f.image_response_format as KeyWrite['image_response_format'],
  };
}

// --- snippets ---

const isPattern = (m: string) => /[*?]/.test(m);

// pickModel is the model the snippets ask for: the first name the key may
// use, else the first the gateway serves, else a common one.
export function pickModel(allowed: readonly string[], served: readonly string[] = []): string {
  const own = allowed.find((m) => !isPattern(m));
  if (own) return own;
  const patterns = allowed.filter(isPattern).map((p) => new RegExp('^' + p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$'));
  const fit = served.find((m) => !isPattern(m) && (patterns.length === 0 || patterns.some((r) => r.test(m))));
  return fit ?? 'gpt-4o-mini';
}

// gatewayURL is this gateway's OpenAI-compatible base URL.
export function gatewayURL(origin: string): string {
  return origin.replace(/\/+$/, '') + '/v1';
}

export interface Snippets {
  curl: string;
  python: string;
  js: string;
}

// shellQuote quotes s for a POSIX shell in single quotes.
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// snippets are ready-made calls of the chat completions endpoint with the
// key: curl, Python and JavaScript (both with the official openai SDK).
// String literals are JSON-quoted, which Python and JavaScript both read.
export function snippets(baseURL: string, key: string, model: string): Snippets {
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello!' }] });
  const q = JSON.stringify;
  const curl = [
    `curl ${shellQuote(baseURL + '/chat/completions')} \\`,
    `  -H ${shellQuote('Authorization: Bearer ' + key)} \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -d ${shellQuote(body)}`,
  ].join('\n');
  const python = [
    'from openai import OpenAI',
    '',
    `client = OpenAI(base_url=${q(baseURL)}, api_key=${q(key)})`,
    'resp = client.chat.completions.create(',
    `    model=${q(model)},`,
    '    messages=[{"role": "user", "content": "Hello!"}],',
    ')',
    'print(resp.choices[0].message.content)',
  ].join('\n');
  const js = [
    'import OpenAI from "openai";',
    '',
    `const client = new OpenAI({ baseURL: ${q(baseURL)}, apiKey: ${q(key)} });`,
    'const resp = await client.chat.completions.create({',
    `  model: ${q(model)},`,
    '  messages: [{ role: "user", content: "Hello!" }],',
    '});',
    'console.log(resp.choices[0].message.content);',
  ].join('\n');
  return { curl, python, js };
}

// keyFileField is the configuration file's name of a key, as the server's
// managed_by_file errors give it.
export function keyFileField(k: Pick<Key, 'user' | 'name'>): string {
  return `keys[user=${k.user},name=${k.name}]`;
}
