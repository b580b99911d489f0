// The channel page's logic that is worth a unit test: the badges a
// credential earns and the form's checks (the server's rules for
// channels[], so most mistakes are caught before a round trip). Countdowns
// are in countdown.ts, usage bars in usage.ts.
import type { components } from '../../lib/api/schema';
import { remainingMs } from './countdown';

export type Channel = components['schemas']['Channel'];
export type Credential = components['schemas']['Credential'];
export type ImportReport = components['schemas']['ImportReport'];
export type TestResult = components['schemas']['TestResult'];
export type Revealed = components['schemas']['RevealedCredential'];

export type Badge = 'ok' | 'cooldown' | 'circuit_open' | 'disabled' | 'refresh_failing';

// badges lists what a credential's row shows: its status, and for an OAuth
// credential whose refresh fails (refused, or the token is past its expiry)
// the refresh badge too.
export function badges(c: Pick<Credential, 'status' | 'kind' | 'last_error' | 'disabled_reason' | 'expires_at' | 'cooldown_until'>, now: number): Badge[] {
  const out: Badge[] = [];
  switch (c.status) {
    case 'disabled':
      out.push('disabled');
      break;
    case 'cooldown':
      // The scheduler's cooldown may end between two polls.
      out.push(remainingMs(c.cooldown_until, now) > 0 ? 'cooldown' : 'ok');
      break;
    case 'circuit_open':
      out.push('circuit_open');
      break;
    default:
      out.push('ok');
  }
  if (c.kind === 'oauth') {
    const why = `${c.disabled_reason ?? ''} ${c.last_error ?? ''}`;
    const expired = !!c.expires_at && Date.parse(c.expires_at) < now;
    if (/refresh/i.test(why) || expired) out.push('refresh_failing');
  }
  return out;
}

// abbreviate shows the first few models and how many more there are.
export function abbreviate(list: readonly string[], keep = 3): { shown: string[]; more: number } {
  return { shown: list.slice(0, keep), more: Math.max(0, list.length - keep) };
}

// splitList reads a comma- or newline-separated list, dropping blanks.
export function splitList(s: string): string[] {
  return s
    .split(/[,\n]/)
    .map((x) => x.trim())
    .filter(Boolean);
}

export const channelTypes: readonly NonNullable<components['schemas']['ChannelInput']['type']>[] = ['openai', 'azure', 'anthropic', 'gemini', 'bedrock', 'vertex'];
// The server's channels[].flavor values ('' = none); each has a hint in
// the catalogue (channel.flavor_hint.*).
// Typed by the generated client, so a value the server's document does not
// list fails the type check (the document's enums are tested against the
// file's in Go).
type Input = components['schemas']['ChannelInput'];
export const flavors: readonly NonNullable<Input['flavor']>[] = ['', 'openai', 'deepseek', 'qwen', 'ollama', 'vllm', 'llamacpp', 'legacy'];
export const quirks: readonly NonNullable<Input['quirks']>[number][] = ['no_stream_options', 'max_tokens', 'keyless', 'no_responses'];
// Channel types whose base_url defaults to the region's or location's
// endpoint when left blank.
export const regionalTypes: readonly string[] = ['bedrock', 'vertex'];
export const strategies = ['', 'round_robin', 'random', 'weighted', 'least_used', 'least_latency'] as const;

export interface ChannelForm {
  name: string;
  type: string;
  base_url: string;
  api_version: string;
  token_url: string;
  models: string;
  groups: string;
  priority: string;
  weight: string;
  proxy: string;
  strategy: string;
  test_model: string;
  max_images: string;
  hosted_tools: string;
  region: string;
  project: string;
  location: string;
  flavor: string;
  quirks: string[];
}

export function emptyForm(): ChannelForm {
  return { name: '', type: 'openai', base_url: '', api_version: '', token_url: '', models: '', groups: 'default', priority: '0', weight: '1', proxy: '', strategy: '', test_model: '', max_images: '0', hosted_tools: '', region: '', project: '', location: '', flavor: '', quirks: [] };
}

export function formOf(c: Channel): ChannelForm {
  return {
    name: c.name,
    type: c.type,
    base_url: c.base_url,
    api_version: c.api_version ?? '',
    token_url: c.token_url ?? '',
    models: c.models.join(', '),
    groups: c.groups.join(', '),
    priority: String(c.priority),
    weight: String(c.weight),
    proxy: c.proxy ?? '',
    strategy: c.strategy ?? '',
    test_model: c.test_model ?? '',
    max_images: String(c.max_images),
    hosted_tools: c.hosted_tools ?? '',
    region: c.region ?? '',
    project: c.project ?? '',
    location: c.location ?? '',
    flavor: c.flavor ?? '',
    quirks: [...(c.quirks ?? [])],
  };
}

// Problems are keyed by the server's field names; values are message keys
// of the catalogue (the page translates them).
export type Problem = 'required' | 'url' | 'integer' | 'weight' | 'azure_version' | 'pattern_test_model' | 'proxy' | 'max_images' | 'region' | 'project' | 'location';

