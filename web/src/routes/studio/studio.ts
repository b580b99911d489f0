// The image studio's form: its parameters, their checks (the server's own
// rules, so a mistake is caught before sending), the request bodies, and
// what the browser keeps (its jobs) in localStorage, per user. Presets and
// prompt snippets are the user's on the server (/api/v1/me/studio/presets,
// /snippets); what an older console left in localStorage is moved there
// once (takeLocalSaved).

export const sizes = ['auto', '1024x1024', '1536x1024', '1024x1536', '512x512', '256x256', '1792x1024', '1024x1792'] as const;
export const qualities = ['auto', 'low', 'medium', 'high', 'standard', 'hd'] as const;
export const backgrounds = ['auto', 'transparent', 'opaque'] as const;
export const formats = ['png', 'jpeg', 'webp'] as const;
export const moderations = ['auto', 'low'] as const;
export const fidelities = ['', 'low', 'high'] as const;
export const partialCounts = ['0', '1', '2', '3'] as const;
export const MAX_N = 10;
export const MAX_INPUTS = 16;
export const MAX_INPUT_BYTES = 50 * 1024 * 1024;

export type Mode = 'generate' | 'edit';

export interface Params {
  model: string;
  size: string;
  quality: string;
  background: string;
  format: string;
  compression: string; // 0–100, jpeg and webp only; '' = the model's default
  n: string;
  moderation: string;
  fidelity: string; // edits only; '' = not sent
  partials: string; // partial_images, 0–3: previews streamed while the image is made
}

export const defaultParams = (): Params => ({
  model: '',
  size: 'auto',
  quality: 'auto',
  background: 'auto',
  format: 'png',
  compression: '',
  n: '1',
  moderation: 'auto',
  fidelity: '',
  partials: '0',
});

export type Problem = 'required' | 'n' | 'compression' | 'size' | 'transparent' | 'images' | 'mask';
export type Problems = Partial<Record<keyof Params | 'prompt' | 'keyId' | 'images' | 'mask', Problem>>;

const intRe = /^\d+$/;

/** The size rule of the gateway: auto, or WIDTHxHEIGHT in canonical decimals, each 1–16384. */
export function validSize(s: string): boolean {
  if (s === '' || s === 'auto') return true;
  const m = /^([1-9]\d*)x([1-9]\d*)$/.exec(s);
  return !!m && +m[1] <= 16384 && +m[2] <= 16384;
}

export interface FormState {
  mode: Mode;
  keyId: number;
  prompt: string;
  params: Params;
  images: number; // reference images chosen (edit)
  mask: boolean;
}

/** The problems the server would answer with, field by field; {} when none. */
export function validate(f: FormState): Problems {
  const p: Problems = {};
  if (!f.keyId) p.keyId = 'required';
  if (!f.params.model) p.model = 'required';
  if (!f.prompt.trim()) p.prompt = 'required';
  const n = f.params.n.trim();
  if (!intRe.test(n) || +n < 1 || +n > MAX_N) p.n = 'n';
  if (!validSize(f.params.size)) p.size = 'size';
  const c = f.params.compression.trim();
  if (c !== '' && (!intRe.test(c) || +c > 100 || f.params.format === 'png')) p.compression = 'compression';
  if (f.params.background === 'transparent' && f.params.format === 'jpeg') p.background = 'transparent';
  if (f.mode === 'edit') {
    if (f.images < 1 || f.images > MAX_INPUTS) p.images = 'images';
  }
  return p;
}

/** The members both kinds of request share, as strings (multipart) or typed (JSON). */
function members(prompt: string, p: Params, mode: Mode): Record<string, string | number> {
  const out: Record<string, string | number> = { model: p.model, prompt: prompt.trim(), n: +p.n.trim() };
  if (p.size && p.size !== 'auto') out.size = p.size;
  if (p.quality && p.quality !== 'auto') out.quality = p.quality;
  if (p.background && p.background !== 'auto') out.background = p.background;
  if (p.format) out.output_format = p.format;
  if (p.compression.trim() !== '' && p.format !== 'png') out.output_compression = +p.compression.trim();
  if (p.moderation && p.moderation !== 'auto') out.moderation = p.moderation;
  if (mode === 'edit' && p.fidelity) out.input_fidelity = p.fidelity;
  const partials = +(p.partials ?? '0');
  if (partials >= 1 && partials <= 3) out.partial_images = partials;
  return out;
}

/** The JSON body of a generation. */
export function generationBody(prompt: string, p: Params): Record<string, string | number> {
  return members(prompt, p, 'generate');
}

export interface EditFile {
  name: string;
  blob: Blob;
}

/** The multipart form of an edit: image[] parts in order, the mask last. */
export function editForm(prompt: string, p: Params, images: EditFile[], mask?: Blob): FormData {
  const fd = new FormData();
  for (const [k, v] of Object.entries(members(prompt, p, 'edit'))) fd.append(k, String(v));
  for (const im of images) fd.append('image[]', im.blob, im.name);
  if (mask) fd.append('mask', mask, 'mask.png');
  return fd;
}

