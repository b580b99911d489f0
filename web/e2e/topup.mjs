// The top-up pages on a real node (web/topup_browser_test.go) with the
// manual provider from the file and an EPay gateway (a fake in the Go test
// that notifies the node, signed, as soon as the browser reaches its
// submit.php) that the admin configures in the console: the admin makes a
// package and sets up EPay (step-up, the server's field error in place,
// the key never shown again); the user pays it by hand and the admin marks the
// order paid (step-up); the user pays one through EPay and lands back on
// the return page, credited; the admin refunds it. Keyboard, axe, zh-CN,
// both themes, 375 px and screenshots along the way.
import { args, axe, base, check, clean, finish, focusVisible, h1, login, newPage, shot as takeShot, waitPath, gone, textIs } from './lib.mjs';

const admin = { email: process.env.SY_ADMIN_EMAIL, password: process.env.SY_ADMIN_PASSWORD };
const user = { email: process.env.SY_USER_EMAIL, password: process.env.SY_USER_PASSWORD };
const shots = args.shots !== '0';
const shot = async (page, name) => {
  if (shots) await takeShot(page, name);
};

async function signIn(p, who, path) {
  await p.page.goto(base + path);
  await waitPath(p.page, '/login');
  await login(p.page, who);
  await waitPath(p.page, path);
  await p.page.getByRole('heading', { level: 1 }).waitFor();
}

const balance = (page) => page.evaluate(async () => (await (await fetch('/api/v1/me/ledger?limit=1')).json()).balance_micros);

// --- admin: a package ---------------------------------------------------
const a = await newPage();
const ap = a.page;
await signIn(a, admin, '/topup');
check((await h1(ap)) === 'Payments', 'the admin top-up page has its title');
await ap.getByText('No packages yet').waitFor();
await axe(ap, 'admin packages (empty)');
await ap.getByTestId('new-package').click();
await ap.fill('#pkg-name', 'Starter');
await ap.fill('#pkg-price', '70.001');
await ap.fill('#pkg-currency', 'cny');
await ap.fill('#pkg-credit', '10');
await ap.fill('#pkg-bonus', '1');
await ap.locator('[data-testid=pkg-dialog] button[type=submit]').click();
check((await ap.locator('#pkg-price-error').textContent())?.includes('at most 2 decimals'), 'a price with three decimals is refused in place');
check(await ap.evaluate(() => document.activeElement?.id === 'pkg-price'), 'focus goes to the price');
await ap.fill('#pkg-price', '70.00');
await ap.fill('#pkg-limit', '-1');
await ap.locator('[data-testid=pkg-dialog] button[type=submit]').click();
check(await ap.locator('#pkg-limit-error').isVisible(), 'a negative limit is refused in place');
await ap.fill('#pkg-limit', '0');
// A name too long is the server's to refuse: its error lands on the field.
await ap.fill('#pkg-name', 'S'.repeat(65));
await ap.locator('[data-testid=pkg-dialog] button[type=submit]').click();
await ap.locator('#pkg-name-error').waitFor();
check(true, `the server's field error shows on the name (${await ap.locator('#pkg-name-error').textContent()})`);
await ap.fill('#pkg-name', 'Starter');
await ap.locator('[data-testid=pkg-dialog] button[type=submit]').click();
const row = ap.locator('[data-testid=packages] tr[data-package=Starter]');
await row.waitFor();
const rowText = await row.textContent();
check(rowText.includes('70.00 CNY') && rowText.includes('$10.00') && rowText.includes('$1.00'), `the package row shows price, credit and bonus (${rowText})`);
// A second, edited to be disabled: users do not see it.
await ap.getByTestId('new-package').click();
await ap.fill('#pkg-name', 'Hidden');
await ap.fill('#pkg-price', '5');
await ap.fill('#pkg-currency', 'usd');
await ap.fill('#pkg-credit', '0.5');
await ap.locator('[data-testid=pkg-dialog] button[type=submit]').click();
await ap.locator('tr[data-package=Hidden]').waitFor();
await ap.getByRole('button', { name: 'Edit Hidden' }).click();
check((await ap.inputValue('#pkg-credit')) === '0.5' && (await ap.inputValue('#pkg-price')) === '5.00', 'editing shows the amounts in major units');
await ap.locator('#pkg-enabled').uncheck();
await ap.locator('[data-testid=pkg-dialog] button[type=submit]').click();
await ap.locator('tr[data-package=Hidden] .badge.off').waitFor();
check(true, 'the package is disabled');
await axe(ap, 'admin packages');
await shot(ap, 'topup-admin-packages.png');

