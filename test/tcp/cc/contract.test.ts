/**
 * The generic CongestionControl contract (test/tcp/cc/contract.ts) applied to CUBIC, with and without
 * HyStart++ and fast convergence, and to the tests' Reno model, so the suite itself is seen to hold
 * for more than one algorithm.
 */
import { congestionControlContract } from './contract.ts';
import { Cubic } from '../../../src/tcp/cc/cubic.ts';
import { RenoModel } from './reno-model.ts';
import { NewReno } from '../../../src/tcp/cc/newreno.ts';

congestionControlContract('CUBIC', (mss) => new Cubic(mss));
congestionControlContract('CUBIC without HyStart++ and fast convergence', (mss) => new Cubic(mss, { hystart: false, fastConvergence: false }));
congestionControlContract('Reno model', (mss) => new RenoModel(mss));
congestionControlContract('NewReno (the stack\'s)', (mss) => new NewReno(mss));
