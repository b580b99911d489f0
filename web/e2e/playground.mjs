// The chat playground on a real node (web/playground_browser_test.go): a
// normal user signs in, adds a second key through the console API, streams
// answers from the mock upstream with tokens and cost shown, stops a long
// stream, attaches an image (and is refused an oversized one), copies the
// request as curl, sees a mid-stream error, reads the page in Chinese;
// keyboard focus, axe and screenshots (light, dark, narrow, zh) on the way;
// a user without keys is pointed to My keys.
import path from 'node:path';
import { axe, base, check, clean, finish, focusVisible, h1, login, newPage, out, png, shot, waitPath, gone, textIs } from './lib.mjs';

const user = { email: process.env.SY_USER_EMAIL, password: process.env.SY_USER_PASSWORD };

const p = await newPage();
const { page } = p;
await p.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });

// Sign in as the user; the playground is a page of theirs.
await page.goto(base + '/playground');
await waitPath(page, '/login');
await login(page, user);
await waitPath(page, '/playground');
await page.getByRole('heading', { level: 1 }).waitFor();
check((await h1(page)) === 'Playground', 'a normal user reaches /playground after signing in');
check((await page.locator('nav a[href="/playground"]').count()) === 1, 'the navigation links to the playground');

// A second key, created through the console API as the user would on My keys.
const created = await page.evaluate(async () => {
  const r = await fetch('/api/v1/me/keys', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'e2e' }) });
  return { status: r.status, body: await r.json() };
});
check(created.status === 201 && created.body.key, `a key is created through the console API (${created.status})`);
await page.reload();
await page.locator('#pg-key option').nth(1).waitFor({ state: 'attached' });
const keyLabels = await page.locator('#pg-key option').allTextContents();
check(keyLabels.length === 2 && keyLabels.some((l) => l.startsWith('laptop')) && keyLabels.some((l) => l.startsWith('e2e')), `the key picker lists the user's keys ${JSON.stringify(keyLabels)}`);
const html = await page.content();
check(!html.includes(created.body.key), "no key's value is on the page");
await page.selectOption('#pg-key', { label: keyLabels.find((l) => l.startsWith('laptop')) });
await page.waitForFunction(() => document.querySelector('#pg-model')?.value === 'gpt-4o-mini');
const modelIds = await page.locator('#pg-model option').evaluateAll((os) => os.map((o) => o.value));
check(modelIds.join() === 'gpt-4o-mini', `the model picker offers the key's chat models, embeddings left out ${JSON.stringify(modelIds)}`);
const priceText = await page.getByTestId('pg-price').textContent();
check(priceText.includes('$2.50') && priceText.includes('$10.00'), `the model's price is shown (${priceText.trim()})`);

// Validation stays on the field.
await page.fill('#pg-temperature', '3');
await page.fill('#pg-message', 'hello');
await page.keyboard.press('Enter');
await page.locator('#pg-temperature-error').waitFor();
check((await page.evaluate(() => document.activeElement?.id)) === 'pg-temperature', 'a bad temperature is refused on its field, which takes focus');
check((await gone(page.getByTestId('pg-turn-user'))), 'nothing is sent while a setting is wrong');
await page.fill('#pg-temperature', '0.2');
await page.fill('#pg-max-tokens', '200');
await page.fill('#pg-system', 'You are terse.');

// A streamed answer, sent from the keyboard: text, tokens, cost.
await page.focus('#pg-message');
await page.fill('#pg-message', 'Hello, playground [[mock chunks=6]]');
let chatBody = null;
page.on('request', (r) => {
  if (r.url().includes('/api/v1/me/playground/chat/completions')) chatBody = { url: r.url(), body: r.postDataJSON() };
});
await page.keyboard.press('Enter');
const meta = page.getByTestId('pg-meta').first();
await meta.waitFor();
const answer1 = await page.getByTestId('pg-turn-assistant').first().locator('.answer-text').textContent();
check(answer1.startsWith('Mock reply to: Hello, playground'), `the answer streams in (${answer1.slice(0, 40)}…)`);
const tokens1 = await page.getByTestId('pg-tokens').first().textContent();
check(/^\d+ in · \d+ out$/.test(tokens1.trim()), `tokens in and out are shown (${tokens1})`);
const cost1 = await page.getByTestId('pg-cost').first().textContent();
check(/^Cost \$0\.0\d+$/.test(cost1.trim()), `the cost is shown from the model's price (${cost1})`);
check(
  chatBody && chatBody.url.includes('key_id=') && chatBody.body.stream === true && chatBody.body.stream_options?.include_usage === true && chatBody.body.temperature === 0.2 && chatBody.body.max_tokens === 200 && chatBody.body.messages[0].role === 'system',
  `the request streams with usage, the settings and the system prompt, as the chosen key ${JSON.stringify(chatBody?.body)?.slice(0, 200)}`,
);
check(!JSON.stringify(chatBody).includes('sk-sy-'), 'the request carries no key value');

