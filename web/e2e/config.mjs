// The config pages on a real node (web/config_browser_test.go): pricing,
// codes & invites, settings, audit log and backups, driven as an
// administrator would. --db sqlite|postgres says what the node runs on
// (console backups are SQLite's only); --shots none skips screenshots.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { args, axe, base, check, clean, finish, focusVisible, h1, login, newPage, out, shot, waitPath, gone, textIs } from './lib.mjs';

const admin = { email: process.env.SY_ADMIN_EMAIL, password: process.env.SY_ADMIN_PASSWORD };
const sqlite = (args.db ?? 'sqlite') === 'sqlite';
const snap = args.shots === 'none' ? async () => {} : shot;
// The narrow shots show the first screen, as a phone would: a full page of
// stacked cards is too tall to read.
const screen = args.shots === 'none' ? async () => {} : (page, name) => page.screenshot({ path: join(out, name) });

// signIn opens path, signs in at the login page it sends to, and waits
// for the page's heading.
async function signIn(p, path) {
  await p.page.goto(base + path);
  await waitPath(p.page, '/login');
  await login(p.page, admin);
  await waitPath(p.page, path);
  await p.page.getByRole('heading', { level: 1 }).waitFor();
}

async function go(page, path) {
  await page.goto(base + path);
  await page.getByRole('heading', { level: 1 }).waitFor();
}

const api = (page, path) =>
  page.evaluate(async (u) => {
    const r = await fetch(u, { headers: { Accept: 'application/json' } });
    return { status: r.status, body: await r.json().catch(() => null) };
  }, path);

async function downloaded(page, click) {
  const [dl] = await Promise.all([page.waitForEvent('download'), click()]);
  const file = await dl.path();
  return { name: dl.suggestedFilename(), bytes: await readFile(file) };
}

const lines = (buf) => buf.toString('utf8').split(/\r?\n/).filter(Boolean);
const noOverflow = (page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);

// ---------------------------------------------------------------- light, en
const p = await newPage();
const { page } = p;
await signIn(p, '/pricing');
check((await h1(page)) === 'Pricing', 'the pricing page opens');

// The file's price is read-only with the member that declares it.
const fileRow = page.locator('tr[data-model="gpt-4o-mini"]');
await fileRow.waitFor();
check((await textIs(fileRow.locator('.file-field'), 'pricing.gpt-4o-mini')), 'a file price shows its file field');
check((await gone(fileRow.getByRole('button', { name: /Edit/ }))), 'a file price has no edit button');
check((await fileRow.textContent()).includes('$0.15') && (await fileRow.textContent()).includes('$0.60'), 'a file price shows USD per 1M tokens');

// Create a price; amounts are sent as exact micro-USD.
await page.getByTestId('new-price').click();
const form = page.getByTestId('price-form');
await form.waitFor();
await page.fill('#pf-model', 'gpt-e2e');
await page.fill('#pf-input_micros', '2.5');
await page.fill('#pf-cached_input_micros', '0.29');
await page.fill('#pf-output_micros', 'ten');
await form.locator('button[type=submit]').click();
check((await page.locator('#pf-output_micros-error').textContent()).includes('amount in USD'), 'a malformed amount is refused in place before sending');
check(await page.locator('#pf-output_micros').evaluate((el) => el === document.activeElement), 'focus moves to the refused field');
await page.fill('#pf-output_micros', '10');
await page.getByRole('button', { name: 'Add image size' }).click();
await page.fill('#pf-image-0-key', '1024x1024');
await page.fill('#pf-image-0-usd', '0.04');
await axe(page, 'price form');
await form.locator('button[type=submit]').click();
await page.locator('tr[data-model="gpt-e2e"]').waitFor();
const created = await api(page, '/api/v1/admin/pricing/gpt-e2e');
check(
  created.body?.input_micros === 2_500_000 && created.body?.cached_input_micros === 290_000 && created.body?.output_micros === 10_000_000 && created.body?.per_image_micros?.['1024x1024'] === 40_000,
  `the price is stored in exact micro-USD ${JSON.stringify(created.body)}`,
);
check((await page.locator('tr[data-model="gpt-e2e"]').textContent()).includes('$2.50'), 'the new price is listed in USD');

