// The image studio on a real node (web/studio_browser_test.go): a user with
// a key generates on the mock upstream and watches the job over server-sent
// events, sees the price before sending, is stopped by a field error, sees a
// failed job with the upstream's error and retries it, resumes a running
// job's stream after a reload and cancels it, saves and applies a preset,
// and edits an uploaded image with a mask drawn on the canvas (the mock
// receives the mask); dark, narrow and Chinese views, axe and screenshots.
import { args, axe, base, check, clean, finish, h1, login, newPage, png, shot, waitPath, gone } from './lib.mjs';

const user = { email: process.env.SY_USER_EMAIL, password: process.env.SY_USER_PASSWORD };
const upstream = args.upstream;

const p = await newPage();
const { page } = p;

await page.goto(base + '/studio');
await waitPath(page, '/login');
await login(page, user);
await waitPath(page, '/studio');
await page.getByRole('heading', { level: 1 }).waitFor();
check((await h1(page)) === 'Image studio', 'a normal user reaches /studio');
check((await page.locator('nav a[href="/studio"]').count()) === 1, 'the navigation links to the studio');
check((await page.getByTestId('studio-gallery-link').getAttribute('href')) === '/gallery', 'the studio links to the gallery');
await page.waitForFunction(() => document.querySelector('#studio-model')?.value === 'gpt-image-1');
check(true, 'the image model is chosen first');

// The price before sending follows n and the size.
await page.selectOption('#studio-size', '1024x1024');
await page.fill('#studio-n', '2');
await page.waitForFunction(() => document.querySelector('[data-testid=studio-cost]')?.textContent.includes('$0.08'));
check(true, 'the cost of two 1024×1024 images is shown before sending ($0.08)');

// A field error stays on the field, and nothing is sent.
await page.fill('#studio-n', '11');
await page.fill('#studio-prompt', 'a lighthouse at dusk');
await page.getByTestId('studio-send').click();
await page.locator('#studio-n-error').waitFor();
check((await gone(page.getByTestId('studio-job'))), 'an invalid form sends nothing');
check(await page.evaluate(() => document.activeElement?.id === 'studio-n'), 'focus moves to the invalid field');
await page.fill('#studio-n', '2');

// Generate: the job streams to done with two images.
await page.getByTestId('studio-send').click();
const first = page.getByTestId('studio-job').first();
await first.locator('[data-status]').or(first).first().waitFor();
await page.locator('[data-testid=studio-job][data-status=succeeded]').first().waitFor();
await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=studio-result] img')].filter((i) => i.complete && i.naturalWidth > 0).length === 2);
check(true, 'the generated images are shown when the job is done');
const charged = await first.textContent();
check(charged.includes('$0.08'), `the charge is shown (${charged.replace(/\s+/g, ' ').slice(0, 120)})`);
await axe(page, 'studio');
await shot(page, 'studio-light.png');

// A failed job shows the upstream's error, and can be retried.
await page.fill('#studio-n', '1');
await page.fill('#studio-prompt', '[[mock status=400 message=refused%20by%20the%20upstream]] nope');
await page.getByTestId('studio-send').click();
await page.locator('[data-testid=studio-job][data-status=failed]').first().waitFor();
const err = await page.getByTestId('studio-job-error').first().textContent();
check(err.includes('refused by the upstream'), `the failed job carries the upstream's error (${err})`);
const before = await page.getByTestId('studio-job').count();
await page.getByTestId('studio-retry').first().click();
await page.waitForFunction((n) => document.querySelectorAll('[data-testid=studio-job]').length === n + 1, before);
await page.locator('[data-testid=studio-job]').first().and(page.locator('[data-status=failed]')).waitFor();
check(true, 'retry sends the failed job again');

// A slow job: live progress, a reload resumes its stream, cancel ends it.
await page.fill('#studio-prompt', '[[mock latency=20s]] a slow painting');
await page.getByTestId('studio-send').click();
await page.locator('[data-testid=studio-job][data-status=running]').first().waitFor();
check(true, 'the slow job shows running from the event stream');
const resumed = page.waitForRequest((r) => r.url().includes('/events?last_event_id='));
await page.reload();
await page.getByRole('heading', { level: 1 }).waitFor();
const slow = page.locator('[data-testid=studio-job][data-status=running]').first();
await slow.waitFor();
await resumed;
check(true, 'after a reload the running job resumes its stream with last_event_id');
await slow.getByTestId('studio-cancel').click();
await page.locator('[data-testid=studio-job][data-status=cancelled]').first().waitFor();
check(true, 'cancel ends the running job');

