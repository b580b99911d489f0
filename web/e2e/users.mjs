// The users & groups, keys and my-keys pages on a real node
// (web/users_browser_test.go): the file administrator creates a user with a
// password (a taken email lands on the email field), adjusts their credit
// (a large adjustment asks for the password again) and sees the ledger
// line, gives them a key (shown once, with snippets) and revokes it; the
// new user signs in in a second browser and manages their own keys. File
// users, groups and keys are read-only with their file field. Keyboard,
// axe, zh-CN and screenshots (light, dark, 375 px) along the way.
import { args, axe, base, check, clean, finish, focusVisible, h1, login, newPage, shot as rawShot, waitPath, gone, textIs } from './lib.mjs';

const admin = { email: process.env.SY_ADMIN_EMAIL, password: process.env.SY_ADMIN_PASSWORD };
const dana = { email: 'dana@example.com', password: 'dana-password-123' };
const shots = !args.noshots;
const shot = (page, name) => (shots ? rawShot(page, name) : Promise.resolve());

async function signIn(p, who, path) {
  await p.page.goto(base + path);
  await waitPath(p.page, '/login');
  await login(p.page, who);
  await waitPath(p.page, path);
  await p.page.getByRole('heading', { level: 1 }).waitFor();
}

const a = await newPage();
const pg = a.page;
await signIn(a, admin, '/users');
check((await h1(pg)) === 'Users & groups', 'the users page has its title');
const table = pg.getByTestId('users');
await table.waitFor();

// The file's user: read-only (no Edit), with its file field.
const filed = pg.locator('tr[data-user="filed@example.com"]');
check((await filed.locator('.badge.file').count()) === 1, 'a file user carries the file badge');
check((await textIs(filed.locator('code.ff'), 'users[email=filed@example.com]')), 'a file user shows its file field');
check((await gone(filed.getByRole('button', { name: 'Edit' }))), 'a file user has no Edit button');
await axe(pg, 'users list');

// Keyboard: the dialog opens with Enter, focus lands in it, Escape closes
// it and focus returns to the button.
await pg.getByTestId('new-user').focus();
await pg.keyboard.press('Enter');
await pg.getByTestId('create-user').waitFor();
check((await pg.evaluate(() => document.activeElement?.id)) === 'nu-email', 'the create dialog focuses the email field');
await pg.keyboard.press('Escape');
await pg.getByTestId('create-user').waitFor({ state: 'hidden' });
check((await pg.evaluate(() => document.activeElement?.dataset.testid)) === 'new-user', 'Escape closes the dialog and focus returns to its button');

// Create a user with a password, by keyboard.
await pg.getByTestId('new-user').click();
const dlg = pg.getByTestId('create-user');
await pg.keyboard.type(dana.email);
await dlg.locator('#nu-name').fill('Dana Scully');
await dlg.locator('#nu-password').fill('short');
await dlg.locator('#nu-password').press('Enter');
check((await dlg.locator('#nu-password-error').textContent())?.includes('12 characters'), 'a short password is refused on its field before a round trip');
await dlg.locator('#nu-password').fill(dana.password);
await dlg.locator('#nu-password').press('Enter');
await dlg.waitFor({ state: 'hidden' });
const row = pg.locator(`tr[data-user="${dana.email}"]`);
await row.waitFor();
check((await row.textContent()).includes('Dana Scully'), 'the new user is in the list');

// The same email again (in capitals): the server's 409 lands on the field.
await pg.getByTestId('new-user').click();
await dlg.locator('#nu-email').fill('DANA@example.com');
await dlg.locator('#nu-password').fill(dana.password);
await dlg.getByRole('button', { name: 'Create user' }).click();
const emailErr = dlg.locator('#nu-email-error');
await emailErr.waitFor();
check((await textIs(emailErr, 'A user with this email already exists.')), 'a taken email shows the field error');
check((await dlg.locator('#nu-email').getAttribute('aria-invalid')) === 'true', 'the email field is marked invalid');
check((await pg.evaluate(() => document.activeElement?.id)) === 'nu-email', 'focus moves to the email field');
await shot(pg, 'users-create-error.png');
await axe(pg, 'create dialog with a field error');
await dlg.getByRole('button', { name: 'Cancel' }).click();

