// The smallest suite on a real node (web/browsertest_test.go): the file's
// administrator signs in and lands on the dashboard. It proves the shared
// plumbing (browsertest.Start, e2e/lib.mjs) that the page suites build on.
import { base, check, clean, finish, h1, login, newPage, waitPath } from './lib.mjs';

const admin = { email: process.env.SY_ADMIN_EMAIL, password: process.env.SY_ADMIN_PASSWORD };
const p = await newPage();
await p.page.goto(base + '/');
await waitPath(p.page, '/login');
await login(p.page, admin);
await waitPath(p.page, '/');
await p.page.getByRole('heading', { level: 1 }).waitFor();
check((await h1(p.page)) === 'Dashboard', 'the file administrator signs in on a real node');
await clean(p, 'real node sign-in');
await finish();