// A long stream, stopped.
await page.fill('#pg-message', 'Tell me a long story [[mock chunks=2000 chunk_delay=30ms]]');
await page.getByTestId('pg-send').click();
const stop = page.getByTestId('pg-stop');
await stop.waitFor();
await page.waitForFunction(() => (document.querySelectorAll('[data-testid=pg-turn-assistant]')[1]?.textContent ?? '').includes('Mock reply'));
await stop.click();
await page.getByTestId('pg-stopped').waitFor();
check(await page.getByTestId('pg-send').isVisible(), 'Stop ends the stream and Send comes back');
check((await page.evaluate(() => document.activeElement?.id)) === 'pg-message', 'focus returns to the message box');

// Images: an oversized one is refused before sending; a small one is sent
// as a content part and shows in the conversation.
await page.getByTestId('pg-file').setInputFiles({ name: 'huge.png', mimeType: 'image/png', buffer: Buffer.alloc(6 * 1024 * 1024, 1) });
const refusal = await page.locator('#pg-attach-error').textContent();
check(refusal.includes('huge.png') && refusal.includes('5 MB'), `an image over the limit is refused (${refusal})`);
await page.getByTestId('pg-file').setInputFiles({ name: 'teal.png', mimeType: 'image/png', buffer: png(48, 48, [0, 128, 128]) });
await page.locator('.pending img').waitFor();
check((await gone(page.locator('#pg-attach-error'))), 'a good image clears the refusal');
// The mock obeys the last directive in the body, history included.
await page.fill('#pg-message', 'What is in this picture? [[mock chunks=4]]');
await page.getByTestId('pg-send').click();
await page.getByTestId('pg-meta').nth(2).waitFor();
check((await page.getByTestId('pg-turn-user').nth(2).locator('img').count()) === 1, 'the image shows in the conversation');
const sentImage = chatBody.body.messages.at(-1).content;
check(Array.isArray(sentImage) && sentImage[1]?.type === 'image_url' && sentImage[1].image_url.url.startsWith('data:image/png;base64,'), 'the image is sent as a data URL content part');
const inTokens = Number((await page.getByTestId('pg-turn-assistant').nth(2).getByTestId('pg-tokens').textContent()).match(/^(\d+)/)[1]);
check(inTokens >= 85, `the upstream counted the image (${inTokens} tokens in)`);

// Copy as curl: the key as a placeholder.
const curlBtn = page.getByTestId('pg-copy-curl');
await page.fill('#pg-message', 'next question');
await curlBtn.click();
await page.getByTestId('pg-snippet').waitFor();
await page.getByTestId('pg-snippet-copy').click();
await page.getByTestId('pg-snippet-copy').filter({ hasText: 'Copied' }).waitFor();
const curl = await page.evaluate(() => navigator.clipboard.readText());
check(curl.startsWith(`curl '${base}/v1/chat/completions'`) && curl.includes('Bearer $SWITCHYARD_API_KEY') && !curl.includes('sk-sy-'), 'curl is copied with a placeholder for the key');
const curlBody = JSON.parse(curl.slice(curl.indexOf("<<'JSON'\n") + 9, curl.lastIndexOf('\nJSON')));
check(curlBody.model === 'gpt-4o-mini' && curlBody.messages.at(-1).content === 'next question' && curlBody.messages.some((m) => Array.isArray(m.content) && m.content[1].image_url.url === sentImage[1].image_url.url), 'the copied body is the next request, image data whole');
check((await page.getByTestId('pg-snippet').locator('pre').textContent()).includes('base64,…'), 'the shown snippet shortens the image data');
await axe(page, 'snippet dialog');
// The viewport only: a full-page shot would show the backdrop cut off.
await page.screenshot({ path: path.join(out, 'playground-curl.png') });
await page.keyboard.press('Escape');
await page.getByTestId('pg-snippet').waitFor({ state: 'hidden' });
check(await curlBtn.evaluate((el) => el === document.activeElement), 'Escape closes the dialog and focus returns to its button');
await page.fill('#pg-message', '');

// Pasting an image attaches it; remove it again with its button.
await page.focus('#pg-message');
await page.evaluate(async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], 'pasted.png', { type: 'image/png' }));
  document.querySelector('#pg-message').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
}, png(8, 8, [200, 40, 40]).toString('base64'));
await page.locator('.pending img').waitFor();
check((await page.locator('.pending').textContent()).includes('pasted.png'), 'a pasted image is attached');
await page.getByRole('button', { name: 'Remove pasted.png' }).click();
check((await gone(page.locator('.pending img'))), 'an attached image can be removed');

