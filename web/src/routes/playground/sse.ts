// The playground's reading of a chat completion stream: an incremental
// server-sent events parser (bytes may be split anywhere, even inside a
// UTF-8 character or between \r and \n) and a reducer that folds OpenAI
// chat chunks — content and reasoning deltas, the usage chunk, [DONE] and
// error events — into one answer.

export interface SSEEvent {
  event: string; // "" when the stream names none
  data: string;
}

// SSEParser follows the WHATWG event-stream rules that matter here: lines
// end with \n, \r\n or \r; "data:" lines of one event join with \n; a blank
// line dispatches; ":" lines are comments; one space after the colon is
// dropped.
export class SSEParser {
  private decoder = new TextDecoder();
  private buf = '';
  private pendingCR = false;
  private data: string[] = [];
  private event = '';

  // push takes the next bytes (or text) and returns the events they complete.
  push(chunk: Uint8Array | string): SSEEvent[] {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (this.pendingCR && text.startsWith('\n')) text = text.slice(1);
    this.pendingCR = false;
    this.buf += text;
    const out: SSEEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const c = this.buf[i];
      if (c !== '\n' && c !== '\r') continue;
      this.line(this.buf.slice(start, i), out);
      if (c === '\r') {
        if (i + 1 === this.buf.length) this.pendingCR = true;
        else if (this.buf[i + 1] === '\n') i++;
      }
      start = i + 1;
    }
    this.buf = this.buf.slice(start);
    return out;
  }

  // end flushes a last event that lacked its blank line.
  end(): SSEEvent[] {
    const out: SSEEvent[] = [];
    const rest = this.decoder.decode();
    if (rest) this.buf += rest;
    if (this.buf) this.line(this.buf, out);
    this.buf = '';
    this.line('', out);
    return out;
  }

  private line(line: string, out: SSEEvent[]) {
    if (line === '') {
      if (this.data.length) out.push({ event: this.event, data: this.data.join('\n') });
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
  }
}

// Usage as /v1 reports it (the fields the playground reads).
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
}

export interface StreamError {
  message: string;
  code?: string;
  requestId?: string;
  status?: number;
}

// Answer is what the stream has said so far.
export interface Answer {
  text: string;
  reasoning: string;
  model?: string;
  usage?: Usage;
  finish?: string;
  done: boolean;
  error?: StreamError;
}

export function newAnswer(): Answer {
  return { text: '', reasoning: '', done: false };
}

// errorOf reads an error object in any of the shapes the gateway passes on:
// OpenAI's {"error":{message,type,code}}, the console's {"error":{code,message}}
// and the Responses/Anthropic {"type":"error",…} event.
export function errorOf(v: unknown): StreamError | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const e = (o.error && typeof o.error === 'object' ? o.error : o.type === 'error' ? o : undefined) as Record<string, unknown> | undefined;
  if (!e) return undefined;
  const code = typeof e.code === 'string' ? e.code : typeof e.type === 'string' && e.type !== 'error' ? e.type : undefined;
  const message = typeof e.message === 'string' && e.message ? e.message : (code ?? 'error');
  return { message, code };
}

// apply folds one event into the answer (mutating it) and reports whether
// it changed anything.
export function apply(a: Answer, ev: SSEEvent): boolean {
  const data = ev.data.trim();
  if (data === '[DONE]') {
    a.done = true;
    return true;
  }
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    if (ev.event === 'error') {
      a.error = { message: data || 'error' };
      return true;
    }
    return false; // a corrupt line inside an otherwise valid stream
  }
  const err = errorOf(v);
  if (err || ev.event === 'error') {
    a.error = err ?? { message: data };
    return true;
  }
  const o = v as {
    model?: string;
    usage?: Usage | null;
    choices?: { delta?: { content?: string | null; reasoning_content?: string | null; reasoning?: string | null }; finish_reason?: string | null }[];
  };
  if (typeof o.model === 'string' && o.model) a.model = o.model;
  if (o.usage && typeof o.usage === 'object') a.usage = o.usage;
  for (const c of o.choices ?? []) {
    const d = c.delta ?? {};
    if (typeof d.content === 'string') a.text += d.content;
    const r = d.reasoning_content ?? d.reasoning;
    if (typeof r === 'string') a.reasoning += r;
    if (c.finish_reason) a.finish = c.finish_reason;
  }
  return true;
}

// fromJSON reads a whole (non-stream) chat completion into an answer, for a
// server that answered JSON although a stream was asked.
export function fromJSON(v: unknown): Answer {
  const a = newAnswer();
  a.done = true;
  const err = errorOf(v);
  if (err) {
    a.error = err;
    return a;
  }
  const o = v as { model?: string; usage?: Usage; choices?: { message?: { content?: string | null; reasoning_content?: string | null }; finish_reason?: string }[] };
  a.model = o.model;
  a.usage = o.usage;
  const c = o.choices?.[0];
  a.text = c?.message?.content ?? '';
  a.reasoning = c?.message?.reasoning_content ?? '';
  a.finish = c?.finish_reason;
  return a;
}
