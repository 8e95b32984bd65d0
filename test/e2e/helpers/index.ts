/** The e2e harness: namespaces, child processes inside them, and the TUN availability gate. */
export { createNetns, type ExecOptions, type ExecResult, type Netns } from './netns.ts';
export { describeTun, REPO_ROOT, tunAvailable, type TunAvailability } from './tun-available.ts';
export { outputOf, recordOutput, waitForExit, waitForLine, type ExitStatus, type OutputLog } from './wait.ts';
