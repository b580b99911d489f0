// The official openai package against the target. Each test exercises one
// SDK surface the way an application would, including the SDK's own stream
// accumulators, which are stricter about event shapes than hand-written
// parsers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import OpenAI, { toFile } from 'openai';
import {
  env, directive, countingFetch, failNext, upstreamRequests, uniqueKey,
  assertMockText, assertSequence, weatherSchema, unserved, solidPNG, pngMagic,
} from './lib.mjs';

const baseURL = `${env.baseURL}/v1`;
const client = new OpenAI({ apiKey: env.apiKey, baseURL, maxRetries: 0, timeout: 30_000 });

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather for a city', parameters: weatherSchema },
};

test('chat completion, non-stream', async () => {
  const prompt = 'Say hello to the compatibility harness';
  const res = await client.chat.completions.create({
    model: env.chatModel,
    messages: [{ role: 'user', content: prompt }],
  });
  assert.equal(res.object, 'chat.completion');
  assert.ok(res.id);
  assert.equal(res.choices.length, 1);
  const choice = res.choices[0];
  assert.equal(choice.message.role, 'assistant');
  assert.equal(choice.finish_reason, 'stop');
  assertMockText(choice.message.content, prompt);
  assert.ok(res.usage.prompt_tokens > 0);
  assert.ok(res.usage.completion_tokens > 0);
  assert.equal(res.usage.total_tokens, res.usage.prompt_tokens + res.usage.completion_tokens);
});

