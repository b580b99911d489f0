// Step-up: routes that reveal a secret or delete much answer 403
// step_up_required until the admin re-enters their password
// (POST /api/v1/auth/step-up). withStepUp runs an action, asks for the
// password when the server wants it, and runs the action again.
import { api, ApiError } from '../../lib/api/client';

interface Pending {
  resolve: (ok: boolean) => void;
}

export const stepUp = $state<{ open: boolean; pending: Pending | null }>({ open: false, pending: null });

export function isStepUpRequired(err: unknown): boolean {
  return err instanceof ApiError && err.status === 403 && err.code === 'step_up_required';
}

// ask opens the dialog; it resolves true once the password was accepted,
// false when the admin cancelled.
function ask(): Promise<boolean> {
  return new Promise((resolve) => {
    stepUp.pending = { resolve };
    stepUp.open = true;
  });
}

// confirmStepUp sends the password; errors are the dialog's to show.
export async function confirmStepUp(password: string): Promise<void> {
  await api.post('/api/v1/auth/step-up', { password }, { allowUnauthenticated: true });
  const p = stepUp.pending;
  stepUp.pending = null;
  stepUp.open = false;
  p?.resolve(true);
}

export function cancelStepUp() {
  const p = stepUp.pending;
  stepUp.pending = null;
  stepUp.open = false;
  p?.resolve(false);
}

// withStepUp runs action; after a step_up_required answer it asks for the
// password and retries once. undefined: the admin cancelled.
export async function withStepUp<T>(action: () => Promise<T>): Promise<T | undefined> {
  try {
    return await action();
  } catch (err) {
    if (!isStepUpRequired(err)) throw err;
    if (!(await ask())) return undefined;
    return await action();
  }
}
