// The playground's pure logic: the conversation kept in the browser, the
// request body built from it, the cost of an answer from the model's price,
// the copy-as snippets and the attachment limits. No secrets: the page
// names the paying key by id and the console passes the request on as that
// key, so a key's value never reaches the browser.
import type { Answer, Usage } from './sse';

export interface Attachment {
  name: string;
  type: string; // image/png …
  size: number; // bytes of the file
  url: string; // data: URL
}

export interface Turn {
  id: number;
  role: 'user' | 'assistant';
  text: string;
  images?: Attachment[]; // user turns
  answer?: Answer; // assistant turns
  stopped?: boolean;
  keyId?: number;
  model?: string; // assistant turns: the model asked
  cost?: number | null; // micro-USD, null when the model has no price
  ms?: number; // time to the end of the answer
}

export type Effort = '' | 'minimal' | 'low' | 'medium' | 'high';
export const efforts: Effort[] = ['', 'minimal', 'low', 'medium', 'high'];

export interface Settings {
  keyId: number;
  model: string;
  system: string;
  temperature: string; // as typed; "" = the model's default
  maxTokens: string; // as typed; "" = the gateway's default
  effort: Effort;
}

export function defaultSettings(): Settings {
  return { keyId: 0, model: '', system: '', temperature: '', maxTokens: '', effort: '' };
}

// Limits checked before anything is sent. The gateway refuses bodies over
// server.max_body_bytes (32 MiB by default); the playground stays well under.
export const MAX_IMAGE_BYTES = 5 * 1024 * 1024;
export const MAX_IMAGES = 4;
export const MAX_BODY_BYTES = 20 * 1024 * 1024;
export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'];

export type AttachProblem = 'type' | 'size' | 'count';

// checkAttachment says why a file cannot be attached, if it cannot.
export function checkAttachment(file: { type: string; size: number }, already: number): AttachProblem | undefined {
  if (!IMAGE_TYPES.includes(file.type)) return 'type';
  if (file.size > MAX_IMAGE_BYTES) return 'size';
  if (already >= MAX_IMAGES) return 'count';
  return undefined;
}

export type Problems = Partial<Record<'temperature' | 'maxTokens' | 'model' | 'keyId', 'temperature' | 'max_tokens' | 'required'>>;

// validate checks the settings a request needs; empty when they are fine.
export function validate(s: Settings): Problems {
  const p: Problems = {};
  if (!s.keyId) p.keyId = 'required';
  if (!s.model) p.model = 'required';
  const temp = s.temperature.trim();
  if (temp !== '') {
    const n = Number(temp);
    if (!Number.isFinite(n) || n < 0 || n > 2) p.temperature = 'temperature';
  }
  const mt = s.maxTokens.trim();
  if (mt !== '' && !/^[1-9]\d{0,6}$/.test(mt)) p.maxTokens = 'max_tokens';
  return p;
}

type Part = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string | Part[];
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream: true;
  stream_options: { include_usage: true };
  temperature?: number;
  max_tokens?: number;
  max_completion_tokens?: number;
  reasoning_effort?: Exclude<Effort, ''>;
}

// messagesOf turns the conversation into chat messages: user turns with
// their images as content parts, answered text of assistant turns (a failed
// answer is left out; a stopped one keeps what arrived).
export function messagesOf(turns: Turn[], system: string): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (system.trim()) out.push({ role: 'system', content: system });
  for (const t of turns) {
    if (t.role === 'user') {
      if (t.images?.length) {
        const parts: Part[] = [];
        if (t.text) parts.push({ type: 'text', text: t.text });
        for (const im of t.images) parts.push({ type: 'image_url', image_url: { url: im.url } });
        out.push({ role: 'user', content: parts });
      } else {
        out.push({ role: 'user', content: t.text });
      }
    } else {
      const text = t.answer?.text ?? t.text;
      if (text && !t.answer?.error) out.push({ role: 'assistant', content: text });
    }
  }
  return out;
}

