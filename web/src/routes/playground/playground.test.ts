import { describe, expect, test } from 'vitest';
import { SSEParser, apply, errorOf, fromJSON, newAnswer, type SSEEvent } from './sse';
import {
  abbreviateDataURLs,
  buildRequest,
  chatModels,
  checkAttachment,
  costMicros,
  defaultSettings,
  loadSettings,
  loadTurns,
  MAX_IMAGE_BYTES,
  saveSettings,
  saveTurns,
  segments,
  shellQuote,
  snippet,
  validate,
  type ModelPrice,
  type Turn,
} from './chat';

const chunk = (content: string, extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content }, finish_reason: null }], usage: null, ...extra })}\n\n`;
const usageChunk = `data: ${JSON.stringify({ id: 'c1', model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 } })}\n\n`;
const stream = ': keep-alive\n\n' + chunk('Hel') + chunk('lo, 世界 🌍') + chunk('!', { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }) + usageChunk + 'data: [DONE]\n\n';

function run(pieces: (string | Uint8Array)[]) {
  const p = new SSEParser();
  const evs: SSEEvent[] = [];
  for (const x of pieces) evs.push(...p.push(x));
  evs.push(...p.end());
  const a = newAnswer();
  for (const e of evs) apply(a, e);
  return { evs, a };
}

describe('SSE parser', () => {
  test('a whole stream: text, finish, usage, [DONE]', () => {
    const { evs, a } = run([stream]);
    expect(evs).toHaveLength(5);
    expect(a.text).toBe('Hello, 世界 🌍');
    expect(a.finish).toBe('stop');
    expect(a.usage).toEqual({ prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 });
    expect(a.model).toBe('gpt-4o-mini');
    expect(a.done).toBe(true);
    expect(a.error).toBeUndefined();
  });

  test('bytes split at every position, inside UTF-8 characters too', () => {
    const bytes = new TextEncoder().encode(stream);
    const whole = run([bytes]).a;
    for (let i = 1; i < bytes.length; i++) {
      const { a } = run([bytes.slice(0, i), bytes.slice(i)]);
      expect(a, `split at ${i}`).toEqual(whole);
    }
    // And one byte at a time.
    expect(run([...bytes].map((b) => new Uint8Array([b]))).a).toEqual(whole);
  });

  test('CRLF and CR line ends, a CRLF split across chunks', () => {
    const crlf = stream.replace(/\n/g, '\r\n');
    const whole = run([stream]).a;
    for (let i = 1; i < crlf.length; i++) expect(run([crlf.slice(0, i), crlf.slice(i)]).a, `CRLF split at ${i}`).toEqual(whole);
    expect(run([stream.replace(/\n/g, '\r')]).a).toEqual(whole);
  });

  test('multi-line data joins with a newline; event names; comments; no space after the colon', () => {
    const p = new SSEParser();
    expect(p.push('event: message\ndata:{"a":\ndata: 1}\n: comment\n\n')).toEqual([{ event: 'message', data: '{"a":\n1}' }]);
    expect(p.push('data\n\n')).toEqual([{ event: '', data: '' }]); // as the WHATWG rules say
    expect(p.push('event: x\n\n')).toEqual([]); // no data, no event
  });

  test('a last event without its blank line is flushed at the end', () => {
    const p = new SSEParser();
    expect(p.push('data: [DONE]')).toEqual([]);
    expect(p.end()).toEqual([{ event: '', data: '[DONE]' }]);
  });

  test('an error event mid-stream (OpenAI shape) keeps the text so far', () => {
    const { a } = run([chunk('partial'), `data: ${JSON.stringify({ error: { type: 'server_error', code: 'server_error', message: 'mock stream error' } })}\n\n`]);
    expect(a.text).toBe('partial');
    expect(a.error).toEqual({ message: 'mock stream error', code: 'server_error' });
    expect(a.done).toBe(false);
  });

  test('named error events and other error shapes', () => {
    expect(run(['event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n']).a.error).toEqual({ message: 'busy', code: 'overloaded_error' });
    expect(run(['event: error\ndata: upstream went away\n\n']).a.error).toEqual({ message: 'upstream went away' });
    expect(errorOf({ type: 'error', code: 'server_error', message: 'x' })).toEqual({ message: 'x', code: 'server_error' });
    expect(errorOf({ error: { code: 'not_found', message: 'key 3 not found' } })).toEqual({ message: 'key 3 not found', code: 'not_found' });
    expect(errorOf({ choices: [] })).toBeUndefined();
  });

  test('a corrupt line is skipped; reasoning deltas are kept apart', () => {
    const { a } = run([
      'data: {"choices":[{"delta":{"content":"ha\n\n',
      'data: {"choices":[{"delta":{"reasoning_content":"think "}}]}\n\n',
      'data: {"choices":[{"delta":{"reasoning":"more"}}]}\n\n',
      chunk('ok'),
    ]);
    expect(a.text).toBe('ok');
    expect(a.reasoning).toBe('think more');
    expect(a.error).toBeUndefined();
  });

  test('a JSON answer instead of a stream', () => {
    const a = fromJSON({ model: 'm', choices: [{ message: { content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1 } });
    expect(a).toMatchObject({ text: 'hi', done: true, finish: 'stop', usage: { prompt_tokens: 1, completion_tokens: 1 } });
    expect(fromJSON({ error: { message: 'no', code: 'model_not_found' } }).error).toEqual({ message: 'no', code: 'model_not_found' });
  });
});

const img = { name: 'a.png', type: 'image/png', size: 10, url: 'data:image/png;base64,iVBORw0KGgo=' };
const turns: Turn[] = [
  { id: 1, role: 'user', text: 'What is this?', images: [img] },
  { id: 2, role: 'assistant', text: '', answer: { text: 'A pixel.', reasoning: '', done: true } },
  { id: 3, role: 'user', text: 'Thanks' },
  { id: 4, role: 'assistant', text: '', answer: { text: '', reasoning: '', done: false, error: { message: 'boom' } } },
  { id: 5, role: 'user', text: 'Again?' },
];

describe('request building', () => {
  test('the body: system prompt, image parts, settings; failed answers left out', () => {
    const s = { ...defaultSettings(), keyId: 3, model: 'gpt-4o-mini', system: 'Be brief.', temperature: '0.7', maxTokens: '256', effort: 'low' as const };
    expect(buildRequest(s, turns)).toEqual({
      model: 'gpt-4o-mini',
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.7,
      max_completion_tokens: 256,
      reasoning_effort: 'low',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: img.url } }] },
        { role: 'assistant', content: 'A pixel.' },
        { role: 'user', content: 'Thanks' },
        { role: 'user', content: 'Again?' },
      ],
    });
  });

  test('max_tokens without a reasoning effort', () => {
    const r = buildRequest({ ...defaultSettings(), keyId: 1, model: 'm', maxTokens: '64' }, [{ id: 1, role: 'user', text: 'hi' }]);
    expect(r.max_tokens).toBe(64);
    expect(r.max_completion_tokens).toBeUndefined();
    expect(r.reasoning_effort).toBeUndefined();
  });

  test('unset settings stay out of the body', () => {
    const r = buildRequest({ ...defaultSettings(), keyId: 1, model: 'm', system: '  ' }, [{ id: 1, role: 'user', text: 'hi' }]);
    expect(r).toEqual({ model: 'm', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
  });

  test('validation', () => {
    expect(validate(defaultSettings())).toEqual({ keyId: 'required', model: 'required' });
    const ok = { ...defaultSettings(), keyId: 1, model: 'm' };
    expect(validate(ok)).toEqual({});
    expect(validate({ ...ok, temperature: '2.5' })).toEqual({ temperature: 'temperature' });
    expect(validate({ ...ok, temperature: 'hot' })).toEqual({ temperature: 'temperature' });
    expect(validate({ ...ok, temperature: '0' })).toEqual({});
    expect(validate({ ...ok, maxTokens: '0' })).toEqual({ maxTokens: 'max_tokens' });
    expect(validate({ ...ok, maxTokens: '1.5' })).toEqual({ maxTokens: 'max_tokens' });
    expect(validate({ ...ok, maxTokens: '4096' })).toEqual({});
  });

  test('attachments: type, size and count are checked before sending', () => {
    expect(checkAttachment({ type: 'image/png', size: 1000 }, 0)).toBeUndefined();
    expect(checkAttachment({ type: 'application/pdf', size: 1000 }, 0)).toBe('type');
    expect(checkAttachment({ type: 'image/jpeg', size: MAX_IMAGE_BYTES + 1 }, 0)).toBe('size');
    expect(checkAttachment({ type: 'image/webp', size: 10 }, 4)).toBe('count');
  });

  test('models a chat cannot use are left out', () => {
    const ids = ['gpt-4o-mini', 'text-embedding-3-small', 'whisper-1', 'tts-1', 'dall-e-3', 'gpt-image-1', 'claude-sonnet-4-5', 'omni-moderation-latest'];
    expect(chatModels(ids.map((id) => ({ id }))).map((m) => m.id)).toEqual(['gpt-4o-mini', 'claude-sonnet-4-5']);
  });
});

describe('cost', () => {
  const price: ModelPrice = { id: 'm', priced: true, free: false, input_micros_per_1m: 150_000, cached_input_micros_per_1m: 75_000, output_micros_per_1m: 600_000, per_request_micros: 0 };
  test('as billing.Price.Cost: token parts rounded up, then the ratio rounded up', () => {
    // 12×0.15 + 7×0.6 = 6 micro-USD exactly.
    expect(costMicros(price, { prompt_tokens: 12, completion_tokens: 7 }, 1_000_000)).toBe(6);
    // 1 input token is 0.15 micro-USD: charged as 1.
    expect(costMicros(price, { prompt_tokens: 1, completion_tokens: 0 }, 1_000_000)).toBe(1);
    // Cached tokens at their own price; ratio ×1.5 rounds up.
    expect(costMicros(price, { prompt_tokens: 1_000_000, completion_tokens: 1_000_000, prompt_tokens_details: { cached_tokens: 400_000 } }, 1_500_000)).toBe(
      Math.ceil((600_000 * 0.15 + 400_000 * 0.075 + 1_000_000 * 0.6) * 1.5),
    );
    expect(costMicros({ ...price, per_request_micros: 100 }, { prompt_tokens: 0, completion_tokens: 0 }, 1_000_000)).toBe(100);
    expect(costMicros({ ...price, per_request_micros: 1 }, { prompt_tokens: 0, completion_tokens: 0 }, 1_500_000)).toBe(2);
  });
  test('free, unpriced, zero ratio', () => {
    expect(costMicros({ ...price, free: true }, { prompt_tokens: 100, completion_tokens: 100 }, 1_000_000)).toBe(0);
    expect(costMicros({ ...price, priced: false }, { prompt_tokens: 100, completion_tokens: 100 }, 1_000_000)).toBeNull();
    expect(costMicros(undefined, { prompt_tokens: 100, completion_tokens: 100 }, 1_000_000)).toBeNull();
    expect(costMicros(price, { prompt_tokens: 100, completion_tokens: 100 }, 0)).toBe(0);
  });
});

describe('snippets', () => {
  const req = buildRequest({ ...defaultSettings(), keyId: 7, model: 'gpt-4o-mini', system: "It's a test" }, [{ id: 1, role: 'user', text: 'Say "hi"\nand \\ bye', images: [img] }]);
  test('curl: the key as a placeholder, the body verbatim in a here-document', () => {
    const s = snippet('curl', 'https://gw.example.com/', req);
    expect(s.startsWith("curl 'https://gw.example.com/v1/chat/completions' \\\n")).toBe(true);
    expect(s).toContain('-H "Authorization: Bearer $SWITCHYARD_API_KEY"');
    const body = s.slice(s.indexOf("<<'JSON'\n") + 9, s.lastIndexOf('\nJSON'));
    expect(JSON.parse(body)).toEqual(req);
    expect(s.endsWith('\nJSON')).toBe(true);
  });
  test('python: the body reads back as the same request; the key from the environment', () => {
    const s = snippet('python', 'http://127.0.0.1:8080', req);
    expect(s).toContain('os.environ["SWITCHYARD_API_KEY"]');
    const lit = s.match(/body = json\.loads\((".*")\)/)![1];
    expect(JSON.parse(JSON.parse(lit))).toEqual(req);
    expect(s).toContain('"http://127.0.0.1:8080/v1/chat/completions"');
  });
  test('js: the body is a valid object literal of the same request', () => {
    const s = snippet('js', 'http://127.0.0.1:8080', req);
    expect(s).toContain('process.env.SWITCHYARD_API_KEY');
    const obj = s.slice(s.indexOf('JSON.stringify(') + 15, s.indexOf('),\n});'));
    expect(JSON.parse(obj)).toEqual(req);
  });
  test('no snippet carries anything like a key', () => {
    for (const l of ['curl', 'python', 'js'] as const) expect(snippet(l, 'http://x', req)).not.toMatch(/sk-[a-z]/i);
  });
  test('the shown snippet abbreviates image data; the copied one does not', () => {
    const short = abbreviateDataURLs(req);
    expect(JSON.stringify(short)).toContain('"data:image/png;base64,…"');
    expect(JSON.stringify(req)).toContain(img.url);
  });
  test('shell quoting', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});

describe('answer segments (rendered as text, never HTML)', () => {
  test('fenced blocks with their language, inline code, plain text', () => {
    expect(segments('Use `ls`:\n```sh\nls -la\n```\nDone <b>x</b>')).toEqual([
      { kind: 'text', text: 'Use ' },
      { kind: 'code', text: 'ls' },
      { kind: 'text', text: ':\n' },
      { kind: 'block', lang: 'sh', text: 'ls -la' },
      { kind: 'text', text: 'Done <b>x</b>' },
    ]);
  });
  test('an unclosed fence (still streaming) runs to the end', () => {
    expect(segments('a\n```js\nlet x')).toEqual([
      { kind: 'text', text: 'a\n' },
      { kind: 'block', lang: 'js', text: 'let x' },
    ]);
  });
  test('no markdown at all', () => {
    expect(segments('plain')).toEqual([{ kind: 'text', text: 'plain' }]);
    expect(segments('')).toEqual([]);
  });
});

