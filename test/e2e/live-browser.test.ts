/**
 * /live and /ladder in a real browser: headless Chromium (Debian's chromium package) inside the
 * test's namespace, next to `tunstack serve`, driven over the DevTools protocol (helpers/chromium.ts).
 * A curl in the same namespace keeps a connection busy (a slow, rate-limited /bytes download,
 * bounded in size and time); the test asserts that the live page
 *   - loads and connects its event stream (the status says "live"),
 *   - lists the curl's connection in the table, ESTABLISHED,
 *   - updates: that row's "bytes out" grows, and once the row is chosen, new segment rows (with
 *     the stack's reason for each) keep appearing in its ladder,
 * and that /ladder draws the browser's own connection from its SYN.
 * Skipped without chromium, unless TUNSTACK_REQUIRE_TUN=1 (CI), where it fails instead.
 * TUNSTACK_SCREENSHOTS=DIR saves the pages as PNGs there, to look at them.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createNetns, describeTun, type Netns } from './helpers/index.ts';
import { chromiumPath, launchChromium, type Browser } from './helpers/chromium.ts';
import { startServe, type ServeHandle } from './helpers/stack.ts';

const chromium = chromiumPath();
const shots = process.env.TUNSTACK_SCREENSHOTS;

describeTun('live page in a real browser (Chromium, CDP over a pipe)', () => {
  let ns: Netns;
  let serve: ServeHandle | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    if (chromium === undefined) return;
    ns = await createNetns('tsk-lv');
    serve = await startServe(ns);
    browser = await launchChromium(ns, chromium);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
    await ns?.destroy();
  }, 30_000);

  it.skipIf(chromium === undefined && process.env.TUNSTACK_REQUIRE_TUN !== '1')(
    'loads, shows the connection the test made, and updates',
    async () => {
      expect(chromium, 'chromium is not installed (apt-get install chromium)').toBeDefined();
      // A connection that lasts: 600 KB at 20 KB/s, ~30 s, killed after 60 s at most. (240 KB, ~12 s,
      // ended before the page's second look once, under the whole suite's load: its row was gone.)
      const curl = ns.spawn('timeout', ['60', 'curl', '-s', '--limit-rate', '20k', '-o', '/dev/null', 'http://10.77.0.2/bytes/600000']);
      try {
        const page = await browser!.open('http://10.77.0.2/live');
        await page.waitFor(`document.getElementById('statustext').textContent.startsWith('live')`);
        // curl's connection: established, sending (bytes out > 0), not the page's own feed.
        const curlRow = `[...document.querySelectorAll('#conns tbody tr')].find(tr => tr.cells.length > 8 && tr.cells[2].textContent === 'ESTABLISHED' && !tr.cells[1].querySelector('.tag') && Number(tr.cells[8].textContent) > 0)`;
        await page.waitFor(`!!${curlRow}`);
        const key = await page.evaluate<string>(`${curlRow}.dataset.key`);
        expect(key).toMatch(/^10\.77\.0\.2:80-10\.77\.0\.1:\d+$/);
        const out1 = await page.evaluate<number>(`Number(${curlRow}.cells[8].textContent)`);
        // The table updates by itself: the same row, more bytes out.
        const rowOf = `[...document.querySelectorAll('#conns tbody tr')].find(tr => tr.dataset.key === ${JSON.stringify(key)})`;
        await page.waitFor(`Number(${rowOf}.cells[8].textContent) > ${out1}`);

        if (shots) await page.screenshot(join(shots, 'live-start.png'));
        // Choose it: its segments appear in the ladder, and keep coming.
        await page.evaluate(`${rowOf}.click()`);
        await page.waitFor(`document.querySelectorAll('#rows .row').length > 0`);
        const n1 = await page.evaluate<number>(`Number([...document.querySelectorAll('#rows .row')].at(-1).dataset.n)`);
        await page.waitFor(`Number([...document.querySelectorAll('#rows .row')].at(-1).dataset.n) > ${n1}`);
        // Our data segments say why they left; the client's ACKs come back right to left... the
        // opener (curl) is on the left, so our segments are drawn right to left.
        await page.waitFor(`[...document.querySelectorAll('#rows .row.rtl .why')].some(e => e.textContent === 'data')`);
        const title = await page.evaluate<string>(`document.getElementById('ltitle').textContent`);
        expect(title).toContain(key.split('-')[1]!);
        if (shots) await page.screenshot(join(shots, 'live.png'));

        // /ladder: the browser's own connection, from its handshake.
        const lad = await browser!.open('http://10.77.0.2/ladder', 1400, 700);
        await lad.waitFor(`document.querySelectorAll('#rows .row').length >= 4`);
        const first = await lad.evaluate<string>(`document.querySelector('#rows .row .label').textContent`);
        expect(first).toMatch(/^SYN seq=0 win=\d+ <mss 1460/);
        const second = await lad.evaluate<string>(`document.querySelectorAll('#rows .row')[1].querySelector('.why').textContent`);
        expect(second).toBe('syn-ack');
        if (shots) await lad.screenshot(join(shots, 'ladder.png'));

        // SIGTERM with the live page's stream still open: serve ends the streams and exits cleanly.
        const stopped = await serve!.stop();
        serve = undefined;
        expect(stopped.code).toBe(0);
        expect(stopped.lines.some((l) => l.startsWith('tunstack: stats '))).toBe(true);
      } finally {
        curl.kill('SIGTERM');
      }
    },
    90_000,
  );
});