export function buildRequest(s: Settings, turns: Turn[]): ChatRequest {
  const req: ChatRequest = {
    model: s.model,
    messages: messagesOf(turns, s.system),
    stream: true,
    stream_options: { include_usage: true },
  };
  if (s.temperature.trim() !== '') req.temperature = Number(s.temperature);
  // Reasoning models refuse max_tokens and take max_completion_tokens,
  // which the gateway reads for every provider; other OpenAI-compatible
  // upstreams may know only max_tokens. A reasoning effort marks the one.
  if (s.maxTokens.trim() !== '') {
    if (s.effort) req.max_completion_tokens = Number(s.maxTokens);
    else req.max_tokens = Number(s.maxTokens);
  }
  if (s.effort) req.reasoning_effort = s.effort;
  return req;
}

// bodySize is the request's size in bytes as it would be sent.
export function bodySize(req: ChatRequest): number {
  return new TextEncoder().encode(JSON.stringify(req)).length;
}

// The playground page talks to the console route that relays as a key;
// snippets show the API route a program would call with the key itself.
export function playgroundURL(keyId: number): string {
  return `/api/v1/me/playground/chat/completions?key_id=${encodeURIComponent(String(keyId))}`;
}

// ModelPrice is one entry of GET /api/v1/me/playground/models.
export interface ModelPrice {
  id: string;
  priced: boolean;
  free: boolean;
  input_micros_per_1m: number;
  cached_input_micros_per_1m: number;
  output_micros_per_1m: number;
  per_request_micros: number;
}

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;
const nonNeg = (n: number | undefined | null) => BigInt(Math.max(0, Math.trunc(Number(n) || 0)));

// costMicros is what usage costs at the model's price and the group's ratio,
// computed exactly as the gateway's billing.Price.Cost does: the token parts
// summed in 1e-6 micro-USD and rounded up, the per-request price added, the
// sum times the ratio rounded up. null when the model has no price.
export function costMicros(p: ModelPrice | undefined, u: Usage, ratioPPM: number): number | null {
  if (!p || !p.priced) return null;
  if (p.free || ratioPPM <= 0) return 0;
  const prompt = nonNeg(u.prompt_tokens);
  const cached = nonNeg(u.prompt_tokens_details?.cached_tokens);
  const uncached = prompt > cached ? prompt - cached : 0n;
  const tokens = uncached * nonNeg(p.input_micros_per_1m) + cached * nonNeg(p.cached_input_micros_per_1m) + nonNeg(u.completion_tokens) * nonNeg(p.output_micros_per_1m);
  const total = ceilDiv(tokens, 1_000_000n) + nonNeg(p.per_request_micros);
  return Number(ceilDiv(total * BigInt(Math.trunc(ratioPPM)), 1_000_000n));
}

// chatModels drops the models a chat cannot use (embeddings, speech,
// moderation, image generation), which a key may be allowed all the same.
export function chatModels<T extends { id: string }>(models: T[]): T[] {
  return models.filter((m) => !/(^|[-/_.])(embed|embedding|tts|whisper|dall-e|moderation|rerank)/i.test(m.id) && !/^(text-embedding|gpt-image|imagen)/i.test(m.id));
}

// abbreviateDataURLs shortens image data in a request for display: the
// snippets shown on the page stay readable while the copied text is whole.
export function abbreviateDataURLs(req: ChatRequest): ChatRequest {
  return {
    ...req,
    messages: req.messages.map((m) =>
      typeof m.content === 'string'
        ? m
        : {
            ...m,
            content: m.content.map((p) =>
              p.type === 'image_url' && p.image_url.url.startsWith('data:')
                ? { type: 'image_url' as const, image_url: { url: p.image_url.url.slice(0, p.image_url.url.indexOf(',') + 1) + '…' } }
                : p,
            ),
          },
    ),
  };
}

export type SnippetLang = 'curl' | 'python' | 'js';
export const KEY_PLACEHOLDER = '$SWITCHYARD_API_KEY';

