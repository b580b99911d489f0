// The usage log pages on a real node (web/usage_browser_test.go), after real
// traffic through /v1: ann's requests (over one page), the admin's two
// gpt-4o requests that failed over from the failing channel "flaky" to
// "mock", and one request that failed. As an administrator: the table,
// infinite scroll and the keyboard's "Load more", filters kept in the URL
// (reload, back, an invalid one on its field), a row's details with the
// routing story, CSV export of the filter; as ann: her own requests only,
// without the routing. Keyboard, axe, zh-CN, dark and 375 px throughout.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { args, axe, base, check, clean, finish, focusVisible, h1, login, newPage, out, waitPath, gone, textIs } from './lib.mjs';

const admin = { email: process.env.SY_ADMIN_EMAIL, password: process.env.SY_ADMIN_PASSWORD };
const ann = { email: process.env.SY_USER_EMAIL, password: process.env.SY_USER_PASSWORD };
const total = Number(args.rows);
const annRows = Number(args['user-rows']);
const failover = args.failover;
const failed = args.failed;

// The list is long: screenshots show the viewport (the panel is fixed to it).
const shot = (page, name) => page.screenshot({ path: path.join(out, name) });

const rows = (page) => page.locator('[data-testid=usage-table] tbody tr');

async function signIn(p, who, path) {
  await p.page.goto(base + path);
  await waitPath(p.page, '/login');
  await login(p.page, who);
  await p.page.waitForURL((u) => u.pathname + u.search === path, { timeout: 30_000 });
}

// waitRows waits until the table shows n rows.
async function waitRows(page, n, what) {
  try {
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=usage-table] tbody tr').length === n, n, { timeout: 20_000 });
    check(true, `${what}: ${n} rows`);
  } catch {
    check(false, `${what}: ${n} rows (saw ${await rows(page).count()})`);
  }
}

async function csvOf(page) {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('usage-csv').click()]);
  const text = await readFile(await dl.path(), 'utf8');
  return { name: dl.suggestedFilename(), lines: text.trim().split(/\r?\n/) };
}

