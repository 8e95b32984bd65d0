import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/util/clock.ts';
import { createMemoryLink } from '../../src/link/memory-device.ts';
import { PcapDevice } from '../../src/link/pcap-device.ts';
import { LINKTYPE_RAW, MemoryPcapSink, PcapWriter, readPcap } from '../../src/trace/pcap-writer.ts';
import { ACK, SYN, tcpPacket } from './segments.ts';
import { codeOf, ok } from '../wire/helpers.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function tshark(): string | undefined {
  for (const p of ['/usr/bin/tshark', '/usr/local/bin/tshark']) if (existsSync(p)) return p;
  return undefined;
}

describe('PcapWriter', () => {
  it('writes the classic global header and record headers (microseconds, little-endian)', () => {
    const sink = new MemoryPcapSink();
    const w = new PcapWriter(sink);
    w.write(Uint8Array.of(0x45, 1, 2), 1_700_000_000_123.456);
    w.write(Uint8Array.of(0x45), 1_700_000_001_999.9996); // rounds up into the next second
    expect(sink.bytes().length).toBe(0); // buffered: nothing written before flush
    w.closeSync();
    expect(sink.closed).toBe(true);
    const b = sink.bytes();
    expect(hex(b.subarray(0, 24))).toBe('d4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + 'ffff0000' + '65000000');
    expect(hex(b.subarray(24, 40 + 3))).toBe('00f15365' + '40e20100' + '03000000' + '03000000' + '450102');
    expect(hex(b.subarray(43))).toBe('02f15365' + '00000000' + '01000000' + '01000000' + '45');
  });

  it('writes nanosecond files with the 0xa1b23c4d magic, and truncates to the snaplen', () => {
    const sink = new MemoryPcapSink();
    const w = new PcapWriter(sink, { precision: 'ns', snaplen: 2 });
    w.write(Uint8Array.of(1, 2, 3, 4), 1_700_000_000_123.5);
    w.closeSync();
    const b = sink.bytes();
    expect(hex(b.subarray(0, 4))).toBe('4d3cb2a1');
    expect(hex(b.subarray(16, 20))).toBe('02000000');
    expect(hex(b.subarray(24))).toBe('00f15365' + 'e0755c07' + '02000000' + '04000000' + '0102');
    const f = ok(readPcap(b));
    expect(f).toMatchObject({ precision: 'ns', snaplen: 2, linkType: LINKTYPE_RAW });
    expect(f.packets).toEqual([{ tsMs: 1_700_000_000_123.5, data: Uint8Array.of(1, 2), origLength: 4 }]);
  });

  it('writes in chunks, not one write per packet', () => {
    const writes: number[] = [];
    const w = new PcapWriter({ write: (c) => writes.push(c.length), close: () => {} }, { chunkBytes: 1000, now: () => 0 });
    for (let i = 0; i < 100; i++) w.write(new Uint8Array(84));
    w.closeSync();
    // 24 + 100 * (16 + 84) = 10024 bytes in 1000-byte chunks
    expect(writes.reduce((a, b) => a + b, 0)).toBe(10_024);
    expect(writes.length).toBeLessThanOrEqual(12);
    expect(w.packets).toBe(100);
  });

  it('flushes periodically when asked, and keeps a periodic write error for the next flush', () => {
    vi.useFakeTimers();
    try {
      const writes: number[] = [];
      let fail = false;
      const sink = {
        write: (c: Uint8Array) => {
          if (fail) throw new Error('ENOSPC');
          writes.push(c.length);
        },
        close: () => {},
      };
      const w = new PcapWriter(sink, { flushIntervalMs: 1000, now: () => 0 });
      w.write(new Uint8Array(10));
      vi.advanceTimersByTime(999);
      expect(writes).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(writes).toEqual([24 + 16 + 10]);
      fail = true;
      w.write(new Uint8Array(10));
      vi.advanceTimersByTime(1000); // must not throw out of the timer
      fail = false;
      expect(() => w.flush()).toThrow('ENOSPC');
      w.closeSync(); // the buffered record is still written
      expect(writes).toEqual([50, 26]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('reads big-endian files and rejects bad ones with codes', () => {
    const be = Uint8Array.from(Buffer.from('a1b2c3d4' + '00020004' + '00000000' + '00000000' + '0000ffff' + '00000065' + '00000001' + '000003e8' + '00000001' + '00000001' + '45', 'hex'));
    expect(ok(readPcap(be)).packets).toEqual([{ tsMs: 1001, data: Uint8Array.of(0x45), origLength: 1 }]);
    expect(codeOf(() => readPcap(new Uint8Array(10)))).toBe('ERR_PCAP_TRUNCATED');
    expect(codeOf(() => readPcap(new Uint8Array(24)))).toBe('ERR_PCAP_BAD_MAGIC');
    expect(codeOf(() => readPcap(be.subarray(0, be.length - 1)))).toBe('ERR_PCAP_TRUNCATED');
    expect(codeOf(() => readPcap(be.subarray(0, 30)))).toBe('ERR_PCAP_TRUNCATED');
  });

  it('writes a file that tshark reads back with the right packet count', (ctx) => {
    const bin = tshark();
    if (bin === undefined) {
      ctx.skip();
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'tsk-pcap-'));
    try {
      const path = join(dir, 'cap.pcap');
      const w = PcapWriter.open(path);
      const base = { src: '10.77.0.1', sport: 40000, dst: '10.77.0.2', dport: 80 };
      w.write(tcpPacket({ ...base, seq: 1000, flags: SYN }));
      w.write(tcpPacket({ src: base.dst, sport: 80, dst: base.src, dport: 40000, seq: 5000, ack: 1001, flags: SYN | ACK }));
      w.write(tcpPacket({ ...base, seq: 1001, ack: 5001, flags: ACK }));
      w.closeSync();
      expect(ok(readPcap(readFileSync(path))).packets.length).toBe(3);
      const out = execFileSync(bin, ['-r', path, '-T', 'fields', '-e', 'tcp.flags.str', '-e', 'tcp.checksum.status', '-o', 'tcp.check_checksum:TRUE'], {
        encoding: 'utf8',
        timeout: 30_000,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const lines = out.trim().split('\n');
      expect(lines.length).toBe(3);
      // The checksums our test helper computes are the ones tshark verifies (1 = good, 0 = bad, 2 = unverified).
      for (const l of lines) expect(l.split('\t')[1]).toBe('1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PcapDevice', () => {
  it('records what is sent and received through it, and closes the writer it owns', async () => {
    const clock = new ManualClock();
    const [a, b] = createMemoryLink(clock);
    const sink = new MemoryPcapSink();
    let t = 1000;
    const dev = new PcapDevice(a, new PcapWriter(sink, { now: () => t++ }));
    const got: Uint8Array[] = [];
    dev.setReceiver((ps) => got.push(...ps));
    dev.send(Uint8Array.of(0x45, 1));
    b.send(Uint8Array.of(0x45, 2));
    clock.advance(1);
    expect(got).toEqual([Uint8Array.of(0x45, 2)]);
    await dev.close();
    expect(sink.closed).toBe(true);
    expect(ok(readPcap(sink.bytes())).packets).toEqual([
      { tsMs: 1000, data: Uint8Array.of(0x45, 1), origLength: 2 },
      { tsMs: 1001, data: Uint8Array.of(0x45, 2), origLength: 2 },
    ]);
    expect(dev.stats()).toMatchObject({ txPackets: 1, rxPackets: 1 });
  });
});
