/**
 * Seed 003, "map 方法的使用" (using map): `pool.map(scrape, urls)` fetches
 * four URLs on three workers; each worker prints whether its URL could be
 * fetched.
 *
 * - first argument: the function each worker runs (exported);
 * - second: an iterable; each element is passed to the function.
 *
 * The seed fetches four sites on the Internet, one of them made up. So that
 * the example runs anywhere (and its output can be checked), the main program
 * serves three pages itself on 127.0.0.1 and the made-up site becomes a page
 * that does not exist (404, Python's `HTTPError`). `EXAMPLES_REAL_URLS=1`
 * fetches the seed's own URLs instead.
 *
 * The seed's `scrape` returns nothing; this one returns whether it succeeded,
 * so the main program can show what `map` returns: one result per URL, in
 * the order of the URLs.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, isMain } from 'multiprocessing-ts';

export async function scrape(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`HTTP ${res.status}`); // urlopen raises HTTPError
    console.log(`URL: ${url} Scraped`);
    return true;
  } catch {
    console.log(`URL: ${url} not Scraped`);
    return false;
  }
}

if (isMain()) {
  const sites = new Set(['/www.baidu.com/', '/www.meituan.com/', '/blog.csdn.net/']);
  const server = createServer((req, res) => {
    const found = sites.has(req.url ?? '');
    res.writeHead(found ? 200 : 404, { 'content-type': 'text/html' });
    res.end(found ? `<h1>${req.url}</h1>` : 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const pool = new Pool(3);
  const urls =
    process.env.EXAMPLES_REAL_URLS === '1'
      ? ['https://www.baidu.com/', 'https://www.meituan.com/', 'https://blog.csdn.net/', 'https://xxxyxxx.net/']
      : [`${base}/www.baidu.com/`, `${base}/www.meituan.com/`, `${base}/blog.csdn.net/`, `${base}/xxxyxxx.net/`];
  const results = await pool.map(scrape, urls);
  pool.close();
  await pool.join();
  server.close();
  console.log('Main process finished');
  console.log(`map returned [${results.join(', ')}]`);
}