// Providers: the file declares only the manual one (read-only here,
// naming its field); the admin configures EPay in the console, in a
// session of its own so that the step-up asked for the key is not the one
// marking an order paid asks for below.
const epay = { gateway: process.env.SY_EPAY_GATEWAY, pid: process.env.SY_EPAY_PID, key: process.env.SY_EPAY_KEY };
{
  const c = await newPage();
  const cp = c.page;
  await signIn(c, admin, '/topup');
  await cp.goto(base + '/topup?tab=providers');
  await cp.locator('[data-provider=epay]').waitFor();
  check((await cp.getByTestId('file-field-manual').textContent()).includes('topup.manual'), 'the manual provider names its file field');
  check(await gone(cp.getByTestId('configure-manual')), 'the file\'s provider cannot be edited here');
  check((await textIs(cp.getByTestId('active-epay'), 'Not in use')), 'EPay starts unconfigured');
  await cp.getByTestId('configure-epay').click();
  await cp.fill('#prov-gateway', 'pay.example');
  await cp.fill('#prov-pid', epay.pid);
  await cp.fill('#prov-key', epay.key);
  await cp.fill('#prov-type', 'alipay');
  await cp.getByTestId('provider-save').click();
  // The key is a secret: the password first, then the server's verdict.
  await cp.getByTestId('stepup').locator('#stepup-password').waitFor();
  check(true, 'saving a merchant key asks for the password');
  await cp.fill('#stepup-password', admin.password);
  await cp.getByTestId('stepup').locator('button[type=submit]').click();
  await cp.locator('#prov-gateway-error').waitFor();
  check((await cp.locator('#prov-gateway-error').textContent()).includes('http'), `the server's refusal shows on the gateway (${await cp.locator('#prov-gateway-error').textContent()})`);
  check(await cp.evaluate(() => document.activeElement?.id === 'prov-gateway'), 'focus goes to the gateway');
  await axe(cp, 'provider form (error)');
  await shot(cp, 'topup-admin-provider-form.png');
  await cp.fill('#prov-gateway', epay.gateway);
  await cp.getByTestId('provider-save').click();
  await gone(cp.getByTestId('provider-form'));
  await cp.waitForFunction(() => document.querySelector('[data-testid=active-epay]')?.textContent === 'In use');
  const hint = await cp.getByTestId('hint-key').textContent();
  check(hint === `set, ends in ${epay.key.slice(-4)}` && !(await cp.content()).includes(epay.key), `the key is shown only as set (${hint})`);
  // Reopened, the form keeps the settings and never the key.
  await cp.getByTestId('configure-epay').click();
  check((await cp.inputValue('#prov-gateway')) === epay.gateway && (await cp.inputValue('#prov-key')) === '', 'the form shows the gateway, the key field empty');
  await cp.locator('[data-testid=provider-form] button', { hasText: 'Cancel' }).click();
  await axe(cp, 'admin providers (configured)');
  await shot(cp, 'topup-admin-providers.png');
  await clean(c, 'admin providers');
}
await ap.getByRole('tab', { name: 'Providers' }).click();
await waitPath(ap, '/topup');
await ap.locator('[data-provider=epay]').waitFor();
check((await ap.getByTestId('providers-file').textContent()).includes('configuration file'), 'the page says where providers are configured');
check((await ap.locator('#notify-epay').textContent()).endsWith('/api/v1/topup/notify/epay'), 'the EPay notify URL is shown');
await ap.getByRole('button', { name: 'Test epay' }).click();
await ap.getByTestId('test-epay').waitFor();
check((await ap.getByTestId('test-epay').textContent()).startsWith('OK'), `the EPay test passes inline for the console's provider (${await ap.getByTestId('test-epay').textContent()})`);
await axe(ap, 'admin providers');
// Tabs by keyboard.
await ap.locator('#tab-providers').focus();
await ap.keyboard.press('ArrowLeft');
await ap.waitForURL((u) => u.search === '?tab=orders');
check(await ap.evaluate(() => document.activeElement?.id === 'tab-orders'), 'arrow keys move between tabs');

