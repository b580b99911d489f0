// The official @anthropic-ai/sdk package against the target: messages, the
// MessageStream helper (text and tool use), count_tokens, errors and retries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import {
  env, directive, countingFetch, failNext, uniqueKey, assertMockText, weatherSchema, unserved,
} from './lib.mjs';

// The Anthropic client appends /v1/messages itself.
const client = new Anthropic({ apiKey: env.apiKey, baseURL: env.baseURL, maxRetries: 0, timeout: 30_000 });

const weatherTool = { name: 'get_weather', description: 'Weather for a city', input_schema: weatherSchema };

test('messages, non-stream', { skip: unserved('messages') }, async () => {
  const prompt = 'Hello from the Anthropic SDK harness';
  const msg = await client.messages.create({
    model: env.claudeModel,
    max_tokens: 256,
    messages: [{ role: 'user', content: prompt }],
  });
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.ok(msg.id.startsWith('msg_'), msg.id);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.content.length, 1);
  assert.equal(msg.content[0].type, 'text');
  assertMockText(msg.content[0].text, prompt);
  assert.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0);
});

test('messages.stream with text → finalMessage', { skip: unserved('messages') }, async () => {
  const prompt = 'Stream some text through the message stream helper';
  const stream = client.messages.stream({
    model: env.claudeModel,
    max_tokens: 256,
    messages: [{ role: 'user', content: prompt }],
  });
  const deltas = [];
  stream.on('text', (d) => deltas.push(d));
  const types = [];
  stream.on('streamEvent', (e) => types.push(e.type));
  const msg = await stream.finalMessage();

  assert.ok(deltas.length >= 2, `only ${deltas.length} text deltas`);
  assert.equal(types[0], 'message_start');
  assert.equal(types[1], 'content_block_start');
  assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
  assert.equal(msg.content.length, 1);
  assert.equal(msg.content[0].type, 'text');
  assert.equal(msg.content[0].text, deltas.join(''));
  assertMockText(msg.content[0].text, prompt);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.ok(msg.usage.input_tokens > 0, 'input tokens from message_start');
  assert.ok(msg.usage.output_tokens > 0, 'output tokens from message_delta');

  if (env.mockReplies) {
    const whole = await client.messages.create({
      model: env.claudeModel, max_tokens: 256, messages: [{ role: 'user', content: prompt }],
    });
    assert.equal(msg.content[0].text, whole.content[0].text);
    assert.equal(msg.usage.output_tokens, whole.usage.output_tokens);
  }
});

test('messages.stream with a tool call → tool_use with parsed input', { skip: unserved('messages') }, async () => {
  const stream = client.messages.stream({
    model: env.claudeModel,
    max_tokens: 256,
    tools: [weatherTool],
    messages: [{ role: 'user', content: 'What is the weather in Porto?' }],
  });
  const partials = [];
  stream.on('inputJson', (partial) => partials.push(partial));
  const msg = await stream.finalMessage();

  assert.equal(msg.stop_reason, 'tool_use');
  const use = msg.content.find((b) => b.type === 'tool_use');
  assert.ok(use, `a tool_use block in ${JSON.stringify(msg.content)}`);
  assert.ok(use.id.startsWith('toolu_'), use.id);
  assert.equal(use.name, 'get_weather');
  assert.equal(typeof use.input, 'object', 'input parsed from input_json_delta');
  assert.equal(typeof use.input.city, 'string');
  assert.ok(partials.length >= 1, 'inputJson events');

  // Answering the tool turns the conversation back into text.
  const next = await client.messages.create({
    model: env.claudeModel,
    max_tokens: 256,
    tools: [weatherTool],
    messages: [
      { role: 'user', content: 'What is the weather in Porto?' },
      { role: 'assistant', content: msg.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '19C and sunny' }] },
    ],
  });
  assert.equal(next.stop_reason, 'end_turn');
  assert.equal(next.content[0].type, 'text');
});

