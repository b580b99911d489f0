// The image gallery on a real node (web/gallery_browser_test.go): images made
// through /v1/images/generations (response_format url) on the mock upstream
// show as thumbnails newest first; a Chinese prompt is found by two of its
// characters; favourite and the favourites filter (kept in the URL); the
// lightbox by keyboard; batch delete undone, and not undone (gone after a
// reload, also when the page is left at once); export → delete all → import
// gives the same gallery; a hostile archive is refused on the field; the
// Chinese view; an admin sees everyone's images read-only; axe, focus and
// screenshots (light, dark, narrow, zh, lightbox).
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { axe, check, clean, finish, focusVisible, h1, login, newPage, shot, waitPath, base, gone } from './lib.mjs';

const user = { email: process.env.SY_USER_EMAIL, password: process.env.SY_USER_PASSWORD };
const admin = { email: process.env.SY_ADMIN_EMAIL, password: process.env.SY_ADMIN_PASSWORD };
const newestFirst = ['a paper boat on a puddle', 'an orange cat asleep on a keyboard', '雪地里的红色狐狸', 'a green bicycle by the canal', 'a lighthouse at dusk'];

// A ZIP with one stored entry named name (for the hostile import).
function zipOf(name, data) {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const x of data) crc = table[(crc ^ x) & 0xff] ^ (crc >>> 8);
  crc = (crc ^ 0xffffffff) >>> 0;
  const fname = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(fname.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(fname.length, 28);
  const localLen = local.length + fname.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + fname.length, 12);
  end.writeUInt32LE(localLen, 16);
  return Buffer.concat([local, fname, data, central, fname, end]);
}

const prompts = (page) => page.locator('.tile .prompt').allTextContents();
async function tiles(page, n, what) {
  try {
    await page.waitForFunction((n) => document.querySelectorAll('.tile').length === n, n, { timeout: 15_000 });
  } catch {
    /* reported below */
  }
  const got = await page.locator('.tile').count();
  check(got === n, `${what} (${got} tiles)`);
}
// Every thumbnail made (the thumbnailer runs in the background).
async function thumbsReady(page, n) {
  await page.waitForFunction(
    async (n) => {
      const r = await fetch('/api/v1/me/gallery?limit=50');
      const b = await r.json();
      return b.items.length === n && b.items.every((x) => x.thumbnail_state === 'ready');
    },
    n,
    { timeout: 30_000, polling: 300 },
  );
}
async function signIn(opts, who = user) {
  const p = await newPage(opts);
  await p.page.goto(base + '/gallery');
  await waitPath(p.page, '/login');
  await login(p.page, who);
  await waitPath(p.page, '/gallery');
  await p.page.locator('h1').waitFor();
  return p;
}

const p = await signIn();
const { page } = p;
check((await h1(page)) === 'Gallery', 'a normal user reaches /gallery after signing in');
check((await page.locator('nav a[href="/gallery"]').count()) === 1, 'the navigation links to the gallery');
await thumbsReady(page, 5);
await page.reload();
await tiles(page, 5, 'the five images made through the API are listed');
await page.waitForFunction(() => [...document.querySelectorAll('.tile img')].filter((i) => i.complete && i.naturalWidth > 0).length === 5);
check(JSON.stringify(await prompts(page)) === JSON.stringify(newestFirst), `newest first ${JSON.stringify(await prompts(page))}`);
const thumbSrc = await page.locator('.tile img').first().getAttribute('src');
check(/\/api\/v1\/me\/gallery\/\d+\/thumbnail/.test(thumbSrc), `tiles show the thumbnails (${thumbSrc})`);
await axe(page, 'gallery');
await shot(page, 'gallery-light.png');
await page.locator('body').click({ position: { x: 5, y: 5 } });
await focusVisible(page, 6, 'gallery');