// --- user: pay by hand ---------------------------------------------------
const u = await newPage();
const up = u.page;
await signIn(u, user, '/me/topup');
check((await h1(up)) === 'Top up', 'the user top-up page has its title');
await up.locator('.tu-card[data-package=Starter]').waitFor();
check((await gone(up.locator('.tu-card[data-package=Hidden]'))), 'a disabled package is not offered');
const card = await up.locator('.tu-card[data-package=Starter]').textContent();
check(card.includes('$10.00') && card.includes('+$1.00') && card.includes('70.00 CNY'), `the card shows credit, bonus and price (${card})`);
check((await balance(up)) === 0, 'the wallet starts empty');
// A free amount below the bounds is refused in place; a valid one is priced.
await up.locator('.tu-card[data-package=custom]').click();
await up.fill('#tu-custom', '1');
await up.getByLabel('Manual payment (arranged with an administrator)').check();
await up.getByTestId('pay').click();
check((await up.locator('#tu-custom-error').textContent()).includes('At least $5.00'), 'a free amount under the minimum is refused');
await up.fill('#tu-custom', '5.5');
check((await up.locator('#tu-custom-hint').textContent()).includes('39.60 CNY'), 'a free amount is priced exactly (5.5 × 7.20)');
await up.getByTestId('pay').click();
await up.getByTestId('manual').waitFor();
const customRef = (await up.getByTestId('manual').textContent()).match(/TU\w+/)[0];
await up.getByRole('button', { name: `Cancel ${customRef}` }).click();
await up.locator(`tr[data-ref=${customRef}] [data-status=cancelled]`).waitFor();
check(true, 'a pending order is cancelled');

await up.locator('.tu-card[data-package=Starter]').click();
check((await up.locator('.tu-card[data-package=Starter]').getAttribute('aria-pressed')) === 'true', 'the chosen card is pressed');
await up.getByTestId('pay').click();
await up.waitForFunction((prev) => (document.querySelector('[data-testid=manual]')?.textContent ?? '').match(/TU\w+/)?.[0] !== prev, customRef);
const manualText = await up.getByTestId('manual').textContent();
const manualRef = manualText.match(/TU\w+/)[0];
check(manualText.includes('70.00 CNY'), 'the manual order says what to tell the admin');
const pendingRow = up.locator(`tr[data-ref=${manualRef}]`);
check(await pendingRow.locator('[data-status=pending]').isVisible(), 'the new order is pending');
const c1 = await pendingRow.locator('[data-countdown]').textContent();
check(/expires in \d+:\d\d/.test(c1), `a pending order counts down (${c1})`);
await axe(up, 'user top-up');
await focusVisible(up, 6, 'user top-up');

// --- admin: mark it paid (step-up) ---------------------------------------
await ap.goto(`${base}/topup?tab=orders&provider=manual&status=pending`);
await ap.locator(`tr[data-ref=${manualRef}]`).waitFor();
check((await ap.locator('[data-testid=admin-orders] tbody tr').count()) === 1, 'the filters from the URL apply (one pending manual order)');
check((await ap.inputValue('#f-status')) === 'pending', 'the status filter shows the URL');
await axe(ap, 'admin orders');
await shot(ap, 'topup-admin-orders.png');
await ap.getByRole('link', { name: manualRef }).click();
await ap.getByTestId('order-detail').locator('[data-status]').waitFor();
check(new URL(ap.url()).searchParams.get('ref') === manualRef, 'the open order is in the URL');
await ap.getByTestId('mark-paid').click();
await ap.locator('[data-testid=order-action] button[type=submit]').click();
check(await ap.locator('#act-note-error').isVisible(), 'a note is required');
await ap.fill('#act-note', 'bank transfer 2026-12-06');
await ap.locator('[data-testid=order-action] button[type=submit]').click();
await ap.getByTestId('stepup').locator('#stepup-password').waitFor();
check(true, 'marking paid asks for the password again');
await ap.fill('#stepup-password', 'wrong-password');
await ap.getByTestId('stepup').locator('button[type=submit]').click();
await ap.locator('#stepup-password-error').waitFor();
await ap.fill('#stepup-password', admin.password);
await ap.getByTestId('stepup').locator('button[type=submit]').click();
await ap.locator('[data-testid=order-detail] [data-status=credited]').waitFor();
check(await ap.locator('[data-testid=order-detail] [data-flag=forced]').isVisible(), 'the order is credited and flagged marked paid');

// --- user: credited ------------------------------------------------------
await up.reload();
await up.locator(`tr[data-ref=${manualRef}] [data-status=credited]`).waitFor();
check((await balance(up)) === 11_000_000, 'the wallet rose by credit + bonus');

// --- user: pay through EPay, back on the return page ---------------------
await up.locator('.tu-card[data-package=Starter]').click();
await up.getByLabel('Alipay / WeChat Pay (EPay)').check();
await up.getByTestId('pay').click();
await up.waitForURL((x) => x.pathname === '/me/topup' && x.searchParams.has('order'), { timeout: 30_000 });
const epayRef = new URL(up.url()).searchParams.get('order');
await up.getByTestId('return-text').waitFor();
await up.waitForFunction(() => document.querySelector('[data-testid=return-text]')?.textContent?.startsWith('Paid and credited'));
check(true, `back from the gateway, order ${epayRef} shows credited`);
check((await balance(up)) === 22_000_000, 'the EPay order was credited once');
await axe(up, 'user return page');
await shot(up, 'topup-user-light.png');