test('messages, raw stream events (stream: true)', { skip: unserved('messages') }, async () => {
  const stream = await client.messages.create({
    model: env.claudeModel,
    max_tokens: 256,
    stream: true,
    messages: [{ role: 'user', content: 'Raw events please' }],
  });
  const events = [];
  for await (const e of stream) events.push(e);
  assert.equal(events[0].type, 'message_start');
  assert.equal(events[0].message.content.length, 0);
  const deltas = events.filter((e) => e.type === 'content_block_delta');
  assert.ok(deltas.length >= 2);
  for (const d of deltas) {
    assert.equal(d.index, 0);
    assert.equal(d.delta.type, 'text_delta');
  }
  const md = events.find((e) => e.type === 'message_delta');
  assert.equal(md.delta.stop_reason, 'end_turn');
  assert.ok(md.usage.output_tokens > 0);
  assert.equal(events.at(-1).type, 'message_stop');
});

test('messages.stream cut mid-way → finalMessage rejects', { skip: unserved('messages') }, async () => {
  const stream = client.messages.stream({
    model: env.claudeModel,
    max_tokens: 256,
    messages: [{ role: 'user', content: `cut me off ${directive('drop_after=4 chunks=8')}` }],
  });
  const deltas = [];
  stream.on('text', (d) => deltas.push(d));
  // The mock cuts the connection; a gateway has already committed the
  // stream, so it ends it with an Anthropic error event, which the SDK throws.
  const want = env.target === 'mock' ? /terminated|aborted|closed|connection error/i : /upstream stream ended unexpectedly/i;
  await assert.rejects(stream.finalMessage(), want, 'a truncated stream must not look like a complete answer');
  assert.ok(deltas.length >= 1, 'some text arrived before the cut');
});

test('count_tokens', { skip: unserved('messages.count_tokens') }, async () => {
  const short = await client.messages.countTokens({
    model: env.claudeModel, messages: [{ role: 'user', content: 'short' }],
  });
  const long = await client.messages.countTokens({
    model: env.claudeModel, messages: [{ role: 'user', content: 'a much longer prompt '.repeat(20) }],
  });
  assert.equal(typeof short.input_tokens, 'number');
  assert.ok(short.input_tokens > 0);
  assert.ok(long.input_tokens > short.input_tokens, `${long.input_tokens} > ${short.input_tokens}`);
});

test('401 → AuthenticationError', { skip: unserved('messages') }, async () => {
  const bad = new Anthropic({ apiKey: env.invalidKey, baseURL: env.baseURL, maxRetries: 0 });
  await assert.rejects(
    bad.messages.create({ model: env.claudeModel, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    (err) => {
      assert.ok(err instanceof Anthropic.AuthenticationError, `got ${err.constructor.name}: ${err.message}`);
      assert.equal(err.status, 401);
      assert.equal(err.error?.type, 'error', 'Anthropic error body {"type":"error","error":{…}}');
      assert.equal(err.error?.error?.type, 'authentication_error');
      return true;
    },
  );
});

test('429 once → the SDK retries and succeeds', { skip: !env.controlURL && 'needs CONTROL_URL' }, async () => {
  const key = uniqueKey('retry-anthropic');
  await failNext(key, { status: 429, retry_after_ms: 10 });
  const counted = countingFetch();
  const c = new Anthropic({ apiKey: key, baseURL: env.baseURL, maxRetries: 2, fetch: counted.fetch });
  const msg = await c.messages.create({
    model: env.claudeModel, max_tokens: 64, messages: [{ role: 'user', content: 'retry me' }],
  });
  assert.equal(msg.stop_reason, 'end_turn');
  assert.deepEqual(counted.statuses, [429, 200]);
});

// Through a gateway every upstream attempt hits the 429 and the gateway
// answers 429 rate_limit_error itself (the pool is rate limited, so the
// client should wait), with Retry-After at the first credential's return;
// the SDK retries it and then throws RateLimitError, as against the upstream.
test('429 every time → RateLimitError after maxRetries (also via a gateway)', { skip: unserved('messages') }, async () => {
  const counted = countingFetch();
  const c = new Anthropic({ apiKey: env.apiKey, baseURL: env.baseURL, maxRetries: 1, fetch: counted.fetch });
  const content = `keep failing ${directive('status=429 retry_after_ms=10')}`;
  const want = 429;
  await assert.rejects(
    c.messages.create({ model: env.rateLimitModel, max_tokens: 16, messages: [{ role: 'user', content }] }),
    (err) => {
      assert.ok(err instanceof Anthropic.RateLimitError, `got ${err.constructor.name}: ${err.message}`);
      assert.equal(err.error?.error?.type, 'rate_limit_error');
      return true;
    },
  );
  assert.deepEqual(counted.statuses, [want, want]);
});
