// The users page's logic worth a unit test: the list's filters as URL
// state, and the checks of the user, group and credit forms (the server's
// rules, so most mistakes are caught before a round trip). Amounts are in
// money.ts.
import type { components } from '../../lib/api/schema';
import { parseUSD } from './money';

export type User = components['schemas']['ManagedUser'];
export type Group = components['schemas']['UserGroup'];
export type LedgerRow = components['schemas']['LedgerRow'];
export type UserCreate = components['schemas']['ManagedUserCreate'];
export type UserPatch = components['schemas']['ManagedUserPatch'];
export type GroupWrite = components['schemas']['UserGroupWrite'];

// The auth package's rules (auth.MinPasswordLength, CheckNewUser).
export const MIN_PASSWORD = 12;
export const MAX_NAME = 191;
// Above this either way, a credit adjustment needs a step-up
// (console.CreditStepUpMicros, $100).
export const CREDIT_STEP_UP_MICROS = 100_000_000;

export const roles = ['user', 'admin'] as const;
export const statuses = ['active', 'disabled'] as const;
export const imageFormats = ['', 'url', 'b64_json'] as const;

// --- the list's filters, kept in the URL so a view can be shared ---

export interface UserFilters {
  email: string;
  role: '' | 'admin' | 'user';
  status: '' | 'active' | 'disabled';
  group: string;
}

export function filtersOf(search: string): UserFilters {
  const q = new URLSearchParams(search);
  const pick = <T extends string>(v: string | null, allowed: readonly T[]): T | '' => (allowed.includes(v as T) ? (v as T) : '');
  return {
    email: (q.get('email') ?? '').trim(),
    role: pick(q.get('role'), roles),
    status: pick(q.get('status'), statuses),
    group: (q.get('group') ?? '').trim(),
  };
}

// searchOf is the query string of filters (empty ones left out), keeping
// other parameters (tab) as they are.
export function searchOf(f: UserFilters, keep = ''): string {
  const q = new URLSearchParams(keep);
  for (const k of ['email', 'role', 'status', 'group'] as const) {
    const v = f[k].trim();
    if (v) q.set(k, v);
    else q.delete(k);
  }
  q.delete('id');
  const s = q.toString();
  return s ? `?${s}` : '';
}

// --- forms ---

// Problems are message keys' last part: users.problem.<problem>.
export type Problem =
  | 'required'
  | 'email'
  | 'password'
  | 'too_long'
  | 'ratio'
  | 'integer'
  | 'amount'
  | 'precision'
  | 'too_large'
  | 'zero'
  | 'negative';

const emailRe = /^[^\s@<>()",;:]+@[^\s@<>()",;:]+\.[^\s@<>()",;:]+$/;

export interface UserForm {
  email: string;
  name: string;
  group: string;
  role: 'admin' | 'user';
  status: 'active' | 'disabled';
  password: string;
}

export function emptyUserForm(): UserForm {
  return { email: '', name: '', group: 'default', role: 'user', status: 'active', password: '' };
}

export function userFormOf(u: User): UserForm {
  return { email: u.email, name: u.name, group: u.group, role: u.role, status: u.status, password: '' };
}

// validateUser checks a new user (creating) or a change.
export function validateUser(f: UserForm, creating: boolean): Record<string, Problem> {
  const p: Record<string, Problem> = {};
  if (creating) {
    const email = f.email.trim();
    if (!email) p.email = 'required';
    else if (!emailRe.test(email) || email.length > MAX_NAME) p.email = 'email';
    if (f.password && [...f.password].length < MIN_PASSWORD) p.password = 'password';
  }
  if (new TextEncoder().encode(f.name.trim()).length > MAX_NAME) p.name = 'too_long';
  if (!f.group.trim()) p.group = 'required';
  return p;
}

export function createBody(f: UserForm): UserCreate {
  const b: UserCreate = { email: f.email.trim(), role: f.role, group: f.group.trim() };
  if (f.name.trim()) b.name = f.name.trim();
  if (f.password) b.password = f.password;
  return b;
}

// patchBody sends only what changed, so a role change (which needs a
// step-up) is asked for only when the role really changes, and a file
// user's fields (the file's) are not sent at all.
export function patchBody(before: User, f: UserForm): UserPatch {
  const b: UserPatch = {};
  if (f.name.trim() !== before.name) b.name = f.name.trim();
  if (f.group.trim() !== before.group) b.group = f.group.trim();
  if (f.role !== before.role) b.role = f.role;
  if (f.status !== before.status) b.status = f.status;
  return b;
}

export interface GroupForm {
  name: string;
  ratio: string;
  rpm: string;
  tpm: string;
  daily_requests: string;
  image_response_format: string;
}

export function emptyGroupForm(): GroupForm {
  return { name: '', ratio: '1', rpm: '0', tpm: '0', daily_requests: '0', image_response_format: '' };
}

export function groupFormOf(g: Group): GroupForm {
  return {
    name: g.name,
    ratio: String(g.ratio),
    rpm: String(g.rpm),
    tpm: String(g.tpm),
    daily_requests: String(g.daily_requests),
    image_response_format: g.image_response_format,
  };
}

const isCount = (s: string) => /^\d+$/.test(s.trim()) && Number.isSafeInteger(Number(s.trim()));

export function validateGroup(f: GroupForm): Record<string, Problem> {
  const p: Record<string, Problem> = {};
  if (!f.name.trim()) p.name = 'required';
  else if (new TextEncoder().encode(f.name.trim()).length > MAX_NAME) p.name = 'too_long';
  const r = f.ratio.trim();
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(r) || Number(r) > 1000) p.ratio = 'ratio';
  for (const k of ['rpm', 'tpm', 'daily_requests'] as const) if (!isCount(f[k])) p[k] = 'integer';
  return p;
}

export function groupBody(f: GroupForm): GroupWrite {
  return {
    name: f.name.trim(),
    ratio: Number(f.ratio.trim()),
    rpm: Number(f.rpm.trim()),
    tpm: Number(f.tpm.trim()),
    daily_requests: Number(f.daily_requests.trim()),
    image_response_format: f.image_response_format as GroupWrite['image_response_format'],
  };
}

export interface CreditForm {
  amount: string;
  reason: string;
}

// validateCredit reads the form: the amount in micros, or the problems.
export function validateCredit(f: CreditForm): { micros: number; problems: Record<string, Problem> } {
  const problems: Record<string, Problem> = {};
  const a = parseUSD(f.amount, { allowNegative: true });
  let micros = 0;
  if (a.ok) micros = a.micros;
  else problems.amount_micros = a.problem;
  const reason = f.reason.trim();
  if (!reason) problems.reason = 'required';
  else if (new TextEncoder().encode(reason).length > 255) problems.reason = 'too_long';
  return { micros, problems };
}

export function needsStepUp(micros: number): boolean {
  return Math.abs(micros) > CREDIT_STEP_UP_MICROS;
}

// fileField is the configuration file's name of a user or group, as the
// server's managed_by_file errors give it.
export const userFileField = (email: string) => `users[email=${email}]`;
export const groupFileField = (name: string) => `groups[name=${name}]`;