// Filters are in the URL.
await pg.getByTestId('filter-email').fill('dana');
await pg.waitForURL((u) => u.searchParams.get('email') === 'dana');
await pg.waitForFunction(() => document.querySelectorAll('[data-testid=users] tbody tr').length === 1);
check(true, 'the email search narrows the list and is kept in the URL');
await pg.selectOption('#f-role', 'admin');
await pg.waitForURL((u) => u.searchParams.get('role') === 'admin');
await pg.getByText('No user matches these filters.').waitFor();
check(true, 'a role filter with no match says so');
await pg.goto(base + '/users');
await table.waitFor();
await shot(pg, 'users-light.png');
await focusVisible(pg, 6, 'users list');

// The user's page: credit, ledger.
await pg.locator(`a[href^="/users?id="]`, { hasText: dana.email }).click();
await pg.getByTestId('credit-form').waitFor();
check((await h1(pg)) === dana.email, 'the user page opens');
await pg.fill('#credit-amount', '19.99');
check((await textIs(pg.locator('#credit-amount-hint'), 'Adds $19.99.')), 'the amount is read exactly as typed');
await pg.fill('#credit-reason', 'welcome credit');
await pg.getByRole('button', { name: 'Adjust credit' }).click();
const ledger = pg.getByTestId('ledger');
await ledger.locator('tbody tr', { hasText: 'welcome credit' }).waitFor();
const first = await ledger.locator('tbody tr').first().textContent();
check(first.includes('Adjustment') && first.includes('+$19.99'), `the ledger shows the adjustment (${first})`);
check((await pg.getByTestId('balance').textContent()).includes('19.99'), 'the balance follows');

// Bad amounts stay on the field.
await pg.fill('#credit-amount', '1.0000001');
await pg.fill('#credit-reason', 'x');
await pg.getByRole('button', { name: 'Adjust credit' }).click();
check((await pg.locator('#credit-amount-error').textContent())?.includes('six decimals'), 'an amount finer than a micro-dollar is refused');

// Above $100 the password is asked again (a wrong one first).
await pg.fill('#credit-amount', '150');
check((await pg.locator('#credit-amount-hint').textContent()).includes('confirm your password'), 'the form warns that $150 needs a step-up');
await pg.fill('#credit-reason', 'prepaid invoice 42');
await pg.getByRole('button', { name: 'Adjust credit' }).click();
const stepup = pg.getByTestId('stepup');
await stepup.waitFor();
await stepup.locator('#stepup-password').fill('not-the-password');
await stepup.getByRole('button', { name: 'Confirm' }).click();
await stepup.locator('#stepup-password-error').waitFor();
check(true, 'a wrong step-up password is refused in the dialog');
await stepup.locator('#stepup-password').fill(admin.password);
await stepup.getByRole('button', { name: 'Confirm' }).click();
await ledger.locator('tbody tr', { hasText: 'prepaid invoice 42' }).waitFor();
check((await ledger.locator('tbody tr').first().textContent()).includes('+$150.00'), 'after the step-up the large adjustment is posted');
check((await pg.getByTestId('balance').textContent()).includes('169.99'), 'the balance adds up exactly');

// A role change (stepped up above, within its 5 minutes), and back.
await pg.getByTestId('user-edit').click();
const edlg = pg.getByTestId('edit-user');
await edlg.locator('select[id$="-role"]').selectOption('admin');
await edlg.getByRole('button', { name: 'Save' }).click();
await edlg.waitFor({ state: 'hidden' });
check((await pg.locator('dl.facts').textContent()).includes('Administrator'), 'the role change is saved');
await pg.getByTestId('user-edit').click();
await edlg.locator('select[id$="-role"]').selectOption('user');
await edlg.locator('input[id$="-name"]').fill('Dana K. Scully');
await edlg.getByRole('button', { name: 'Save' }).click();
await edlg.waitFor({ state: 'hidden' });
const facts = await pg.locator('dl.facts').textContent();
check(facts.includes('User') && facts.includes('Dana K. Scully'), 'and back, with a new name');

