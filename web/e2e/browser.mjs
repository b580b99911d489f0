// The console in a real browser: Debian's chromium driven by playwright-core
// (no browser download). Run by web/browser_test.go against the embedded UI;
// alone: node e2e/browser.mjs --base http://127.0.0.1:8080 --out ../docs/screenshots
//
// Checks the signed-out pages and the shell in English and 简体中文, light
// and dark, at 375 px; that nothing logs an error or breaks the CSP; that
// keyboard focus is visible; and measures the compressed JS+CSS each first
// load transfers (budget: 150 KB).
import {
  args, axe, base, browser, BUDGET, check, clean, finish, focusVisible, h1, kb, login, newPage, out, shot, transferred, upstream, waitPath,
  gone,
} from './lib.mjs';

const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' };
const USER = { email: 'user@example.com', password: 'user-password-1' };

// 1. First run: setup, English, light.
{
  const p = await newPage();
  const { page } = p;
  await page.goto(base + '/');
  await waitPath(page, '/setup');
  check((await h1(page)) === 'Set up Switchyard', 'a fresh node opens on setup');
  check(!(await page.locator('#token').getAttribute('readonly')), 'without ?token= the token is typed in');
  await page.goto(base + '/setup?token=SETUP-TOKEN-1');
  await page.locator('#token').waitFor();
  check((await page.inputValue('#token')) === 'SETUP-TOKEN-1', 'the token comes from ?token=');
  await axe(page, 'setup');
  await page.fill('#email', ADMIN.email);
  await page.fill('#password', 'short');
  await page.locator('form button[type=submit]').click();
  await page.locator('#password-error').waitFor();
  check((await page.textContent('#password-error')).includes('12 characters'), "the server's field error shows under the field");
  check((await page.getAttribute('#password', 'aria-invalid')) === 'true', 'the field is marked invalid');
  await page.fill('#password', ADMIN.password);
  await page.fill('#name', 'Ada');
  await page.locator('form button[type=submit]').click();
  await waitPath(page, '/');
  await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
  check(!page.url().includes('token'), 'the setup token leaves the address bar');
  check((await page.locator('nav a').allTextContents()).includes('Channels'), 'an admin sees the admin pages in the nav');
  await shot(page, 'shell-light.png');
  await axe(page, 'dashboard-light');
  await page.getByRole('link', { name: 'Usage logs' }).click();
  await waitPath(page, '/usage');
  check((await h1(page)) === 'Usage logs', 'nav links route on the client');
  check((await page.getAttribute('nav a[href="/usage"]', 'aria-current')) === 'page', 'the current page is marked in the nav');
  await page.reload();
  check((await h1(page)) === 'Usage logs', 'a deep link reloads (server falls back to index.html)');
  await page.goto(base + '/no/such/page');
  check((await h1(page)) === 'There is no page at this address.', 'unknown console paths say so');
  await page.getByTestId('logout').click();
  await waitPath(page, '/login');
  await clean(p, 'setup and dashboard');
  await p.context.close();
}

// 2. Login page, English, light: first-load size, keyboard, errors, next=.
{
  const p = await newPage();
  const { page } = p;
  await page.goto(base + '/users');
  await waitPath(page, '/login');
  check(new URL(page.url()).searchParams.get('next') === '/users', 'a signed-out visit goes to login with next=');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.waitForLoadState('networkidle');
  const loginBytes = await transferred(p.assets);
  console.log(`BUNDLE login page: ${kb(loginBytes)} compressed JS+CSS`);
  check(loginBytes < BUDGET, `login page JS+CSS under ${kb(BUDGET)} (${kb(loginBytes)})`);
  await shot(page, 'login-light.png');
  await axe(page, 'login-light');
  await focusVisible(page, 6, 'login page');
  await login(page, { email: ADMIN.email, password: 'wrong-password' });
  await page.getByRole('alert').filter({ hasText: 'Wrong email or password.' }).waitFor();
  check(true, 'a wrong password is reported');
  await login(page, { email: 'boom@example.com', password: 'x' });
  const rid = page.getByRole('alert').filter({ hasText: 'The gateway had an internal error.' });
  await rid.waitFor();
  check(/Request ID: [A-Z2-7]{24}/.test(await rid.textContent()), 'a server error shows its request id');
  await login(page, ADMIN);
  await waitPath(page, '/users');
  check((await h1(page)) === 'Users & groups', 'after login the visitor is back where they were going');
  await page.goto(base + '/');
  await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
  await page.waitForLoadState('networkidle');
  const dashBytes = await transferred(p.assets);
  console.log(`BUNDLE login + dashboard: ${kb(dashBytes)} compressed JS+CSS`);
  check(dashBytes < BUDGET, `dashboard JS+CSS under ${kb(BUDGET)} (${kb(dashBytes)})`);
  await focusVisible(page, 8, 'dashboard');
  // Preferences: language and theme switch and persist.
  await page.getByTestId('locale').selectOption('zh-CN');
  await page.getByRole('heading', { name: '仪表盘', level: 1 }).waitFor();
  await page.getByTestId('theme').selectOption('dark');
  check((await page.getAttribute('html', 'data-theme')) === 'dark', 'the theme switches');
  await page.reload();
  await page.getByRole('heading', { name: '仪表盘', level: 1 }).waitFor();
  check((await page.getAttribute('html', 'data-theme')) === 'dark' && (await page.getAttribute('html', 'lang')) === 'zh-CN', 'language and theme persist across reloads');
  await shot(page, 'shell-dark-zh.png');
  await axe(page, 'dashboard-dark-zh');
  await clean(p, 'login and preferences');
  await p.context.close();
}

