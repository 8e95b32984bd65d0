/**
 * A real headless Chromium inside a namespace, driven over the DevTools protocol (CDP) on a pipe:
 * `--remote-debugging-pipe` reads commands from fd 3 and writes replies and events to fd 4, each a
 * JSON message ended by a NUL byte. A pipe rather than --remote-debugging-port because the browser
 * runs inside the test's namespace, whose loopback the test process cannot reach, and because Node
 * 20 has no WebSocket client without a flag.
 *
 *   const b = await launchChromium(ns);
 *   const page = await b.open('http://10.77.0.2/live');
 *   await page.waitFor('document.querySelectorAll("tbody tr").length > 0');
 *   await b.close();
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Netns } from './netns.ts';
import { waitForExit } from './wait.ts';

/** The chromium binary on PATH (Debian: chromium), or undefined. */
export function chromiumPath(): string | undefined {
  for (const name of ['chromium', 'chromium-browser']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim();
  }
  return undefined;
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

export interface Page {
  readonly sessionId: string;
  /** Evaluate an expression in the page; its value (JSON-able), or a rejection with the exception. */
  evaluate<T = unknown>(expression: string): Promise<T>;
  /** Poll an expression until it is truthy; rejects after timeoutMs with the last value. */
  waitFor(expression: string, timeoutMs?: number): Promise<void>;
  /** A PNG of the viewport, to a file. */
  screenshot(file: string): Promise<void>;
}

export interface Browser {
  open(url: string, width?: number, height?: number): Promise<Page>;
  close(): Promise<void>;
}

export async function launchChromium(ns: Netns, binary = chromiumPath() ?? 'chromium'): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'tsk-lv-chromium-'));
  const child: ChildProcess = ns.spawn(
    binary,
    [
      '--headless=new',
      '--no-sandbox', // as root, Chromium refuses to start with its sandbox
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-extensions',
      '--disable-background-networking',
      '--hide-scrollbars',
      `--user-data-dir=${profile}`,
      '--remote-debugging-pipe',
      'about:blank',
    ],
    { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] },
  );
  const toBrowser = child.stdio[3] as Writable;
  const fromBrowser = child.stdio[4] as Readable;
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let buf = Buffer.alloc(0);
  let dead: Error | undefined;
  fromBrowser.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    let nul: number;
    while ((nul = buf.indexOf(0)) >= 0) {
      const msg = JSON.parse(buf.subarray(0, nul).toString('utf8')) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
      buf = buf.subarray(nul + 1);
      if (msg.id === undefined) continue; // an event: not needed here
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(`CDP: ${msg.error.message}`));
      else p?.resolve(msg.result ?? {});
    }
  });
  child.on('exit', (code, signal) => {
    dead = new Error(`chromium exited (${code ?? signal})`);
    for (const p of pending.values()) p.reject(dead);
    pending.clear();
  });

  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> => {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`CDP ${method} timed out`));
      }, 20_000);
      pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      toBrowser.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  };

  // The browser is ready when it answers.
  await send('Browser.getVersion');

  return {
    async open(url, width = 1400, height = 1000) {
      const { targetId } = (await send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
      const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
      await send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
      await send('Page.enable', {}, sessionId);
      await send('Page.navigate', { url }, sessionId);
      const page: Page = {
        sessionId,
        async evaluate<T>(expression: string): Promise<T> {
          const r = (await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, sessionId)) as {
            result: { value?: T };
            exceptionDetails?: { text: string; exception?: { description?: string } };
          };
          if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
          return r.result.value as T;
        },
        async waitFor(expression, timeoutMs = 15_000) {
          const end = Date.now() + timeoutMs;
          let last: unknown;
          for (;;) {
            try {
              last = await page.evaluate(expression);
              if (last) return;
            } catch (e) {
              last = (e as Error).message;
            }
            if (Date.now() > end) throw new Error(`timed out waiting for ${expression} (last: ${JSON.stringify(last)})`);
            await new Promise((r) => setTimeout(r, 100));
          }
        },
        async screenshot(file) {
          const { data } = (await send('Page.captureScreenshot', { format: 'png' }, sessionId)) as { data: string };
          writeFileSync(file, Buffer.from(data, 'base64'));
        },
      };
      return page;
    },
    async close() {
      if (!dead) {
        await send('Browser.close').catch(() => {});
        await waitForExit(child, 5000).catch(() => child.kill('SIGKILL'));
      }
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
