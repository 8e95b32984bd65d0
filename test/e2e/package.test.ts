/**
 * The package as Node users install it: `npm pack`, the tarball installed into an empty project, and
 * there, with plain node (no tsx anywhere): the library imported as ESM and run over a memory link,
 * `npx tunstack --help`, the declarations type-checked in a consumer TypeScript file, stack traces
 * mapped to the TypeScript lines, and the README's library example run as written (over a real TUN
 * device, inside a namespace of this test).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, describeTun, REPO_ROOT, type Netns } from './helpers/index.ts';
import { packAndInstall, run, type InstalledPackage } from './helpers/package.ts';

let pkg: InstalledPackage | undefined;

beforeAll(async () => {
  pkg = await packAndInstall();
}, 420_000);

afterAll(() => pkg?.remove());

function installed(): InstalledPackage {
  if (!pkg) throw new Error('the package was not installed');
  return pkg;
}

const LIBRARY_SCRIPT = `
import { Stack, TunDevice, createHttpServer, createMemoryLink, SystemClock } from 'tunstack';
const guard = setTimeout(() => { console.error('timed out'); process.exit(3); }, 10000);
const clock = new SystemClock();
const [a, b] = createMemoryLink(clock);
const server = new Stack({ device: a, address: '10.0.0.2', clock });
const client = new Stack({ device: b, address: '10.0.0.1', clock });
const http = createHttpServer(server, (req, res) => res.end(\`hello \${req.socket.remoteAddress} \${req.url}\\n\`));
http.listen(80);
const sock = client.tcp.connect({ host: '10.0.0.2', port: 80 }, () => sock.write('GET /x HTTP/1.1\\r\\nHost: s\\r\\nConnection: close\\r\\n\\r\\n'));
let got = '';
sock.on('data', (d) => (got += d));
await new Promise((r) => sock.on('end', r));
sock.end();
const [head, body] = got.split('\\r\\n\\r\\n');
console.log(JSON.stringify({ open: typeof TunDevice.open, status: head.split('\\r\\n')[0], body, passiveOpens: server.stats().tcp.passiveOpens, activeOpens: client.stats().tcp.activeOpens }));
http.close();
await server.close();
await client.close();
clearTimeout(guard);
`;

const CONSUMER_TS = `
import { Stack, TunDevice, createHttpServer, createMemoryLink, SystemClock, type TcpInfo, type StackStats } from 'tunstack';
const clock = new SystemClock();
const [a] = createMemoryLink(clock);
const stack: Stack = new Stack({ device: a, address: '10.0.0.2', clock });
const table: TcpInfo[] = stack.connections();
const stats: StackStats = stack.stats();
const server = createHttpServer(stack, (req, res) => res.end(String(req.url)));
const open: (opts?: { name?: string }) => TunDevice = TunDevice.open;
// The declarations are real types, not any: each line below must be an error.
// @ts-expect-error address is a string
new Stack({ device: a, address: 42 });
// @ts-expect-error no such method
stack.noSuchMethod();
// @ts-expect-error TcpInfo has no such field
table[0]?.noSuchField;
export { server, stats, open };
`;

describe('the packed package', () => {
  it('ships dist (JS, declarations, source maps), the native sources, LICENSE: no tests, no CI, no dev scripts', () => {
    const { files, size, unpackedSize } = installed();
    const paths = files.map((f) => f.path).sort();
    console.log(`[package] tarball ${size} bytes (${unpackedSize} unpacked), ${paths.length} files`);
    for (const p of ['dist/index.js', 'dist/index.d.ts', 'dist/index.js.map', 'dist/cli.js', 'native/tun.c', 'native/ifconfig.c', 'native/binding.gyp', 'LICENSE', 'README.md', 'package.json', 'scripts/tunstack.js']) {
      expect(paths).toContain(p);
    }
    expect(paths.filter((p) => !p.startsWith('dist/'))).toEqual(
      ['LICENSE', 'README.md', 'native/README.md', 'native/binding.gyp', 'native/ifconfig.c', 'native/ifconfig.h', 'native/tun.c', 'native/uring.c', 'native/uring.h', 'package.json', 'scripts/netns-run.sh', 'scripts/tunstack.js'],
    );
    expect(paths.filter((p) => /^(test|src|\.ci)\/|native\/build\/|\.tsbuildinfo$/.test(p))).toEqual([]);
    expect(paths.filter((p) => p.startsWith('dist/') && !/\.(js|d\.ts)(\.map)?$/.test(p))).toEqual([]);
  });

  it('installs with pino as its only runtime dependency, builds the addon, and nothing else', () => {
    const { app } = installed();
    const manifest = JSON.parse(readFileSync(join(app, 'node_modules/tunstack/package.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(manifest.dependencies as object)).toEqual(['pino']);
    expect(manifest.os).toEqual(['linux']);
    expect(existsSync(join(app, 'node_modules/tunstack/native/build/Release/tun.node'))).toBe(true);
    for (const dev of ['tsx', 'pino-pretty', 'typescript', 'vitest', 'esbuild']) expect(existsSync(join(app, 'node_modules', dev))).toBe(false);
  });

  it('imports Stack, TunDevice, createHttpServer with plain node and serves HTTP over a memory link', async () => {
    const { app } = installed();
    writeFileSync(join(app, 'library.mjs'), LIBRARY_SCRIPT);
    const r = await run(process.execPath, ['library.mjs'], { cwd: app, timeoutMs: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ open: 'function', status: 'HTTP/1.1 200 OK', body: 'hello 10.0.0.1 /x\n', passiveOpens: 1, activeOpens: 1 });
  });

  it('npx tunstack --help prints the usage (the bin runs dist with plain node); a bad flag exits 2', async () => {
    const { app } = installed();
    const help = await run('npx', ['--no-install', 'tunstack', '--help'], { cwd: app, timeoutMs: 60_000 });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage:\n {2}tunstack serve /);
    const bad = await run('npx', ['--no-install', 'tunstack', 'serve', '--addr', '10.77.0.300'], { cwd: app, timeoutMs: 60_000 });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^tunstack: --addr must be an IPv4 address like 10\.77\.0\.2, got "10\.77\.0\.300"$/m);
  });

  it('stack traces point at the TypeScript lines (source maps)', async () => {
    const { app } = installed();
    writeFileSync(
      join(app, 'trace.mjs'),
      `import { Stack, createMemoryLink, SystemClock } from 'tunstack';\nconst [a] = createMemoryLink(new SystemClock());\ntry { new Stack({ device: a, address: '10.0.0.300' }); } catch (e) { console.log(e.stack); }\n`,
    );
    const r = await run(process.execPath, ['--enable-source-maps', 'trace.mjs'], { cwd: app, timeoutMs: 30_000 });
    expect(r.stdout).toMatch(/^WireError: not an IPv4 address: "10\.0\.0\.300"/);
    expect(r.stdout).toMatch(/node_modules\/tunstack\/src\/wire\/ipv4-address\.ts:\d+:\d+\)/);
    expect(r.stdout).toMatch(/node_modules\/tunstack\/src\/stack\.ts:\d+:\d+\)/);
  });

  it('the declarations type-check in a consumer TypeScript file (and are not any)', async () => {
    const { app } = installed();
    writeFileSync(join(app, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          // @types/node from this repository: the consumer installed nothing but the tarball.
          typeRoots: [join(REPO_ROOT, 'node_modules/@types')],
        },
        files: ['consumer.ts'],
      }),
    );
    const r = await run(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', '.'], { cwd: app, timeoutMs: 120_000 });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

/** The first ```js block of the README's "Library API" section. */
function readmeLibraryExample(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Library API'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README.md has no ```js block under "## Library API"');
  return m[1]!;
}

describeTun("the README's library example, as written, with the installed package", () => {
  let ns: Netns;
  beforeAll(async () => {
    ns = await createNetns('tsk-pkg');
  });
  afterAll(async () => {
    await ns?.destroy();
  });

  it('opens tunstack0, answers the kernel-side client and closes', async () => {
    const { app } = installed();
    writeFileSync(join(app, 'example.mjs'), readmeLibraryExample());
    const r = await ns.exec(process.execPath, ['example.mjs'], { cwd: app, timeoutMs: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^you are 10\.77\.0\.1:\d+$/m);
    // closed: the device is gone from the namespace
    const link = await ns.exec('ip', ['link', 'show', 'tunstack0']);
    expect(link.code).not.toBe(0);
  });
});