// shellQuote wraps s in single quotes for a POSIX shell.
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// snippet is the request as a program would send it to the gateway's API
// with a key of its own: the key is read from the environment variable
// SWITCHYARD_API_KEY, never written into the text.
export function snippet(lang: SnippetLang, origin: string, req: ChatRequest): string {
  const url = `${origin.replace(/\/+$/, '')}/v1/chat/completions`;
  const json = JSON.stringify(req, null, 2);
  switch (lang) {
    case 'curl':
      // The body goes in through a here-document: no quoting to get wrong,
      // and no limit on the length of one argument (images are long).
      return [
        `curl ${shellQuote(url)} \\`,
        `  -H "Authorization: Bearer ${KEY_PLACEHOLDER}" \\`,
        `  -H 'Content-Type: application/json' \\`,
        '  -N --data-binary @- <<\'JSON\'',
        json,
        'JSON',
      ].join('\n');
    case 'python':
      return [
        'import json, os',
        '',
        'import requests  # pip install requests',
        '',
        `body = json.loads(${pyString(json)})`,
        'with requests.post(',
        `    ${pyString(url)},`,
        '    headers={"Authorization": "Bearer " + os.environ["SWITCHYARD_API_KEY"]},',
        '    json=body,',
        '    stream=True,',
        ') as r:',
        '    r.raise_for_status()',
        '    for line in r.iter_lines(decode_unicode=True):',
        '        if line.startswith("data: ") and line != "data: [DONE]":',
        '            chunk = json.loads(line[6:])',
        '            for choice in chunk.get("choices", []):',
        '                print(choice["delta"].get("content") or "", end="", flush=True)',
        '            if chunk.get("usage"):',
        '                print("\\n", chunk["usage"])',
      ].join('\n');
    case 'js':
      return [
        '// Node.js 18+ (ES module); the key comes from the environment.',
        `const res = await fetch(${JSON.stringify(url)}, {`,
        "  method: 'POST',",
        '  headers: {',
        '    Authorization: `Bearer ${process.env.SWITCHYARD_API_KEY}`,',
        "    'Content-Type': 'application/json',",
        '  },',
        `  body: JSON.stringify(${indent(json, 2).trimStart()}),`,
        '});',
        'if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);',
        'const decoder = new TextDecoder();',
        "let buf = '';",
        'for await (const bytes of res.body) {',
        '  buf += decoder.decode(bytes, { stream: true });',
        "  const lines = buf.split('\\n');",
        '  buf = lines.pop();',
        '  for (const line of lines) {',
        "    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;",
        '    const chunk = JSON.parse(line.slice(6));',
        "    for (const c of chunk.choices ?? []) process.stdout.write(c.delta?.content ?? '');",
        "    if (chunk.usage) console.log('\\n', chunk.usage);",
        '  }',
        '}',
      ].join('\n');
  }
}

function pyString(s: string): string {
  // A JSON string literal is a valid Python string literal too (\uXXXX, \n, \").
  return JSON.stringify(s);
}

function indent(s: string, n: number): string {
  const pad = ' '.repeat(n);
  return s
    .split('\n')
    .map((l, i) => (i === 0 ? l : pad + l))
    .join('\n');
}

// Segment is a piece of an answer: plain text, inline code or a fenced
// code block. The page renders each as text (never as HTML), so the
// markdown an answer carries cannot inject markup.
export type Segment = { kind: 'text'; text: string } | { kind: 'code'; text: string } | { kind: 'block'; lang: string; text: string };

