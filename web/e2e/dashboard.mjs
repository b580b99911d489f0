// The dashboard on a real node (web/dashboard_browser_test.go): the node has
// served a few chat requests already (five answered, one refused by the
// upstream); the suite sends more while the page is open, so the live tiles
// move. Admin view: tiles, charts (uPlot), top tables, upstream health, the
// range in the URL, the table alternative, themes, 375 px, Chinese. Then a
// plain user's own view.
import {
  args,
  axe,
  base,
  BUDGET,
  check,
  clean,
  finish,
  focusVisible,
  h1,
  kb,
  login,
  newPage,
  shot as rawShot,
  transferred,
  waitPath,
  gone,
  textIs,
} from './lib.mjs';

const admin = { email: process.env.SY_ADMIN_EMAIL, password: process.env.SY_ADMIN_PASSWORD };
const user = { email: process.env.SY_USER_EMAIL, password: process.env.SY_USER_PASSWORD };
const key = args.key;
const shots = args.shots !== '0';
// shot blurs the focused control first (the keyboard checks leave a focus
// ring behind) and skips screenshots when the Go test asks so.
async function shot(page, name) {
  if (!shots) return;
  await page.evaluate(() => document.activeElement?.blur());
  await page.mouse.move(5, 5);
  await rawShot(page, name);
}

