import { expect, test } from 'vitest';
import { fillPath } from './typed';

test('fillPath fills and escapes path parameters', () => {
  expect(fillPath('/api/v1/admin/users/{id}/credit', { id: 3 })).toBe('/api/v1/admin/users/3/credit');
  expect(fillPath('/api/v1/backups/{name}', { name: 'a b/c' })).toBe('/api/v1/backups/a%20b%2Fc');
  expect(fillPath('/api/v1/me')).toBe('/api/v1/me');
  expect(() => fillPath('/api/v1/users/{id}')).toThrow(/missing path parameter id/);
});