// Search: two characters of the Chinese prompt, debounced, kept in the URL.
await page.fill('#gal-q', '红色');
await page.waitForURL((u) => u.searchParams.get('q') === '红色');
await tiles(page, 1, 'a two-character Chinese substring finds the prompt');
check((await prompts(page))[0] === '雪地里的红色狐狸', 'the match is the Chinese prompt');
await page.reload();
await tiles(page, 1, 'the search survives a reload (kept in the URL)');
check((await page.inputValue('#gal-q')) === '红色', 'the search box shows the search from the URL');
await page.fill('#gal-q', 'zz');
await page.getByTestId('gal-empty').waitFor();
check((await page.getByTestId('gal-empty').textContent()).includes('No image matches'), 'a search without matches says so');
await page.getByTestId('gal-clear').click();
await tiles(page, 5, 'clearing the filters lists everything again');
check(new URL(page.url()).search === '', 'the URL has no filters left');

// Lightbox by keyboard: Enter opens, arrows walk, Esc closes and gives focus back.
await page.locator('[data-open]').first().focus();
await page.keyboard.press('Enter');
const lb = page.getByTestId('gal-lightbox');
await lb.waitFor();
const lbPrompt = () => page.getByTestId('gal-lb-prompt').textContent();
check((await lbPrompt()) === newestFirst[0], 'Enter opens the lightbox on the image');
await page.keyboard.press('ArrowRight');
check((await lbPrompt()) === newestFirst[1], '→ shows the next image');
await page.keyboard.press('ArrowRight');
check((await lbPrompt()) === newestFirst[2], '→ again: the Chinese image');
const meta = await lb.locator('.meta').textContent();
check(meta.includes('gpt-image-1') && meta.includes('1024x1024') && meta.includes('low'), `the lightbox shows model, size and quality (${meta.slice(0, 120)})`);
await page.keyboard.press('ArrowLeft');
check((await lbPrompt()) === newestFirst[1], '← goes back');
await page.keyboard.press('ArrowRight');
await page.waitForFunction(() => document.querySelector('[data-testid=gal-lb-img]')?.complete);
check(
  /\/api\/v1\/me\/gallery\/\d+\/image$/.test(await page.getByTestId('gal-lb-img').getAttribute('src')) &&
    (await page.getByTestId('gal-download').getAttribute('href')).endsWith('?download=1'),
  'the lightbox shows the image and a download link',
);
await page.getByTestId('gal-fav').click();
await page.waitForFunction(() => document.querySelector('[data-testid=gal-fav]')?.getAttribute('aria-pressed') === 'true');
check(true, 'the Chinese image is marked as a favourite');
await axe(page, 'lightbox');
await shot(page, 'gallery-lightbox.png');
await page.keyboard.press('Escape');
await lb.waitFor({ state: 'hidden' });
// The dialog hides first and the browser puts focus back on the element
// that opened it (the first tile); the page's close handler, a task later,
// moves it to the tile of the image shown last. Wait for that.
const focusedPrompt = () => page.evaluate(() => document.activeElement?.closest('.tile')?.querySelector('.prompt')?.textContent);
let focused = await focusedPrompt();
for (const end = Date.now() + 5_000; focused !== newestFirst[2] && Date.now() < end; focused = await focusedPrompt()) {
  await new Promise((r) => setTimeout(r, 50));
}
check(focused === newestFirst[2], `Esc closes the lightbox and focus returns to the image's tile (${focused})`);

// Favourites filter.
await page.selectOption('#gal-fav', 'true');
await page.waitForURL((u) => u.searchParams.get('favourite') === 'true');
await tiles(page, 1, 'the favourites filter keeps the favourite');
check((await page.locator('.tile .star').count()) === 1, 'the tile shows a star');
await page.reload();
await tiles(page, 1, 'the favourites filter survives a reload');
check((await page.inputValue('#gal-fav')) === 'true', 'the filter control shows it');
await page.selectOption('#gal-model', 'gpt-image-1');
await page.waitForURL((u) => u.searchParams.get('model') === 'gpt-image-1');
await page.getByTestId('gal-clear').click();
await tiles(page, 5, 'filters cleared');

// Batch delete, undone: nothing is sent.
const deletes = [];
page.on('request', (r) => {
  if (r.url().endsWith('/api/v1/me/gallery/delete')) deletes.push(r.postDataJSON());
});
await page.getByTestId('gal-select').click();
await page.locator('.tile .pick input').nth(0).check();
await page.locator('.tile .pick input').nth(1).check();
await page.getByTestId('gal-delete-selected').click();
await tiles(page, 3, 'deleted images are hidden at once');
await page.getByTestId('gal-undo').click();
await tiles(page, 5, 'Undo brings them back');
await page.waitForTimeout(7000);
check(deletes.length === 0, 'an undone delete is never sent');
await page.reload();
await tiles(page, 5, 'after a reload the undone images are still there');