// Edit it with an image size the server refuses: its error lands on the row.
await page.locator('tr[data-model="gpt-e2e"]').getByRole('button', { name: 'Edit price of gpt-e2e' }).click();
await form.waitFor();
check((await page.inputValue('#pf-input_micros')) === '2.5' && (await page.inputValue('#pf-cached_input_micros')) === '0.29', 'the edit form shows the stored dollars exactly');
await page.getByRole('button', { name: 'Add image size' }).click();
await page.fill('#pf-image-1-key', 'huge');
await page.fill('#pf-image-1-usd', '0.1');
await form.locator('button[type=submit]').click();
const serverErr = page.locator('#pf-image-1-key-error');
await serverErr.waitFor();
check((await serverErr.textContent()).includes('is not default, WxH or WxH/quality'), `the server's refusal shows on the field it names: ${await serverErr.textContent()}`);
check((await page.getAttribute('#pf-image-1-key', 'aria-invalid')) === 'true', 'the refused field is marked invalid');
await snap(page, 'pricing-error.png');
await page.fill('#pf-image-1-key', '512x512');
await form.locator('button[type=submit]').click();
await form.waitFor({ state: 'detached' });
check((await page.locator('tr[data-model="gpt-e2e"]').textContent()).includes('512x512'), 'the corrected price is saved');

// Delete a price through its confirmation.
await page.getByTestId('new-price').click();
await page.fill('#pf-model', 'delete-me');
await page.getByTestId('pf-free').check();
await form.locator('button[type=submit]').click();
await page.locator('tr[data-model="delete-me"]').waitFor();
await page.getByRole('button', { name: 'Delete price of delete-me' }).click();
await page.getByTestId('delete-price').getByRole('button', { name: 'Delete' }).click();
await page.locator('tr[data-model="delete-me"]').waitFor({ state: 'detached' });
check((await api(page, '/api/v1/admin/pricing/delete-me')).status === 404, 'a deleted price is gone');
await axe(page, 'pricing page');
await snap(page, 'pricing-light.png');

// Keyboard: the new-price dialog opens, takes typing and closes with Escape.
await page.getByTestId('new-price').focus();
await page.keyboard.press('Enter');
await form.waitFor();
check(await page.locator('#pf-model').evaluate((el) => el === document.activeElement), 'the price dialog focuses its first field');
await page.keyboard.press('Escape');
await form.waitFor({ state: 'detached' });
check(await page.getByTestId('new-price').evaluate((el) => el === document.activeElement), 'Escape closes the dialog and focus returns to its button');
await page.focus('#price-filter');
await focusVisible(page, 5, 'price list controls');
await clean(p, 'pricing');

// ---------------------------------------------------------------- codes
await go(page, '/codes');
check((await h1(page)) === 'Codes & invites', 'the codes page opens');
await page.getByTestId('generate-codes').click();
const gen = page.getByTestId('generate-form');
await gen.waitFor();
await page.fill('#gen-count', '0');
await page.fill('#gen-value', '1.5');
await gen.locator('button[type=submit]').click();
check((await page.locator('#gen-count-error').textContent()).includes('1 to 10,000'), 'a count out of range is refused in place');
await page.fill('#gen-count', '3');
await page.fill('#gen-batch', 'promo-e2e');
await page.fill('#gen-note', 'browser suite');
await gen.locator('button[type=submit]').click();
const made = page.getByTestId('made-codes');
await made.waitFor();
const codes = (await made.inputValue()).split('\n');
check(codes.length === 3 && codes.every((c) => c.length > 10), `three codes are shown once (${codes.length})`);
await axe(page, 'generated codes dialog');
await snap(page, 'codes-made.png');
const batchFile = await downloaded(page, () => page.getByTestId('made-csv').click());
const batchRows = lines(batchFile.bytes);
check(batchFile.name === 'codes-promo-e2e.csv', `the batch file is named after the batch (${batchFile.name})`);
check(batchRows[0] === 'code,value_usd,batch,expires_at' && batchRows.length === 4, `the batch CSV has a header and 3 rows (${batchRows.length})`);
check(codes.every((c, i) => batchRows[i + 1] === `${c},1.500000,promo-e2e,`), 'the batch CSV holds the codes shown, with their exact value');
await page.getByTestId('made').getByRole('button', { name: 'Close' }).click();
await made.waitFor({ state: 'detached' });
check(new URL(page.url()).searchParams.get('batch') === 'promo-e2e', 'the list is filtered to the new batch, in the URL');
await page.locator('table[data-testid=codes] tbody tr').first().waitFor();
check((await page.locator('table[data-testid=codes] tbody tr').count()) === 3, 'the list shows the batch');
check((await page.locator('[data-status=active]').count()) === 3, 'the new codes are unused');