// segments splits text at ``` fences (an unclosed fence runs to the end, as
// it does while a stream is still arriving) and at `inline code`.
export function segments(text: string): Segment[] {
  const out: Segment[] = [];
  const fence = /^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n?/gm;
  let pos = 0;
  for (;;) {
    fence.lastIndex = pos;
    const open = fence.exec(text);
    if (!open) break;
    inline(text.slice(pos, open.index), out);
    const bodyStart = open.index + open[0].length;
    const close = /^[ \t]*```[ \t]*$/m;
    const rest = text.slice(bodyStart);
    const m = close.exec(rest);
    const body = m ? rest.slice(0, m.index) : rest;
    out.push({ kind: 'block', lang: open[1] ?? '', text: body.replace(/\n$/, '') });
    if (!m) return out;
    pos = bodyStart + m.index + m[0].length;
    if (text[pos] === '\n') pos++;
  }
  inline(text.slice(pos), out);
  return out;
}

function inline(text: string, out: Segment[]) {
  if (!text) return;
  const re = /`([^`\n]+)`/g;
  let pos = 0;
  for (const m of text.matchAll(re)) {
    if (m.index! > pos) out.push({ kind: 'text', text: text.slice(pos, m.index) });
    out.push({ kind: 'code', text: m[1] });
    pos = m.index! + m[0].length;
  }
  if (pos < text.length) out.push({ kind: 'text', text: text.slice(pos) });
}

// The conversation and settings live in sessionStorage (this tab only,
// gone when it closes); nothing secret is in either.
const TURNS_KEY = 'sy.playground.turns';
const SETTINGS_KEY = 'sy.playground.settings';

// The stored conversation names its user: another account signed in
// later in the same tab does not see it (and it is dropped then).
export function saveTurns(turns: Turn[], owner: number, store: Pick<Storage, 'setItem' | 'removeItem'> = sessionStorage): 'full' | 'text' | 'none' {
  try {
    store.setItem(TURNS_KEY, JSON.stringify({ owner, turns }));
    return 'full';
  } catch {
    // Over the quota (images): keep the text, drop the pictures.
    try {
      store.setItem(TURNS_KEY, JSON.stringify({ owner, turns: turns.map((t) => ({ ...t, images: t.images?.map((i) => ({ ...i, url: '' })) })) }));
      return 'text';
    } catch {
      store.removeItem(TURNS_KEY);
      return 'none';
    }
  }
}

export function loadTurns(owner: number, store: Pick<Storage, 'getItem' | 'removeItem'> = sessionStorage): Turn[] {
  try {
    const v = JSON.parse(store.getItem(TURNS_KEY) ?? 'null') as { owner?: unknown; turns?: unknown } | null;
    if (!v || !Array.isArray(v.turns)) return [];
    if (v.owner !== owner) {
      store.removeItem(TURNS_KEY);
      return [];
    }
    return v.turns
      .filter((t) => t && (t.role === 'user' || t.role === 'assistant') && typeof t.text === 'string')
      .map((t: Turn) => ({
        ...t,
        images: t.images?.filter((i) => i.url),
        // An answer cut off by a reload is over.
        answer: t.answer ? { ...t.answer, done: true } : undefined,
      }));
  } catch {
    return [];
  }
}

export function clearTurns(store: Pick<Storage, 'removeItem'> = sessionStorage) {
  store.removeItem(TURNS_KEY);
}

export function saveSettings(s: Settings, store: Pick<Storage, 'setItem'> = sessionStorage) {
  try {
    store.setItem(SETTINGS_KEY, JSON.stringify(s));
  } catch {
    // Not kept; the page still works.
  }
}

export function loadSettings(store: Pick<Storage, 'getItem'> = sessionStorage): Settings {
  const d = defaultSettings();
  try {
    const v = JSON.parse(store.getItem(SETTINGS_KEY) ?? '{}') as Partial<Settings>;
    return {
      keyId: Number.isInteger(v.keyId) ? (v.keyId as number) : d.keyId,
      model: typeof v.model === 'string' ? v.model : d.model,
      system: typeof v.system === 'string' ? v.system : d.system,
      temperature: typeof v.temperature === 'string' ? v.temperature : d.temperature,
      maxTokens: typeof v.maxTokens === 'string' ? v.maxTokens : d.maxTokens,
      effort: efforts.includes(v.effort as Effort) ? (v.effort as Effort) : d.effort,
    };
  } catch {
    return d;
  }
}
