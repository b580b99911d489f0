import { describe, expect, it } from 'vitest';
import { invertPaint, maskPixels, painted, parseColour, toCanvas } from './mask';
import {
  applyEvent,
  defaultParams,
  editForm,
  eventsURL,
  generationBody,
  priceQuery,
  upsertPreset,
  validate,
  validSize,
  type FormState,
  type Job,
} from './studio';

const form = (over: Partial<FormState> = {}, params: Partial<ReturnType<typeof defaultParams>> = {}): FormState => ({
  mode: 'generate',
  keyId: 1,
  prompt: 'a fox',
  images: 0,
  mask: false,
  ...over,
  params: { ...defaultParams(), model: 'gpt-image-1', ...params },
});

describe('validate', () => {
  it('accepts a complete generation', () => {
    expect(validate(form())).toEqual({});
  });
  it('needs a key, a model and a prompt', () => {
    expect(validate(form({ keyId: 0, prompt: '  ' }, { model: '' }))).toEqual({ keyId: 'required', model: 'required', prompt: 'required' });
  });
  it('checks n like the server (1–10, whole)', () => {
    for (const n of ['0', '11', '1.5', 'x', '']) expect(validate(form({}, { n })).n).toBe('n');
    expect(validate(form({}, { n: '10' })).n).toBeUndefined();
  });
  it('checks the size rule', () => {
    expect(validSize('auto')).toBe(true);
    expect(validSize('1024x1024')).toBe(true);
    expect(validSize('01024x1024')).toBe(false);
    expect(validSize('16385x10')).toBe(false);
    expect(validSize('1024')).toBe(false);
  });
  it('allows compression only with JPEG or WebP, 0–100', () => {
    expect(validate(form({}, { compression: '80', format: 'png' })).compression).toBe('compression');
    expect(validate(form({}, { compression: '101', format: 'jpeg' })).compression).toBe('compression');
    expect(validate(form({}, { compression: '80', format: 'webp' })).compression).toBeUndefined();
  });
  it('refuses a transparent JPEG', () => {
    expect(validate(form({}, { background: 'transparent', format: 'jpeg' })).background).toBe('transparent');
  });
  it('needs reference images for an edit', () => {
    expect(validate(form({ mode: 'edit', images: 0 })).images).toBe('images');
    expect(validate(form({ mode: 'edit', images: 2 })).images).toBeUndefined();
  });
});

describe('bodies', () => {
  it('leaves out auto values and sends typed members', () => {
    const p = { ...defaultParams(), model: 'm', n: '2', size: '1024x1024', quality: 'high', format: 'webp', compression: '70', fidelity: 'high' };
    expect(generationBody(' hi ', p)).toEqual({ model: 'm', prompt: 'hi', n: 2, size: '1024x1024', quality: 'high', output_format: 'webp', output_compression: 70 });
  });
  it('asks for partial previews only when some are wanted', () => {
    expect(generationBody('x', { ...defaultParams(), model: 'm', partials: '2' }).partial_images).toBe(2);
    expect(generationBody('x', { ...defaultParams(), model: 'm' })).not.toHaveProperty('partial_images');
    expect(editForm('x', { ...defaultParams(), model: 'm', partials: '3' }, []).get('partial_images')).toBe('3');
  });
  it('builds the multipart edit with image[] parts and the mask', () => {
    const p = { ...defaultParams(), model: 'm', fidelity: 'high' };
    const fd = editForm('x', p, [{ name: 'a.png', blob: new Blob(['a'], { type: 'image/png' }) }, { name: 'b.png', blob: new Blob(['b'], { type: 'image/png' }) }], new Blob(['m'], { type: 'image/png' }));
    expect(fd.getAll('image[]')).toHaveLength(2);
    expect(fd.get('mask')).toBeInstanceOf(Blob);
    expect(fd.get('input_fidelity')).toBe('high');
    expect(fd.get('n')).toBe('1');
  });
  it('queries the price with a sane n', () => {
    expect(priceQuery(3, { ...defaultParams(), model: 'm', n: 'x', size: 'auto' })).toEqual({ key_id: 3, model: 'm', size: '', quality: '', n: 1 });
  });
  it('resumes the events URL after the last event', () => {
    expect(eventsURL('t1', 0)).toBe('/api/v1/me/studio/jobs/t1/events');
    expect(eventsURL('t1', 201)).toBe('/api/v1/me/studio/jobs/t1/events?last_event_id=201');
  });
});

