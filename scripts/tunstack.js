#!/usr/bin/env -S node --max-semi-space-size=2 --initial-old-space-size=64
// The `tunstack` command. In a clone (src/ is there) it runs the TypeScript sources through tsx, so
// an edit is what runs next, with no build step, and stack traces point at the .ts lines (tsx's
// source maps). In an installed package (only dist/ is shipped) it runs the compiled JavaScript with
// plain node, and stack traces point at dist/*.js unless you ask for the .ts lines with
// NODE_OPTIONS=--enable-source-maps: the source maps Node then parses stay in the heap and make every
// full garbage collection slower (uploads of 200 MB: about a tenth slower; README, "Performance").
//
// The node flags on the first line (env -S splits them off; `npm start` passes the same) tune V8's
// garbage collector for what a stack allocates: few small objects per byte, and many large buffers
// that die young. The TUN device reads into 256 KiB ArrayBuffers (src/link/tun-device.ts); V8 counts
// them as external memory and starts a full mark-compact after every 64 MiB of it, unless a
// young-generation collection has freed them first. --max-semi-space-size=2 (MiB, instead of up to
// 16) makes those collections come every few MiB of allocation, so they free the dead chunks;
// --initial-old-space-size=64 (MiB) keeps V8 from starting full collections while the old
// generation is still small (under tsx, whose loader's heap made them come every 20-30 MB uploaded).
// Uploads of 200 MB: about 650 MB/s without the flags, 1 000 with them (README, "Performance").
// scripts/bench/lib.sh starts the stack with the same flags; test/scripts/node-flags.test.ts keeps
// the three places equal.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli.ts', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register(); // also switches source maps on
  await import(sources.href);
} else {
  await import('../dist/cli.js');
}