// Not undone: sent when the window passes.
await page.getByTestId('gal-select').click();
await page.locator('.tile', { hasText: 'a green bicycle' }).locator('.pick input').check();
await page.getByTestId('gal-delete-selected').click();
await tiles(page, 4, 'the deleted image is hidden');
await page.getByTestId('gal-undo-toast').waitFor({ state: 'detached', timeout: 15_000 });
await page.waitForFunction(() => true);
check(deletes.length === 1 && deletes[0].ids.length === 1, `the delete is sent when the undo window passes ${JSON.stringify(deletes)}`);
await page.waitForTimeout(500);
await page.reload();
await tiles(page, 4, 'gone after a reload');
check(!(await prompts(page)).includes('a green bicycle by the canal'), 'the bicycle is gone');

// Not undone, page left at once: sent on the way out.
await page.locator('[data-open]').last().click();
await lb.waitFor();
check((await lbPrompt()) === 'a lighthouse at dusk', 'the last image opens on click');
await page.getByTestId('gal-delete').click();
await tiles(page, 3, 'the lightbox deletes its image (hidden at once)');
await page.locator('nav a[href="/me/keys"]').click();
await waitPath(page, '/me/keys');
await page.waitForTimeout(800);
await page.goto(base + '/gallery');
await tiles(page, 3, 'leaving the page sends the pending delete');
check(!(await prompts(page)).includes('a lighthouse at dusk'), 'the lighthouse is gone');

// Export → delete all → import → the same gallery.
const before = await prompts(page);
const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('gal-export').click()]);
const zipPath = path.join(os.tmpdir(), `gallery-${Date.now()}.zip`);
await dl.saveAs(zipPath);
const zip = await readFile(zipPath);
check(zip.subarray(0, 2).toString() === 'PK' && zip.includes(Buffer.from('metadata.ndjson')), `the export is a ZIP with metadata.ndjson (${zip.length} B)`);
await page.getByTestId('gal-select').click();
await page.getByRole('button', { name: 'Select all loaded' }).click();
await page.getByTestId('gal-delete-selected').click();
await page.getByTestId('gal-empty').waitFor();
await page.getByTestId('gal-undo-toast').waitFor({ state: 'detached', timeout: 15_000 });
await page.waitForTimeout(500);
await page.reload();
await page.getByTestId('gal-empty').waitFor();
const emptyText = await page.getByTestId('gal-empty').textContent();
check(emptyText.includes('response_format'), `the empty state says how images get here (${emptyText.trim().slice(0, 60)}…)`);
await shot(page, 'gallery-empty.png');

// A hostile archive: a path outside images/.
await page.setInputFiles('#gal-file', { name: 'evil.zip', mimeType: 'application/zip', buffer: zipOf('../evil.png', Buffer.from('x')) });
await page.getByTestId('gal-import-submit').click();
await page.locator('#gal-file-error').waitFor();
check((await page.locator('#gal-file-error').textContent()).length > 5, `a hostile archive is refused on the field (${await page.locator('#gal-file-error').textContent()})`);
check((await page.locator('#gal-file').getAttribute('aria-invalid')) === 'true', 'the file field is marked invalid');

await page.setInputFiles('#gal-file', zipPath);
await page.getByTestId('gal-import-submit').click();
await page.getByTestId('gal-import-result').waitFor();
const imported = await page.getByTestId('gal-import-result').textContent();
check(imported.includes('Imported 3 images'), `the import says how many (${imported})`);
await tiles(page, 3, 'the imported images are listed');
check(JSON.stringify(await prompts(page)) === JSON.stringify(before), `the same gallery again, in the same order ${JSON.stringify(await prompts(page))}`);
check((await page.locator('.tile', { hasText: '雪地里的红色狐狸' }).locator('.star').count()) === 1, 'the favourite survives the round trip');
await thumbsReady(page, 3);
await clean(p, 'gallery (user)');
await p.context.close();