const listFile = await downloaded(page, () => page.getByTestId('codes-csv').click());
const listRows = lines(listFile.bytes);
check(listRows[0].startsWith('id,prefix,kind,value_usd') && listRows.length === 4, `the list CSV has a header and the batch's 3 rows (${listRows.length})`);
check(listRows.slice(1).every((r) => r.includes(',credit,1.500000,') && r.includes('promo-e2e') && r.includes(',active,')), 'the list CSV rows are the batch, unused, at 1.5 USD ' + JSON.stringify(listRows[1]));

const firstId = await page.locator('table[data-testid=codes] tbody tr').first().getAttribute('data-code');
await page.getByRole('button', { name: `Disable code #${firstId}` }).click();
await page.getByTestId('disable-code').getByRole('button', { name: 'Disable' }).click();
await page.locator(`tr[data-code="${firstId}"] [data-status=disabled]`).waitFor();
check(true, 'a code is disabled');
await page.selectOption('#codes-status', 'disabled');
await page.waitForFunction(() => new URL(location.href).searchParams.get('status') === 'disabled');
await page.waitForFunction(() => document.querySelectorAll('table[data-testid=codes] tbody tr').length === 1);
check((await page.locator('table[data-testid=codes] tbody tr').count()) === 1, 'the status filter narrows the list');
await page.selectOption('#codes-status', '');
await page.waitForFunction(() => document.querySelectorAll('table[data-testid=codes] tbody tr').length === 3);
await page.focus('#codes-batch');
await focusVisible(page, 5, 'codes filters and rows');
await axe(page, 'codes page');
await snap(page, 'codes-light.png');
await clean(p, 'codes');

// ---------------------------------------------------------------- settings
await go(page, '/settings');
check((await h1(page)) === 'Settings', 'the settings page opens');
await page.getByTestId('settings-form').waitFor();
await page.fill('#set-default_group', 'no-such-group');
await page.locator('[data-testid=settings-form] button[type=submit]').click();
const groupErr = page.locator('#set-default_group-error');
await groupErr.waitFor();
check(/no group is named/i.test(await groupErr.textContent()), `the server's refusal of the group shows in place: ${await groupErr.textContent()}`);
await snap(page, 'settings-error.png');
await page.fill('#set-default_group', 'default');
await page.fill('#set-announcement', 'Maintenance on Sunday 02:00 UTC.');
await page.selectOption('#set-registration', 'invite');
await page.fill('#set-new_user_credit_micros', '0.29');
await page.locator('[data-testid=settings-form] button[type=submit]').click();
await page.getByTestId('settings-status').filter({ hasText: 'Settings saved.' }).waitFor();
const s = await api(page, '/api/v1/admin/settings');
check(s.body?.new_user_credit_micros === 290_000 && s.body?.registration === 'invite', `the settings are saved exactly ${JSON.stringify(s.body)}`);
await page.focus('#set-site_name');
await focusVisible(page, 8, 'settings fields');
await axe(page, 'settings page');
await snap(page, 'settings-light.png');
await clean(p, 'settings');