// 3. 简体中文 from the browser language, dark, two-factor login.
{
  const p = await newPage({ locale: 'zh-CN', colorScheme: 'dark' });
  const { page } = p;
  await page.goto(base + '/login');
  await page.getByRole('heading', { name: '登录' }).waitFor();
  check((await page.getAttribute('html', 'lang')) === 'zh-CN', 'a Chinese browser gets 简体中文');
  check((await page.getAttribute('html', 'data-theme')) === 'dark', 'a dark system gets the dark theme');
  check((await page.textContent('label[for=email]')) === '邮箱', 'labels are translated');
  await shot(page, 'login-dark-zh.png');
  await axe(page, 'login-dark-zh');
  await login(page, USER);
  await page.getByRole('heading', { name: '两步验证' }).waitFor();
  await shot(page, 'login-totp-dark-zh.png');
  await axe(page, 'login-totp-dark-zh');
  check(await page.locator('#totp').evaluate((el) => el === document.activeElement), 'the code field takes focus');
  await page.fill('#totp', '000000');
  await page.locator('form button[type=submit]').click();
  await page.locator('#totp-error').waitFor();
  check((await page.textContent('#totp-error')).includes('验证码无效'), 'a wrong code is reported at the field');
  await page.getByRole('button', { name: '改用恢复码' }).click();
  await page.fill('#recovery_code', 'ABCD-EFGH');
  await page.locator('form button[type=submit]').click();
  await waitPath(page, '/');
  await page.getByRole('heading', { name: '仪表盘', level: 1 }).waitFor();
  const nav = await page.locator('nav a').allTextContents();
  check(!nav.includes('渠道') && nav.includes('我的密钥'), 'a user sees only the user pages');
  await page.goto(base + '/channels');
  check((await page.locator('main').textContent()).includes('仅限管理员'), 'admin pages refuse a user');
  await clean(p, 'zh-CN two-factor login');
  await p.context.close();
}

// 4. 375 px wide.
{
  const p = await newPage({ width: 375, height: 760 });
  const { page } = p;
  await page.goto(base + '/login');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  check(await fits(), 'login fits 375 px without sideways scrolling');
  await shot(page, 'login-375.png');
  await axe(page, 'login-375');
  await login(page, ADMIN);
  await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
  check(await fits(), 'dashboard fits 375 px');
  check(!(await page.locator('nav').isVisible()), 'the nav folds behind the menu button');
  await shot(page, 'shell-375.png');
  await page.getByRole('button', { name: 'Menu' }).click();
  check(await page.locator('nav').isVisible(), 'the menu button opens the nav');
  check(await fits(), 'the open menu fits 375 px');
  await page.keyboard.press('Escape');
  check(!(await page.locator('nav').isVisible()), 'Escape closes the menu');
  await page.getByRole('button', { name: 'Menu' }).click();
  await shot(page, 'nav-375.png');
  await axe(page, 'nav-375');
  await page.getByRole('link', { name: 'Keys', exact: true }).click();
  await waitPath(page, '/keys');
  check(!(await page.locator('nav').isVisible()), 'choosing a page closes the menu');
  await clean(p, '375 px');
  await p.context.close();
}