// --- admin: the notification log, a refund ------------------------------
await ap.goto(`${base}/topup?tab=orders&provider=epay&ref=${epayRef}`);
await ap.getByTestId('notify-log').waitFor();
const log = await ap.getByTestId('notify-log').textContent();
check(log.includes(epayRef) && !log.includes(epay.key), 'the raw notification is shown, without the key');
await axe(ap, 'admin order detail');
await shot(ap, 'topup-admin-order.png');
// The user has spent most of it (an admin debit stands in): the refund
// would take the balance below zero, so it needs allow_negative.
const uid = Number(await ap.locator('[data-testid=order-detail] dd a').first().textContent());
const debit = await ap.evaluate(
  async (id) => (await fetch(`/api/v1/admin/users/${id}/credit`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ amount_micros: -15_000_000, reason: 'spent' }) })).status,
  uid,
);
check(debit >= 200 && debit < 300 && (await balance(up)) === 7_000_000, `the user's balance is down to $7 (${debit})`);
await ap.getByTestId('refund').click();
await ap.fill('#act-note', 'refunded in the gateway');
await ap.locator('[data-testid=order-action] button[type=submit]').click();
await ap.locator('[data-testid=order-action] .alert').waitFor();
check((await ap.locator('[data-testid=order-action] .alert').textContent()).includes('below zero'), 'a refund past the balance is refused with the reason');
await ap.locator('#act-negative').check();
await ap.locator('[data-testid=order-action] button[type=submit]').click();
await ap.locator('[data-testid=order-detail] [data-status=refunded]').waitFor();
check(true, 'the admin refunds the EPay order, allowing a negative balance');
check((await balance(up)) === -4_000_000, 'the refund took the credit back');
await ap.getByRole('link', { name: 'All orders' }).click();
await ap.locator(`tr[data-ref=${epayRef}] [data-status=refunded]`).waitFor();
check(new URL(ap.url()).searchParams.get('provider') === 'epay', 'back to the list keeps the filters');
await clean(a, 'admin top-up');

await up.goto(base + '/me/topup');
await up.locator(`tr[data-ref=${epayRef}] [data-status=refunded]`).waitFor();
check(true, 'the user sees the refund');
await clean(u, 'user top-up');

// --- dark, narrow, Chinese -----------------------------------------------
const d = await newPage({ colorScheme: 'dark' });
await signIn(d, user, '/me/topup');
await d.page.locator('.tu-card[data-package=Starter]').waitFor();
await axe(d.page, 'user top-up (dark)');
await shot(d.page, 'topup-user-dark.png');
await clean(d, 'user top-up (dark)');

const n = await newPage({ width: 375, height: 800 });
await signIn(n, user, '/me/topup');
await n.page.locator('.tu-card[data-package=Starter]').waitFor();
const overflow = await n.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
check(overflow <= 0, `no sideways scroll at 375 px (${overflow})`);
await shot(n.page, 'topup-user-narrow.png');
await clean(n, 'user top-up (narrow)');

const z = await newPage({ locale: 'zh-CN' });
await signIn(z, user, '/me/topup');
check((await h1(z.page)) === '充值', 'the user page speaks Chinese');
await z.page.locator('.tu-card[data-package=Starter]').waitFor();
check((await textIs(z.page.locator(`tr[data-ref=${manualRef}] [data-status=credited]`), '已到账')), 'statuses are translated');
await axe(z.page, 'user top-up (zh-CN)');
await shot(z.page, 'topup-user-zh.png');
await clean(z, 'user top-up (zh-CN)');

const za = await newPage({ locale: 'zh-CN' });
await signIn(za, admin, '/topup');
await za.page.goto(base + '/topup?tab=providers');
await za.page.locator('[data-provider=epay]').waitFor();
check((await textIs(za.page.getByTestId('active-epay'), '使用中')), 'the providers page speaks Chinese');
await za.page.getByTestId('configure-epay').click();
await za.page.locator('#prov-gateway').waitFor();
await axe(za.page, 'provider form (zh-CN)');
await shot(za.page, 'topup-admin-provider-zh.png');
await clean(za, 'admin providers (zh-CN)');

const da = await newPage({ colorScheme: 'dark', width: 375, height: 800 });
await signIn(da, admin, '/topup');
await da.page.goto(base + '/topup?tab=providers');
await da.page.locator('[data-provider=epay]').waitFor();
const over = await da.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
check(over <= 0, `the providers page has no sideways scroll at 375 px (${over})`);
await axe(da.page, 'admin providers (dark, narrow)');
await shot(da.page, 'topup-admin-providers-dark-narrow.png');
await clean(da, 'admin providers (dark, narrow)');

await finish();
