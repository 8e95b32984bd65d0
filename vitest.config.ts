import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // e2e tests create network namespaces and TUN devices: run test files one at a time
    // so two of them never race for the same namespace or device name.
    fileParallelism: false,
    // After each file, whatever namespace it left (a test that failed before its destroy()) goes.
    setupFiles: ['test/e2e/helpers/leftovers-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
