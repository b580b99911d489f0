// The self-service pages on a real node (web/self_browser_test.go):
// registration off, open and by invite; the wallet (redeem a code the admin
// API made, balance and ledger); the account (sessions, password change,
// two-factor enrolment, sign-in with a TOTP code and with a recovery code);
// admin access tokens used as Bearer tokens. TOTP codes are computed here
// from the enrolment's secret (RFC 6238).
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'playwright-core';
import { axe, base, check, clean, finish, focusVisible, h1, login, newPage, out, shot, waitPath, gone, textIs } from './lib.mjs';

const admin = { email: process.env.SY_ADMIN_EMAIL, password: process.env.SY_ADMIN_PASSWORD };
const ada = { email: 'ada@example.com', password: 'ada-password-0001' };
const adaNew = 'ada-password-0002';

// --- RFC 6238 ---------------------------------------------------------------
function base32(s) {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let val = 0;
  const out = [];
  for (const c of s.replace(/[\s=]+/g, '').toUpperCase()) {
    const i = A.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${c}`);
    val = ((val << 5) | i) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((val >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}
function hotp(secret, counter, digits = 6) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const h = createHmac('sha1', base32(secret)).update(msg).digest();
  const o = h[h.length - 1] & 0xf;
  const n = (((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3]) % 10 ** digits;
  return String(n).padStart(digits, '0');
}
const step = () => Math.floor(Date.now() / 30_000);
// awayFromEdge waits out the last seconds of a 30 s step, so a code cannot
// go stale between computing and checking it.
async function awayFromEdge() {
  const into = (Date.now() / 1000) % 30;
  if (into > 26) await new Promise((r) => setTimeout(r, (31 - into) * 1000));
}
// RFC 6238's SHA-1 vector: "12345678901234567890" at 59 s → 94287082.
check(hotp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 1, 8) === '94287082', 'TOTP helper matches the RFC 6238 test vector');

// --- the API, as an admin script would use it -------------------------------
async function apiContext(userAgent = 'e2e-script/1.0') {
  return request.newContext({ baseURL: base, userAgent, extraHTTPHeaders: { Origin: base } });
}
async function api(ctx, method, path, data) {
  const r = await ctx.fetch(path, { method, data, failOnStatusCode: false });
  let body;
  try {
    body = await r.json();
  } catch {
    body = undefined;
  }
  return { status: r.status(), body };
}
const adm = await apiContext();
check((await api(adm, 'POST', '/api/v1/auth/login', admin)).status === 200, 'the admin signs in through the API');
const setRegistration = async (mode) =>
  check((await api(adm, 'PATCH', '/api/v1/admin/settings', { registration: mode })).status === 200, `registration set to ${mode}`);
await setRegistration('open');
{
  const anon = await apiContext();
  const r = await api(anon, 'POST', '/api/v1/auth/register', ada);
  check(r.status === 201, `ada registers through the API (${r.status})`);
  ada.id = r.body?.user?.id;
  await anon.dispose();
}
const made = await api(adm, 'POST', '/api/v1/admin/codes', { count: 1, value_micros: 5_000_000, batch: 'e2e' });
check(made.status === 201 && made.body.codes.length === 1, 'the admin API makes a $5 credit code');
const credit = made.body.codes[0];

async function signIn(p, who, path) {
  await p.page.goto(base + path);
  await waitPath(p.page, '/login');
  await login(p.page, who);
  await waitPath(p.page, path);
  await p.page.getByRole('heading', { level: 1 }).waitFor();
}

// === wallet =================================================================
{
  const p = await newPage();
  const { page } = p;
  await signIn(p, ada, '/me/wallet');
  check((await h1(page)) === 'My wallet', 'the wallet page opens from its own route');
  await page.locator('[data-testid=ledger] table, [data-testid=ledger] .empty:not([role=status])').first().waitFor();
  const before = await page.getByTestId('balance').textContent();
  check(/^\$\d/.test(before ?? ''), `the balance shows in dollars (${before})`);
  check((await page.locator('nav a[href="/me/wallet"]').count()) === 1, 'the navigation lists My wallet');

  // Field errors: empty, unknown code.
  await page.getByRole('button', { name: 'Redeem', exact: true }).click();
  check((await textIs(page.locator('#redeem-code-error'), 'Required.')), 'an empty code is refused on the field');
  await page.fill('#redeem-code', 'SYR-NOPE-NOPE-NOPE');
  await page.getByRole('button', { name: 'Redeem', exact: true }).click();
  await page.locator('#redeem-code-error').filter({ hasText: 'does not exist' }).waitFor();
  check(true, 'an unknown code is refused on the field');

  // Redeem by keyboard: type and press Enter.
  await page.fill('#redeem-code', '');
  await page.focus('#redeem-code');
  await page.keyboard.type(credit);
  await page.keyboard.press('Enter');
  await page.getByTestId('redeemed').waitFor();
  const msg = await page.getByTestId('redeemed').textContent();
  check(msg.startsWith('$5.00 credited.'), `redeeming says what was credited (${msg})`);
  await page.locator('[data-testid=ledger] tr[data-kind=redeem]').first().waitFor();
  const after = await page.getByTestId('balance').textContent();
  const num = (s) => Number(s.replace(/[^\d.]/g, ''));
  check(Math.abs(num(after) - num(before) - 5) < 1e-9, `the balance rose by $5 (${before} → ${after})`);
  const row = page.locator('[data-testid=ledger] tr[data-kind=redeem]').first();
  check((await row.locator('td').nth(2).textContent()).trim() === '+$5.00', 'the ledger shows the redeem row with +$5.00');
  check((await row.locator('td').nth(3).textContent()).trim() === after, 'the row’s balance-after is the new balance');

  // The same code again: used.
  await page.fill('#redeem-code', credit);
  await page.getByRole('button', { name: 'Redeem', exact: true }).click();
  await page.locator('#redeem-code-error').waitFor();
  check(/used up|already/.test(await page.locator('#redeem-code-error').textContent()), 'a used code is refused on the field');

  // Filter by kind.
  await page.selectOption('#ledger-kind', 'settle');
  await page.locator('[data-testid=ledger] p.empty').waitFor();
  check((await gone(page.locator('[data-testid=ledger] tr[data-kind]'))), 'filtering the ledger by Charge leaves no rows');
  await page.selectOption('#ledger-kind', '');
  await page.locator('[data-testid=ledger] tr[data-kind=redeem]').first().waitFor();

  // The invite link (registration is open).
  const link = await page.locator('#invite-link').inputValue();
  check(link.startsWith(base + '/register?invite=SYR-'), `the invite link points at /register with the code (${link})`);

  await page.reload();
  await page.locator('[data-testid=ledger] tr[data-kind=redeem]').first().waitFor();
  await page.locator('#main').focus();
  await focusVisible(page, 6, 'wallet');
  await axe(page, 'wallet');
  await page.locator('#main').focus();
  await shot(page, 'wallet-light.png');
  await clean(p, 'wallet');
  await p.context.close();

  for (const v of [
    { name: 'wallet-dark.png', opts: { colorScheme: 'dark' } },
    { name: 'wallet-narrow.png', opts: { width: 375, height: 800 } },
    { name: 'wallet-zh.png', opts: { locale: 'zh-CN' } },
  ]) {
    const q = await newPage(v.opts);
    await signIn(q, ada, '/me/wallet');
    await q.page.locator('[data-testid=ledger] tr[data-kind=redeem]').first().waitFor();
    if (v.opts.locale) check((await h1(q.page)) === '我的钱包', 'the wallet speaks Chinese');
    if (v.opts.width) {
      const wide = await q.page.evaluate(() => document.documentElement.scrollWidth);
      check(wide <= 375, `the wallet fits 375 px (${wide})`);
    }
    if (v.opts.colorScheme) await axe(q.page, 'wallet (dark)');
    await shot(q.page, v.name);
    await clean(q, v.name);
    await q.context.close();
  }
}

// === account: other views ====================================================
for (const v of [
  { name: 'account-dark.png', opts: { colorScheme: 'dark' } },
  { name: 'account-narrow.png', opts: { width: 375, height: 800 } },
  { name: 'account-zh.png', opts: { locale: 'zh-CN' } },
]) {
  const q = await newPage(v.opts);
  await signIn(q, ada, '/account');
  await q.page.locator('[data-testid=sessions] table').waitFor();
  if (v.opts.locale) {
    check((await h1(q.page)) === '账户', 'the account page speaks Chinese');
    check((await textIs(q.page.locator('#totp-h'), '两步验证')), 'its two-factor panel is in Chinese');
    await axe(q.page, 'account (zh)');
  }
  if (v.opts.width) {
    const wide = await q.page.evaluate(() => document.documentElement.scrollWidth);
    const culprits = wide > 375 ? await q.page.evaluate(() => [...document.querySelectorAll('*')].filter((e) => e.getBoundingClientRect().right > 376).slice(0, 8).map((e) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)) : [];
    check(wide <= 375, `the account page fits 375 px (${wide}) ${culprits.join(' | ')}`);
  }
  if (v.opts.colorScheme) await axe(q.page, 'account (dark)');
  await shot(q.page, v.name);
  await clean(q, v.name);
  await q.context.close();
}

// === account: sessions, password, two-factor ================================
{
  const p = await newPage();
  const { page } = p;
  // Another session of ada's, as from another device.
  const other = await apiContext('curl/8.5.0');
  check((await api(other, 'POST', '/api/v1/auth/login', { email: ada.email, password: ada.password })).status === 200, 'ada has a second session (another device)');
  await signIn(p, ada, '/account');
  check((await h1(page)) === 'Account', 'the account page opens');
  await page.locator('[data-testid=sessions] table').waitFor();
  check((await textIs(page.locator('[data-testid=profile] dd').first(), ada.email)), 'the profile shows the email');
  const rows = page.locator('[data-testid=sessions] tbody tr');
  check((await rows.count()) >= 2, `the sessions list shows both sessions (${await rows.count()})`);
  check((await page.locator('[data-testid=sessions] tr[data-current=true]').count()) === 1, 'one session is marked as this one');
  check((await gone(page.locator('[data-testid=sessions] tr[data-current=true] button'))), 'this session has no sign-out button');
  await page.locator('#main').focus();
  await focusVisible(page, 8, 'account');
  await axe(page, 'account');
  await shot(page, 'account-light.png');

  // Revoke the other session.
  const n = await rows.count();
  const otherRow = page.locator('[data-testid=sessions] tr:not([data-current])').filter({ hasText: 'curl/8.5.0' });
  check((await otherRow.count()) === 1 && (await otherRow.locator('td').first().textContent()).includes('curl'), 'the other device shows by its user agent');
  await otherRow.getByRole('button', { name: /Sign out/ }).click();
  await page.getByText('Session ended.').waitFor();
  check((await rows.count()) === n - 1, 'revoking removes the row');
  check((await api(other, 'GET', '/api/v1/me')).status === 401, 'the revoked session no longer works');
  await other.dispose();

  // Profile name.
  await page.fill('#profile-name', 'Ada Lovelace');
  await page.getByRole('button', { name: 'Save name' }).click();
  await page.getByText('Name saved.').waitFor();
  check(true, 'the display name saves');

  // Password: wrong current, mismatch, then a real change.
  const third = await apiContext();
  check((await api(third, 'POST', '/api/v1/auth/login', { email: ada.email, password: ada.password })).status === 200, 'ada signs in elsewhere again');
  await page.fill('#pw-current', 'not-my-password-1');
  await page.fill('#pw-new', adaNew);
  await page.fill('#pw-again', adaNew);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.locator('#pw-current-error').waitFor();
  check((await textIs(page.locator('#pw-current-error'), 'This is not your current password.')), 'a wrong current password is refused on its field');
  await page.fill('#pw-current', ada.password);
  await page.fill('#pw-again', adaNew + 'x');
  await page.getByRole('button', { name: 'Change password' }).click();
  check((await textIs(page.locator('#pw-again-error'), 'The two new passwords differ.')), 'differing new passwords are caught');
  await page.fill('#pw-again', adaNew);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByTestId('password-done').waitFor();
  check(/other sessions were signed out/.test(await page.getByTestId('password-done').textContent()), 'the change says the other sessions ended');
  check((await api(third, 'GET', '/api/v1/me')).status === 401, 'the other session ended with the change');
  await third.dispose();
  await page.reload();
  await page.locator('[data-testid=sessions] table').waitFor();
  check((await h1(page)) === 'Account', 'this browser stays signed in after the change');
  check((await page.locator('[data-testid=sessions] tbody tr').count()) === 1, 'only this session is left');

  // Two-factor enrolment.
  await page.getByRole('button', { name: 'Set up two-factor' }).click();
  await page.getByTestId('totp-qr').waitFor();
  const qr = await page.getByTestId('totp-qr').evaluate((el) => ({ tag: el.tagName.toLowerCase(), d: el.querySelector('path')?.getAttribute('d')?.length ?? 0 }));
  check(qr.tag === 'svg' && qr.d > 100, 'the otpauth URI shows as an SVG QR code');
  const secret = (await page.getByTestId('totp-secret').textContent()).replace(/\s+/g, '');
  check(/^[A-Z2-7]{16,}$/.test(secret), 'the secret is shown for typing by hand');
  await shot(page, 'account-2fa-setup.png');
  await page.fill('#totp-code', '000000' === hotp(secret, step()) ? '111111' : '000000');
  await page.getByRole('button', { name: 'Turn on' }).click();
  await page.locator('#totp-code-error').waitFor();
  check(true, 'a wrong code is refused on the field');
  await awayFromEdge();
  const enrolStep = step() - 1;
  await page.fill('#totp-code', hotp(secret, enrolStep));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await page.getByTestId('recovery').waitFor();
  const codes = await page.locator('[data-testid=recovery] li').allTextContents();
  check(codes.length === 10 && codes.every((c) => /^[a-z2-9]{5}-[a-z2-9]{5}$/.test(c)), `ten recovery codes are shown once (${codes.length})`);
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-codes').click()]);
  const file = await readFile(await dl.path(), 'utf8');
  check(dl.suggestedFilename().startsWith('recovery-codes-') && codes.every((c) => file.includes(c)), 'the codes download as a text file');
  await axe(page, 'account (recovery codes)');
  await shot(page, 'account-recovery-codes.png');
  await page.getByRole('button', { name: 'I have saved them' }).click();
  check((await textIs(page.getByTestId('totp-state'), 'On')), 'two-factor shows as on');
  check((await gone(page.getByTestId('recovery'))), 'the codes are gone once saved');

  // Sign out; sign in with password + TOTP.
  await page.getByTestId('logout').click();
  await waitPath(page, '/login');
  await login(page, { email: ada.email, password: adaNew });
  await page.locator('#totp').waitFor();
  await awayFromEdge();
  const loginStep = Math.max(step(), enrolStep + 1);
  await page.fill('#totp', hotp(secret, loginStep));
  await page.getByRole('button', { name: 'Verify' }).click();
  await waitPath(page, '/');
  check(true, 'ada signs in with her new password and a TOTP code');

  // Sign out; the old password fails; a recovery code works.
  await page.getByTestId('logout').click();
  await waitPath(page, '/login');
  await login(page, ada);
  await page.getByText('Wrong email or password.').waitFor();
  check(true, 'the old password no longer signs in');
  await page.fill('#password', adaNew);
  await page.locator('form button[type=submit]').click();
  await page.locator('#totp').waitFor();
  await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
  await page.fill('#recovery_code', codes[3].toUpperCase());
  await page.getByRole('button', { name: 'Verify' }).click();
  await waitPath(page, '/');
  check(true, 'a recovery code signs ada in (any case)');

  // New recovery codes: a new enrolment behind the password.
  await page.goto(base + '/account');
  await page.getByRole('button', { name: 'New recovery codes' }).click();
  await page.fill('#totp-password-input', adaNew);
  await page.locator('[data-testid=totp-password] button[type=submit]').click();
  await page.getByTestId('totp-qr').waitFor();
  const secret2 = (await page.getByTestId('totp-secret').textContent()).replace(/\s+/g, '');
  check(secret2 !== secret, 'new recovery codes come with a new secret');
  await awayFromEdge();
  await page.fill('#totp-code', hotp(secret2, Math.max(step(), loginStep + 1)));
  await page.keyboard.press('Enter');
  await page.getByTestId('recovery').waitFor();
  const codes2 = await page.locator('[data-testid=recovery] li').allTextContents();
  check(codes2.length === 10 && !codes2.some((c) => codes.includes(c)), 'ten new recovery codes replace the old ones');
  await page.getByRole('button', { name: 'I have saved them' }).click();
  check((await textIs(page.getByTestId('totp-state'), 'On')), 'two-factor is on with the new secret');

  // Turn two-factor off (wrong password first).
  await page.getByRole('button', { name: 'Turn off' }).click();
  await page.fill('#totp-password-input', 'wrong-password-99');
  await page.locator('[data-testid=totp-password] button[type=submit]').click();
  await page.locator('#totp-password-input-error').waitFor();
  check(true, 'turning off with a wrong password is refused on the field');
  await page.fill('#totp-password-input', adaNew);
  await page.locator('[data-testid=totp-password] button[type=submit]').click();
  await page.getByText('Two-factor authentication is off.').waitFor();
  check((await textIs(page.getByTestId('totp-state'), 'Off')), 'two-factor is off');
  await clean(p, 'account');
  await p.context.close();
}

// === admin access tokens =====================================================
{
  const p = await newPage();
  const { page } = p;
  await signIn(p, admin, '/account');
  await page.getByTestId('tokens').waitFor();
  await page.getByTestId('new-token').click();
  await page.getByRole('button', { name: 'Create token' }).click();
  check((await textIs(page.locator('#token-name-error'), 'Required.')), 'a token needs a name');
  await page.fill('#token-name', 'e2e script');
  await page.selectOption('#token-scope', 'full');
  await page.selectOption('#token-expires', '30');
  await page.getByRole('button', { name: 'Create token' }).click();
  // Creating a token needs a step-up.
  await page.locator('#stepup-password').waitFor();
  await page.fill('#stepup-password', admin.password);
  await page.keyboard.press('Enter');
  await page.getByTestId('token-value').waitFor();
  const token = await page.getByTestId('token-value').inputValue();
  check(token.startsWith('sy-admin-'), 'the new token’s secret is shown once');
  await axe(page, 'account (token secret)');
  await page.screenshot({ path: path.join(out, 'account-token-secret.png') }); // the viewport: the dialog over the page
  await page.keyboard.press('Escape');
  await page.locator('tr[data-token="e2e script"]').waitFor();
  check((await gone(page.getByTestId('token-value'))), 'closing the dialog drops the secret from the page');
  await shot(page, 'account-tokens.png');

  const bearer = (path) => fetch(base + path, { headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } });
  const me = await bearer('/api/v1/me');
  check(me.status === 200 && (await me.json()).email === admin.email, 'the token authenticates as the admin (GET /api/v1/me)');
  check((await bearer('/api/v1/admin/users')).status === 200, 'the token reaches the admin API');

  await page.locator('tr[data-token="e2e script"] button').click();
  await page.locator('[data-testid=token-revoke] button.danger').click();
  await page.getByText('Token revoked.').waitFor();
  check((await gone(page.locator('tr[data-token="e2e script"]'))), 'revoking removes the token');
  check((await bearer('/api/v1/me')).status === 401, 'the revoked token is refused');
  await clean(p, 'admin tokens');
  await p.context.close();
}

// === registration ===========================================================
await setRegistration('off');
{
  const p = await newPage();
  const { page } = p;
  await page.goto(base + '/login');
  await page.locator('#email').waitFor();
  check((await gone(page.getByRole('link', { name: 'Create an account' }))), 'sign-in has no sign-up link while registration is off');
  await page.goto(base + '/register');
  await page.getByTestId('register-closed').waitFor();
  check((await h1(page)) === 'Registration is closed', '/register says registration is closed');
  await axe(page, 'register (closed)');
  await shot(page, 'register-closed.png');
  await clean(p, 'register closed');
  await p.context.close();
}

await setRegistration('invite');
const inv = await api(adm, 'POST', '/api/v1/admin/invites', { user_id: ada.id });
check(inv.status === 200 && /^SYR-/.test(inv.body?.code ?? ''), 'ada has an invite code');
{
  const p = await newPage();
  const { page } = p;
  await page.goto(base + '/login');
  await page.getByRole('link', { name: 'Create an account' }).click();
  await waitPath(page, '/register');
  check((await h1(page)) === 'Create an account', 'sign-in links to /register while registration is on');
  await page.getByRole('button', { name: 'Create account' }).click();
  check((await textIs(page.locator('#invite_code-error'), 'Required.')), 'invite-only registration asks for the code');
  await page.fill('#email', 'newbie@example.com');
  await page.fill('#password', 'newbie-password-1');
  await page.fill('#invite_code', 'SYR-WRONG-CODE');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('#invite_code-error').filter({ hasText: 'does not work' }).waitFor();
  check(true, 'a wrong invite code is refused on its field');
  await page.locator('#email').focus();
  await focusVisible(page, 4, 'register');
  await axe(page, 'register');
  await shot(page, 'register-light.png');

  await page.goto(base + `/register?invite=${encodeURIComponent(inv.body.code)}`);
  check((await page.locator('#invite_code').inputValue()) === inv.body.code, '?invite= fills in the code');
  await page.fill('#email', 'newbie@example.com');
  await page.fill('#password', 'newbie-password-1');
  await page.getByRole('button', { name: 'Create account' }).click();
  await waitPath(page, '/');
  await page.getByRole('heading', { level: 1 }).waitFor();
  check((await page.getByTestId('logout').count()) === 1, 'the invitee is registered and signed in');
  await clean(p, 'register');
  await p.context.close();

  for (const v of [
    { name: 'register-dark.png', opts: { colorScheme: 'dark' } },
    { name: 'register-narrow.png', opts: { width: 375, height: 800 } },
    { name: 'register-zh.png', opts: { locale: 'zh-CN' } },
  ]) {
    const q = await newPage(v.opts);
    await q.page.goto(base + `/register?invite=${encodeURIComponent(inv.body.code)}`);
    await q.page.locator('#invite_code').waitFor();
    if (v.opts.locale) check((await h1(q.page)) === '创建账户', 'registration speaks Chinese');
    if (v.opts.colorScheme) await axe(q.page, 'register (dark)');
    await shot(q.page, v.name);
    await clean(q, v.name);
    await q.context.close();
  }
}
await adm.dispose();
await finish();