test('chat completion, stream with include_usage', async () => {
  const prompt = 'Stream a few words back to me please';
  const stream = await client.chat.completions.create({
    model: env.chatModel,
    messages: [{ role: 'user', content: prompt }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.ok(chunks.length >= 3, `only ${chunks.length} chunks`);
  const ids = new Set(chunks.map((c) => c.id));
  assert.equal(ids.size, 1, 'every chunk carries the same id');
  for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
  assert.equal(chunks[0].choices[0].delta.role, 'assistant', 'the first delta names the role');

  const last = chunks.at(-1);
  assert.deepEqual(last.choices, [], 'the usage chunk has no choices');
  assert.ok(last.usage, 'usage on the last chunk');
  assert.ok(last.usage.prompt_tokens > 0 && last.usage.completion_tokens > 0);
  for (const c of chunks.slice(0, -1)) assert.ok(!c.usage, 'usage only on the last chunk');

  const content = chunks.flatMap((c) => c.choices).map((ch) => ch.delta?.content ?? '').join('');
  const finish = chunks.flatMap((c) => c.choices).map((ch) => ch.finish_reason).filter(Boolean);
  assert.deepEqual(finish, ['stop']);
  assertMockText(content, prompt);

  // The same request without streaming gives the same text and usage.
  const whole = await client.chat.completions.create({
    model: env.chatModel,
    messages: [{ role: 'user', content: prompt }],
  });
  if (env.mockReplies) {
    assert.equal(content, whole.choices[0].message.content);
    assert.deepEqual(
      [last.usage.prompt_tokens, last.usage.completion_tokens],
      [whole.usage.prompt_tokens, whole.usage.completion_tokens],
    );
  }
});

test('chat completion, tool call through the stream helper', async () => {
  const runner = client.chat.completions.stream({
    model: env.chatModel,
    messages: [{ role: 'user', content: 'What is the weather in Lisbon?' }],
    tools: [weatherTool],
    stream_options: { include_usage: true },
  });
  const argDeltas = [];
  runner.on('tool_calls.function.arguments.delta', (e) => argDeltas.push(e.arguments_delta));
  const done = [];
  runner.on('tool_calls.function.arguments.done', (e) => done.push(e));
  const final = await runner.finalChatCompletion();

  const choice = final.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.tool_calls.length, 1);
  const call = choice.message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.ok(call.id, 'tool call id');
  assert.equal(call.function.name, 'get_weather');
  const args = JSON.parse(call.function.arguments);
  assert.equal(typeof args.city, 'string');
  assert.equal(argDeltas.join(''), call.function.arguments);
  assert.equal(done.length, 1);
  assert.deepEqual(done[0].parsed_arguments ?? JSON.parse(done[0].arguments), args);
  assert.ok(final.usage?.completion_tokens > 0, 'usage reaches the final completion');

  // A tool result turns the conversation back into text.
  const next = await client.chat.completions.create({
    model: env.chatModel,
    messages: [
      { role: 'user', content: 'What is the weather in Lisbon?' },
      choice.message,
      { role: 'tool', tool_call_id: call.id, content: '{"temp_c": 21}' },
    ],
    tools: [weatherTool],
  });
  assert.equal(next.choices[0].finish_reason, 'stop');
  assert.ok(next.choices[0].message.content.length > 0);
});

test('chat completion, stream helper with text → finalChatCompletion', async () => {
  const prompt = 'Use the chat stream helper for plain text';
  const runner = client.chat.completions.stream({
    model: env.chatModel,
    messages: [{ role: 'user', content: prompt }],
  });
  const deltas = [];
  runner.on('content.delta', (e) => deltas.push(e.delta));
  const final = await runner.finalChatCompletion();
  const msg = final.choices[0].message;
  assert.equal(msg.role, 'assistant');
  assert.equal(msg.content, deltas.join(''));
  assert.equal(await runner.finalContent(), msg.content);
  assertMockText(msg.content, prompt);
  assert.equal(final.choices[0].finish_reason, 'stop');
});

test('chat completion, stream cut mid-way → the SDK throws', async () => {
  const stream = await client.chat.completions.create({
    model: env.chatModel,
    messages: [{ role: 'user', content: `cut me off ${directive('drop_after=3 chunks=8')}` }],
    stream: true,
  });
  let seen = 0;
  await assert.rejects(async () => {
    for await (const chunk of stream) seen += chunk.choices.length;
  }, (err) => {
    // The mock cuts the connection (fetch: terminated); a gateway has already
    // committed the stream, so it ends it with an in-stream error event, which
    // the SDK throws as an APIError.
    const want = env.target === 'mock' ? /terminated|aborted|closed/i : /upstream stream ended unexpectedly/i;
    assert.match(err.message, want, 'a truncated stream must not look like a complete answer');
    return true;
  });
  assert.ok(seen >= 1, 'some chunks arrived before the cut');
});

test('responses, non-stream', { skip: unserved('responses') }, async () => {
  const prompt = 'Describe the responses API in one line';
  const res = await client.responses.create({ model: env.chatModel, input: prompt });
  assert.equal(res.object, 'response');
  assert.equal(res.status, 'completed');
  assert.ok(res.id.startsWith('resp_'), res.id);
  assertMockText(res.output_text, prompt); // the SDK's convenience accessor
  assert.ok(res.usage.input_tokens > 0 && res.usage.output_tokens > 0);
  assert.equal(res.usage.total_tokens, res.usage.input_tokens + res.usage.output_tokens);
});

test('responses, stream helper: event order, ids, finalResponse', { skip: unserved('responses') }, async () => {
  const prompt = 'Stream the responses API please';
  const stream = client.responses.stream({ model: env.chatModel, input: prompt });
  const events = [];
  for await (const e of stream) events.push(e);
  const final = await stream.finalResponse();

  const types = events.map((e) => e.type);
  const deltas = types.filter((t) => t === 'response.output_text.delta').length;
  assert.ok(deltas >= 2, `only ${deltas} text deltas`);
  assert.deepEqual(types, [
    'response.created',
    'response.in_progress',
    'response.output_item.added',
    'response.content_part.added',
    ...Array(deltas).fill('response.output_text.delta'),
    'response.output_text.done',
    'response.content_part.done',
    'response.output_item.done',
    'response.completed',
  ]);
  assert.equal(events[0].sequence_number, 0);
  assertSequence(events.map((e) => e.sequence_number));

  const respID = events[0].response.id;
  assert.equal(events[0].response.status, 'in_progress');
  assert.equal(final.id, respID);
  assert.equal(final.status, 'completed');
  const item = events.find((e) => e.type === 'response.output_item.added').item;
  assert.equal(item.type, 'message');
  assert.equal(item.status, 'in_progress');
  assert.deepEqual(item.content, []);
  const doneItem = events.find((e) => e.type === 'response.output_item.done').item;
  assert.equal(doneItem.status, 'completed');
  for (const e of events.filter((e) => 'item_id' in e)) {
    assert.equal(e.item_id, item.id, `${e.type} names the added item`);
    assert.equal(e.output_index, 0);
  }
  const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
  assert.equal(events.find((e) => e.type === 'response.output_text.done').text, text);
  assert.equal(final.output_text, text);
  assert.equal(final.output[0].id, item.id);
  assertMockText(text, prompt);
  assert.ok(final.usage.output_tokens > 0);
});

test('responses, stream helper with a function call', { skip: unserved('responses') }, async () => {
  const stream = client.responses.stream({
    model: env.chatModel,
    input: 'Weather in Oslo?',
    tools: [{ type: 'function', name: 'get_weather', parameters: weatherSchema, strict: false }],
  });
  const types = [];
  for await (const e of stream) types.push(e.type);
  const final = await stream.finalResponse();
  assert.ok(types.includes('response.function_call_arguments.done'));
  const call = final.output.find((o) => o.type === 'function_call');
  assert.ok(call, 'a function_call output item');
  assert.equal(call.name, 'get_weather');
  assert.ok(call.call_id);
  assert.equal(typeof JSON.parse(call.arguments).city, 'string');
});

test('embeddings: SDK default (base64 decoded), float, explicit base64', { skip: unserved('embeddings') }, async () => {
  const input = ['first text to embed', 'second text'];
  const dflt = await client.embeddings.create({ model: env.embedModel, input });
  const float = await client.embeddings.create({ model: env.embedModel, input, encoding_format: 'float' });
  const b64 = await client.embeddings.create({ model: env.embedModel, input, encoding_format: 'base64' });
  for (const res of [dflt, float, b64]) {
    assert.equal(res.object, 'list');
    assert.equal(res.data.length, 2);
    assert.deepEqual(res.data.map((d) => d.index), [0, 1]);
    assert.ok(res.usage.prompt_tokens > 0);
  }
  for (let i = 0; i < 2; i++) {
    const f = float.data[i].embedding;
    assert.ok(Array.isArray(f) && f.length > 0);
    // The SDK asks for base64 by default and hands back float32 values.
    assert.ok(Array.isArray(dflt.data[i].embedding), 'SDK decoded base64 into numbers');
    assert.deepEqual(dflt.data[i].embedding, f.map(Math.fround));
    const s = b64.data[i].embedding;
    assert.equal(typeof s, 'string', 'explicit base64 stays a string');
    const buf = Buffer.from(s, 'base64');
    const decoded = Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4));
    assert.deepEqual(decoded, f.map(Math.fround));
  }
  assert.notDeepEqual(float.data[0].embedding, float.data[1].embedding);
});

