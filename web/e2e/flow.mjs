// The operator's whole first hour on a clean node (web/flow_browser_test.go),
// through the console only: first-run setup → sign in → add a channel and
// import its credentials → create a user and a key → requests through /v1
// with that key → the dashboard and the usage log show them → adjust the
// user's credit → the ledger shows it.
import { args, base, check, clean, finish, h1, login, newPage, upstream, waitPath, textIs } from './lib.mjs';

const admin = { email: 'owner@example.com', password: 'owner-password-1' };
const p = await newPage();
const { page } = p;

// 1. Setup with the one-time link the node printed.
await page.goto(`${base}/setup?token=${encodeURIComponent(args['setup-token'])}`);
await page.locator('#email').waitFor();
check((await page.inputValue('#token')) === args['setup-token'], 'the setup link fills in its token');
await page.fill('#email', admin.email);
await page.fill('#password', admin.password);
await page.locator('form button[type=submit]').click();
await waitPath(page, '/');
check((await h1(page)) === 'Dashboard', 'setup creates the administrator and signs them in');

// 2. A channel on the mock upstream, and its credentials imported.
await page.goto(base + '/channels');
await page.getByTestId('new-channel').click();
const form = page.getByTestId('channel-form');
await page.fill('#ch-name', 'flow');
await page.fill('#ch-base_url', upstream);
await page.fill('#ch-models', 'gpt-4o-mini');
await form.locator('button[type=submit]').click();
await form.waitFor({ state: 'detached' });
const row = page.locator('tr[data-channel="flow"]');
await row.waitFor();
await row.getByRole('link', { name: 'flow' }).click();
await page.getByRole('heading', { name: 'flow', level: 1 }).waitFor();
await page.getByTestId('import').click();
await page.fill('#import-lines', 'sk-flow-one-000000000000001\nsk-flow-two-000000000000002\n');
await page.getByTestId('import-form').locator('button[type=submit]').click();
const report = page.getByTestId('import-report');
await report.waitFor();
check((await report.textContent()).includes('2 added, 0 duplicate, 0 invalid.'), 'two credentials are imported into the new channel');
await page.keyboard.press('Escape');

// 3. A user with a password, and a key for them, shown once.
const dana = { email: 'dana@example.com', password: 'dana-password-12' };
await page.goto(base + '/users');
await page.getByTestId('new-user').click();
const dlg = page.getByTestId('create-user');
await dlg.locator('#nu-email').fill(dana.email);
await dlg.locator('#nu-password').fill(dana.password);
await dlg.getByRole('button', { name: 'Create user' }).click();
await dlg.waitFor({ state: 'hidden' });
await page.locator(`a[href^="/users?id="]`, { hasText: dana.email }).click();
await page.getByTestId('credit-form').waitFor();
await page.getByTestId('new-key').click();
const keyDlg = page.locator('dialog[open]', { has: page.getByTestId('key-form') });
await keyDlg.locator('input[id$="-name"]').fill('dana-laptop');
await keyDlg.getByRole('button', { name: 'Create key' }).click();
const created = page.getByTestId('key-created');
await created.waitFor();
const key = await created.getByTestId('key-value').inputValue();
check(key.startsWith('sk-'), 'the new key is shown once');
await created.getByRole('button', { name: 'I have copied it' }).click();
await created.waitFor({ state: 'hidden' });

// 4. Three requests through /v1 with that key, answered by the new channel.
for (let i = 0; i < 3; i++) {
  const res = await fetch(base + '/v1/chat/completions', {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `flow request ${i}` }] }),
  });
  check(res.status === 200, `request ${i + 1} through /v1 with the new key (${res.status})`);
}

// 5. The dashboard counts them (its analytics lag the log by a moment, so reload until they show).
let label = '';
for (let i = 0; i < 30 && !/: 3 in total/.test(label); i++) {
  await page.goto(base + '/');
  await page.locator('[data-chart="admin-requests"]').waitFor();
  await page.waitForFunction(() => /in total/.test(document.querySelector('[data-chart="admin-requests"]')?.getAttribute('aria-label') ?? ''), null, { timeout: 10_000 }).catch(() => {});
  label = (await page.locator('[data-chart="admin-requests"]').getAttribute('aria-label')) ?? '';
  if (!/: 3 in total/.test(label)) await page.waitForTimeout(500);
}
check(/: 3 in total/.test(label), `the dashboard counts the three requests (${label})`);
await page.locator('[data-top="channel"] tbody tr th').first().waitFor();
check((await textIs(page.locator('[data-top="channel"] tbody tr th').first(), 'flow')), 'the dashboard names the channel that answered');
check((await textIs(page.locator('[data-top="user"] tbody tr th').first(), dana.email)), 'and the user who asked');

// 6. The usage log lists them, with the user and the channel.
await page.goto(base + '/usage');
const rows = page.getByTestId('usage-table').locator('tbody tr');
await rows.first().waitFor();
check((await rows.count()) === 3, `the usage log lists the three requests (${await rows.count()})`);
const first = await rows.first().textContent();
check(first.includes(dana.email) && first.includes('flow') && first.includes('gpt-4o-mini'), 'a row names the user, the channel and the model');

// 7. Credit for the user, and the ledger line it makes.
await page.goto(base + '/users');
await page.locator(`a[href^="/users?id="]`, { hasText: dana.email }).click();
await page.getByTestId('credit-form').waitFor();
await page.fill('#credit-amount', '5');
await page.fill('#credit-reason', 'first top-up');
await page.getByRole('button', { name: 'Adjust credit' }).click();
const ledger = page.getByTestId('ledger');
await ledger.locator('tbody tr', { hasText: 'first top-up' }).waitFor();
check((await ledger.locator('tbody tr').first().textContent()).includes('+$5.00'), 'the ledger shows the credit');
check((await page.getByTestId('balance').textContent()).includes('5.00'), 'and the balance follows');

// 8. The user signs in and sees their own balance and requests.
const u = await newPage();
await u.page.goto(base + '/login');
await login(u.page, dana);
await waitPath(u.page, '/');
await u.page.goto(base + '/me/usage');
await u.page.getByTestId('usage-table').locator('tbody tr').first().waitFor();
check((await u.page.getByTestId('usage-table').locator('tbody tr').count()) === 3, 'the user sees their three requests');
await clean(u, 'user after the flow');

await clean(p, 'operator flow');
await finish();
