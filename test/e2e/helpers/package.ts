/**
 * The package as a user gets it: `npm pack` of this repository (its prepack step builds dist/), the
 * tarball installed into an empty project in a fresh temp directory that every user can read (the
 * unprivileged e2e runs use it). Once per test file; remove() deletes the directory.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './tun-available.ts';

export interface PackedFile {
  path: string;
  size: number;
}

export interface InstalledPackage {
  /** The temp directory: the tarball and app/ are in it. */
  dir: string;
  /** The consumer project, with node_modules/tunstack installed from the tarball. */
  app: string;
  tarball: string;
  /** `npm pack --json`: tarball size (bytes), unpacked size, files. */
  size: number;
  unpackedSize: number;
  files: PackedFile[];
  remove(): void;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command to completion (stdin closed), killed after timeoutMs. */
export function run(cmd: string, args: readonly string[], opts: { cwd: string; timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out after ${opts.timeoutMs ?? 120_000} ms\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function must(r: RunResult, what: string): RunResult {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** npm with the cache it already has preferred: the registry is asked only for what is missing. */
const NPM_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=warn'];

export async function packAndInstall(): Promise<InstalledPackage> {
  const dir = mkdtempSync('/tmp/tunstack-pkg-');
  chmodSync(dir, 0o755);
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    const packed = must(await run('npm', ['pack', '--json', '--pack-destination', dir, ...NPM_FLAGS], { cwd: REPO_ROOT, timeoutMs: 180_000 }), 'npm pack');
    // prepack's output (tsc) comes before the JSON on stdout.
    const json = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as [{ filename: string; size: number; unpackedSize: number; files: PackedFile[] }];
    const info = json[0];
    const tarball = join(dir, info.filename);
    const app = join(dir, 'app');
    mkdirSync(app);
    // allowScripts: npm 11 warns about a dependency's install script (node-gyp here) unless approved.
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', allowScripts: { tunstack: true } }));
    must(await run('npm', ['install', tarball, ...NPM_FLAGS], { cwd: app, timeoutMs: 300_000 }), 'npm install of the tarball');
    return { dir, app, tarball, size: info.size, unpackedSize: info.unpackedSize, files: info.files, remove };
  } catch (err) {
    remove();
    throw err;
  }
}
