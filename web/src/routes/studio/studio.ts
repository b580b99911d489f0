// The image studio's form: its parameters, their checks (the server's own
// rules, so a mistake is caught before sending), the request bodies, and
// what the browser keeps (presets, prompt snippets, jobs) in localStorage,
// per user.

export const sizes = ['auto', '1024x1024', '1536x1024', '1024x1536', '512x512', '256x256', '1792x1024', '1024x1792'] as const;
export const qualities = ['auto', 'low', 'medium', 'high', 'standard', 'hd'] as const;
export const backgrounds = ['auto', 'transparent', 'opaque'] as const;
export const formats = ['png', 'jpeg', 'webp'] as const;
export const moderations = ['auto', 'low'] as const;
export const fidelities = ['', 'low', 'high'] as const;
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

export const loadPresets = (user: number) => read<Preset[]>(store('presets', user), []);
export const savePresets = (user: number, v: Preset[]) => write(store('presets', user), v);
export const loadSnippets = (user: number) => read<string[]>(store('snippets', user), []);
export const saveSnippets = (user: number, v: string[]) => write(store('snippets', user), v);
export const MAX_JOBS = 30;
export const loadJobs = (user: number) => read<Job[]>(store('jobs', user), []);
export const saveJobs = (user: number, v: Job[]) => write(store('jobs', user), v.slice(0, MAX_JOBS));

/** Adds or replaces a preset by name (names compared trimmed, case-insensitive); newest first. */
export function upsertPreset(list: Preset[], name: string, params: Params): Preset[] {
  const n = name.trim();
  const rest = list.filter((p) => p.name.toLowerCase() !== n.toLowerCase());
  return [{ name: n, params: { ...params } }, ...rest];
}

export function addSnippet(list: string[], s: string): string[] {
  const v = s.trim();
  if (!v) return list;
  return [v, ...list.filter((x) => x !== v)].slice(0, 50);
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
    case 'image': {
      const index = Number(data.index);
      if (!job.images.some((x) => x.index === index)) job.images.push({ index, url: String(data.url) });
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
      break;
    }
  }
}

export const eventsURL = (id: string, last: number) =>
  `/api/v1/me/studio/jobs/${encodeURIComponent(id)}/events${last ? `?last_event_id=${last}` : ''}`;
export const submitURL = (mode: Mode, keyId: number) =>
  `/api/v1/me/studio/${mode === 'edit' ? 'edits' : 'generations'}?key_id=${keyId}`;