// 1. The administrator's log: the first page, then the rest on scroll.
{
  const p = await newPage();
  const { page } = p;
  await signIn(p, admin, '/usage');
  await rows(page).first().waitFor();
  check((await h1(page)) === 'Usage logs', 'the usage page has its title');
  await waitRows(page, 50, 'the first keyset page');
  const heads = await page.locator('[data-testid=usage-table] thead th').allTextContents();
  check(heads.length === 9 && heads.some((h) => /channel/i.test(h)) && heads.some((h) => /user/i.test(h)), `the admin sees user and channel columns ${JSON.stringify(heads)}`);
  check(await page.getByTestId('usage-more').isVisible(), 'a "Load more" button is there for keyboards');
  const first = rows(page).first();
  check(/\$0\.\d+/.test(await first.textContent()), 'costs are money');
  await axe(page, 'usage list');
  await focusVisible(page, 8, 'usage list');
  await shot(page, 'usage-light.png');

  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  await waitRows(page, total, 'scrolling to the end loads the next page');
  await page.getByText('That is every matching request.').waitFor();
  check((await gone(page.getByTestId('usage-more'))), 'no "Load more" after the last page');
  const ids = await rows(page).evaluateAll((trs) => trs.map((tr) => Number(tr.dataset.id)));
  check(ids.every((id, i) => i === 0 || id < ids[i - 1]), 'newest first, no row twice across pages');

  // The keyboard's way to the next page; focus lands on the first new row.
  await page.goto(base + '/usage');
  await waitRows(page, 50, 'a fresh load');
  await page.getByTestId('usage-more').focus();
  await page.keyboard.press('Enter');
  await waitRows(page, total, '"Load more" by keyboard');
  const focused = await page.evaluate(() => document.activeElement?.closest('tr')?.dataset.id);
  check(focused !== undefined, `focus moves to a new row after "Load more" (${focused})`);

  // Filters live in the URL: apply, reload, go back.
  await page.goto(base + '/usage');
  await waitRows(page, 50, 'unfiltered again');
  await page.fill('#uf-model', 'gpt-4o');
  await page.getByTestId('usage-apply').click();
  await page.waitForURL((u) => u.searchParams.get('model') === 'gpt-4o');
  await waitRows(page, 2, 'filtered by model');
  const models = await rows(page).evaluateAll((trs) => trs.map((tr) => tr.dataset.model));
  check(models.every((m) => m === 'gpt-4o'), `only gpt-4o rows ${JSON.stringify(models)}`);
  check((await page.locator('[data-testid=row-attempts]').count()) >= 1, 'a failed-over row says how many attempts it took');
  await page.reload();
  await waitRows(page, 2, 'the filter survives a reload');
  check((await page.inputValue('#uf-model')) === 'gpt-4o', 'the form shows the filter from the URL');

  // CSV of the filter, with the session cookie.
  const csv = await csvOf(page);
  check(/^usage-.*\.csv$/.test(csv.name), `the CSV downloads as a file (${csv.name})`);
  check(csv.lines[0].startsWith('id,time,request_id,user_id,user_email,key_id,key_name,model'), `the admin CSV header (${csv.lines[0]})`);
  check(csv.lines.length === 3, `the CSV has the filter's 2 rows (${csv.lines.length - 1})`);

  // The failed-over request's details: the routing story.
  const open = page.locator(`a[data-rid="${failover}"]`);
  await open.click();
  await page.waitForURL((u) => u.searchParams.has('id') && u.searchParams.get('model') === 'gpt-4o');
  const panel = page.getByTestId('usage-panel');
  await panel.getByTestId('usage-detail').waitFor();
  check((await textIs(panel.getByTestId('detail-request-id'), failover)), 'the panel shows the request');
  const attempts = panel.locator('[data-testid=detail-route] li');
  const outcomes = await attempts.evaluateAll((lis) => lis.map((li) => li.dataset.outcome));
  const channels = await panel.getByTestId('attempt-channel').allTextContents();
  check(outcomes.length >= 2 && outcomes.at(-1) === 'answered' && outcomes.slice(0, -1).every((o) => o === 'failed_over'),
    `attempts in order: failed over, then answered ${JSON.stringify(outcomes)}`);
  check(channels[0] === 'flaky' && channels.at(-1) === 'mock', `the story goes from flaky to mock ${JSON.stringify(channels)}`);
  check(/503/.test(await attempts.first().textContent()), 'the first attempt says why it failed over (503)');
  check(Number(await panel.getByTestId('detail-attempts').textContent()) === outcomes.length, 'the attempt count matches the story');
  check(await page.evaluate(() => document.activeElement?.classList.contains('close')), 'focus moves into the panel');
  await axe(page, 'usage detail');
  await page.setViewportSize({ width: 1280, height: 1000 });
  await shot(page, 'usage-detail.png');
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.keyboard.press('Escape');
  await panel.getByTestId('usage-detail').waitFor({ state: 'detached' });
  check(!new URL(page.url()).searchParams.has('id') && new URL(page.url()).searchParams.get('model') === 'gpt-4o', 'Escape closes the panel and the URL forgets the row, not the filter');
  check(await page.evaluate((rid) => document.activeElement?.getAttribute('data-rid') === rid, failover), 'focus returns to the row that opened it');

  // A shared link opens the details directly.
  const id = await page.locator(`a[data-rid="${failover}"]`).evaluate((a) => new URL(a.href).searchParams.get('id'));
  await page.goto(`${base}/usage?id=${id}`);
  await page.getByTestId('usage-detail').waitFor();
  check((await textIs(page.getByTestId('detail-request-id'), failover)), 'a link with ?id opens that row');
  await page.mouse.click(100, 400);
  await page.getByTestId('usage-detail').waitFor({ state: 'detached' });
  check(!new URL(page.url()).searchParams.has('id'), 'a click beside the panel closes it');
  await page.goto(`${base}/usage?id=${id}`);
  await page.getByTestId('usage-detail').waitFor();
  await page.getByRole('button', { name: 'Close' }).click();
  await page.getByTestId('usage-detail').waitFor({ state: 'detached' });

  // Apply with the filters unchanged reloads the list.
  const reloaded = page.waitForResponse((r) => r.url().includes('/api/v1/admin/usage?'));
  await page.getByTestId('usage-apply').click();
  check((await reloaded).ok(), 'Apply with unchanged filters reloads the newest rows');

  // The back button undoes a filter.
  await page.goto(base + '/usage');
  await waitRows(page, 50, 'unfiltered');
  await page.selectOption('#uf-status', 'error');
  await page.getByTestId('usage-apply').click();
  await waitRows(page, 1, 'filtered by status error');
  check((await rows(page).first().getAttribute('data-id')) !== null && (await page.locator('[data-status]').first().textContent()).trim().startsWith('5'), 'the failed request shows a 5xx');
  check(await page.locator(`a[data-rid="${failed}"]`).count() === 1, 'it is the request that failed');
  await page.goBack();
  await waitRows(page, 50, 'Back undoes the filter');
  check((await page.inputValue('#uf-status')) === '', 'the form follows Back');

  // A user by email and a key by name: looked up, the URL keeps their IDs.
  await page.fill('#uf-user', 'nobody@example.com');
  await page.getByTestId('usage-apply').click();
  await page.locator('#uf-user[aria-invalid=true]').waitFor();
  check((await textIs(page.locator('#uf-user-error'), 'No user has this email.')), 'an unknown email is refused on its field');
  await page.fill('#uf-user', ann.email);
  await page.getByTestId('usage-apply').click();
  await page.waitForURL((u) => /^\d+$/.test(u.searchParams.get('user_id') ?? ''));
  await waitRows(page, 50, "ann's requests by her email");
  const who = await page.locator('[data-testid=usage-table] .who').allTextContents();
  check(who.every((w) => w === ann.email), 'only her requests');
  await page.fill('#uf-user', '');
  await page.fill('#uf-key', 'ops-ci');
  await page.getByTestId('usage-apply').click();
  await page.waitForURL((u) => /^\d+$/.test(u.searchParams.get('key_id') ?? '') && !u.searchParams.has('user_id'));
  await waitRows(page, 2, 'the admin key by its name');
  await page.goto(base + '/usage');
  await waitRows(page, 50, 'unfiltered');

  // A custom time range goes to the URL as RFC 3339; one that ends
  // before it starts is the server's error on the "To" field.
  await page.selectOption('#uf-range', 'custom');
  await page.fill('#uf-since', '2020-01-01T00:00');
  await page.getByTestId('usage-apply').click();
  await page.waitForURL((u) => /^2019-12-3\dT|^2020-01-01T/.test(u.searchParams.get('since') ?? ''));
  await waitRows(page, 50, 'since 2020');
  await page.fill('#uf-until', '2019-01-01T00:00');
  await page.getByTestId('usage-apply').click();
  await page.locator('#uf-until[aria-invalid=true]').waitFor();
  check(/after since/i.test(await page.locator('#uf-until-error').textContent()), 'a range ending before it starts is refused on its field');
  await page.reload();
  await page.locator('#uf-until[aria-invalid=true]').waitFor();
  check((await page.inputValue('#uf-range')) === 'custom' && (await page.inputValue('#uf-since')).startsWith('20'), 'the custom range comes back from the URL');

  // A filter nobody matches; an invalid one from a hand-made URL.
  await page.goto(base + '/usage');
  await waitRows(page, 50, 'unfiltered');
  await page.fill('#uf-model', 'no-such-model');
  await page.keyboard.press('Enter');
  await page.getByTestId('usage-empty').waitFor();
  check(/No requests match/.test(await page.getByTestId('usage-empty').textContent()), 'an empty result says so');
  await page.goto(base + '/usage?user_id=abc');
  await page.locator('#uf-user[aria-invalid=true]').waitFor();
  check(/positive integer/i.test(await page.locator('#uf-user-error').textContent()), "the server's error shows on the user field");
  check(await page.getByRole('alert').filter({ hasText: 'filter is not valid' }).isVisible(), 'the list says a filter is wrong');

  // The whole log as CSV.
  await page.goto(base + '/usage');
  await waitRows(page, 50, 'unfiltered for the export');
  const all = await csvOf(page);
  check(all.lines.length === total + 1, `the unfiltered CSV has every row (${all.lines.length - 1} of ${total})`);
  await clean(p, 'admin usage');
  await p.context.close();
}

