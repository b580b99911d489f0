// The price editor's form: dollar text per field, turned into the API's
// integer micro-USD (PriceSpec) exactly, with the problems the form can
// see before the server does keyed by the API's member names.
import type { components } from '../../lib/api/schema';
import { parseUsd, usdText, type MoneyProblem } from './money';

export type Price = components['schemas']['Price'];
export type PriceSpec = components['schemas']['PriceSpec'];

export const moneyFields = ['input_micros', 'cached_input_micros', 'output_micros', 'per_request_micros', 'per_web_search_micros'] as const;
export type MoneyField = (typeof moneyFields)[number];

export interface ImageRow {
  key: string;
  usd: string;
}

export interface PriceForm {
  model: string;
  free: boolean;
  usd: Record<MoneyField, string>;
  images: ImageRow[];
}

export function emptyForm(): PriceForm {
  return { model: '', free: false, usd: { input_micros: '', cached_input_micros: '', output_micros: '', per_request_micros: '', per_web_search_micros: '' }, images: [] };
}

export function formOf(p: Price): PriceForm {
  const f = emptyForm();
  f.model = p.model;
  f.free = p.free;
  for (const k of moneyFields) f.usd[k] = p[k] ? usdText(p[k]) : '';
  f.images = Object.entries(p.per_image_micros ?? {}).map(([key, m]) => ({ key, usd: usdText(m) }));
  return f;
}

// Problems are message keys' last parts: price.problem.<problem>.
export type Problem = MoneyProblem | 'required' | 'spaces' | 'duplicate' | 'exists';

// specOf builds the body; errors maps API member names
// (input_micros, per_image_micros.1024x1024, model) to problems.
export function specOf(f: PriceForm): { spec: PriceSpec; errors: Record<string, Problem> } {
  const errors: Record<string, Problem> = {};
  const spec: PriceSpec = { free: f.free };
  if (!f.model.trim()) errors.model = 'required';
  else if (f.model !== f.model.trim()) errors.model = 'spaces';
  for (const k of moneyFields) {
    const text = f.usd[k].trim();
    if (text === '') {
      spec[k] = 0;
      continue;
    }
    const r = parseUsd(text);
    if (r.ok) spec[k] = r.micros;
    else errors[k] = r.problem;
  }
  const images: Record<string, number> = {};
  f.images.forEach((row, i) => {
    const key = row.key.trim();
    if (!key && !row.usd.trim()) return; // an empty row left over
    const name = imageField(i);
    if (!key) {
      errors[name + '.key'] = 'required';
      return;
    }
    if (key in images) {
      errors[name + '.key'] = 'duplicate';
      return;
    }
    const r = parseUsd(row.usd);
    if (r.ok) images[key] = r.micros;
    else errors[name] = row.usd.trim() ? r.problem : 'required';
  });
  spec.per_image_micros = images;
  return { spec, errors };
}

// imageField is the form's name for image row i; the server names the
// row by its key (per_image_micros.<key>), which imageRowOf maps back.
export function imageField(i: number): string {
  return `image.${i}`;
}

// fieldOfServer maps the server's field to the form's: per_image_micros.K
// to the row holding key K.
export function fieldOfServer(field: string, f: PriceForm): string {
  const m = /^per_image_micros\.(.+)$/.exec(field);
  if (!m) return field;
  const i = f.images.findIndex((r) => r.key.trim() === m[1]);
  return i >= 0 ? imageField(i) + '.key' : 'per_image_micros';
}

// fileField is the configuration file's member declaring a file price,
// as the server names it (billing.PricingField): pricing.gpt-4o, or
// pricing["gpt-3.5-turbo"] when the name holds a dot or a space.
export function fileField(model: string): string {
  return model === '' || /[.[\]" \t\n]/.test(model) ? `pricing[${JSON.stringify(model)}]` : `pricing.${model}`;
}