// 5. Channels & credentials against the real channel routes (SQLite pool,
// mock upstream): list → create (field errors, local and the server's) →
// import → edit options → test → disable → countdown and badges → reveal
// with step-up; light, dark and 375 px.
if (upstream) {
  const p = await newPage();
  const { page } = p;
  await page.goto(base + '/channels');
  await waitPath(page, '/login');
  await login(page, ADMIN);
  await waitPath(page, '/channels');
  const main = page.locator('tr[data-channel="main"]');
  await main.waitFor();
  check((await main.locator('[data-badge=file]').count()) === 1, 'the file channel is marked managed by file');
  check((await main.textContent()).includes('channels[name=main]'), 'the file field that declares it is shown');
  check((await gone(main.getByRole('button', { name: 'Edit' }))), 'a file channel offers no edit');
  await main.getByText('1 total').waitFor();
  check(true, 'credential counts load per channel');

  // Create: a bad base_url is caught at the field, an undeclared group by the server.
  const opener = page.getByTestId('new-channel');
  await opener.click();
  const form = page.getByTestId('channel-form');
  await form.waitFor();
  check(await page.locator('#ch-name').evaluate((el) => el === document.activeElement), 'the create dialog focuses its first field');
  await page.keyboard.press('Escape');
  await form.waitFor({ state: 'detached' });
  check(await opener.evaluate((el) => el === document.activeElement), 'Escape closes the dialog and focus returns to its opener');
  await opener.click();
  for (let i = 0; i < 25; i++) await page.keyboard.press('Tab');
  check(await form.evaluate((el) => el.contains(document.activeElement)), 'Tab stays inside the open dialog');
  await page.fill('#ch-name', 'api-one');
  await page.fill('#ch-base_url', 'api.example.com');
  await page.fill('#ch-models', 'gpt-4o-mini, gpt-4o');
  await page.fill('#ch-groups', 'default, nosuch');
  await form.locator('button[type=submit]').click();
  await page.locator('#ch-base_url-error').waitFor();
  check((await page.getAttribute('#ch-base_url', 'aria-invalid')) === 'true', 'a bad base_url is shown at its field');
  await page.fill('#ch-base_url', upstream);
  await form.locator('button[type=submit]').click();
  await page.locator('#ch-groups-error').waitFor();
  check((await page.textContent('#ch-groups-error')).includes('not declared'), "the server's 422 lands on the field it names (groups)");
  await axe(page, 'channel form');
  await shot(page, 'channel-form-light.png');
  await page.fill('#ch-groups', 'default');
  await form.locator('button[type=submit]').click();
  await form.waitFor({ state: 'detached' });
  const row = page.locator('tr[data-channel="api-one"]');
  await row.waitFor();
  check((await row.locator('[data-badge=enabled]').count()) === 1, 'the new channel is listed, enabled');
  await row.getByRole('button', { name: 'Test' }).click();
  const testDialog = page.getByTestId('test-channel');
  await page.locator('#list-test-model').selectOption('gpt-4o');
  await testDialog.getByRole('button', { name: 'Run test' }).click();
  await testDialog.getByTestId('dialog-test-result').waitFor();
  check((await testDialog.getByTestId('dialog-test-result').textContent()).includes('no credentials to test with'), 'a channel test the server refuses (no credentials) is reported in the test dialog');
  await page.keyboard.press('Escape');
  await testDialog.getByTestId('dialog-test-result').waitFor({ state: 'detached' });
  check((await row.getByTestId('channel-test-result').textContent()).includes('no credentials'), 'the last test result stays on the row');
  await main.getByRole('button', { name: 'Test' }).click();
  await testDialog.getByRole('button', { name: 'Run test' }).click();
  await testDialog.getByTestId('dialog-test-result').waitFor();
  const okText = (await testDialog.getByTestId('dialog-test-result').textContent()).trim();
  check(/^OK: gpt-4o-mini answered in \d/.test(okText), `a channel test through the mock reports its latency (${okText})`);
  await testDialog.getByRole('button', { name: 'Close' }).click();
  await axe(page, 'channels list');
  await shot(page, 'channels-light.png');

  // Detail: import with the per-line report.
  await row.getByRole('link', { name: 'api-one' }).click();
  await page.getByRole('heading', { name: 'api-one', level: 1 }).waitFor();
  check(/^\?id=\d+$/.test(new URL(page.url()).search), 'the detail has its own address');
  await page.getByTestId('import').click();
  await page.fill('#import-lines', '# two keys, a repeat and a bad line\nsk-browser-one-000000000000001\nsk-browser-two-000000000000002\nsk-browser-one-000000000000001\nnot a key\n');
  await page.getByTestId('import-form').locator('button[type=submit]').click();
  const report = page.getByTestId('import-report');
  await report.waitFor();
  check((await report.textContent()).includes('2 added, 1 duplicate, 1 invalid.'), 'the import reports added, duplicate and invalid');
  check((await report.locator('tr[data-outcome=invalid]').textContent()).includes('whitespace'), 'an invalid line says why');
  await axe(page, 'import report');
  await shot(page, 'channel-import-light.png');
  // A file works too: a JSON array, here a key the channel already holds.
  await report.getByRole('button', { name: 'Import more' }).click();
  await page.setInputFiles('#import-file', {
    name: 'keys.json',
    mimeType: 'application/json',
    buffer: Buffer.from(JSON.stringify([{ key: 'sk-browser-one-000000000000001', daily_limit: 9 }])),
  });
  await page.getByText('Loaded keys.json.').waitFor();
  await page.getByTestId('import-form').locator('button[type=submit]').click();
  await report.waitFor();
  check((await report.textContent()).includes('0 added, 1 duplicate, 0 invalid.'), 'an uploaded JSON file is imported with its report');
  await report.getByRole('button', { name: 'Close' }).click();
  const creds = page.getByTestId('credentials').locator('tbody tr');
  await creds.nth(1).waitFor();
  check((await creds.count()) === 2, 'the imported credentials are listed');
  const [second, first] = [creds.nth(0), creds.nth(1)];
  const firstID = await first.getAttribute('data-credential');
  const secondID = await second.getAttribute('data-credential');

  // Edit options: a daily limit gives the usage bar something to fill.
  await first.getByRole('button', { name: 'Edit' }).click();
  await page.fill('#cr-daily_limit', 'x');
  await page.getByTestId('credential-form').locator('button[type=submit]').click();
  await page.locator('#cr-daily_limit-error').waitFor();
  check(true, 'the credential form checks its numbers');
  await page.fill('#cr-daily_limit', '4');
  await page.fill('#cr-daily_spend', '1');
  await page.getByTestId('credential-form').locator('button[type=submit]').click();
  await page.getByTestId('credential-form').waitFor({ state: 'detached' });
  await first.getByText('0 / 4 requests').waitFor();
  check(true, 'the daily limit shows against today’s use');

  // Test a credential with the model picker.
  await page.getByTestId('test-model').selectOption('gpt-4o');
  await first.getByRole('button', { name: 'Test' }).click();
  const res = first.getByTestId('cred-test-result');
  await res.waitFor();
  check(/^OK: gpt-4o answered in \d/.test((await res.textContent()).trim()), `a credential test shows the model and latency (${(await res.textContent()).trim()})`);

  // Disable one; cool the other down (as a 429 would) and watch the countdown.
  await second.getByRole('button', { name: 'Disable' }).click();
  await second.locator('[data-badge=disabled]').waitFor();
  check(true, 'a disabled credential shows the disabled badge');
  const cool = await fetch(`${base}/_test/credentials/${firstID}/cooldown`, { method: 'POST' });
  check(cool.status === 204, 'the suite cools a credential down');
  await page.reload();
  const badge = page.locator(`tr[data-credential="${firstID}"] [data-badge=cooldown]`);
  await badge.waitFor();
  const t1 = (await badge.textContent()).trim();
  await page.waitForTimeout(2100);
  const t2 = (await badge.textContent()).trim();
  check(/^Cooling down \d+:\d\d$/.test(t1) && t1 !== t2, `the cooldown counts down live (${t1} → ${t2})`);
  const cooled = page.locator(`tr[data-credential="${firstID}"]`);
  check((await cooled.textContent()).includes('rate limit reached') && /ago/.test(await cooled.textContent()), 'the last error shows with its age');
  check((await cooled.locator('.bar > span').first().getAttribute('class')).includes('w50'), 'today’s use fills half the bar (2 of 4)');
  check((await cooled.textContent()).includes('420 ms'), 'the latency average shows');
  check((await cooled.textContent()).includes('$0.25 / $1.00 spent'), 'today’s spend shows against the daily spend limit');
  await axe(page, 'channel detail');
  await shot(page, 'channel-detail-light.png');

  // Reveal asks for the password once, then shows the secret with copy.
  await page.locator(`tr[data-credential="${secondID}"]`).getByRole('button', { name: 'Reveal' }).click();
  const stepup = page.getByTestId('stepup');
  await page.locator('#stepup-password').waitFor();
  await page.fill('#stepup-password', 'wrong');
  await stepup.locator('button[type=submit]').click();
  await page.locator('#stepup-password-error').waitFor();
  check(true, 'a wrong step-up password is reported');
  await page.fill('#stepup-password', ADMIN.password);
  await stepup.locator('button[type=submit]').click();
  const secret = page.getByTestId('revealed');
  await secret.waitFor();
  check((await page.inputValue('#reveal-key')) === 'sk-browser-two-000000000000002', 'the secret is revealed after the step-up');
  await axe(page, 'reveal dialog');
  await secret.getByRole('button', { name: 'Copy' }).click();
  await secret.getByRole('button', { name: 'Copied' }).waitFor();
  check(true, 'the copy button copies the secret');
  await secret.getByRole('button', { name: 'Hide' }).click();
  await secret.waitFor({ state: 'detached' });
  check((await gone(page.locator('#reveal-key'))), 'Hide drops the secret from the page');

  // The file channel's detail is read-only with its file field; its
  // credential's circuit is opened (as failing 5xx would) to see that badge.
  await page.goto(base + '/channels');
  await main.getByRole('link', { name: 'main' }).click();
  await page.getByTestId('file-note').waitFor();
  const fileCred = await page.getByTestId('credentials').locator('tbody tr').first().getAttribute('data-credential');
  check((await fetch(`${base}/_test/credentials/${fileCred}/cooldown?circuit=1`, { method: 'POST' })).status === 204, 'the suite opens a circuit');
  await page.reload();
  const circuit = page.locator(`tr[data-credential="${fileCred}"] [data-badge=circuit_open]`);
  await circuit.waitFor();
  check(/^Circuit open [45]:\d\d$/.test((await circuit.textContent()).trim()), `an open circuit shows with its countdown (${(await circuit.textContent()).trim()})`);
  const fileRow = page.locator(`tr[data-credential="${fileCred}"]`);
  check((await gone(fileRow.getByRole('button', { name: 'Edit' }))) && (await fileRow.textContent()).includes('channels[name=main].credentials'), 'a file credential is read-only and names its file field');
  await shot(page, 'channel-file-light.png');
  check((await page.getByTestId('file-note').textContent()).includes('channels[name=main]'), 'a file channel names the file field that declares it');
  check((await gone(page.getByTestId('channel-toggle'))), 'a file channel cannot be disabled here');

  // Dark theme and 简体中文 on the detail.
  await page.goBack();
  await row.getByRole('link', { name: 'api-one' }).click();
  await page.getByTestId('theme').selectOption('dark');
  await page.getByTestId('locale').selectOption('zh-CN');
  await page.getByRole('heading', { name: '凭据（2）' }).waitFor();
  check((await badge.textContent()).startsWith('冷却中'), 'badges are translated');
  await axe(page, 'channel detail dark zh');
  await shot(page, 'channel-detail-dark-zh.png');
  await page.getByTestId('locale').selectOption('en');
  await page.goto(base + '/channels');
  await row.waitFor();
  await shot(page, 'channels-dark.png');
  await axe(page, 'channels dark');
  await page.getByTestId('theme').selectOption('light');
  await clean(p, 'channels');
  await p.context.close();

  // 375 px: the tables scroll inside their card, the page does not.
  const q = await newPage({ width: 375, height: 760 });
  await q.page.goto(base + '/channels');
  await login(q.page, ADMIN);
  await q.page.locator('tr[data-channel="api-one"]').waitFor();
  // fits names the widest elements that stick out, when any does.
  const fits = async () => {
    const wide = await q.page.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1 && !el.closest('.scroll'))
        .slice(0, 5)
        .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} ${Math.round(el.getBoundingClientRect().right)}`),
    );
    if (wide.length) console.log('wider than the page: ' + wide.join(', '));
    return q.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  };
  check(await fits(), 'channels fit 375 px (the table scrolls in its card)');
  await shot(q.page, 'channels-375.png');
  await q.page.locator('tr[data-channel="api-one"]').getByRole('link', { name: 'api-one' }).click();
  await q.page.getByTestId('credentials').waitFor();
  check(await fits(), 'channel detail fits 375 px');
  await axe(q.page, 'channel detail 375');
  await shot(q.page, 'channel-detail-375.png');
  // A new session has not stepped up: deleting the channel asks first.
  await q.page.getByRole('button', { name: 'Delete' }).first().click();
  await q.page.getByTestId('delete-channel').getByRole('button', { name: 'Delete' }).click();
  await q.page.locator('#stepup-password').waitFor();
  check(true, 'deleting a channel asks for a step-up');
  await q.page.fill('#stepup-password', ADMIN.password);
  await q.page.getByTestId('stepup').locator('button[type=submit]').click();
  await waitPath(q.page, '/channels');
  await q.page.locator('tr[data-channel="main"]').waitFor();
  check((await gone(q.page.locator('tr[data-channel="api-one"]'))), 'after the step-up the delete goes through');
  await clean(q, 'channels 375 px');
  await q.context.close();
}

await finish();