// Markup in an answer is text: the mock echoes the prompt back.
await page.fill('#pg-message', '<img src=x onerror=alert(1)> `ls -la` [[mock chunks=3]]');
await page.keyboard.press('Enter');
const fourth = page.getByTestId('pg-turn-assistant').nth(3);
await fourth.getByTestId('pg-meta').waitFor();
check(
  (await gone(fourth.locator('.answer-text img'))) && (await fourth.locator('.answer-text').textContent()).includes('<img src=x onerror=alert(1)>'),
  'markup in an answer shows as text, never as HTML',
);
check((await textIs(fourth.locator('code.inline'), 'ls -la')), 'inline code is set apart');

// A mid-stream error shows in the answer with what arrived before it.
await page.fill('#pg-message', 'break please [[mock error_after=3]]');
await page.keyboard.press('Enter');
await page.getByTestId('pg-error').waitFor();
check((await page.getByTestId('pg-error').textContent()).length > 10, `a stream error shows in the answer (${(await page.getByTestId('pg-error').textContent()).trim().slice(0, 80)})`);

// Keyboard: every control in the settings and composer shows its focus.
await page.focus('#pg-key');
await focusVisible(page, 8, 'playground controls');

await page.setViewportSize({ width: 1280, height: 1000 });
await page.evaluate(() => document.querySelector('[data-testid=pg-log]').scrollTo({ top: 0 }));
await axe(page, 'playground with a conversation');
await shot(page, 'playground-light.png');

// Dark, at the end of the conversation: the image, its answer, the error.
await page.emulateMedia({ colorScheme: 'dark' });
await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
await page.evaluate(() => document.querySelector('[data-testid=pg-log]').scrollTo({ top: 1e6 }));
await axe(page, 'playground, dark');
await shot(page, 'playground-dark.png');
await page.emulateMedia({ colorScheme: 'light' });

// Narrow: reloaded at 375 px, the settings start folded and the
// conversation comes back from this tab's storage.
await page.setViewportSize({ width: 375, height: 800 });
await page.reload();
await page.getByTestId('pg-tokens').first().waitFor();
check(!(await page.locator('.settings details').evaluate((d) => d.open)), 'on a narrow screen the settings start folded');
await page.evaluate(() => document.querySelector('[data-testid=pg-log]').scrollTo({ top: 1e6 }));
const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
check(overflow <= 0, `nothing overflows at 375 px (${overflow} px)`);
await axe(page, 'playground, narrow');
await shot(page, 'playground-narrow.png');
await page.setViewportSize({ width: 1280, height: 800 });

// Chinese; the conversation survives the reload (sessionStorage).
await page.evaluate(() => localStorage.setItem('sy.locale', 'zh-CN'));
await page.reload();
await page.getByRole('heading', { level: 1 }).waitFor();
check((await h1(page)) === '试验场', 'the page reads in Chinese');
await page.getByTestId('pg-tokens').first().waitFor();
check((await page.getByTestId('pg-turn-assistant').count()) === 5, 'the conversation is kept across a reload in this tab');
const zhTokens = await page.getByTestId('pg-tokens').first().textContent();
check(zhTokens.startsWith('输入 '), `token counts in Chinese (${zhTokens})`);
check((await page.getByTestId('pg-cost').first().textContent()).includes('US$'), 'cost in US$ for Chinese');
await axe(page, 'playground, zh-CN');
await shot(page, 'playground-zh.png');

// Clear empties the conversation, here and in storage.
await page.getByTestId('pg-clear').click();
await page.reload();
await page.getByRole('heading', { level: 1 }).waitFor();
await page.locator('.empty-log').waitFor();
check((await gone(page.getByTestId('pg-turn-user'))), 'Clear conversation forgets it');
const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }));
check(!stored.includes('sk-') && !stored.includes('playground.turns'), 'nothing of the conversation or any key is in localStorage');

await clean(p, 'playground');

// A user without keys is told how to get one.
const q = await newPage();
await q.page.goto(base + '/playground');
await waitPath(q.page, '/login');
await login(q.page, { email: process.env.SY_KEYLESS_EMAIL, password: user.password });
await waitPath(q.page, '/playground');
await q.page.getByTestId('pg-no-keys').waitFor();
check((await q.page.getByTestId('pg-no-keys').locator('a[href="/me/keys"]').count()) === 1, 'a user without keys is sent to My keys');
await axe(q.page, 'playground without keys');
await clean(q, 'playground without keys');
await finish();