// ---------------------------------------------------------------- audit
await go(page, '/audit');
check((await h1(page)) === 'Audit log', 'the audit page opens');
await page.fill('#af-action', 'settings.*');
await page.locator('form[role=search] button[type=submit]').click();
await page.waitForFunction(() => new URL(location.href).searchParams.get('action') === 'settings.*');
const row = page.locator('tr[data-action="settings.update"]').first();
await row.waitFor();
check((await page.locator('table[data-testid=audit] tbody tr').count()) === 1, 'the action filter keeps the settings change');
check((await row.textContent()).includes(admin.email) && (await row.textContent()).includes('PATCH /api/v1/admin/settings'), 'the entry names who and the route');
await row.getByRole('button', { name: /Details/ }).click();
const dlg = page.getByTestId('audit-entry');
await dlg.waitFor();
const diffRow = (path) => dlg.locator(`tr[data-path="${path}"]`);
check(
  (await diffRow('announcement').locator('.before').textContent()).includes('""') && (await diffRow('announcement').locator('.after').textContent()).includes('Maintenance on Sunday'),
  'the diff shows the announcement before and after',
);
check((await diffRow('new_user_credit_micros').locator('.after').textContent()).includes('290000'), 'the diff shows the credit after');
check((await diffRow('registration').locator('.before').textContent()).includes('"off"'), 'the diff shows the registration before');
check((await gone(diffRow('site_name'))), 'unchanged members are hidden at first');
await dlg.getByRole('button', { name: /Show \d+ unchanged/ }).click();
check((await diffRow('site_name').count()) === 1, 'unchanged members show on request');
await axe(page, 'audit entry');
await snap(page, 'audit-detail.png');
await page.keyboard.press('Escape');
await dlg.locator('h2').waitFor({ state: 'detached' });
await page.fill('#af-action', 'price.*');
await page.locator('form[role=search] button[type=submit]').click();
await page.locator('tr[data-action="price.delete"]').waitFor();
check((await page.locator('tr[data-action="price.update"]').count()) >= 1, 'the price edits are in the audit log');
await page.fill('#af-action', 'a*b*');
await page.locator('form[role=search] button[type=submit]').click();
await page.locator('#af-action[aria-invalid=true]').waitFor();
check(true, "the server's refusal of a filter shows on the filter");
await page.getByRole('button', { name: 'Clear' }).click();
await page.waitForFunction(() => location.search === '');
await page.locator('table[data-testid=audit] tbody tr').first().waitFor();
await axe(page, 'audit page');
await snap(page, 'audit-light.png');
await page.focus('#af-actor');
await focusVisible(page, 7, 'audit filters');
await clean(p, 'audit');

// ---------------------------------------------------------------- backups
await go(page, '/backups');
check((await h1(page)) === 'Backups', 'the backups page opens');
check((await page.getByText('switchyard restore').count()) >= 1, 'the page says restoring is the command line’s');
if (sqlite) {
  await page.getByTestId('create-backup').click();
  const brow = page.locator('table[data-testid=backups] tbody tr').first();
  await brow.waitFor();
  const name = await brow.getAttribute('data-backup');
  check(/^switchyard-.*\.db$/.test(name ?? ''), `a backup is made (${name})`);
  await brow.getByRole('button', { name: `Download ${name}` }).click();
  const su = page.getByTestId('backup-stepup');
  await page.locator('#backup-password').waitFor();
  await page.fill('#backup-password', 'wrong-password-0');
  await su.locator('button[type=submit]').click();
  await page.locator('#backup-password-error').waitFor();
  check((await page.locator('#backup-password-error').textContent()).includes('not right'), 'a wrong password is refused in place');
  await page.fill('#backup-password', admin.password);
  const file = await downloaded(page, () => su.locator('button[type=submit]').click());
  check(file.name === name && file.bytes.subarray(0, 16).toString('latin1') === 'SQLite format 3\0', `the backup downloads with the session (${file.name}, ${file.bytes.length} B)`);
  const again = await downloaded(page, () => brow.getByRole('button', { name: `Download ${name}` }).click());
  check(again.bytes.length === file.bytes.length, 'a second download within the step-up window asks nothing');
  await axe(page, 'backups page');
  await snap(page, 'backups-light.png');
} else {
  await page.getByTestId('backups-unsupported').waitFor();
  check((await gone(page.getByTestId('create-backup'))), 'on PostgreSQL the page says backups are pg_dump’s');
  await axe(page, 'backups page (postgres)');
}
await clean(p, 'backups');
await p.context.close();

