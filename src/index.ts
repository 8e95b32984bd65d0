/**
 * tunstack as a library. The pieces a program needs to run the stack over a TUN device (or an
 * in-memory link), serve HTTP on it, and watch it work.
 */
export { Stack, createStack, type StackOptions, type StackStats } from './stack.ts';
export type { NetDevice, DeviceStats, PacketHandler, RxOffload } from './link/device.ts';
export type { Ipv4Stats } from './ip/ipv4-layer.ts';
export type { Ipv4Counters, IcmpCounters } from './ip/counters.ts';
export type { TcpStats, TcpLimits } from './tcp/tcp-layer.ts';
export type { TcpCounters } from './tcp/counters.ts';
export { RX_CSUM_PARTIAL, RX_CSUM_VALID, RX_CSUM_TRUSTED, RX_GSO_TCPV4 } from './link/device.ts';
export { TunDevice, type TunOpenOptions } from './link/tun-device.ts';
export { createMemoryLink, type MemoryDevice } from './link/memory-device.ts';
export { FaultDevice, parseImpairSpec, formatImpairSpec, type FaultOptions } from './link/fault-device.ts';
export { PcapDevice } from './link/pcap-device.ts';
export { TapDevice } from './link/tap-device.ts';
export { PcapWriter, readPcap } from './trace/pcap-writer.ts';
export { PacketTracer } from './trace/tracer.ts';
export { renderLadder, ladderFromPcapFile } from './trace/ladder.ts';
export { TcpNet } from './socket/tcp-net.ts';
export { TcpSocket, POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDHUP } from './socket/tcp-socket.ts';
export { TcpServer } from './socket/tcp-server.ts';
export type { ConnectionOptions, TcpInfo, TcpStateName } from './tcp/api.ts';
export { createHttpServer, HttpServer, IncomingRequest, ServerResponse, HttpParseError, TcpPeer } from './http/server.ts';
export type { HttpServerOptions, PeerSocket, RequestHandler } from './http/server.ts';
export { createDemoHandler } from './app/demo-site.ts';
export { SystemClock, ManualClock, type Clock } from './util/clock.ts';
export { TunstackError, WireError, DeviceError, SocketError, UsageError } from './util/errors.ts';
export { formatPacket } from './wire/format.ts';
