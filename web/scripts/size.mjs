// Prints what the first load of a console page transfers: the JS and CSS
// that index.html loads, gzipped as the server sends them, against the
// 150 KB budget (the login page; the dashboard adds its own chunk, uPlot
// included, and must fit too); and the pages' own chunks, loaded on demand. The browser
// suite measures the real transfer; this is the quick check after a build.
import { readFile, readdir } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';

const BUDGET = 150 * 1024;
const html = await readFile('dist/index.html', 'utf8');
const first = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
const gz = async (f) => gzipSync(await readFile(`dist/${f}`), { level: 9 }).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

let total = 0;
for (const f of first) {
  const n = await gz(f);
  total += n;
  console.log(`  ${f}  ${kb(n)}`);
}
console.log(`first load (login page): ${kb(total)} gzipped JS+CSS, budget ${kb(BUDGET)}`);
const rest = (await readdir('dist/assets')).map((f) => `assets/${f}`).filter((f) => !first.includes(f));
let lazy = 0;
for (const f of rest) lazy += await gz(f);
console.log(`page chunks loaded on demand: ${rest.length} files, ${kb(lazy)} gzipped`);
let over = total > BUDGET;

// A page's first load is the login page's plus the page's chunk and what it
// needs, as the entry's preload map lists them:
// import(`./Dashboard-….js`),__vite__mapDeps([2,3,4]) over m.f=["assets/…", …].
const entry = first.find((f) => f.endsWith('.js'));
const src = entry ? await readFile(`dist/${entry}`, 'utf8') : '';
const files = JSON.parse(src.match(/m\.f=(\[[^\]]*\])/)?.[1] ?? '[]');
for (const page of ['Dashboard']) {
  const m = src.match(new RegExp(`import\\([\`'"]\\./(${page}-[\\w-]+\\.js)[\`'"]\\)(?:,__vite__mapDeps\\(\\[([\\d,]+)\\]\\))?`));
  if (!m) {
    console.error(`${page}: its chunk is not imported by ${entry}`);
    over = true;
    continue;
  }
  const deps = m[2] ? m[2].split(',').map((i) => files[Number(i)]) : [`assets/${m[1]}`];
  let page_total = total;
  for (const f of deps) page_total += await gz(f);
  console.log(`first load of ${page.toLowerCase()}: ${kb(page_total)} gzipped JS+CSS (login + ${deps.join(', ')}), budget ${kb(BUDGET)}`);
  if (page_total > BUDGET) over = true;
}
if (over) {
  console.error('over budget');
  process.exit(1);
}