describe('browser storage', () => {
  function mem(limit = Infinity) {
    const m = new Map<string, string>();
    return {
      m,
      getItem: (k: string) => m.get(k) ?? null,
      setItem: (k: string, v: string) => {
        if (v.length > limit) throw new DOMException('quota', 'QuotaExceededError');
        m.set(k, v);
      },
      removeItem: (k: string) => void m.delete(k),
    };
  }
  test('turns round-trip; an interrupted answer reads back as over', () => {
    const s = mem();
    const t: Turn[] = [...turns, { id: 6, role: 'assistant', text: '', answer: { text: 'par', reasoning: '', done: false } }];
    expect(saveTurns(t, 7, s)).toBe('full');
    const back = loadTurns(7, s);
    expect(back).toHaveLength(6);
    expect(back[0].images).toEqual([img]);
    expect(back[5].answer?.done).toBe(true);
  });
  test('over the quota, images are dropped and the text kept', () => {
    const s = mem(400);
    expect(saveTurns([{ id: 1, role: 'user', text: 'hi', images: [{ ...img, url: 'data:image/png;base64,' + 'A'.repeat(1000) }] }], 7, s)).toBe('text');
    expect(loadTurns(7, s)).toEqual([{ id: 1, role: 'user', text: 'hi', images: [] }]);
  });
  test('another user signed in later in the tab does not see the conversation, which is dropped', () => {
    const s = mem();
    saveTurns(turns, 7, s);
    expect(loadTurns(8, s)).toEqual([]);
    expect(s.m.has('sy.playground.turns')).toBe(false);
    expect(loadTurns(7, s)).toEqual([]);
  });
  test('settings round-trip; junk falls back to defaults', () => {
    const s = mem();
    const v = { keyId: 4, model: 'm', system: 's', temperature: '1', maxTokens: '10', effort: 'high' as const };
    saveSettings(v, s);
    expect(loadSettings(s)).toEqual(v);
    s.m.set('sy.playground.settings', '{"keyId":"x","effort":"extreme"}');
    expect(loadSettings(s)).toEqual(defaultSettings());
    s.m.set('sy.playground.turns', 'not json');
    expect(loadTurns(4, s)).toEqual([]);
  });
});