// 2. Dark, 375 px, 简体中文.
{
  const p = await newPage({ colorScheme: 'dark', height: 1000 });
  await signIn(p, admin, '/usage?model=gpt-4o');
  await waitRows(p.page, 2, 'dark');
  check((await p.page.getAttribute('html', 'data-theme')) === 'dark', 'the dark theme');
  await axe(p.page, 'usage dark');
  await shot(p.page, 'usage-dark.png');
  await p.page.locator(`a[data-rid="${failover}"]`).click();
  await p.page.getByTestId('usage-detail').waitFor();
  await axe(p.page, 'usage detail dark');
  await shot(p.page, 'usage-detail-dark.png');
  await clean(p, 'usage dark');
  await p.context.close();
}
{
  const p = await newPage({ width: 375, height: 1100 });
  const { page } = p;
  await signIn(p, admin, '/usage');
  await waitRows(page, 50, 'narrow');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 0, `nothing overflows at 375 px (${overflow} px)`);
  check(!(await page.locator('#uf-model').isVisible()), 'on a phone the list comes first, the filters folded');
  await axe(page, 'usage narrow');
  await shot(page, 'usage-narrow.png');
  await page.locator('.filters summary').focus();
  await page.keyboard.press('Enter');
  await page.locator('#uf-model').waitFor({ state: 'visible' });
  check(true, 'the filters unfold from the keyboard');
  await shot(page, 'usage-narrow-filters.png');
  await page.goto(base + '/usage?status=error');
  await waitRows(page, 1, 'narrow, failed request');
  await page.getByTestId('usage-open').first().click();
  await page.getByTestId('usage-detail').waitFor();
  const w = await page.getByTestId('usage-panel').evaluate((d) => d.getBoundingClientRect().width);
  check(w <= 375, `the panel fits the phone (${w} px)`);
  await shot(page, 'usage-detail-narrow.png');
  await clean(p, 'usage narrow');
  await p.context.close();
}
{
  const p = await newPage({ locale: 'zh-CN', height: 1000 });
  const { page } = p;
  await signIn(p, admin, '/usage');
  await waitRows(page, 50, 'zh-CN');
  check((await h1(page)) === '使用日志', `the title in Chinese (${await h1(page)})`);
  check(/已显示 50 个请求/.test(await page.getByTestId('usage-count').textContent()), 'the count in Chinese');
  check(/US\$/.test(await rows(page).first().textContent()), 'money as US$ in Chinese');
  await axe(page, 'usage zh');
  await shot(page, 'usage-zh.png');
  await page.goto(`${base}/usage?model=gpt-4o`);
  await waitRows(page, 2, 'zh-CN filtered');
  await page.locator(`a[data-rid="${failover}"]`).click();
  await page.getByTestId('usage-detail').waitFor();
  check((await textIs(page.getByTestId('usage-panel').locator('h3'), '路由过程')), 'the routing story in Chinese');
  await shot(page, 'usage-detail-zh.png');
  await clean(p, 'usage zh');
  await p.context.close();
}

