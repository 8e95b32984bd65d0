/**
 * Can this machine run the e2e tests? They need: Linux, CAP_NET_ADMIN (TUN devices, addresses) and
 * CAP_SYS_ADMIN (`ip netns add`), /dev/net/tun, a working `ip netns`, and the native addon built.
 * Checked synchronously, so that describeTun() can decide at collection time.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';

export type TunAvailability = { ok: true } | { ok: false; reason: string };

/** Repository root (test/e2e/helpers/ -> ../../..). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const CAP_NET_ADMIN = 12n;
const CAP_SYS_ADMIN = 21n;

function effectiveCaps(): bigint {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : 0n;
  } catch {
    return 0n;
  }
}

export function tunAvailable(): TunAvailability {
  if (process.platform !== 'linux') return { ok: false, reason: `TUN e2e tests need Linux (this is ${process.platform})` };
  const caps = effectiveCaps();
  const has = (bit: bigint): boolean => ((caps >> bit) & 1n) === 1n;
  if (!has(CAP_NET_ADMIN) || !has(CAP_SYS_ADMIN)) {
    return { ok: false, reason: 'needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for network namespaces): run with sudo' };
  }
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return { ok: false, reason: '/dev/net/tun is missing or not accessible (modprobe tun)' };
  }
  const ip = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 5000 });
  if (ip.error || ip.status !== 0) {
    return { ok: false, reason: `\`ip netns\` does not work (install iproute2): ${ip.error?.message ?? ip.stderr.trim()}` };
  }
  const built = ['native/build/Release/tun.node', 'native/build/Debug/tun.node'].some((p) => existsSync(REPO_ROOT + p));
  if (!built) return { ok: false, reason: 'the native addon is not built: run `npm install` (or `npm run install` to build only the addon)' };
  return { ok: true };
}

/**
 * Like vitest's describe() for tests that need a real TUN device in a namespace. Where that is not
 * possible they are skipped with the reason in the suite name, or, when TUNSTACK_REQUIRE_TUN=1
 * (CI), they fail with the reason instead of passing silently.
 */
export function describeTun(name: string, fn: () => void): void {
  const availability = tunAvailable();
  if (availability.ok) {
    describe(name, fn);
    return;
  }
  const { reason } = availability;
  if (process.env.TUNSTACK_REQUIRE_TUN === '1') {
    describe(name, () => {
      it('has a usable TUN environment (TUNSTACK_REQUIRE_TUN=1)', () => {
        throw new Error(`TUN e2e tests are required (TUNSTACK_REQUIRE_TUN=1) but cannot run: ${reason}`);
      });
    });
    return;
  }
  console.warn(`[e2e] skipping "${name}": ${reason}`);
  describe.skip(`${name} [skipped: ${reason}]`, fn);
}