// A key for the user: shown once with snippets for this gateway.
await pg.getByTestId('new-key').click();
const keyDlg = pg.locator('dialog[open]', { has: pg.getByTestId('key-form') });
await keyDlg.locator('input[id$="-name"]').fill('dana-ci');
await keyDlg.locator('input[id$="-models"]').fill('gpt-4o-mini');
await keyDlg.locator('input[id$="-quota"]').fill('50');
await keyDlg.locator('input[id$="-rpm"]').fill('60');
await keyDlg.getByRole('button', { name: 'Create key' }).click();
const created = pg.getByTestId('key-created');
await created.waitFor();
const value = await created.getByTestId('key-value').inputValue();
check(value.startsWith('sk-'), `the key's value is shown once (${value.slice(0, 8)}…)`);
const curl = await created.getByTestId('snippet').textContent();
check(curl.includes(`${base}/v1/chat/completions`) && curl.includes(`Bearer ${value}`) && curl.includes('gpt-4o-mini'), 'the curl snippet uses this gateway, the key and its model');
await created.getByTestId('lang-python').click();
const py = await created.getByTestId('snippet').textContent();
check(py.includes('from openai import OpenAI') && py.includes(`base_url="${base}/v1"`) && py.includes(`api_key="${value}"`), 'the Python snippet too');
await created.getByTestId('lang-js').click();
check((await created.getByTestId('snippet').textContent()).includes(`baseURL: "${base}/v1"`), 'the JavaScript snippet too');
// The snippet works: the key answers on /v1 (asked from node).
const res = (
  await fetch(base + '/v1/chat/completions', {
    method: 'POST',
    headers: { Authorization: `Bearer ${value}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello!' }] }),
  })
).status;
check(res === 200, `the new key calls the gateway (${res})`);
await axe(pg, 'new key dialog');
await shot(pg, 'keys-created.png');
await created.getByRole('button', { name: 'I have copied it' }).click();
await created.waitFor({ state: 'hidden' });
const keyRow = pg.locator('tr[data-key="dana-ci"]');
await keyRow.waitFor();
check((await keyRow.textContent()).includes('60 requests/min') && (await keyRow.textContent()).includes('of $50.00'), 'the key row shows its limits and cap');
await axe(pg, 'user page');
await shot(pg, 'users-detail.png');

// Revoke, after a confirmation.
await keyRow.getByRole('button', { name: 'Revoke' }).click();
await pg.getByTestId('confirm-revoke').click();
await keyRow.locator('[data-status=revoked]').waitFor();
check((await gone(keyRow.getByRole('button', { name: 'Revoke' }))), 'a revoked key shows Revoked and no Revoke button');
// (from node: the browser would log the 401 as a console error)
const after = (await fetch(base + '/v1/models', { headers: { Authorization: `Bearer ${value}` } })).status;
check(after === 401, `the revoked key is refused (${after})`);

// Groups: the file's read-only, a new one created.
await pg.goto(base + '/users?tab=groups');
const groups = pg.getByTestId('groups');
await groups.waitFor();
const partners = groups.locator('tr[data-group="partners"]');
check((await textIs(partners.locator('code.ff'), 'groups[name=partners]')), 'a file group shows its file field');
check((await gone(partners.getByRole('button'))), 'a file group has no actions');
await pg.getByTestId('new-group').click();
const gdlg = pg.getByTestId('create-group');
await gdlg.locator('#ng-name').fill('gold');
await gdlg.locator('#ng-ratio').fill('1001');
await gdlg.getByRole('button', { name: 'Create group' }).click();
check((await gdlg.locator('#ng-ratio-error').count()) === 1, 'a ratio above 1000 is refused on its field');
await gdlg.locator('#ng-ratio').fill('0.5');
await gdlg.locator('#ng-rpm').fill('30');
await gdlg.getByRole('button', { name: 'Create group' }).click();
await groups.locator('tr[data-group="gold"]').waitFor();
check((await groups.locator('tr[data-group="gold"]').textContent()).includes('×0.5'), 'the new group is listed with its ratio');
await axe(pg, 'groups');
await shot(pg, 'users-groups.png');

// All keys: the owner column, the file key read-only.
await pg.goto(base + '/keys');
await pg.getByTestId('keys').waitFor();
const fileKey = pg.locator('tr[data-key="filed-key"]');
check((await textIs(fileKey.locator('code.ff'), 'keys[user=filed@example.com,name=filed-key]')), 'a file key shows its file field');
check((await gone(fileKey.getByRole('button', { name: 'Edit' }))), 'a file key cannot be edited here');
check((await pg.locator('tr[data-key="dana-ci"]').textContent()).includes(dana.email), 'the admin list names the owner');
// A key made here names its owner by email; an unknown one is refused on the field.
await pg.getByTestId('new-key').click();
const akDlg = pg.getByTestId('admin-create-key');
await akDlg.locator('#nkadmin-owner').fill('nobody@example.com');
await akDlg.locator('#nkadmin-name').fill('ops-batch');
await akDlg.getByRole('button', { name: 'Create key' }).click();
await akDlg.locator('#nkadmin-owner-error').waitFor();
check((await textIs(akDlg.locator('#nkadmin-owner-error'), 'No user has this email.')), 'an unknown owner is refused on the owner field');
await akDlg.locator('#nkadmin-owner').fill('FILED@example.com');
await akDlg.getByRole('button', { name: 'Create key' }).click();
await pg.getByTestId('admin-created-key').getByTestId('key-value').waitFor();
await pg.getByTestId('admin-created-key').getByRole('button', { name: 'I have copied it' }).click();
const ops = pg.locator('tr[data-key="ops-batch"]');
await ops.waitFor();
check((await ops.textContent()).includes('filed@example.com'), 'the key is made for the owner typed');
await axe(pg, 'all keys');
await shot(pg, 'keys-light.png');

// Disable and enable the file user (their status is not the file's).
await pg.goto(base + '/users?email=filed');
await filed.waitFor();
await filed.getByRole('button', { name: 'Disable filed@example.com' }).click();
await filed.locator('.badge.off').waitFor();
await filed.getByRole('button', { name: 'Enable filed@example.com' }).click();
await filed.locator('.badge.ok').waitFor();
check(true, 'a file user can be disabled and enabled');
await clean(a, 'admin flows');

// The new user signs in in another browser and sees their keys.
const u = await newPage();
await signIn(u, dana, '/me/keys');
check((await h1(u.page)) === 'My keys', 'the new user signs in with the password the admin set');
const mine = u.page.getByTestId('keys');
await mine.waitFor();
check((await mine.locator('tr[data-key="dana-ci"] [data-status=revoked]').count()) === 1, 'they see the key made for them, revoked');
check((await gone(u.page.getByRole('columnheader', { name: 'Owner' }))), 'their list has no owner column');
await u.page.getByTestId('new-key').click();
const mdlg = u.page.locator('dialog[open]', { has: u.page.getByTestId('key-form') });
await mdlg.locator('input[id$="-name"]').fill('laptop');
await mdlg.locator('input[id$="-rpm"]').fill('500');
await mdlg.getByRole('button', { name: 'Create key' }).click();
const mc = u.page.getByTestId('key-created');
await mc.waitFor();
const mv = await mc.getByTestId('key-value').inputValue();
check((await mc.getByTestId('snippet').textContent()).includes(mv), 'their new key comes with its snippet');
await axe(u.page, 'my new key');
await mc.getByRole('button', { name: 'I have copied it' }).click();
const laptop = mine.locator('tr[data-key="laptop"]');
await laptop.waitFor();
// Edit its limits.
await laptop.getByRole('button', { name: 'Edit' }).click();
const kedit = u.page.locator('dialog[open]', { has: u.page.getByTestId('key-form') });
await kedit.locator('input[id$="-rpm"]').fill('100');
await kedit.locator('input[id$="-quota"]').fill('12.34');
await kedit.getByRole('button', { name: 'Save' }).click();
await kedit.waitFor({ state: 'hidden' });
const lt = await laptop.textContent();
check(lt.includes('100 requests/min') && lt.includes('of $12.34'), `the key's limits are edited (${lt})`);
// Disable it: requests with it are refused as disabled; enable it again and
// it works, and its last use shows. (The /v1 calls come from node: the
// browser would log the 401 as a console error.)
const callMine = async () => {
  const r = await fetch(base + '/v1/chat/completions', {
    method: 'POST',
    headers: { Authorization: `Bearer ${mv}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello!' }] }),
  });
  return { status: r.status, body: await r.text() };
};
check((await laptop.getByTestId('last-used').textContent()).trim() === 'never used', 'a new key was never used');
await laptop.getByRole('button', { name: 'Disable key laptop' }).click();
await laptop.locator('[data-status=disabled]').waitFor();
let r = await callMine();
check(r.status === 401 && JSON.parse(r.body).error.code === 'api_key_disabled', `the disabled key is refused as disabled (${r.status} ${r.body})`);
await axe(u.page, 'my keys, one disabled');
await shot(u.page, 'keys-mine-disabled.png');
await laptop.getByRole('button', { name: 'Enable key laptop' }).click();
await laptop.locator('[data-status=active]').waitFor();
check((await gone(laptop.getByRole('button', { name: 'Enable key laptop' }))), 'an enabled key offers Disable again');
r = await callMine();
check(r.status === 200, `the enabled key works again (${r.status})`);
// The node writes last use in batches (every 300 ms in this test): reload
// until the list shows it.
let used = '';
for (let i = 0; i < 20 && !/ago$/.test(used); i++) {
  await u.page.waitForTimeout(250);
  await u.page.reload();
  await mine.waitFor();
  used = (await laptop.getByTestId('last-used').textContent()).trim();
}
check(/^last used \d+ s ago$/.test(used), `the key's last use shows (${used})`);
const exact = await laptop.locator('[data-testid=last-used] time').getAttribute('title');
check(!!exact && /\d{4}/.test(exact), `the exact time is on hover (${exact})`);
await axe(u.page, 'my keys');
await shot(u.page, 'keys-mine.png');
// A user cannot open the admin pages.
await u.page.goto(base + '/users');
await u.page.getByText('This page is for administrators.').waitFor();
check(true, 'a user is kept out of /users');
await clean(u, 'user flows');
await u.context.close();

// Dark, narrow and Chinese views.
const dark = await newPage({ colorScheme: 'dark' });
await signIn(dark, admin, '/users');
await dark.page.getByTestId('users').waitFor();
await axe(dark.page, 'users, dark');
await shot(dark.page, 'users-dark.png');
await dark.page.goto(base + '/keys');
await dark.page.getByTestId('keys').waitFor();
await axe(dark.page, 'keys, dark');
await shot(dark.page, 'keys-dark.png');
await clean(dark, 'dark views');
await dark.context.close();

const narrow = await newPage({ width: 375, height: 800 });
await signIn(narrow, admin, '/users');
await narrow.page.getByTestId('users').waitFor();
const overflow = () => narrow.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
check((await overflow()) <= 0, `users at 375 px do not scroll sideways (${await overflow()} px)`);
await axe(narrow.page, 'users, 375 px');
await shot(narrow.page, 'users-narrow.png');
await narrow.page.locator(`a[href^="/users?id="]`, { hasText: dana.email }).click();
await narrow.page.getByTestId('ledger').waitFor();
check((await overflow()) <= 0, `a user's page at 375 px does not scroll sideways (${await overflow()} px)`);
await shot(narrow.page, 'users-detail-narrow.png');
await narrow.page.goto(base + '/keys');
await narrow.page.getByTestId('keys').waitFor();
check((await overflow()) <= 0, `keys at 375 px do not scroll sideways (${await overflow()} px)`);
await axe(narrow.page, 'keys, 375 px');
await shot(narrow.page, 'keys-narrow.png');
await clean(narrow, 'narrow views');
await narrow.context.close();

const zh = await newPage({ locale: 'zh-CN' });
await signIn(zh, admin, '/users');
await zh.page.getByTestId('users').waitFor();
check((await h1(zh.page)) === '用户与分组', 'the users page speaks Chinese');
check((await zh.page.locator(`tr[data-user="${dana.email}"]`).textContent()).includes('US$169.99'), 'balances in zh-CN are US$');
await axe(zh.page, 'users, zh-CN');
await shot(zh.page, 'users-zh.png');
await zh.page.getByTestId('new-user').click();
await zh.page.locator('#nu-email').fill(dana.email);
await zh.page.getByRole('button', { name: '创建用户' }).click();
check((await textIs(zh.page.locator('#nu-email-error'), '已有使用此邮箱的用户。')), 'the taken-email error is translated');
await zh.page.getByRole('button', { name: '取消' }).click();
await zh.page.goto(base + '/keys');
await zh.page.getByTestId('keys').waitFor();
check((await h1(zh.page)) === '密钥', 'the keys page speaks Chinese');
await axe(zh.page, 'keys, zh-CN');
await shot(zh.page, 'keys-zh.png');
await clean(zh, 'zh-CN views');

await finish();
