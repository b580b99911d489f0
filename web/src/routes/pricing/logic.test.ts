import { describe, expect, it } from 'vitest';
import { emptyForm, fieldOfServer, fileField, formOf, specOf, type Price } from './logic';

const price: Price = {
  model: 'gpt-4o',
  free: false,
  input_micros: 2_500_000,
  cached_input_micros: 0,
  output_micros: 10_000_000,
  per_request_micros: 0,
  per_web_search_micros: 25_000,
  per_image_micros: { '1024x1024': 40_000 },
  managed_by: 'api',
  updated_at: '2026-12-06T00:00:00Z',
};

describe('price form', () => {
  it('round-trips a price through the form exactly', () => {
    const f = formOf(price);
    expect(f.usd.input_micros).toBe('2.5');
    expect(f.usd.cached_input_micros).toBe('');
    expect(f.images).toEqual([{ key: '1024x1024', usd: '0.04' }]);
    const { spec, errors } = specOf(f);
    expect(errors).toEqual({});
    expect(spec).toEqual({
      free: false,
      input_micros: 2_500_000,
      cached_input_micros: 0,
      output_micros: 10_000_000,
      per_request_micros: 0,
      per_web_search_micros: 25_000,
      per_image_micros: { '1024x1024': 40_000 },
    });
  });
  it('names bad fields by their API member', () => {
    const f = emptyForm();
    f.model = ' x';
    f.usd.output_micros = '0.1234567';
    f.usd.input_micros = 'abc';
    f.images = [
      { key: 'default', usd: '0.1' },
      { key: 'default', usd: '0.2' },
      { key: '512x512', usd: '' },
      { key: '', usd: '' },
    ];
    expect(specOf(f).errors).toEqual({
      model: 'spaces',
      input_micros: 'format',
      output_micros: 'decimals',
      'image.1.key': 'duplicate',
      'image.2': 'required',
    });
  });
  it('puts the server field of an image price on its row', () => {
    const f = formOf(price);
    expect(fieldOfServer('per_image_micros.1024x1024', f)).toBe('image.0.key');
    expect(fieldOfServer('output_micros', f)).toBe('output_micros');
  });
  it('names the file field as the server does', () => {
    expect(fileField('gpt-4o*')).toBe('pricing.gpt-4o*');
    expect(fileField('gpt-3.5-turbo')).toBe('pricing["gpt-3.5-turbo"]');
  });
});
