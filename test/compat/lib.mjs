// Shared settings and helpers for the SDK compatibility scripts.
//
// Everything about the target comes from the environment (compat_test.go sets
// it), so the same scripts run against the mock upstream directly or against
// a gateway in front of it:
//
//   BASE_URL         server root, without /v1 (the OpenAI client adds /v1)
//   API_KEY          a key the target accepts
//   INVALID_API_KEY  a key the target answers with 401
//   CHAT_MODEL, EMBED_MODEL, IMAGE_MODEL, CLAUDE_MODEL
//   CONTROL_URL      the mock's /_mock base when the scripts reach the mock
//                    directly; empty through a gateway (its upstream
//                    credentials are not the client's key)
//   UPSTREAM_CONTROL_URL  the /_mock base of the mock that answers, behind a
//                    gateway too; only read (what the upstream received)
//   MOCK_REPLIES     "1" when the answers come from the mock, so its
//                    deterministic text can be asserted
//   TARGET           "mock" or "gateway": where the two legitimately differ
//                    (error mapping), a test asserts what the SDK sees on each
//   RATE_LIMIT_MODEL model for the 429 tests (default CHAT_MODEL), so a
//                    gateway can rest those credentials without hurting others
//   UNSERVED         comma-separated surfaces the target does not serve yet
//                    (responses, embeddings, images, models.retrieve,
//                    messages); their tests skip. Shrink it as the gateway grows.
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set; run these scripts through compat_test.go`);
  return v;
}

export const env = {
  baseURL: need('BASE_URL').replace(/\/+$/, ''),
  apiKey: need('API_KEY'),
  invalidKey: need('INVALID_API_KEY'),
  chatModel: need('CHAT_MODEL'),
  embedModel: need('EMBED_MODEL'),
  imageModel: need('IMAGE_MODEL'),
  claudeModel: need('CLAUDE_MODEL'),
  controlURL: (process.env.CONTROL_URL || '').replace(/\/+$/, ''),
  upstreamControlURL: (process.env.UPSTREAM_CONTROL_URL || '').replace(/\/+$/, ''),
  mockReplies: process.env.MOCK_REPLIES === '1',
  target: process.env.TARGET || 'mock',
  rateLimitModel: process.env.RATE_LIMIT_MODEL || need('CHAT_MODEL'),
  unserved: new Set((process.env.UNSERVED || '').split(',').map((s) => s.trim()).filter(Boolean)),
};

// unserved is a test's skip option: false when the target serves surface,
// else the reason it is skipped.
export function unserved(surface) {
  return env.unserved.has(surface) && `${env.target} does not serve ${surface} yet`;
}

// directive returns the mock's per-request fault directive. It travels in
// prompt text, so it reaches the mock through a gateway's translation too.
export function directive(fields) {
  return `[[mock ${fields}]]`;
}

// countingFetch wraps fetch and records each attempt's status, so a test can
// see the SDK's retries rather than trust them.
export function countingFetch() {
  const statuses = [];
  const f = async (url, init) => {
    const res = await fetch(url, init);
    statuses.push(res.status);
    return res;
  };
  return { fetch: f, statuses };
}

// failNext makes the next request carrying credential fail with fault
// (per-credential rule with times=1 through the mock's control API). Each
// test uses its own credential: node --test may run the script files in
// parallel, and a shared key would let another request take the fault.
export async function failNext(credential, fault) {
  assert.ok(env.controlURL, 'failNext needs CONTROL_URL');
  const res = await fetch(`${env.controlURL}/faults`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ credential, fault: { ...fault, times: 1 } }),
  });
  assert.equal(res.status, 200, `PUT /_mock/faults: ${await res.text()}`);
}

// upstreamRequests lists everything the answering mock received, oldest
// first; through a gateway that is the relayed request, not the client's.
export async function upstreamRequests() {
  assert.ok(env.upstreamControlURL, 'upstreamRequests needs UPSTREAM_CONTROL_URL');
  const res = await fetch(`${env.upstreamControlURL}/requests`);
  assert.equal(res.status, 200);
  return (await res.json()) ?? [];
}

// uniqueKey names a throwaway credential for one fault test.
export function uniqueKey(label) {
  return `compat-${label}-${process.pid}-${Date.now().toString(36)}`;
}

// assertMockText checks the mock's deterministic reply when it is the source.
export function assertMockText(text, prompt) {
  assert.equal(typeof text, 'string');
  assert.ok(text.length > 0, 'empty reply text');
  if (env.mockReplies) {
    assert.ok(text.startsWith(`Mock reply to: ${prompt.slice(0, 20)}`), `unexpected reply ${JSON.stringify(text.slice(0, 80))}`);
  }
}

// assertSequence asserts sequence numbers grow by one from their first value.
export function assertSequence(nums) {
  for (let i = 1; i < nums.length; i++) {
    assert.equal(nums[i], nums[i - 1] + 1, `sequence_number ${nums[i]} follows ${nums[i - 1]}`);
  }
}

// A tool both SDK scripts declare; "city" is required so the mock fills it.
export const weatherSchema = {
  type: 'object',
  properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } },
  required: ['city'],
};

// PNG signature: the first eight bytes of every PNG file.
export const pngMagic = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

// solidPNG encodes a valid width×height RGBA PNG of one colour ([r, g, b, a]),
// small enough to upload and real enough for a gateway that decodes uploads.
export function solidPNG(width, height, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, deflate, no filter method, no interlace
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array(width).fill(rgba).flat())]);
  const raw = Buffer.concat(Array(height).fill(row));
  return Buffer.concat([pngMagic, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', Buffer.alloc(0))]);
}