// Presets: save, change, apply.
await page.selectOption('#studio-size', '1536x1024');
await page.selectOption('#studio-quality', 'high');
await page.fill('#studio-preset-name', 'Wide high');
await page.getByTestId('studio-preset-save').click();
await page.selectOption('#studio-size', 'auto');
await page.selectOption('#studio-preset', 'Wide high');
await page.getByTestId('studio-preset-apply').click();
check((await page.inputValue('#studio-size')) === '1536x1024' && (await page.inputValue('#studio-quality')) === 'high', 'a saved preset is applied');

// Edit with a drawn mask.
await page.getByTestId('studio-mode-edit').check();
await page.selectOption('#studio-size', 'auto');
await page.getByTestId('studio-file').setInputFiles({ name: 'red.png', mimeType: 'image/png', buffer: png(64, 48, [200, 30, 30]) });
const canvas = page.getByTestId('studio-mask-canvas');
await canvas.waitFor();
check((await canvas.evaluate((c) => `${c.width}x${c.height}`)) === '64x48', 'the mask canvas has the image\'s own size');
await canvas.scrollIntoViewIfNeeded();
const box = await canvas.boundingBox();
await page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.3);
await page.mouse.down();
await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5, { steps: 8 });
await page.mouse.up();
await page.getByTestId('studio-mask-invert').click();
await page.getByTestId('studio-mask-invert').click();
check((await page.locator('.mask-editor .hint').textContent()).includes('painted'), 'the painted area is acknowledged');
await shot(page, 'studio-mask.png');
await axe(page, 'studio, edit with mask');
await page.fill('#studio-prompt', 'make it blue');
await page.getByTestId('studio-send').click();
await page.waitForFunction(() => document.querySelector('[data-testid=studio-job]')?.dataset.status === 'succeeded');
const seen = await (await fetch(upstream + '/_mock/requests')).json();
const reqs = (Array.isArray(seen) ? seen : seen.requests ?? seen.items ?? []).filter((r) => r.path === '/v1/images/edits');
const last = reqs[reqs.length - 1];
const mask = last?.parts?.find((x) => x.field === 'mask');
const image = last?.parts?.find((x) => x.field === 'image[]' || x.field === 'image');
check(mask && mask.size > 0 && image, `the mock received the edit with an image and a mask ${JSON.stringify(last?.parts?.map((x) => x.field))}`);

// Dark, narrow, Chinese.
await page.emulateMedia({ colorScheme: 'dark' });
await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
await axe(page, 'studio, dark');
await shot(page, 'studio-dark.png');
await page.emulateMedia({ colorScheme: 'light' });
await page.setViewportSize({ width: 375, height: 800 });
await page.reload();
await page.getByRole('heading', { level: 1 }).waitFor();
const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
check(overflow <= 0, `nothing overflows at 375 px (${overflow} px)`);
await page.waitForFunction(() => document.querySelector('[data-testid=studio-cost]')?.textContent.includes('$'));
await shot(page, 'studio-narrow.png');
await page.setViewportSize({ width: 1280, height: 800 });
await page.evaluate(() => localStorage.setItem('sy.locale', 'zh-CN'));
await page.reload();
await page.getByRole('heading', { level: 1 }).waitFor();
check((await h1(page)) === '图像工作室', `the page in Chinese (${await h1(page)})`);
check((await page.getByTestId('studio-job-status').first().textContent()) === '已完成', 'job states in Chinese');
await page.waitForFunction(() => document.querySelector('[data-testid=studio-cost]')?.textContent.includes('US$'));
await axe(page, 'studio, zh-CN');
await shot(page, 'studio-zh.png');
await page.evaluate(() => localStorage.setItem('sy.locale', 'en'));
const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }));
check(!stored.includes('sk-'), 'no key is in localStorage');

await clean(p, 'studio');
await finish();