// chat sends one request through the gateway with the user's key.
async function chat(prompt = 'hello from the browser suite') {
  const res = await fetch(base + '/v1/chat/completions', {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

const tile = (page, name) => page.locator(`[data-tile="${name}"] .value`).textContent();

async function signIn(p, who, path = '/') {
  await p.page.goto(base + path);
  await waitPath(p.page, '/login');
  await login(p.page, who);
  await waitPath(p.page, '/');
  await p.page.getByRole('heading', { level: 1 }).waitFor();
}

// chartsDrawn waits until the admin's four charts have their canvases.
async function chartsDrawn(page, prefix = 'admin', n = 4) {
  await page.waitForFunction(
    ([prefix, n]) => document.querySelectorAll(`[data-chart^="${prefix}-"] canvas`).length >= n,
    [prefix, n],
    { timeout: 30_000 },
  );
}

async function noOverflow(page, width, what) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  check(w <= width, `${what}: nothing wider than the ${width} px window (${w} px)`);
}

// ---- Admin, light, wide ----------------------------------------------------
{
  const p = await newPage();
  const { page } = p;
  await signIn(p, admin);
  check((await h1(page)) === 'Dashboard', 'admin: the dashboard is the landing page');
  await chartsDrawn(page);
  const size = await transferred(p.assets);
  check(size <= BUDGET, `admin: the dashboard's first load is ${kb(size)} (budget ${kb(BUDGET)}), uPlot included`);
  check(p.assets.some((r) => /\/Dashboard-[\w-]+\.js$/.test(r.url())), 'admin: the dashboard chunk (with uPlot) loads on demand');

  // Totals of the traffic sent before the page opened.
  const spend = await tile(page, 'spend');
  check(/^\$\d/.test(spend) && spend !== '$0.00', `admin: the 24 h spend tile shows money spent (${spend})`);
  const tokens = await tile(page, 'tokens');
  check(tokens !== '—' && tokens !== '0', `admin: the 24 h tokens tile counts tokens (${tokens})`);
  const reqLabel = await page.locator('[data-chart="admin-requests"]').getAttribute('aria-label');
  check(/Requests over the last 24 hours: 6 in total/.test(reqLabel ?? ''), `admin: the requests chart's text alternative has the total (${reqLabel})`);
  const errLabel = await page.locator('[data-chart="admin-errors"]').getAttribute('aria-label');
  check(/Errors over the last 24 hours: 1 in total/.test(errLabel ?? ''), `admin: the errors chart counts the refused request (${errLabel})`);
  const spendLabel = await page.locator('[data-chart="admin-spend"]').getAttribute('aria-label');
  check(/Spend over the last 24 hours: \$0\.\d+ in total/.test(spendLabel ?? ''), `admin: the spend chart's total is money (${spendLabel})`);

  // Top tables: the model, the channel and the user of that traffic.
  const modelRow = page.locator('[data-top="model"] tbody tr').first();
  check((await textIs(modelRow.locator('th'), 'gpt-4o-mini')), 'admin: top models lists gpt-4o-mini');
  check((await textIs(modelRow.locator('td').first(), '6')), 'admin: with its 6 requests');
  check((await textIs(modelRow.locator('td').nth(1), '83.3%')), 'admin: and its success rate (5 of 6)');
  check((await textIs(page.locator('[data-top="channel"] tbody tr th').first(), 'mock')), 'admin: top channels lists mock');
  check((await textIs(page.locator('[data-top="user"] tbody tr th').first(), user.email)), 'admin: top users lists the user by email');

  // Upstream health: the file channel and its credential, linked to /channels.
  await page.locator('[data-count="channels"]').waitFor();
  check((await textIs(page.locator('[data-count="channels"]'), '1')), 'admin: health counts one channel');
  check((await textIs(page.locator('[data-count="credentials"]'), '1')), 'admin: and one credential');
  check((await textIs(page.locator('[data-state="ok"] b'), '1')), 'admin: which is OK');
  check((await page.locator('[data-health] a[href="/channels"]').count()) === 1, 'admin: health links to the channels page');

  // Live: traffic while the page is open moves requests/s; a slow request
  // shows in flight.
  await page.waitForFunction(() => document.querySelector('[data-live]')?.getAttribute('data-live') === 'open', null, { timeout: 15_000 });
  check(true, 'admin: the live stream is open');
  const slow = chat('[[mock latency=6s]] take your time');
  let sending = true;
  const burst = (async () => {
    while (sending) {
      await chat();
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  await page
    .waitForFunction(() => !['0', '—'].includes(document.querySelector('[data-tile="rps"] .value')?.textContent ?? '—'), null, { timeout: 15_000 })
    .catch(() => {});
  const rps = await tile(page, 'rps');
  check(!['0', '—'].includes(rps), `admin: requests/s follows live traffic (${rps})`);
  await page
    .waitForFunction(() => Number(document.querySelector('[data-tile="in_flight"] .value')?.textContent) >= 1, null, { timeout: 10_000 })
    .catch(() => {});
  const inFlight = await tile(page, 'in_flight');
  check(Number(inFlight) >= 1, `admin: in flight shows the slow request (${inFlight})`);
  const success = await tile(page, 'success');
  check(/%$/.test(success), `admin: success rate is a percentage (${success})`);
  sending = false;
  await burst;
  check((await slow) === 200, 'admin: the slow request was answered');

  // The charts follow: a refresh counts the new requests, into the same
  // plot (its data is set, it is not rebuilt).
  await page.locator('[data-chart="admin-requests"] canvas').first().evaluate((c) => (c.dataset.mark = 'before-refresh'));
  await page.getByRole('button', { name: 'Refresh' }).click();
  await page
    .waitForFunction(() => !/: 6 in total/.test(document.querySelector('[data-chart="admin-requests"]')?.getAttribute('aria-label') ?? ''), null, { timeout: 15_000 })
    .catch(() => {});
  const after = await page.locator('[data-chart="admin-requests"]').getAttribute('aria-label');
  check(!/: 6 in total/.test(after ?? ''), `admin: a refresh counts the new requests (${after})`);
  check((await page.locator('[data-chart="admin-requests"] canvas[data-mark="before-refresh"]').count()) === 1, 'admin: the refresh updated the plot in place');
  await page.mouse.move(5, 5);

  // The table alternative of a chart.
  const toggle = page.locator('.chart').filter({ has: page.locator('h3', { hasText: 'Requests' }) }).getByRole('button', { name: 'Show as table' });
  await toggle.click();
  const reqFig = page.locator('.chart').filter({ has: page.locator('h3', { hasText: 'Requests' }) });
  check((await reqFig.getByRole('button', { name: 'Show as chart' }).getAttribute('aria-expanded')) === 'true', 'admin: the table toggle says it is open');
  const cells = await reqFig.locator('tbody tr td').allTextContents();
  check(cells.length >= 1 && cells.every((c) => /^\d/.test(c)), `admin: the requests table has rows of counts (${cells.join(', ')})`);
  await axe(page, 'admin dashboard with a chart as table');
  await reqFig.getByRole('button', { name: 'Show as chart' }).click();
  await chartsDrawn(page);

  // Hovering a chart reads out the bucket under the pointer.
  const plotBox = await page.locator('[data-chart="admin-requests"] .u-over').boundingBox();
  await page.mouse.move(plotBox.x + plotBox.width - 1, plotBox.y + plotBox.height / 2);
  const readout = page.locator('.chart').filter({ has: page.locator('[data-chart="admin-requests"]') }).locator('.legend');
  await readout.locator('.when').waitFor({ timeout: 5_000 }).catch(() => {});
  check(/\d{2}:\d{2}.*Requests: \d/.test((await readout.textContent()) ?? ''), `admin: hovering a chart reads out the bucket (${(await readout.textContent())?.trim()})`);

  await focusVisible(page, 12, 'admin dashboard');
  await axe(page, 'admin dashboard (light)');
  await page.mouse.move(10, 10);
  await shot(page, 'dashboard-light.png');

  // The range is in the URL: 7 days, shareable and reloadable; back returns.
  await page.locator('a[data-range="7d"]').click();
  await page.waitForURL((u) => u.searchParams.get('range') === '7d');
  await page.getByRole('heading', { name: 'Usage over the last 7 days' }).waitFor();
  await chartsDrawn(page);
  check((await page.locator('a[data-range="7d"]').getAttribute('aria-current')) === 'page', 'admin: 7 days is the current range');
  const weekLabel = await page.locator('[data-chart="admin-requests"]').getAttribute('aria-label');
  check(/over the last 7 days: \d+ in total/.test(weekLabel ?? ''), `admin: the charts show 7 days (${weekLabel})`);
  await page.reload();
  await page.getByRole('heading', { name: 'Usage over the last 7 days' }).waitFor();
  await chartsDrawn(page);
  check(true, 'admin: a reload of ?range=7d keeps 7 days');
  await page.locator('a[data-range="30d"]').click();
  await page.waitForURL((u) => u.searchParams.get('range') === '30d');
  await page.getByRole('heading', { name: 'Usage over the last 30 days' }).waitFor();
  check(true, 'admin: 30 days');
  await page.goBack();
  await page.waitForURL((u) => u.searchParams.get('range') === '7d');
  await page.getByRole('heading', { name: 'Usage over the last 7 days' }).waitFor();
  check(true, 'admin: back returns to 7 days');
  await page.goto(base + '/?range=bogus');
  await page.getByRole('heading', { name: 'Usage over the last 24 hours' }).waitFor();
  check(true, 'admin: an unknown range falls back to 24 hours');

  // Charts follow the window's width.
  await chartsDrawn(page);
  const wide = await page.locator('[data-chart="admin-requests"] canvas').first().evaluate((c) => c.getBoundingClientRect().width);
  await page.setViewportSize({ width: 700, height: 800 });
  await page.waitForFunction(
    (w) => {
      const c = document.querySelector('[data-chart="admin-requests"] canvas');
      return c && c.getBoundingClientRect().width !== w;
    },
    wide,
    { timeout: 10_000 },
  ).catch(() => {});
  const narrow = await page.locator('[data-chart="admin-requests"] canvas').first().evaluate((c) => c.getBoundingClientRect().width);
  const box = await page.locator('[data-chart="admin-requests"]').evaluate((d) => d.getBoundingClientRect().width);
  check(narrow !== wide && narrow <= box + 1, `admin: a chart resizes with the window (${Math.round(wide)} → ${Math.round(narrow)} px, box ${Math.round(box)})`);

  // Theme switch while open: the charts redraw in the dark colours.
  const before = await page.evaluate(() => getComputedStyle(document.querySelector('.dash')).getPropertyValue('--chart-1').trim());
  await page.locator('[data-chart="admin-requests"] canvas').first().evaluate((c) => (c.dataset.mark = 'light'));
  await page.evaluate(() => (document.documentElement.dataset.theme = 'dark'));
  await page
    .waitForFunction(() => !document.querySelector('[data-chart="admin-requests"] canvas[data-mark="light"]'), null, { timeout: 5_000 })
    .catch(() => {});
  check((await gone(page.locator('[data-chart="admin-requests"] canvas[data-mark="light"]'))), 'admin: the charts are redrawn for the new theme');
  const afterTheme = await page.evaluate(() => getComputedStyle(document.querySelector('.dash')).getPropertyValue('--chart-1').trim());
  check(before !== afterTheme, `admin: the chart colours follow the theme (${before} → ${afterTheme})`);
  await chartsDrawn(page);
  await clean(p, 'admin dashboard');
  await p.context.close();
}

// ---- Admin, dark -------------------------------------------------------------
{
  const p = await newPage({ colorScheme: 'dark' });
  await signIn(p, admin);
  await chartsDrawn(p.page);
  await p.page.locator('[data-count="channels"]').waitFor();
  check((await p.page.evaluate(() => document.documentElement.dataset.theme)) === 'dark', 'dark: the system theme is followed');
  await axe(p.page, 'admin dashboard (dark)');
  await shot(p.page, 'dashboard-dark.png');
  await clean(p, 'admin dashboard (dark)');
  await p.context.close();
}

// ---- Admin, 375 px -------------------------------------------------------------
{
  const p = await newPage({ width: 375, height: 812 });
  await signIn(p, admin);
  await chartsDrawn(p.page);
  await p.page.locator('[data-count="channels"]').waitFor();
  await noOverflow(p.page, 375, 'narrow');
  const cw = await p.page.locator('[data-chart="admin-requests"] canvas').first().evaluate((c) => c.getBoundingClientRect().right);
  check(cw <= 375, `narrow: the charts fit the window (right edge ${Math.round(cw)} px)`);
  await axe(p.page, 'admin dashboard (375 px)');
  await shot(p.page, 'dashboard-narrow.png');
  await clean(p, 'admin dashboard (375 px)');
  await p.context.close();
}

// ---- Admin, 简体中文 ------------------------------------------------------------
{
  const p = await newPage({ locale: 'zh-CN' });
  await signIn(p, admin);
  await chartsDrawn(p.page);
  await p.page.locator('[data-count="channels"]').waitFor();
  check((await h1(p.page)) === '仪表盘', 'zh: the title is 仪表盘');
  check((await textIs(p.page.locator('[data-tile="success"] .label'), '成功率')), 'zh: tile labels are Chinese');
  check((await tile(p.page, 'spend')).startsWith('US$'), 'zh: money is written US$');
  const zhLabel = await p.page.locator('[data-chart="admin-requests"]').getAttribute('aria-label');
  check(/^最近 24 小时的请求数：合计/.test(zhLabel ?? ''), `zh: the chart summary is Chinese (${zhLabel})`);
  check((await textIs(p.page.locator('a[data-range="7d"]'), '7 天')), 'zh: the ranges are Chinese');
  await axe(p.page, 'admin dashboard (zh-CN)');
  await shot(p.page, 'dashboard-zh.png');
  await clean(p, 'admin dashboard (zh-CN)');
  await p.context.close();
}

// ---- A plain user ----------------------------------------------------------------
{
  const p = await newPage();
  const { page } = p;
  await signIn(p, user);
  check((await h1(page)) === 'Dashboard', 'user: the dashboard is the landing page');
  await chartsDrawn(page, 'me', 2);
  check((await gone(page.locator('[data-tile="rps"]'))), 'user: no gateway-wide live tiles');
  check((await gone(page.locator('[data-health]'))), 'user: no upstream health');
  const balance = await tile(page, 'balance');
  check(/^\$\d/.test(balance) && balance !== '$5.00', `user: the balance is the credit less what was spent (${balance})`);
  const reqs = Number((await tile(page, 'requests')).replace(/,/g, ''));
  check(reqs >= 7, `user: their own requests are counted (${reqs})`);
  const spend = await tile(page, 'spend');
  check(/^\$0\.\d*[1-9]/.test(spend), `user: their spend is shown (${spend})`);
  const spendLabel = await page.locator('[data-chart="me-spend"]').getAttribute('aria-label');
  check(/^Spend over the last 24 hours: \$/.test(spendLabel ?? ''), `user: the spend chart has a text alternative (${spendLabel})`);
  const rows = page.locator('[data-recent] tbody tr');
  check((await rows.count()) === 8, 'user: the 8 most recent requests are listed');
  check((await textIs(rows.first().locator('td').nth(1), 'gpt-4o-mini')), 'user: with the model');
  check((await textIs(rows.first().locator('td').nth(2), 'laptop')), 'user: and the key name');
  check((await page.locator('a[href="/me/keys"]').count()) >= 1 && (await page.locator('a[href="/me/usage"]').count()) >= 1, 'user: links to their keys and usage');
  await page.locator('a[data-range="30d"]').click();
  await page.waitForURL((u) => u.searchParams.get('range') === '30d');
  await page.getByRole('heading', { name: 'Usage over the last 30 days' }).waitFor();
  await chartsDrawn(page, 'me', 2);
  check((await textIs(page.locator('[data-tile="requests"] .label'), 'Requests (30 days)')), 'user: the tiles follow the range');
  await page.locator('a[data-range="24h"]').click();
  await page.waitForURL((u) => !u.searchParams.has('range'));
  await chartsDrawn(page, 'me', 2);
  await focusVisible(page, 8, 'user dashboard');
  await axe(page, 'user dashboard');
  await page.mouse.move(10, 10);
  await shot(page, 'dashboard-user.png');
  await page.setViewportSize({ width: 375, height: 812 });
  await page.waitForTimeout(300);
  await noOverflow(page, 375, 'user at 375 px');
  await clean(p, 'user dashboard');
  await p.context.close();
}

// ---- A failing API: an error in place, a toast with the request id, a retry
{
  const p = await newPage();
  const { page } = p;
  const fail = (route) =>
    route.fulfill({
      status: 500,
      contentType: 'application/json',
      headers: { 'X-Request-Id': 'req-dashboard-test' },
      body: JSON.stringify({ error: { code: 'internal', message: 'boom' } }),
    });
  await page.route('**/api/v1/me/analytics?**', fail);
  await signIn(p, user);
  await page.getByRole('alert').filter({ hasText: 'The figures could not be loaded.' }).waitFor();
  check(true, 'failure: the page says the figures could not be loaded');
  check((await page.getByText('req-dashboard-test').count()) >= 1, 'failure: a toast shows the request id');
  await page.unroute('**/api/v1/me/analytics?**', fail);
  await page.getByRole('button', { name: 'Try again' }).click();
  await chartsDrawn(page, 'me', 2);
  check(true, 'failure: Try again loads the figures');
  await clean(p, 'failing API');
  await p.context.close();
}

await finish();