describe('presets', () => {
  it('replaces a preset of the same name, newest first', () => {
    const a = upsertPreset([], 'Fast', { ...defaultParams(), quality: 'low' });
    const b = upsertPreset(a, 'Best', defaultParams());
    const c = upsertPreset(b, ' fast ', { ...defaultParams(), quality: 'high' });
    expect(c.map((x) => x.name)).toEqual(['fast', 'Best']);
    expect(c[0].params.quality).toBe('high');
  });
});

describe('applyEvent', () => {
  const job = (): Job => ({ id: 't', mode: 'generate', keyId: 1, prompt: 'p', params: defaultParams(), status: 'queued', progress: 0, images: [], lastEventId: 0, created: 0 });
  it('follows the stream and ignores repeats', () => {
    const j = job();
    applyEvent(j, 'queued', 1, {});
    applyEvent(j, 'running', 2, { progress: 0 });
    applyEvent(j, 'progress', 60, { progress: 50 });
    applyEvent(j, 'image', 200, { index: 0, url: '/p/img/t/0' });
    applyEvent(j, 'image', 200, { index: 0, url: '/p/img/t/0' });
    expect(j).toMatchObject({ status: 'running', progress: 50, lastEventId: 200 });
    expect(j.images).toHaveLength(1);
    applyEvent(j, 'done', 1000, { status: 'succeeded', cost_micros: 40000, data: [{ index: 0, url: 'u0' }, { index: 1, url: 'u1' }] });
    expect(j).toMatchObject({ status: 'succeeded', progress: 100, costMicros: 40000, lastEventId: 1000 });
    expect(j.images.map((x) => x.index)).toEqual([0, 1]);
  });
  it('shows the latest preview of each image until the image is stored', () => {
    const j = job();
    applyEvent(j, 'queued', 1, {});
    applyEvent(j, 'partial', 120, { index: 0, partial_image_index: 0, b64_json: 'AAAA', content_type: 'image/png' });
    applyEvent(j, 'partial', 124, { index: 1, partial_image_index: 0, b64_json: 'BBBB', content_type: 'image/png' });
    applyEvent(j, 'partial', 121, { index: 0, partial_image_index: 1, b64_json: 'CCCC', content_type: 'image/png' }); // older id: ignored
    expect(j.status).toBe('running');
    expect(j.previews?.map((p) => [p.index, p.partial, p.src])).toEqual([
      [0, 0, 'data:image/png;base64,AAAA'],
      [1, 0, 'data:image/png;base64,BBBB'],
    ]);
    applyEvent(j, 'partial', 125, { index: 1, partial_image_index: 1, b64_json: 'DDDD', content_type: 'image/webp' });
    expect(j.previews?.[1]).toEqual({ index: 1, partial: 1, src: 'data:image/webp;base64,DDDD' });
    applyEvent(j, 'image', 200, { index: 0, url: 'u0' });
    expect(j.previews?.map((p) => p.index)).toEqual([1]);
    applyEvent(j, 'done', 1000, { status: 'succeeded', data: [{ index: 0, url: 'u0' }, { index: 1, url: 'u1' }] });
    expect(j.previews).toBeUndefined();
  });
  it('keeps the upstream error of a failed job', () => {
    const j = job();
    applyEvent(j, 'failed', 1000, { status: 'failed', error: { code: 'bad', message: 'refused' }, data: [] });
    expect(j.status).toBe('failed');
    expect(j.error).toEqual({ code: 'bad', message: 'refused' });
  });
});

describe('mask', () => {
  it('makes painted pixels transparent and the rest opaque', () => {
    const overlay = new Uint8ClampedArray([200, 0, 0, 140, 0, 0, 0, 0]);
    expect([...maskPixels(overlay)]).toEqual([0, 0, 0, 0, 0, 0, 0, 255]);
  });
  it('inverts the painted area', () => {
    const px = new Uint8ClampedArray([200, 0, 0, 140, 0, 0, 0, 0]);
    invertPaint(px, [1, 2, 3, 140]);
    expect([...px]).toEqual([0, 0, 0, 0, 1, 2, 3, 140]);
    expect(painted(px)).toBe(true);
    expect(painted(new Uint8ClampedArray(8))).toBe(false);
  });
  it('maps pointer positions to the image’s pixels', () => {
    expect(toCanvas(50, 25, { width: 100, height: 50 }, { width: 1024, height: 512 })).toEqual({ x: 512, y: 256 });
  });
  it('parses the paint colour', () => {
    expect(parseColour('#b42318')).toEqual([180, 35, 24]);
    expect(parseColour(' rgb(255, 138, 128)')).toEqual([255, 138, 128]);
    expect(parseColour('red')).toBeNull();
  });
});