// 3. Ann's own log: hers only, no routing, her CSV.
{
  const p = await newPage();
  const { page } = p;
  await signIn(p, ann, '/me/usage');
  await waitRows(page, 50, "ann's first page");
  check((await h1(page)) === 'My usage', 'the user page has its title');
  const heads = await page.locator('[data-testid=usage-table] thead th').allTextContents();
  check(heads.length === 8 && !heads.some((h) => /channel|user/i.test(h)), `no admin columns for a user ${JSON.stringify(heads)}`);
  check((await gone(page.locator('#uf-user, #uf-channel, #uf-credential'))), 'no admin filters for a user');
  check((await page.locator('#uf-key option').allTextContents()).includes('ann-laptop'), 'her keys in the key filter');
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  await waitRows(page, annRows, 'all of her requests, and only hers');
  check((await gone(page.locator(`a[data-rid="${failover}"]`))), "the admin's requests are not in her log");
  await axe(page, 'my usage');
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, 'usage-user.png');

  await page.locator(`a[data-rid="${failed}"]`).click();
  await page.getByTestId('usage-detail').waitFor();
  check((await gone(page.getByTestId('detail-route'))) && (await gone(page.getByTestId('detail-attempts'))), 'no routing story for a user');
  await axe(page, 'my usage detail');
  await page.keyboard.press('Escape');
  await page.getByTestId('usage-detail').waitFor({ state: 'detached' });

  // "Show only" in the panel narrows the log to the row's key.
  await page.locator(`a[data-rid="${failed}"]`).click();
  await page.getByTestId('usage-detail').waitFor();
  await page.getByRole('link', { name: 'This key’s requests' }).click();
  await page.waitForURL((u) => u.searchParams.has('key_id') && !u.searchParams.has('id'));
  await page.getByTestId('usage-detail').waitFor({ state: 'detached' });
  await rows(page).first().waitFor();
  check((await textIs(page.locator('#uf-key option:checked'), 'ann-laptop')), 'the key filter shows her key');
  await page.goto(base + '/me/usage');
  await waitRows(page, 50, "ann's log again");

  await page.selectOption('#uf-stream', 'true');
  await page.getByTestId('usage-apply').click();
  await waitRows(page, 1, 'her streamed request');
  const csv = await csvOf(page);
  check(csv.lines[0].startsWith('id,time,request_id,key_id,key_name,model,stream'), `the user CSV has no admin columns (${csv.lines[0]})`);
  check(csv.lines.length === 2, `her CSV has the filter's row (${csv.lines.length - 1})`);

  // The admin's pages are not hers.
  await page.goto(base + '/usage');
  await page.getByText('This page is for administrators.').waitFor();
  check(true, 'the admin log refuses a user');
  await clean(p, 'my usage');
  await p.context.close();
}

await finish();
