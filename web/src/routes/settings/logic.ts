// The settings form: the checks the server makes (settings.Store.validate)
// that need no database, and the PATCH of the members that changed.
import type { components } from '../../lib/api/schema';
import { parseUsd, usdText } from '../pricing/money';

export type Settings = components['schemas']['Settings'];
export type SettingsPatch = components['schemas']['SettingsPatch'];

export const MAX_SITE_NAME = 100;
export const MAX_ANNOUNCEMENT = 4000;
export const MAX_NEW_USER_CREDIT_MICROS = 1_000_000 * 1_000_000;

export interface SettingsForm {
  site_name: string;
  announcement: string;
  registration: Settings['registration'];
  default_group: string;
  credit: string; // USD text of new_user_credit_micros
  image_response_format: Settings['image_response_format'];
  require_admin_2fa: boolean;
}

export function formOf(s: Settings): SettingsForm {
  return {
    site_name: s.site_name,
    announcement: s.announcement,
    registration: s.registration,
    default_group: s.default_group,
    credit: usdText(s.new_user_credit_micros),
    image_response_format: s.image_response_format,
    require_admin_2fa: s.require_admin_2fa,
  };
}

const runes = (s: string) => [...s].length;

// Problems are message keys' last parts: settings.problem.<problem>.
export type Problem = 'required' | 'too_long' | 'one_line' | 'format' | 'decimals' | 'range' | 'negative';

// patchOf checks the form and builds the PATCH body of what differs from
// current; errors are keyed by the API's member names.
export function patchOf(f: SettingsForm, current: Settings): { patch: SettingsPatch; errors: Record<string, Problem> } {
  const errors: Record<string, Problem> = {};
  const patch: SettingsPatch = {};
  const name = f.site_name.trim();
  if (!name) errors.site_name = 'required';
  else if (runes(name) > MAX_SITE_NAME) errors.site_name = 'too_long';
  else if (/[\r\n]/.test(name)) errors.site_name = 'one_line';
  else if (name !== current.site_name) patch.site_name = name;
  if (runes(f.announcement) > MAX_ANNOUNCEMENT) errors.announcement = 'too_long';
  else if (f.announcement !== current.announcement) patch.announcement = f.announcement;
  if (f.registration !== current.registration) patch.registration = f.registration;
  if (!f.default_group.trim()) errors.default_group = 'required';
  else if (f.default_group.trim() !== current.default_group) patch.default_group = f.default_group.trim();
  const c = parseUsd(f.credit.trim() === '' ? '0' : f.credit);
  if (!c.ok) errors.new_user_credit_micros = c.problem;
  else if (c.micros > MAX_NEW_USER_CREDIT_MICROS) errors.new_user_credit_micros = 'range';
  else if (c.micros !== current.new_user_credit_micros) patch.new_user_credit_micros = c.micros;
  if (f.image_response_format !== current.image_response_format) patch.image_response_format = f.image_response_format;
  if (f.require_admin_2fa !== current.require_admin_2fa) patch.require_admin_2fa = f.require_admin_2fa;
  return { patch, errors };
}
