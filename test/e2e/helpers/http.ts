/**
 * The raw HTTP client for e2e tests: test/e2e/fixtures/http-client.py on a kernel socket inside the
 * namespace sends exactly the bytes given (all at once or one byte per write) and reports every
 * response and how the connection ended (fin, reset, timeout).
 */
import { expect } from 'vitest';
import type { Netns } from './netns.ts';
import { patternByte } from '../../../src/app/demo-site.ts';

export type Step = { send: string; bytewise?: boolean } | { read: number; head_only?: boolean } | { eof: number };
export interface RawResponse {
  status: number;
  head: string;
  headers: Map<string, string>;
  body: Buffer;
}
export interface StepResult {
  responses?: RawResponse[];
  eof?: 'fin' | 'reset' | 'timeout' | 'data';
}

/** Run http-client.py inside the namespace with these steps; every step's result, in order. */
export async function rawHttp(ns: Netns, steps: Step[], timeoutMs = 20_000): Promise<{ port: number; results: StepResult[] }> {
  const r = await ns.exec('python3', ['test/e2e/fixtures/http-client.py', '10.77.0.2', '80'], {
    input: JSON.stringify(steps),
    timeoutMs,
  });
  const lines = r.stdout.trim().split('\n');
  if (r.code !== 0 || lines.length !== steps.length + 1) {
    throw new Error(`http-client.py failed (code ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  const port = (JSON.parse(lines[0]!) as { local_port: number }).local_port;
  const results = lines.slice(1).map((l) => {
    const o = JSON.parse(l) as { responses?: { status: number; head: string; body: string }[]; eof?: StepResult['eof'] };
    const res: StepResult = {};
    if (o.eof !== undefined) res.eof = o.eof;
    if (o.responses) res.responses = o.responses.map(toResponse);
    return res;
  });
  return { port, results };
}

export function toResponse(o: { status: number; head: string; body: string }): RawResponse {
  const headers = new Map<string, string>();
  for (const line of o.head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return { status: o.status, head: o.head, headers, body: Buffer.from(o.body, 'base64') };
}

/** The responses of result `i` (asserting there are `n`). */
export function responsesOf(results: StepResult[], i: number, n: number): RawResponse[] {
  const rs = results[i]?.responses;
  expect(rs?.length).toBe(n);
  return rs!;
}


/** What the demo site serves at /bytes/N: byte i is patternByte(i) (src/app/demo-site.ts). */
export function siteBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = patternByte(i);
  return b;
}
