// Hand-written shapes of the [auth] calls the shell needs before the
// generated schema (schema.d.ts) covers them; replace with the generated
// types once the auth fragment lands.
export interface User {
  id: number;
  email: string;
  name?: string;
  role: 'admin' | 'user';
  totp_enabled?: boolean;
}

export interface LoginRequest {
  email: string;
  password: string;
  totp?: string;
  recovery_code?: string;
}

export interface SetupRequest {
  token: string;
  email: string;
  password: string;
  name?: string;
}

export interface PublicSettings {
  site_name?: string;
  announcement?: string;
  registration?: string;
}
