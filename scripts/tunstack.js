#!/usr/bin/env node
// The `tunstack` command. In a clone (src/ is there) it runs the TypeScript sources through tsx, so
// an edit is what runs next, with no build step; in an installed package (only dist/ is shipped) it
// runs the compiled JavaScript with plain node. Source maps are switched on before anything loads,
// so stack traces point at the TypeScript lines either way.
import { existsSync } from 'node:fs';

process.setSourceMapsEnabled(true);
const sources = new URL('../src/cli.ts', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  await import('../dist/cli.js');
}