test('models list', async () => {
  const ids = [];
  for await (const m of client.models.list()) {
    assert.equal(m.object, 'model');
    ids.push(m.id);
  }
  assert.ok(ids.includes(env.chatModel), `${env.chatModel} listed in ${ids}`);
});

test('models retrieve', { skip: unserved('models.retrieve') }, async () => {
  const m = await client.models.retrieve(env.chatModel);
  assert.equal(m.id, env.chatModel);
  assert.equal(m.object, 'model');
  assert.equal(typeof m.created, 'number');
  assert.equal(typeof m.owned_by, 'string');
});

function assertPNG(b64) {
  const raw = Buffer.from(b64, 'base64');
  assert.ok(raw.subarray(0, 8).equals(pngMagic), 'a PNG image');
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// taskID reads the gateway's task header off the SDK's raw response; the
// mock has no tasks.
function taskID(response) {
  const id = response.headers.get('x-switchyard-task-id');
  if (env.target === 'gateway') assert.ok(id, 'X-Switchyard-Task-Id on the response');
  return id;
}

// finishedTask GETs an image task with the key until it has ended: a
// synchronous request's record is finished just after its answer.
async function finishedTask(id) {
  const url = `${baseURL}/images/tasks/${encodeURIComponent(id)}`;
  const anon = await fetch(url);
  assert.equal(anon.status, 401, 'a task needs the API key');
  await anon.arrayBuffer();
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await fetch(url, { headers: { authorization: `Bearer ${env.apiKey}` } });
    const body = await res.json();
    // 404 until the record is written, off the request path.
    if (res.status === 200 && ['succeeded', 'failed', 'cancelled'].includes(body.status)) {
      assert.equal(body.id, id);
      assert.equal(body.object, 'image.task');
      return body;
    }
    assert.ok(res.status === 200 || res.status === 404, `GET task: ${res.status} ${JSON.stringify(body)}`);
    assert.ok(Date.now() < deadline, `task ${id} still ${res.status === 200 ? body.status : 'missing'} after 10s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// fetchPNG downloads an image URL as a browser would: no API key.
async function fetchPNG(url) {
  const res = await fetch(url);
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `GET ${url}: ${body.toString().slice(0, 200)}`);
  assert.equal(res.headers.get('content-type'), 'image/png');
  assert.ok(body.subarray(0, 8).equals(pngMagic), 'a PNG image');
  return body;
}

test('images generate, b64_json, and its task', { skip: unserved('images') }, async () => {
  const { data: res, response } = await client.images.generate({
    model: env.imageModel, prompt: 'a red square', size: '1024x1024', n: 2,
  }).withResponse();
  assert.equal(res.data.length, 2);
  for (const d of res.data) {
    assertPNG(d.b64_json);
    assert.equal(d.url, undefined);
  }
  assert.ok(res.usage?.output_tokens > 0, 'gpt-image usage');
  assert.equal(res.size, '1024x1024');

  const id = taskID(response);
  if (!id) return;
  const task = await finishedTask(id);
  assert.equal(task.status, 'succeeded', JSON.stringify(task.error));
  assert.equal(task.kind, 'generation');
  assert.equal(task.model, env.imageModel);
  assert.equal(task.async, false);
  assert.equal(task.n, 2);
  assert.equal(task.delivered, 2);
  assert.equal(task.error, null);
});

test('images generate, response_format url → links that download without a key', { skip: unserved('images') }, async () => {
  const { data: res, response } = await client.images.generate({
    model: env.imageModel, prompt: 'a green square', size: '1024x1024', n: 2, response_format: 'url',
  }).withResponse();
  assert.equal(res.data.length, 2);
  const id = taskID(response);
  const got = [];
  for (const [i, d] of res.data.entries()) {
    assert.equal(typeof d.url, 'string');
    assert.equal(d.b64_json, undefined, 'url asked, so no base64');
    if (id) {
      const u = new URL(d.url);
      assert.equal(u.origin, new URL(env.baseURL).origin, 'links point at the gateway');
      assert.equal(u.pathname, `/p/img/${id}/${i}`);
      assert.ok(u.searchParams.get('exp') && u.searchParams.get('sig'), d.url);
    }
    got.push(await fetchPNG(d.url));
  }
  if (!id) return;

  // A link whose signature does not match is refused.
  const bad = new URL(res.data[0].url);
  bad.searchParams.set('sig', 'A'.repeat(bad.searchParams.get('sig').length));
  const refused = await fetch(bad);
  assert.equal(refused.status, 403);
  await refused.arrayBuffer();

  // The task lists the stored images with fresh links to the same bytes.
  const task = await finishedTask(id);
  assert.equal(task.status, 'succeeded', JSON.stringify(task.error));
  assert.equal(task.delivered, 2);
  assert.deepEqual(task.data.map((d) => d.index), [0, 1]);
  for (const d of task.data) {
    assert.equal(d.content_type, 'image/png');
    assert.ok((await fetchPNG(d.url)).equals(got[d.index]), `task image ${d.index} is the one answered`);
    assert.equal(d.bytes, got[d.index].length);
  }
});

test('images edit: two images and a mask (toFile) reach the upstream byte for byte', { skip: unserved('images') }, async () => {
  // Different bytes per file, so the upstream's hashes say which is which.
  const one = solidPNG(4, 4, [255, 0, 0, 255]);
  const two = solidPNG(4, 4, [0, 0, 255, 255]);
  const mask = solidPNG(4, 4, [0, 0, 0, 0]);
  const prompt = `merge these ${uniqueKey('edit')}`;
  const { data: res, response } = await client.images.edit({
    model: env.imageModel,
    prompt,
    image: [
      await toFile(one, 'one.png', { type: 'image/png' }),
      await toFile(two, 'two.png', { type: 'image/png' }),
    ],
    mask: await toFile(mask, 'mask.png', { type: 'image/png' }),
    size: '1024x1024',
  }).withResponse();
  assert.equal(res.data.length, 1);
  assertPNG(res.data[0].b64_json);
  assert.ok(res.usage.input_tokens_details.image_tokens > 0, 'input images billed');

  // The upstream request carrying this prompt (the only one: it is unique).
  const reqs = (await upstreamRequests()).filter((r) =>
    r.path.endsWith('/images/edits') && (r.parts ?? []).some((p) => p.field === 'prompt' && p.value === prompt));
  assert.equal(reqs.length, 1, `upstream edit requests with the prompt: ${reqs.length}`);
  const files = reqs[0].parts.filter((p) => p.filename);
  const inputs = files.filter((p) => p.field !== 'mask');
  assert.deepEqual(inputs.map((p) => p.sha256), [sha256(one), sha256(two)], JSON.stringify(reqs[0].parts));
  assert.deepEqual(inputs.map((p) => p.size), [one.length, two.length]);
  assert.equal(new Set(inputs.map((p) => p.field)).size, 1, 'both images under one field name');
  assert.deepEqual(files.filter((p) => p.field === 'mask').map((p) => p.sha256), [sha256(mask)]);
  for (const p of files) assert.equal(p.content_type, 'image/png');

  const id = taskID(response);
  if (!id) return;
  const task = await finishedTask(id);
  assert.equal(task.status, 'succeeded', JSON.stringify(task.error));
  assert.equal(task.kind, 'edit');
  assert.equal(task.delivered, 1);
});

test('images generate and edit, streaming partial images', { skip: unserved('images') }, async () => {
  const { data: gen, response } = await client.images.generate({
    model: env.imageModel, prompt: 'a blue square', size: '1024x1024', stream: true, partial_images: 2,
  }).withResponse();
  taskID(response);
  assert.match(response.headers.get('content-type'), /^text\/event-stream/);
  const gtypes = [];
  for await (const e of gen) {
    gtypes.push(e.type);
    assertPNG(e.b64_json);
    if (e.type === 'image_generation.completed') assert.ok(e.usage.total_tokens > 0);
    else assert.equal(e.partial_image_index, gtypes.length - 1);
  }
  assert.deepEqual(gtypes, ['image_generation.partial_image', 'image_generation.partial_image', 'image_generation.completed']);

  const edit = await client.images.edit({
    model: env.imageModel, prompt: 'edit it', image: await toFile(solidPNG(2, 2, [0, 255, 0, 255]), 'in.png', { type: 'image/png' }),
    stream: true, partial_images: 1,
  });
  const etypes = [];
  for await (const e of edit) {
    etypes.push(e.type);
    assertPNG(e.b64_json);
    if (e.type === 'image_edit.completed') assert.ok(e.usage.input_tokens_details.image_tokens > 0, 'the input image billed');
    else assert.equal(e.partial_image_index, 0);
  }
  assert.deepEqual(etypes, ['image_edit.partial_image', 'image_edit.completed']);
});

test('400 → BadRequestError', { skip: unserved('images') }, async () => {
  await assert.rejects(
    client.images.generate({ model: env.imageModel, prompt: 'x', size: 'not-a-size' }),
    (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `got ${err.constructor.name}: ${err.message}`);
      assert.equal(err.status, 400);
      return true;
    },
  );
});

test('401 → AuthenticationError', async () => {
  const bad = new OpenAI({ apiKey: env.invalidKey, baseURL, maxRetries: 0 });
  await assert.rejects(
    bad.chat.completions.create({ model: env.chatModel, messages: [{ role: 'user', content: 'hi' }] }),
    (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err.constructor.name}: ${err.message}`);
      assert.equal(err.status, 401);
      assert.ok(err.error?.message, 'OpenAI error body {"error":{"message":…}}');
      return true;
    },
  );
});