// The server's shapes of an AWS region and a Vertex AI location
// (internal/config: awsRegion, vertexLocation).
const awsRegion = /^[a-z]{2}(-[a-z]+)+-[0-9]+$/;
const vertexLocation = /^[a-z][a-z0-9-]{1,62}$/;

// The server's limit of channels[].max_images.
export const maxChannelImages = 10;
export const hostedToolModes = ['', 'drop', 'refuse'] as const;

function isHttpURL(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.host !== '';
  } catch {
    return false;
  }
}

const isPattern = (s: string) => /[*?]/.test(s);

// validate applies the checks the server makes that need no state (a name
// taken or a group not declared are the server's to say).
export function validate(f: ChannelForm): Record<string, Problem> {
  const p: Record<string, Problem> = {};
  if (!f.name.trim()) p.name = 'required';
  if (!f.base_url.trim()) {
    if (!regionalTypes.includes(f.type)) p.base_url = 'required';
  } else if (!isHttpURL(f.base_url.trim())) p.base_url = 'url';
  if (f.type === 'bedrock') {
    if (!f.region.trim()) p.region = 'required';
    else if (!awsRegion.test(f.region.trim())) p.region = 'region';
  }
  if (f.type === 'vertex') {
    if (!f.project.trim()) p.project = 'required';
    else if (/[/?#% ]/.test(f.project.trim())) p.project = 'project';
    if (!f.location.trim()) p.location = 'required';
    else if (!vertexLocation.test(f.location.trim())) p.location = 'location';
  }
  if (f.type === 'azure' && !f.api_version.trim()) p.api_version = 'azure_version';
  if (f.token_url.trim() && !isHttpURL(f.token_url.trim())) p.token_url = 'url';
  const models = splitList(f.models);
  if (models.length === 0) p.models = 'required';
  if (isPattern(f.test_model)) p.test_model = 'pattern_test_model';
  else if (!f.test_model.trim() && models.length > 0 && models.every(isPattern)) p.test_model = 'required';
  if (!/^-?\d+$/.test(f.priority.trim())) p.priority = 'integer';
  if (!/^\d+$/.test(f.weight.trim())) p.weight = 'integer';
  else if (Number(f.weight) < 1) p.weight = 'weight';
  if (!/^\d+$/.test(f.max_images.trim()) || Number(f.max_images) > maxChannelImages) p.max_images = 'max_images';
  if (f.proxy.trim()) {
    try {
      const u = new URL(f.proxy.trim());
      if (!['http:', 'https:', 'socks5:', 'socks5h:'].includes(u.protocol) || !u.hostname) p.proxy = 'proxy';
    } catch {
      p.proxy = 'proxy';
    }
  }
  return p;
}

// bodyOf is the form as the API's ChannelInput.
export function bodyOf(f: ChannelForm): components['schemas']['ChannelInput'] {
  const b: components['schemas']['ChannelInput'] = {
    name: f.name.trim(),
    type: f.type as components['schemas']['ChannelInput']['type'],
    base_url: f.base_url.trim(),
    models: splitList(f.models),
    groups: splitList(f.groups),
    priority: Number(f.priority),
    weight: Number(f.weight),
    proxy: f.proxy.trim(),
    strategy: f.strategy,
    test_model: f.test_model.trim(),
    token_url: f.token_url.trim(),
    max_images: Number(f.max_images),
    hosted_tools: f.hosted_tools as components['schemas']['ChannelInput']['hosted_tools'],
  };
  if (f.api_version.trim()) b.api_version = f.api_version.trim();
  // Members of another type are sent empty, so that changing a channel's
  // type clears them (the server refuses a region on a non-bedrock
  // channel, a flavor on a non-openai one).
  b.region = f.type === 'bedrock' ? f.region.trim() : '';
  b.project = f.type === 'vertex' ? f.project.trim() : '';
  b.location = f.type === 'vertex' ? f.location.trim() : '';
  b.flavor = (f.type === 'openai' ? f.flavor : '') as components['schemas']['ChannelInput']['flavor'];
  b.quirks = (f.type === 'openai' ? f.quirks : []) as components['schemas']['ChannelInput']['quirks'];
  return b;
}

// fieldOf maps a server error's field (models[2], groups[0],
// model_map["x"]) to the form's input.
export function fieldOf(field: string): string {
  return field.replace(/[[.].*$/, '');
}

// fileField is the configuration file's name of a channel, as the server's
// managed_by_file errors give it.
export function fileField(channel: string, credential = false): string {
  return `channels[name=${channel}]` + (credential ? '.credentials' : '');
}

// testRefusal turns a test the server refused to run (422: no credential
// to test with, a model the channel does not serve) into a failed result,
// shown inline like an upstream failure.
export function testRefusal(err: unknown): TestResult | null {
  const e = err as { status?: number; message?: string };
  if (e?.status !== 422) return null;
  return { channel_id: 0, credential_id: 0, model: '', ok: false, latency_ms: 0, error: e.message ?? '' };
}
