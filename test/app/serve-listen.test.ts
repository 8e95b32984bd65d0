/**
 * runServe's listen wait: a listener that fails (EADDRINUSE) rejects instead of throwing an
 * uncaught 'error' or waiting forever. Over a tunstack stack on a memory link: no device, no root.
 */
import { describe, expect, it } from 'vitest';
import { listenOn } from '../../src/app/serve.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { createMemoryLink } from '../../src/link/memory-device.ts';
import { createStack } from '../../src/stack.ts';
import { SystemClock } from '../../src/util/clock.ts';

describe('listenOn', () => {
  it('resolves once listening, rejects with EADDRINUSE when the port is taken', async () => {
    const clock = new SystemClock();
    const [a] = createMemoryLink(clock, { latencyMs: 1 });
    const stack = createStack({ device: a, address: '10.0.0.2', clock });
    try {
      const echo = stack.tcp.createServer((socket) => socket.pipe(socket));
      await listenOn(echo, 7);
      const http = createHttpServer(stack, (_req, res) => res.end('x'));
      await expect(listenOn(http, 7)).rejects.toMatchObject({ code: 'EADDRINUSE' });
      // The failed wait leaves no 'error' listener behind; the server listens fine on a free port.
      expect(http.listenerCount('error')).toBe(0);
      const other = createHttpServer(stack, (_req, res) => res.end('x'));
      await listenOn(other, 80);
      expect(other.listenerCount('error')).toBe(0);
      echo.close();
      other.close();
    } finally {
      await stack.close();
    }
  });
});