test('404 → NotFoundError', async () => {
  const isNotFound = (err) => {
    assert.ok(err instanceof OpenAI.NotFoundError, `got ${err.constructor.name}: ${err.message}`);
    assert.equal(err.status, 404);
    return true;
  };
  if (!unserved('models.retrieve')) await assert.rejects(client.models.retrieve('no-such-model-compat'), isNotFound);
  // The mock answers any model name; a gateway knows which models it routes.
  if (env.target !== 'mock') {
    await assert.rejects(
      client.chat.completions.create({ model: 'no-such-model-compat', messages: [{ role: 'user', content: 'hi' }] }),
      (err) => {
        isNotFound(err);
        assert.equal(err.code, 'model_not_found');
        return true;
      },
    );
  }
});

test('429 once → the SDK retries and succeeds', { skip: !env.controlURL && 'needs CONTROL_URL' }, async () => {
  const key = uniqueKey('retry-openai');
  await failNext(key, { status: 429, retry_after_ms: 10 });
  const counted = countingFetch();
  const c = new OpenAI({ apiKey: key, baseURL, maxRetries: 2, fetch: counted.fetch });
  const res = await c.chat.completions.create({ model: env.chatModel, messages: [{ role: 'user', content: 'retry me' }] });
  assert.equal(res.choices[0].finish_reason, 'stop');
  assert.deepEqual(counted.statuses, [429, 200]);
});

// Through a gateway every upstream attempt (one per credential) hits the
// 429, and the gateway answers 429 no_available_channel itself, with
// Retry-After at the first credential's return: the pool is rate limited,
// so the client should wait. The SDK retries it and then throws
// RateLimitError, as against the upstream.
test('429 every time → RateLimitError after maxRetries (also via a gateway)', async () => {
  const counted = countingFetch();
  const c = new OpenAI({ apiKey: env.apiKey, baseURL, maxRetries: 2, fetch: counted.fetch });
  const content = `keep failing ${directive('status=429 retry_after_ms=10')}`;
  const want = 429;
  await assert.rejects(c.chat.completions.create({ model: env.rateLimitModel, messages: [{ role: 'user', content }] }), (err) => {
    assert.ok(err instanceof OpenAI.RateLimitError, `got ${err.constructor.name}: ${err.message}`);
    if (env.target !== 'mock') assert.equal(err.code, 'no_available_channel');
    return true;
  });
  assert.deepEqual(counted.statuses, [want, want, want]);
});
