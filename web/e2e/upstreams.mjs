// Bedrock and vertex channels, and an openai flavor, made in the console
// (web/upstreams_browser_test.go): the form's fields per type, its checks
// and the server's field errors in place, credentials entered (an AWS
// access key) and loaded (a service-account key file), and Test succeeding
// against the mock. Screenshots: light, dark, 简体中文, 375 px.
import { args, axe, base, check, clean, finish, gone, login, newPage, shot, upstream, waitPath } from './lib.mjs';

const admin = { email: process.env.SY_ADMIN_EMAIL, password: process.env.SY_ADMIN_PASSWORD };
const p = await newPage();
const { page } = p;
await page.goto(base + '/login');
await login(page, admin);
await waitPath(page, '/');

const form = page.getByTestId('channel-form');
async function openNew() {
  await page.goto(base + '/channels');
  await page.getByTestId('new-channel').click();
  await form.waitFor();
}
const fieldError = (id) => page.locator(`#${id}-error`);
async function submit() {
  await form.locator('button[type=submit]').click();
}
async function openChannel(name) {
  await form.waitFor({ state: 'detached' });
  const row = page.locator(`tr[data-channel="${name}"]`);
  await row.waitFor();
  await row.getByRole('link', { name }).click();
  await page.getByRole('heading', { name, level: 1 }).waitFor();
}
async function testChannel(what) {
  await page.getByRole('button', { name: 'Test channel' }).click();
  const res = page.getByTestId('channel-test-result');
  await res.waitFor();
  const text = await res.textContent();
  check(text.startsWith('OK:'), `${what}: Test succeeds against the mock (${text})`);
}

// 1. Bedrock: the region replaces the base URL, which may stay blank.
await openNew();
await page.fill('#ch-name', 'aws');
await page.selectOption('#ch-type', 'bedrock');
await page.locator('#ch-region').waitFor();
check(await page.locator('#ch-project').count() === 0, 'a bedrock channel asks for no project');
await page.fill('#ch-models', 'claude-br');
await page.fill('#ch-region', 'Virginia');
await submit();
await fieldError('ch-region').waitFor();
check((await fieldError('ch-region').textContent()).includes('Not an AWS region'), 'the form refuses a region that is not one, in place');
await shot(page, 'upstreams-bedrock-form-error.png');
// A private endpoint (the mock) and a valid region: the server accepts.
await page.fill('#ch-region', 'us-east-1');
await page.fill('#ch-base_url', upstream);
await submit();
await openChannel('aws');
check((await page.locator('dl.facts').textContent()).includes('us-east-1'), 'the channel shows its region');
await page.getByTestId('import').click();
await page.locator('#import-access_key_id').fill(args.akid);
await page.getByTestId('import-form').locator('button[type=submit]').click();
await page.locator('#import-secret_access_key[aria-invalid=true]').waitFor();
check(true, 'an access key without its secret is refused in place');
await page.locator('#import-secret_access_key').fill(args.secret);
await shot(page, 'upstreams-bedrock-key.png');
await page.getByTestId('import-form').locator('button[type=submit]').click();
const report = page.getByTestId('import-report');
await report.waitFor();
check((await report.textContent()).includes('1 added'), 'the AWS access key is added');
await page.keyboard.press('Escape');
await gone(report);
await page.locator('tr[data-credential]').first().waitFor();
const listed = await page.locator('main').textContent();
check(!listed.includes(args.secret), 'the secret access key is not listed');
check(listed.includes('AKI…0001'), 'the credential is hinted by its access key id');
await testChannel('bedrock');
await shot(page, 'upstreams-bedrock-detail.png');

