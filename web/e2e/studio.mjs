// The image studio on a real node (web/studio_browser_test.go): a user with
// a key generates on the mock upstream and watches the job over server-sent
// events, sees the price before sending, is stopped by a field error, sees a
// failed job with the upstream's error and retries it, resumes a running
// job's stream after a reload and cancels it, saves and applies a preset,
// watches partial previews stream in before the image is stored, keeps
// presets and snippets on the server (they survive a cleared browser), edits
// an uploaded image and then a gallery image picked in the studio with a
// mask drawn on the canvas (the mock receives that very image and the mask);
// dark, narrow and Chinese views, axe and screenshots.
import { args, axe, base, check, clean, finish, h1, login, newPage, png, shot, waitPath, gone, textIs } from './lib.mjs';

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

// Partial previews: the mock streams two, a second apart, then the image.
await page.fill('#studio-n', '1');
await page.selectOption('#studio-partials', '2');
await page.fill('#studio-prompt', '[[mock chunk_delay=1500ms]] a fox, previewed');
await page.getByTestId('studio-send').click();
const previewed = page.getByTestId('studio-job').first();
const preview = previewed.getByTestId('studio-preview');
await preview.first().waitFor();
await page.waitForFunction(() => {
  const im = document.querySelector('[data-testid=studio-preview] img');
  return im && im.complete && im.naturalWidth > 0 && im.src.startsWith('data:image/');
});
check((await previewed.getAttribute('data-status')) === 'running', 'a partial preview is shown while the job runs');
await shot(page, 'studio-preview.png');
await page.waitForFunction(() => document.querySelector('[data-testid=studio-preview]')?.dataset.partial === '1');
check(true, 'the second preview replaces the first');
await previewed.and(page.locator('[data-status=succeeded]')).waitFor();
check(await gone(preview), 'the previews give way to the stored image');
check((await previewed.getByTestId('studio-result').count()) === 1, 'the previewed job ends with its one image');
const kept = await page.evaluate(() => Object.entries(localStorage).filter(([k]) => k.includes('studio')).map(([, v]) => v).join(''));
check(!kept.includes('data:image'), 'previews are not kept in the browser');
await page.selectOption('#studio-partials', '0');

// Presets: save, change, apply.
await page.selectOption('#studio-size', '1536x1024');
await page.selectOption('#studio-quality', 'high');
await page.fill('#studio-preset-name', 'Wide high');
await page.getByTestId('studio-preset-save').click();
await page.selectOption('#studio-size', 'auto');
await page.selectOption('#studio-preset', 'Wide high');
await page.getByTestId('studio-preset-apply').click();
// The size changed before the save's round trip ended: the preset keeps what the form held at the click.
const applied = await page
  .waitForFunction(() => document.querySelector('#studio-size')?.value === '1536x1024' && document.querySelector('#studio-quality')?.value === 'high', null, { timeout: 5_000 })
  .then(() => true, () => false);
check(applied, 'a saved preset is applied');
// Presets and snippets are the account's: a browser with nothing stored has them.
await page.fill('#studio-prompt', 'soft golden light, 电影感');
await page.getByTestId('studio-snippet-save').click();
await page.waitForFunction(() => [...document.querySelectorAll('#studio-snippet option')].some((o) => o.value === 'soft golden light, 电影感'));
await page.evaluate(() => localStorage.clear());
await page.reload();
await page.getByRole('heading', { level: 1 }).waitFor();
await page.waitForFunction(() => [...document.querySelectorAll('#studio-preset option')].some((o) => o.value === 'Wide high'));
check(true, 'a saved preset is there in a browser that kept nothing');
check((await page.locator('#studio-snippet option', { hasText: 'soft golden light' }).count()) === 1, 'so is a saved snippet');
await page.fill('#studio-prompt', 'a cat');
await page.selectOption('#studio-snippet', 'soft golden light, 电影感');
const inserted = await page
  .waitForFunction(() => document.querySelector('#studio-prompt')?.value === 'a cat soft golden light, 电影感', null, { timeout: 5_000 })
  .then(() => true, () => false);
check(inserted, 'a snippet is inserted into the prompt');
await page.waitForFunction(() => document.querySelector('#studio-model')?.value === 'gpt-image-1');

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

// Edit a gallery image picked in the studio, with a drawn mask.
await page.getByRole('button', { name: /Remove red\.png/ }).click();
await gone(canvas);
await page.getByTestId('studio-pick').click();
const picker = page.getByTestId('studio-picker');
await picker.locator('.pick-grid button').first().waitFor();
await picker.locator('.pick-grid button').first().click();
await gone(picker.locator('.pick-grid'));
const refName = await page.locator('.ref-name').first().textContent();
check(/gallery-\d+\.png/.test(refName), `the picked gallery image is the first reference (${refName})`);
await canvas.waitFor();
await page.waitForFunction(() => document.querySelector('[data-testid=studio-mask-canvas]')?.width > 1);
await canvas.scrollIntoViewIfNeeded();
const gbox = await canvas.boundingBox();
await page.mouse.move(gbox.x + gbox.width * 0.3, gbox.y + gbox.height * 0.3);
await page.mouse.down();
await page.mouse.move(gbox.x + gbox.width * 0.7, gbox.y + gbox.height * 0.6, { steps: 8 });
await page.mouse.up();
check((await page.locator('.mask-editor .hint').textContent()).includes('painted'), 'the mask over the gallery image is painted');
const editsBefore = reqs.length;
await page.fill('#studio-prompt', 'the same scene at night');
await page.getByTestId('studio-send').click();
await page.waitForFunction(() => {
  const j = document.querySelector('[data-testid=studio-job]');
  return j?.dataset.status === 'succeeded' && j.textContent.includes('the same scene at night');
});
const picked = Number(refName.match(/gallery-(\d+)/)[1]);
const pickedSHA = await page.evaluate(async (id) => {
  const b = await (await fetch(`/api/v1/me/gallery/${id}/image`)).arrayBuffer();
  return [...new Uint8Array(await crypto.subtle.digest('SHA-256', b))].map((x) => x.toString(16).padStart(2, '0')).join('');
}, picked);
const seen2 = await (await fetch(upstream + '/_mock/requests')).json();
const edits2 = (Array.isArray(seen2) ? seen2 : seen2.requests ?? seen2.items ?? []).filter((r) => r.path === '/v1/images/edits');
const lastEdit = edits2[edits2.length - 1];
const sentImage = lastEdit?.parts?.find((x) => x.field === 'image[]' || x.field === 'image');
const sentMask = lastEdit?.parts?.find((x) => x.field === 'mask');
check(edits2.length === editsBefore + 1, `the gallery edit reached the upstream once (${editsBefore} → ${edits2.length})`);
check(sentImage?.sha256 === pickedSHA, `the upstream received the gallery image itself (${sentImage?.sha256?.slice(0, 12)} vs ${pickedSHA.slice(0, 12)})`);
check(sentMask && sentMask.size > 0 && sentMask.content_type === 'image/png', `and a PNG mask (${JSON.stringify(sentMask)})`);

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
check((await textIs(page.getByTestId('studio-job-status').first(), '已完成')), 'job states in Chinese');
await page.waitForFunction(() => document.querySelector('[data-testid=studio-cost]')?.textContent.includes('US$'));
await axe(page, 'studio, zh-CN');
await shot(page, 'studio-zh.png');
await page.evaluate(() => localStorage.setItem('sy.locale', 'en'));
const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }));
check(!stored.includes('sk-'), 'no key is in localStorage');

await clean(p, 'studio');
await finish();