// ---------------------------------------------------------------- the announcement on the sign-in page
{
  const q = await newPage();
  await q.page.goto(base + '/login');
  const ann = q.page.getByTestId('announcement');
  await ann.waitFor();
  check((await ann.textContent()).includes('Maintenance on Sunday 02:00 UTC.'), 'the sign-in page shows the announcement');
  await axe(q.page, 'sign-in with announcement');
  await snap(q.page, 'settings-login-announcement.png');
  await clean(q, 'sign-in with announcement');
  await q.context.close();
}

// ---------------------------------------------------------------- dark, narrow, zh
const pages = ['/pricing', '/codes', '/settings', '/audit', '/backups'];
const area = { '/pricing': 'pricing', '/codes': 'codes', '/settings': 'settings', '/audit': 'audit', '/backups': 'backups' };

{
  const d = await newPage({ colorScheme: 'dark' });
  await signIn(d, '/pricing');
  check((await d.page.getAttribute('html', 'data-theme')) === 'dark', 'dark theme follows the system');
  for (const path of pages) {
    await go(d.page, path);
    await d.page.locator('table, [data-testid=settings-form], [data-testid=backups-unsupported]').first().waitFor();
    await axe(d.page, `${path} dark`);
    await snap(d.page, `${area[path]}-dark.png`);
  }
  await go(d.page, '/audit?action=settings.update');
  await d.page.locator('tr[data-action="settings.update"]').first().getByRole('button', { name: /Details/ }).click();
  await d.page.getByTestId('audit-diff').waitFor();
  await axe(d.page, 'audit entry dark');
  await snap(d.page, 'audit-detail-dark.png');
  await clean(d, 'dark');
  await d.context.close();
}

{
  const n = await newPage({ width: 375, height: 740 });
  await signIn(n, '/pricing');
  for (const path of pages) {
    await go(n.page, path);
    await n.page.locator('table, [data-testid=settings-form], [data-testid=backups-unsupported]').first().waitFor();
    check(await noOverflow(n.page), `${path} fits 375 px without sideways scrolling`);
    await screen(n.page, `${area[path]}-narrow.png`);
  }
  await go(n.page, '/pricing');
  await n.page.getByTestId('new-price').click();
  await n.page.getByTestId('price-form').waitFor();
  await n.page.getByRole('button', { name: 'Add image size' }).click();
  await screen(n.page, 'pricing-form-narrow.png');
  await clean(n, 'narrow');
  await n.context.close();
}

{
  const z = await newPage({ locale: 'zh-CN' });
  await signIn(z, '/pricing');
  const titles = { '/pricing': '定价', '/codes': '兑换码与邀请', '/settings': '设置', '/audit': '审计日志', '/backups': '备份' };
  for (const path of pages) {
    await go(z.page, path);
    await z.page.locator('table, [data-testid=settings-form], [data-testid=backups-unsupported]').first().waitFor();
    check((await h1(z.page)) === titles[path], `${path} is in Chinese`);
    await axe(z.page, `${path} zh`);
    await snap(z.page, `${area[path]}-zh.png`);
  }
  await go(z.page, '/pricing');
  check((await z.page.locator('tr[data-model="gpt-e2e"]').textContent()).includes('US$2.50'), 'zh-CN writes US$ for dollars');
  await go(z.page, '/audit?action=settings.update');
  await z.page.locator('tr[data-action="settings.update"]').first().getByRole('button', { name: /详情/ }).click();
  await z.page.getByTestId('audit-diff').waitFor();
  check((await z.page.getByTestId('audit-diff').textContent()).includes('修改前'), 'the diff is in Chinese');
  await snap(z.page, 'audit-detail-zh.png');
  await clean(z, 'zh-CN');
  await z.context.close();
}

await finish();