// 2. Vertex: project and location; the server's error lands on its field.
await openNew();
await page.fill('#ch-name', 'gcp');
await page.selectOption('#ch-type', 'vertex');
await page.fill('#ch-project', 'proj');
await page.fill('#ch-location', 'us-east5');
await page.fill('#ch-models', 'gemini-2.5-flash');
await page.fill('#ch-base_url', upstream);
await page.fill('#ch-token_url', 'ftp://nowhere');
await submit();
await fieldError('ch-token_url').waitFor();
check(true, 'a token URL that is not http(s) is refused in place');
await page.fill('#ch-token_url', upstream + args['token-path']);
await page.fill('#ch-project', 'proj');
await page.fill('#ch-location', 'us-east5');
await shot(page, 'upstreams-vertex-form.png');
await submit();
await openChannel('gcp');
await page.getByTestId('import').click();
check((await page.getByTestId('import-form').textContent()).includes('service account'), 'the import explains the key file');
await page.setInputFiles('#import-file', args['sa-file']);
await page.getByText('Loaded proj-0123abcd.json.').waitFor();
check((await page.inputValue('#import-lines')).includes('"private_key"'), 'the key file is loaded as downloaded (multi-line JSON)');
await page.getByTestId('import-form').locator('button[type=submit]').click();
await report.waitFor();
check((await report.textContent()).includes('1 added, 0 duplicate, 0 invalid.'), 'the service account is imported');
await page.keyboard.press('Escape');
await gone(report);
check(!(await page.locator('main').textContent()).includes('PRIVATE KEY'), 'the key file is not listed');
await testChannel('vertex');
await axe(page, 'vertex channel');

// 3. The server names a field the form does not check: a second vertex
// channel with the same name is a conflict on the name.
await openNew();
await page.fill('#ch-name', 'gcp');
await page.selectOption('#ch-type', 'vertex');
await page.fill('#ch-project', 'proj');
await page.fill('#ch-location', 'us-east5');
await page.fill('#ch-models', 'gemini-2.5-flash');
await submit();
await page.locator('#ch-name[aria-invalid=true]').waitFor();
check((await fieldError('ch-name').textContent()).includes('already exists'), 'the server’s conflict shows on the name');

// 4. openai: a flavor, with a hint per flavor.
await openNew();
await page.fill('#ch-name', 'local');
await page.fill('#ch-base_url', upstream + '/quirks/keyless/v1');
await page.fill('#ch-models', 'llama3');
await page.selectOption('#ch-flavor', 'ollama');
check((await page.getByTestId('flavor-hint').textContent()).includes('No key needed'), 'the ollama flavor explains itself');
await page.selectOption('#ch-flavor', 'legacy');
check((await page.getByTestId('flavor-hint').textContent()).includes('stream_options'), 'the hint follows the flavor');
await page.selectOption('#ch-flavor', 'ollama');
await shot(page, 'upstreams-flavor.png');
await submit();
await openChannel('local');
check((await page.locator('dl.facts').textContent()).includes('Ollama'), 'the channel shows its flavor');
await testChannel('keyless ollama channel (its credential added on create)');
await clean(p, 'upstreams light');

// 5. Dark, 简体中文, and 375 px.
const dz = await newPage({ locale: 'zh-CN', colorScheme: 'dark' });
await dz.page.goto(base + '/login');
await login(dz.page, admin);
await waitPath(dz.page, '/');
await dz.page.goto(base + '/channels');
await dz.page.getByTestId('new-channel').click();
await dz.page.selectOption('#ch-type', 'vertex');
await dz.page.locator('#ch-project').waitFor();
check((await dz.page.getByTestId('channel-form').textContent()).includes('Google Cloud 项目'), 'the vertex fields are in Chinese');
await dz.page.getByTestId('channel-form').locator('button[type=submit]').click();
await dz.page.locator('#ch-project[aria-invalid=true]').waitFor();
await shot(dz.page, 'upstreams-vertex-dark-zh.png');
await axe(dz.page, 'vertex form dark zh');
await dz.page.selectOption('#ch-type', 'openai');
await dz.page.selectOption('#ch-flavor', 'deepseek');
await shot(dz.page, 'upstreams-flavor-dark-zh.png');
await clean(dz, 'upstreams dark zh');

const narrow = await newPage({ width: 375, height: 800 });
await narrow.page.goto(base + '/login');
await login(narrow.page, admin);
await waitPath(narrow.page, '/');
await narrow.page.goto(base + '/channels');
await narrow.page.getByTestId('new-channel').click();
await narrow.page.selectOption('#ch-type', 'bedrock');
await narrow.page.locator('#ch-region').waitFor();
const overflow = await narrow.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
check(overflow <= 0, `no sideways scroll at 375 px (${overflow} px)`);
await shot(narrow.page, 'upstreams-bedrock-narrow.png');
await clean(narrow, 'upstreams narrow');

await finish();
