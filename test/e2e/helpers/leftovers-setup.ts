/**
 * A vitest setup file (vitest.config.ts): after every test file, the namespaces it created and did
 * not destroy are destroyed (netns.ts destroyLeftovers), with whatever still runs in them.
 */
import { afterAll } from 'vitest';
import { destroyLeftovers } from './netns.ts';

afterAll(() => destroyLeftovers());