// Dark and narrow.
const dark = await signIn({ colorScheme: 'dark' });
await tiles(dark.page, 3, 'dark: listed');
await dark.page.waitForFunction(() => [...document.querySelectorAll('.tile img')].filter((i) => i.complete && i.naturalWidth > 0).length === 3);
await axe(dark.page, 'gallery (dark)');
await shot(dark.page, 'gallery-dark.png');
await clean(dark, 'gallery (dark)');
await dark.context.close();

const narrow = await signIn({ width: 375, height: 760 });
await tiles(narrow.page, 3, 'narrow: listed');
await narrow.page.waitForFunction(() => [...document.querySelectorAll('.tile img')].filter((i) => i.complete && i.naturalWidth > 0).length === 3);
const overflow = await narrow.page.evaluate(() => {
  const w = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > w + 1).map((e) => e.tagName.toLowerCase() + '.' + e.className);
  return { by: document.documentElement.scrollWidth - w, wide: wide.slice(0, 5) };
});
check(overflow.by <= 0, `no sideways scrolling at 375 px ${JSON.stringify(overflow)}`);
await shot(narrow.page, 'gallery-narrow.png');
await clean(narrow, 'gallery (narrow)');
await narrow.context.close();

// Chinese.
const zh = await signIn({ locale: 'zh-CN' });
check((await h1(zh.page)) === '图库', 'the page reads in Chinese');
await tiles(zh.page, 3, 'zh: listed');
await zh.page.waitForFunction(() => [...document.querySelectorAll('.tile img')].filter((i) => i.complete && i.naturalWidth > 0).length === 3);
check((await zh.page.getByTestId('gal-export').textContent()).includes('导出'), 'the export link reads in Chinese');
await axe(zh.page, 'gallery (zh)');
await shot(zh.page, 'gallery-zh.png');
await clean(zh, 'gallery (zh)');
await zh.context.close();

// More images than a page: scrolling loads the next one, and so does the
// Load more button from the keyboard.
const many = await signIn({}, { email: process.env.SY_MANY_EMAIL, password: user.password });
await tiles(many.page, 30, 'a page of 30 images first');
check(await many.page.getByTestId('gal-more').isVisible(), 'a Load more button is offered');
await many.page.locator('.sentinel').scrollIntoViewIfNeeded();
await tiles(many.page, 36, 'scrolling to the end loads the rest');
check((await gone(many.page.getByTestId('gal-more'))), 'no Load more once everything is loaded');
await many.page.reload();
await tiles(many.page, 30, 'after a reload, a page again');
await many.page.getByTestId('gal-more').focus();
await many.page.keyboard.press('Enter');
await tiles(many.page, 36, 'Load more from the keyboard loads the rest');
await clean(many, 'gallery (many)');
await many.context.close();

// An admin: their own gallery is empty; everyone's is read-only.
const ad = await signIn({}, admin);
await ad.page.getByTestId('gal-empty').waitFor();
await ad.page.getByTestId('gal-all-toggle').locator('input').check();
await ad.page.waitForURL((u) => u.searchParams.get('all') === '1');
await tiles(ad.page, 30, "an admin sees everyone's images, a page at a time");
await ad.page.getByTestId('gal-more').click();
await tiles(ad.page, 39, "all of everyone's images");
const adminThumb = await ad.page.locator('.tile img').first().getAttribute('src');
check(adminThumb?.startsWith('/api/v1/admin/gallery/'), `through the admin routes (${adminThumb})`);
check((await gone(ad.page.getByTestId('gal-select'))) && (await gone(ad.page.getByTestId('gal-import'))), 'no selection or import in the admin view');
await ad.page.locator('[data-open]').first().click();
await ad.page.getByTestId('gal-lightbox').waitFor();
check((await gone(ad.page.getByTestId('gal-delete'))) && (await gone(ad.page.getByTestId('gal-fav'))), 'the admin lightbox is read-only');
await ad.page.keyboard.press('Escape');
await axe(ad.page, 'gallery (admin)');
await clean(ad, 'gallery (admin)');
await ad.context.close();

await finish();