export const priceQuery = (keyId: number, p: Params) => ({
  key_id: keyId,
  model: p.model,
  size: p.size === 'auto' ? '' : p.size,
  quality: p.quality === 'auto' ? '' : p.quality,
  n: intRe.test(p.n.trim()) && +p.n >= 1 && +p.n <= MAX_N ? +p.n : 1,
});

// ── what the browser keeps, per user ────────────────────────────────────

export interface Preset {
  name: string;
  params: Params;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface JobImage {
  index: number;
  url: string;
}

/** The latest partial image of one of a job's images, while it is made (never kept). */
export interface JobPreview {
  index: number;
  partial: number;
  src: string; // a data: URL
}

export interface Job {
  id: string;
  mode: Mode;
  keyId: number;
  prompt: string;
  params: Params;
  status: JobStatus;
  progress: number;
  images: JobImage[];
  error?: { code: string; message: string };
  lastEventId: number;
  created: number;
  costMicros?: number;
  previews?: JobPreview[];
}

const store = (kind: string, user: number) => `switchyard.studio.${kind}.${user}`;

function read<T>(key: string, fallback: T): T {
  try {
    const v = localStorage.getItem(key);
    return v ? (JSON.parse(v) as T) : fallback;
  } catch {
    return fallback;
  }
}

function write(key: string, v: unknown) {
  try {
    localStorage.setItem(key, JSON.stringify(v));
  } catch {
    // Full or refused: the page still works, it just forgets.
  }
}

/**
 * Presets and snippets an older console kept in this browser: returned
 * once and then forgotten here, for the caller to save on the server.
 */
export function takeLocalSaved(user: number): { presets: Preset[]; snippets: string[] } {
  const out = { presets: read<Preset[]>(store('presets', user), []), snippets: read<string[]>(store('snippets', user), []) };
  try {
    localStorage.removeItem(store('presets', user));
    localStorage.removeItem(store('snippets', user));
  } catch {
    // Refused: taken again next time, which saving again makes harmless.
  }
  return out;
}

export const MAX_JOBS = 30;
export const loadJobs = (user: number) => read<Job[]>(store('jobs', user), []).map((j) => ({ ...j, previews: undefined }));
/** Keeps the jobs, without their previews (megabytes, and stale once the page is left). */
export const saveJobs = (user: number, v: Job[]) =>
  write(
    store('jobs', user),
    v.slice(0, MAX_JOBS).map((j) => ({ ...j, previews: undefined })),
  );

/** Adds or replaces a preset by name (names compared trimmed, case-insensitive); newest first. */
export function upsertPreset(list: Preset[], name: string, params: Params): Preset[] {
  const n = name.trim();
  const rest = list.filter((p) => p.name.toLowerCase() !== n.toLowerCase());
  return [{ name: n, params: { ...params } }, ...rest];
}


export const isFinal = (s: JobStatus) => s === 'succeeded' || s === 'failed' || s === 'cancelled';

/** Applies one server-sent event (name, id, parsed data) to a job. */
export function applyEvent(job: Job, name: string, id: number, data: Record<string, unknown>): void {
  if (id && id <= job.lastEventId) return;
  if (id) job.lastEventId = id;
  switch (name) {
    case 'queued':
      job.status = 'queued';
      break;
    case 'running':
      job.status = 'running';
      job.progress = Number(data.progress ?? 0);
      break;
    case 'progress':
      job.status = 'running';
      job.progress = Number(data.progress ?? job.progress);
      break;
    case 'partial': {
      const index = Number(data.index);
      const partial = Number(data.partial_image_index ?? 0);
      const type = String(data.content_type ?? 'image/png');
      if (job.images.some((x) => x.index === index) || typeof data.b64_json !== 'string') break;
      job.status = 'running';
      const src = `data:${type};base64,${data.b64_json}`;
      const rest = (job.previews ?? []).filter((p) => p.index !== index);
      job.previews = [...rest, { index, partial, src }].sort((a, b) => a.index - b.index);
      break;
    }
    case 'image': {
      const index = Number(data.index);
      if (!job.images.some((x) => x.index === index)) job.images.push({ index, url: String(data.url) });
      if (job.previews) job.previews = job.previews.filter((p) => p.index !== index);
      break;
    }
    case 'done':
    case 'failed':
    case 'cancelled': {
      job.status = (String(data.status ?? '') as JobStatus) || (name === 'done' ? 'succeeded' : name);
      if (job.status === 'succeeded') job.progress = 100;
      const err = data.error as { code?: string; message?: string } | null | undefined;
      if (err) job.error = { code: String(err.code ?? ''), message: String(err.message ?? '') };
      if (typeof data.cost_micros === 'number') job.costMicros = data.cost_micros;
      const imgs = data.data as { index: number; url: string }[] | undefined;
      for (const im of imgs ?? []) if (!job.images.some((x) => x.index === im.index)) job.images.push({ index: im.index, url: im.url });
      job.lastEventId = Math.max(job.lastEventId, 1000);
      job.previews = undefined;
      break;
    }
  }
}

export const eventsURL = (id: string, last: number) =>
  `/api/v1/me/studio/jobs/${encodeURIComponent(id)}/events${last ? `?last_event_id=${last}` : ''}`;
export const submitURL = (mode: Mode, keyId: number) =>
  `/api/v1/me/studio/${mode === 'edit' ? 'edits' : 'generations'}?key_id=${keyId}`;
