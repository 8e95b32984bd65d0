/*
 * tun.c — the smallest native piece of tunstack: a Linux TUN device for Node.js (N-API, C).
 *
 * It does only what JavaScript cannot do by itself:
 *   - open /dev/net/tun and attach it to a TUN interface (ioctl TUNSETIFF, IFF_TUN | IFF_NO_PI, so
 *     every read/write is exactly one raw IPv4 datagram, no link header, no packet-info prefix);
 *   - configure the kernel side of the link with the classic SIOCSIF* ioctls (address, netmask,
 *     MTU, up) on an AF_INET datagram socket, so no `ip` program is needed at run time (ifconfig.c);
 *   - watch the nonblocking fd with a uv_poll handle on Node's own event loop (no threadpool) and hand
 *     packets to JavaScript in batches: one JS call per wake-up, up to TUN_BATCH packets (two when
 *     the wake-up's first packet is handed over alone, see read_wakeup);
 *   - write packets with nonblocking write(2), queueing (bounded) on EAGAIN and counting drops.
 *
 * All protocol logic lives in TypeScript (src/link/tun-device.ts and above).
 *
 * Batch layout handed to JS: callback(chunk: ArrayBuffer, offset: number, count: number, error?: string)
 *
 *     chunk[offset ..]       = count x uint32 length (host byte order), in a 64-slot header
 *     chunk[offset + 256 ..] = packet 0, packet 1, ... back to back
 *                              (on a device opened with vnetHdr, each one preceded by its 10-byte
 *                              virtio_net_hdr, not counted in its length: JS skips VNET_HDR_LEN bytes)
 *
 * Packets are read straight into a 256 KiB ArrayBuffer shared by consecutive batches (like Node's
 * Buffer pool): bytes handed to JS are never written again while JS can see them; when a chunk is
 * used up the next one is taken from a small pool of chunks whose ArrayBuffers were garbage-collected,
 * or malloc'ed. (One zeroed ArrayBuffer per batch plus a copy was 3x slower, mostly page faults.)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
#include <uv.h>

#include "ifconfig.h"
#include "uring.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <poll.h>
#include <time.h>
#include <linux/virtio_net.h>

#define TUN_BATCH 64                 /* packets per JS call */
#define TUN_MAX_PACKET 65536         /* largest datagram one read can return */
#define TUN_CHUNK (256 * 1024)       /* batches are read straight into shared 256 KiB ArrayBuffers */
#define TUN_HEADER (TUN_BATCH * 4)   /* room for a batch's lengths, before its packets */
#define TUN_TXQ_MAX 1024             /* packets waiting for EPOLLOUT before we drop */
#define TUN_VNET_HDR ((int)sizeof(struct virtio_net_hdr)) /* 10: see read_batch and tun_write */

typedef struct {
  uint8_t *data;
  size_t len;
  uint16_t gso_size; /* TCP segmentation offload: payload bytes per segment, 0 = a plain packet */
} txq_item;

/* Chunks whose ArrayBuffer JS has garbage-collected come back here to be filled again: their pages
 * are already mapped, whereas fresh memory costs a page fault per 4 KiB (that dominated the read
 * path). Shared by a device and its outstanding chunks; freed when the last of them is gone.
 * Dead chunks come back only when V8 collects, and with receive offload an upload runs through
 * tens of MiB of chunks between two young-generation collections (V8 starts one for every ~32 MiB
 * of young ArrayBuffers): the pool holds up to 32 MiB, so that they are refilled rather than
 * malloc'ed afresh (six 200 MB uploads: 18% of the chunks came from a pool of 16, 96% from one of
 * 128; rxChunksNew and rxChunksReused in stats() count them). */
#define TUN_POOL_MAX 128
typedef struct {
  uint8_t *free_chunks[TUN_POOL_MAX];
  int nfree;
  int refs;     /* 1 for the open device + 1 per chunk JS may still hold */
  int closed;   /* the device is closed: returning chunks are freed, not kept */
} chunk_pool;

static void pool_unref(chunk_pool *p) {
  if (--p->refs > 0) return;
  for (int i = 0; i < p->nfree; i++) free(p->free_chunks[i]);
  free(p);
}

/* Finalizer of a chunk's ArrayBuffer (runs on the JS thread once no view into it remains). */
static void chunk_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  chunk_pool *p = hint;
  if (!p->closed && p->nfree < TUN_POOL_MAX) p->free_chunks[p->nfree++] = data;
  else free(data);
  pool_unref(p);
}

typedef struct tun_s {
  int fd;
  char name[IFNAMSIZ];
  uv_poll_t poll;
  int poll_events;       /* events the poll handle is started with, 0 = stopped */
  int closed;            /* fd closed, handle closing or closed */
  int handle_closed;     /* uv close callback has run */
  int wrapper_gone;      /* JS object finalized */
  int reading;
  int failed;            /* the fd reported an error (e.g. the device was deleted): poll no more */
  int vnet_hdr;          /* opened with IFF_VNET_HDR: every read/write starts with a virtio_net_hdr */
  uint32_t fake_eagain;  /* test hook: this many coming write(2)s fail with EAGAIN (see _simulateEagain) */
  napi_env env;
  napi_ref callback;     /* JS batch callback while reading */
  napi_ref self;         /* strong ref to the JS object while open (like a socket) */
  napi_async_context async_ctx;
  napi_ref chunk;        /* the ArrayBuffer batches are being read into, NULL before the first */
  uint8_t *chunk_data;
  chunk_pool *pool;
  size_t chunk_used;     /* bytes already handed to JS (or skipped for alignment) */
  /* tx queue: ring buffer */
  txq_item txq[TUN_TXQ_MAX];
  uint32_t txq_head, txq_len;
  /* counters (since open) */
  double rx_packets, rx_bytes, rx_batches, rx_errors;
  double tx_packets, tx_bytes, tx_queued, tx_dropped, tx_errors, eagain;
  double tx_gso;         /* super-segments written (each counted once in tx_packets) */
  double chunks_new, chunks_reused; /* read chunks malloc'ed, and refilled from the pool */
  uring *ring;           /* writeBatch through io_uring (useIoUring), NULL: one writev(2) per packet */
  struct ring_batch_s *ring_batch; /* its scratch space */
  double uring_enters, uring_packets; /* io_uring_enter calls made by writeBatch, and packets they wrote */
  uint32_t busy_poll_us; /* after a batch, wait this long for the next packet by polling (0: off) */
  double busy_polls, busy_poll_hits; /* waits made that way, and those the next packet ended */
  int rx_alone;          /* the last wake-up read one packet: hand the next one over before reading on */
  double rx_alone_first; /* wake-ups whose first packet went to JS before the next read (counter) */
} tun_t;

/* ------------------------------------------------------------------------------------------------ */
/* errors                                                                                            */

static const char *errno_hint(int err, const char *syscall) {
  switch (err) {
    case EPERM:
    case EACCES:
      return "needs CAP_NET_ADMIN (sudo), or a persistent device owned by you";
    case ENOENT:
      if (syscall != NULL && strcmp(syscall, "open") == 0) return "load the tun module (modprobe tun)";
      return NULL;
    case EBUSY:
      return "device name in use";
    default:
      return NULL;
  }
}

/* Throw Error{ code: 'EPERM', errno: 1, syscall, hint } with a message naming the device. */
static void throw_errno(napi_env env, int err, const char *syscall, const char *ifname) {
  const char *code = strerrorname_np(err);
  if (code == NULL) code = "EUNKNOWN";
  const char *hint = errno_hint(err, syscall);
  char msg[256];
  /* The hint is a property; DeviceError (src/util/errors.ts) appends it to the message. */
  snprintf(msg, sizeof msg, "%s %s: %s", syscall, (ifname && ifname[0]) ? ifname : "/dev/net/tun", strerror(err));
  napi_value jmsg, jcode, error, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &jcode);
  napi_create_error(env, jcode, jmsg, &error);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, error, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "syscall", v);
  if (hint != NULL) {
    napi_create_string_utf8(env, hint, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, error, "hint", v);
  }
  napi_throw(env, error);
}

static void throw_type(napi_env env, const char *msg) { napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg); }

#define NAPI_CALL(env, call)                                   \
  do {                                                         \
    if ((call) != napi_ok) {                                   \
      bool pending = false;                                    \
      napi_is_exception_pending((env), &pending);              \
      if (!pending) napi_throw_error((env), NULL, #call " failed"); \
      return NULL;                                             \
    }                                                          \
  } while (0)

/* ------------------------------------------------------------------------------------------------ */
/* lifetime                                                                                          */

static void maybe_free(tun_t *t) {
  if (t->handle_closed && t->wrapper_gone) {
    free(t);
  }
}

static void on_handle_closed(uv_handle_t *h) {
  tun_t *t = h->data;
  t->handle_closed = 1;
  maybe_free(t);
}

static void txq_clear(tun_t *t) {
  while (t->txq_len > 0) {
    txq_item *it = &t->txq[t->txq_head];
    free(it->data);
    it->data = NULL;
    t->txq_head = (t->txq_head + 1) % TUN_TXQ_MAX;
    t->txq_len--;
    t->tx_dropped++;
  }
}

/* Stop polling, close the fd (a non-persistent device disappears now), release JS references. */
static void tun_close(tun_t *t, napi_env env) {
  if (t->closed) return;
  t->closed = 1;
  t->reading = 0;
  uv_poll_stop(&t->poll);
  t->poll_events = 0;
  close(t->fd);
  t->fd = -1;
  txq_clear(t);
  uring_close(t->ring);
  t->ring = NULL;
  free(t->ring_batch);
  t->ring_batch = NULL;
  uv_close((uv_handle_t *)&t->poll, on_handle_closed);
  if (env != NULL) {
    if (t->callback != NULL) napi_delete_reference(env, t->callback);
    if (t->self != NULL) napi_delete_reference(env, t->self);
    if (t->async_ctx != NULL) napi_async_destroy(env, t->async_ctx);
    if (t->chunk != NULL) napi_delete_reference(env, t->chunk);
  }
  t->chunk = NULL;
  if (t->pool != NULL) {
    t->pool->closed = 1;
    pool_unref(t->pool);
    t->pool = NULL;
  }
  t->callback = NULL;
  t->self = NULL;
  t->async_ctx = NULL;
}

static void tun_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  tun_t *t = data;
  /* Only reachable when the object was closed (an open device holds a strong ref to itself), or at
   * environment teardown; either way no JS may be touched here. */
  tun_close(t, NULL);
  t->wrapper_gone = 1;
  maybe_free(t);
  (void)env;
}

/* ------------------------------------------------------------------------------------------------ */
/* poll                                                                                              */

static void on_poll(uv_poll_t *h, int status, int events);

/* Start the poll handle with exactly the events we need: readable while reading, writable while
 * the tx queue is non-empty. A stopped handle does not keep the loop alive. */
static void update_poll(tun_t *t) {
  if (t->closed) return;
  int want = t->failed ? 0 : (t->reading ? UV_READABLE : 0) | (t->txq_len > 0 ? UV_WRITABLE : 0);
  if (want == t->poll_events) return;
  if (want == 0) uv_poll_stop(&t->poll);
  else uv_poll_start(&t->poll, want, on_poll);
  t->poll_events = want;
}

/* Call the JS callback with (chunk, offset, count, error) through napi_make_callback, so that
 * process.nextTick and promise jobs queued by the callback run right after it, as for any Node I/O
 * callback. */
static void deliver(tun_t *t, napi_value chunk, size_t offset, uint32_t count, const char *error) {
  napi_env env = t->env;
  napi_value cb, recv, argv[4];
  if (t->callback == NULL || napi_get_reference_value(env, t->callback, &cb) != napi_ok || cb == NULL) return;
  napi_get_reference_value(env, t->self, &recv);
  argv[0] = chunk;
  napi_create_double(env, (double)offset, &argv[1]);
  napi_create_uint32(env, count, &argv[2]);
  if (error != NULL) napi_create_string_utf8(env, error, NAPI_AUTO_LENGTH, &argv[3]);
  else napi_get_undefined(env, &argv[3]);
  napi_status s = napi_make_callback(env, t->async_ctx, recv, cb, 4, argv, NULL);
  if (s == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc); /* like an exception thrown from a socket 'data' handler */
  }
}

/* The device failed (e.g. EBADFD after `ip link del`): stop polling, drop what is queued, tell JS
 * once through the read callback (chunk null, the error code). */
static void fail_device(tun_t *t, const char *code) {
  napi_value nul;
  t->reading = 0;
  t->failed = 1;
  txq_clear(t);
  update_poll(t);
  napi_get_null(t->env, &nul);
  deliver(t, nul, 0, 0, code);
}

/* The chunk the next batch goes into: the current one if a full batch header and one max-size
 * read still fit, else a fresh one (the old one lives on as long as JS holds views into it). */
static napi_value current_chunk(tun_t *t) {
  napi_env env = t->env;
  napi_value chunk = NULL;
  if (t->chunk != NULL && t->chunk_used + TUN_HEADER + TUN_VNET_HDR + TUN_MAX_PACKET <= TUN_CHUNK &&
      napi_get_reference_value(env, t->chunk, &chunk) == napi_ok && chunk != NULL) {
    return chunk;
  }
  if (t->chunk != NULL) napi_delete_reference(env, t->chunk);
  t->chunk = NULL;
  chunk_pool *p = t->pool;
  int pooled = p->nfree > 0;
  uint8_t *data = pooled ? p->free_chunks[--p->nfree] : malloc(TUN_CHUNK);
  if (data == NULL) return NULL;
  if (pooled) t->chunks_reused++;
  else t->chunks_new++;
  if (napi_create_external_arraybuffer(env, data, TUN_CHUNK, chunk_finalize, p, &chunk) != napi_ok) {
    free(data);
    return NULL;
  }
  p->refs++; /* released by chunk_finalize */
  if (napi_create_reference(env, chunk, 1, &t->chunk) != napi_ok) {
    t->chunk = NULL;
    return NULL;
  }
  t->chunk_data = data;
  t->chunk_used = 0;
  return chunk;
}

/*
 * With IFF_VNET_HDR every packet on the fd is preceded by a struct virtio_net_hdr (10 bytes, the
 * header a virtio NIC and its driver exchange). It is read into the chunk in front of its packet
 * (one plain read(2)) and handed to JS as it is: with receive offload (TUNSETOFFLOAD, see js_new)
 * it says whether the checksum is partial and whether the packet is a TCP super-segment, and JS
 * checks and interprets it (src/link/virtio-net.ts); C only never hands over a read shorter than
 * the header.
 */
static uint32_t read_batch(tun_t *t, uint32_t max) {
  napi_env env = t->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value chunk = current_chunk(t);
  uint32_t n = 0;
  int fatal = 0;
  if (chunk == NULL) {
    /* Out of memory: drain one packet into nowhere, counted, so the loop does not spin. */
    uint8_t sink[2048];
    if (read(t->fd, sink, sizeof sink) >= 0) t->rx_errors++;
  } else {
    size_t base = t->chunk_used; /* 8-aligned */
    uint32_t *lens = (uint32_t *)(void *)(t->chunk_data + base);
    size_t used = base + TUN_HEADER;
    const size_t hdr = t->vnet_hdr ? TUN_VNET_HDR : 0;
    while (n < max && used + hdr + TUN_MAX_PACKET <= TUN_CHUNK) {
      ssize_t r = read(t->fd, t->chunk_data + used, hdr + TUN_MAX_PACKET);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          t->rx_errors++;
          fatal = errno;
        }
        break;
      }
      if ((size_t)r < hdr) continue; /* cannot happen: the kernel always writes the header */
      lens[n++] = (uint32_t)((size_t)r - hdr);
      used += (size_t)r;
    }
    /* If the batch filled up, packets may remain: the poll is level-triggered, so the next loop
     * iteration wakes us again, after other I/O had its turn. */
    if (n > 0) {
      t->chunk_used = (used + 7) & ~(size_t)7; /* never handed out again */
      t->rx_packets += n;
      t->rx_bytes += (double)(used - base - TUN_HEADER - n * hdr);
      t->rx_batches++;
      deliver(t, chunk, base, n, NULL);
    }
  }
  if (fatal != 0 && !t->closed) {
    const char *code = strerrorname_np(fatal);
    fail_device(t, code ? code : "EIO");
  }
  napi_close_handle_scope(env, scope);
  return n;
}

/* The virtio_net_hdr in front of a packet we write (see tun_write): zero for a plain packet. */
static void fill_vnet_hdr(struct virtio_net_hdr *hdr, const uint8_t *data, uint16_t gso_size) {
  memset(hdr, 0, sizeof *hdr);
  if (gso_size == 0) return;
  size_t ihl = (size_t)(data[0] & 0x0f) * 4;
  size_t thl = (size_t)(data[ihl + 12] >> 4) * 4;
  hdr->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  hdr->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
  hdr->hdr_len = (uint16_t)(ihl + thl);
  hdr->gso_size = gso_size;
  hdr->csum_start = (uint16_t)ihl;
  hdr->csum_offset = 16;
}

/* write(2), or a simulated EAGAIN while the test hook asks for one: a TUN write practically never
 * returns EAGAIN (the kernel consumes the skb at once), so the queue path could not be tested otherwise. */
static ssize_t tun_write(tun_t *t, const uint8_t *data, size_t len, uint16_t gso_size) {
  if (t->fake_eagain > 0) {
    t->fake_eagain--;
    errno = EAGAIN;
    return -1;
  }
  if (!t->vnet_hdr) return write(t->fd, data, len);
  /*
   * TCP segmentation offload (the same contract as a virtio NIC's guest TSO): a TCP/IPv4
   * "super-segment" of up to 64 KiB goes to the kernel in one write. The kernel treats it like a
   * GRO-merged packet: delivered locally it is received as one; forwarded, it is cut into segments of
   * gso_size payload bytes, each with the IP and TCP headers copied, sequence numbers, IP IDs and
   * checksums fixed. NEEDS_CSUM: the TCP checksum field holds only the pseudo-header sum (RFC 793
   * §3.1 pseudo-header, not complemented); the checksum runs from csum_start (the TCP header) and
   * lands at csum_offset (16, the checksum field). A plain packet gets an all-zero header.
   */
  struct virtio_net_hdr hdr;
  fill_vnet_hdr(&hdr, data, gso_size);
  struct iovec iov[2] = {{&hdr, sizeof hdr}, {(void *)data, len}};
  ssize_t r = writev(t->fd, iov, 2);
  return r < 0 ? r : r - (ssize_t)sizeof hdr;
}

/* A super-segment must be IPv4 + TCP with whole headers and more than one segment of payload
 * (the kernel refuses it otherwise, and hdr_len above is read from it). */
static int gso_packet_ok(const uint8_t *data, size_t len, uint16_t gso_size) {
  if (len < 40 || (data[0] >> 4) != 4 || data[9] != IPPROTO_TCP) return 0;
  size_t ihl = (size_t)(data[0] & 0x0f) * 4;
  if (ihl < 20 || ihl + 20 > len) return 0;
  size_t thl = (size_t)(data[ihl + 12] >> 4) * 4;
  return thl >= 20 && ihl + thl + gso_size < len;
}

enum { TX_SENT = 0, TX_QUEUED = 1, TX_DROPPED = 2, TX_AGAIN = 3 };

/* One write, counted: TX_SENT, TX_DROPPED (an error such as EINVAL for a malformed datagram), or
 * TX_AGAIN when the kernel says EAGAIN (nothing counted but the EAGAIN). */
static int write_now(tun_t *t, const uint8_t *data, size_t len, uint16_t gso_size) {
  for (;;) {
    if (tun_write(t, data, len, gso_size) >= 0) {
      t->tx_packets++;
      t->tx_bytes += (double)len;
      if (gso_size > 0) t->tx_gso++;
      return TX_SENT;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      t->eagain++;
      return TX_AGAIN;
    }
    t->tx_errors++;
    t->tx_dropped++;
    return TX_DROPPED;
  }
}

/* Write queued packets until the queue is empty or the kernel says EAGAIN again. */
static void flush_queue(tun_t *t) {
  while (t->txq_len > 0 && !t->closed) {
    txq_item *it = &t->txq[t->txq_head];
    if (write_now(t, it->data, it->len, it->gso_size) == TX_AGAIN) break;
    free(it->data);
    it->data = NULL;
    t->txq_head = (t->txq_head + 1) % TUN_TXQ_MAX;
    t->txq_len--;
  }
  update_poll(t);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Busy polling (busyPoll(us)), what Linux's SO_BUSY_POLL does for a socket: after a batch, wait up to
 * `us` microseconds for the next packet by polling the fd without sleeping, instead of going back to
 * epoll. A request-response peer (ping -f, a keep-alive client) usually sends its next packet within
 * microseconds of our reply; a core that went idle meanwhile takes tens of microseconds to wake up
 * again (more in a VM). Costs a core's time while it waits; off (0) by default. */
#define TUN_BUSY_POLL_MAX_US 1000
/* Batches one wake-up may read while busy polling, before other I/O and timers get their turn. */
#define TUN_BUSY_ROUNDS 32

/* Wait up to us microseconds for the fd to become readable, polling without sleeping. */
static int spin_readable(tun_t *t, uint32_t us) {
  uint64_t end = now_ns() + (uint64_t)us * 1000u;
  struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
  do {
    if (poll(&pfd, 1, 0) > 0) return (pfd.revents & POLLIN) != 0;
  } while (now_ns() < end);
  return 0;
}

/* One wake-up's packets. Reading until EAGAIN costs one read(2) more than there are packets, and a
 * request-response peer (ping -f, a single keep-alive client, an ACK that releases data) sends one
 * packet per round trip: that last read would stand between its request and our answer. So when
 * the previous wake-up found a single packet, the first packet is handed to JS (and answered, the
 * writes go out when the callback returns) before the rest are read; a wake-up that finds more keeps
 * reading in batches, as before. */
static uint32_t read_wakeup(tun_t *t) {
  if (!t->rx_alone) {
    uint32_t n = read_batch(t, TUN_BATCH);
    t->rx_alone = n == 1;
    return n;
  }
  uint32_t n = read_batch(t, 1);
  if (n == 0) return 0;
  t->rx_alone_first++;
  uint32_t more = t->closed || !t->reading ? 0 : read_batch(t, TUN_BATCH);
  t->rx_alone = more == 0;
  return more >= TUN_BATCH ? TUN_BATCH : n + more;
}

/* Read a wake-up's packets; while busy polling, and the batch was not full (a full one wakes the
 * level-triggered poll again anyway), wait for the next packet and read again. */
static void read_busy(tun_t *t) {
  for (int round = 0; round < TUN_BUSY_ROUNDS; round++) {
    uint32_t n = read_wakeup(t);
    if (n == 0 || n >= TUN_BATCH || t->busy_poll_us == 0 || t->closed || !t->reading) return;
    t->busy_polls++;
    if (!spin_readable(t, t->busy_poll_us)) return;
    t->busy_poll_hits++;
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  tun_t *t = h->data;
  if (t->closed) return;
  if (status < 0) {
    /* Report once through the read callback and stop. */
    napi_handle_scope scope;
    napi_open_handle_scope(t->env, &scope);
    t->rx_errors++;
    fail_device(t, uv_err_name(status));
    napi_close_handle_scope(t->env, scope);
    return;
  }
  if (events & UV_WRITABLE) flush_queue(t);
  if (!t->closed && (events & UV_READABLE) && t->reading) read_busy(t);
}

/* ------------------------------------------------------------------------------------------------ */
/* writes                                                                                            */

static int enqueue(tun_t *t, const uint8_t *data, size_t len, uint16_t gso_size);

/* A packet writeBatch is about to send: dropped (and counted) now if it cannot be sent at all. */
static int tx_acceptable(tun_t *t, const uint8_t *data, size_t len, uint16_t gso_size) {
  if (t->closed) {
    t->tx_dropped++;
    return 0;
  }
  if (gso_size > 0 && (!t->vnet_hdr || !gso_packet_ok(data, len, gso_size))) {
    t->tx_errors++; /* a caller bug, never a transient condition: count it and drop */
    t->tx_dropped++;
    return 0;
  }
  return 1;
}

static int send_one(tun_t *t, const uint8_t *data, size_t len, uint16_t gso_size) {
  if (t->closed) {
    t->tx_dropped++;
    return TX_DROPPED;
  }
  if (gso_size > 0 && (!t->vnet_hdr || !gso_packet_ok(data, len, gso_size))) {
    t->tx_errors++; /* a caller bug, never a transient condition: count it and drop */
    t->tx_dropped++;
    return TX_DROPPED;
  }
  if (t->txq_len == 0) { /* keep order: only write directly when nothing is waiting */
    int r = write_now(t, data, len, gso_size);
    if (r != TX_AGAIN) return r;
  }
  return enqueue(t, data, len, gso_size);
}

/* Keep a copy of a packet for when the fd is writable again (after EAGAIN); drop it past the bound. */
static int enqueue(tun_t *t, const uint8_t *data, size_t len, uint16_t gso_size) {
  if (t->txq_len >= TUN_TXQ_MAX) {
    t->tx_dropped++;
    return TX_DROPPED;
  }
  uint8_t *copy = malloc(len > 0 ? len : 1);
  if (copy == NULL) {
    t->tx_dropped++;
    return TX_DROPPED;
  }
  memcpy(copy, data, len);
  txq_item *it = &t->txq[(t->txq_head + t->txq_len) % TUN_TXQ_MAX];
  it->data = copy;
  it->len = len;
  it->gso_size = gso_size;
  t->txq_len++;
  t->tx_queued++;
  update_poll(t);
  return TX_QUEUED;
}

/* ------------------------------------------------------------------------------------------------ */
/* writes through io_uring                                                                           */

typedef struct {
  const uint8_t *data;
  size_t len;
  uint16_t gso_size;
} tx_packet;

/* What a batch through the ring needs, allocated once with the ring (useIoUring). */
typedef struct ring_batch_s {
  tx_packet pkt[URING_ENTRIES];
  struct virtio_net_hdr hdr[URING_ENTRIES];
  struct iovec iov[2 * URING_ENTRIES];
  int res[URING_ENTRIES];
} ring_batch;

/*
 * Write n checked packets (n <= URING_ENTRIES, nothing queued) with one io_uring_enter, in order
 * (uring.c links them). The first one the kernel refuses, and all after it, which the link then
 * did not run, go the plain way one by one, in order: so EAGAIN queues them as send_one would, and
 * an error drops and counts only the packet that had it. Returns the packets written or queued.
 */
static uint32_t send_ring(tun_t *t, ring_batch *b, unsigned n) {
  unsigned per = t->vnet_hdr ? 2 : 1;
  for (unsigned i = 0; i < n; i++) {
    struct iovec *v = &b->iov[i * per];
    if (t->vnet_hdr) {
      fill_vnet_hdr(&b->hdr[i], b->pkt[i].data, b->pkt[i].gso_size);
      v[0].iov_base = &b->hdr[i];
      v[0].iov_len = sizeof b->hdr[i];
      v++;
    }
    v->iov_base = (void *)b->pkt[i].data;
    v->iov_len = b->pkt[i].len;
  }
  uint32_t accepted = 0;
  unsigned done = 0;
  if (uring_writev(t->ring, t->fd, b->iov, per, n, b->res) == 0) {
    t->uring_enters++;
    for (; done < n && b->res[done] >= 0; done++) {
      t->tx_packets++;
      t->tx_bytes += (double)b->pkt[done].len;
      if (b->pkt[done].gso_size > 0) t->tx_gso++;
    }
    t->uring_packets += done;
    accepted = done;
    if (done < n && b->res[done] == -EAGAIN) t->eagain++;
  }
  /* The rest (from the refused one on, or all of them if the ring failed): the plain way. */
  for (unsigned i = done; i < n; i++) {
    const tx_packet *p = &b->pkt[i];
    int r;
    if (i == done && done < n && b->res[done] < 0 && b->res[done] != -ECANCELED && b->res[done] != -EAGAIN) {
      t->tx_errors++;
      t->tx_dropped++;
      r = TX_DROPPED;
    } else if (i == done && b->res[done] == -EAGAIN) {
      r = enqueue(t, p->data, p->len, p->gso_size);
    } else {
      r = send_one(t, p->data, p->len, p->gso_size);
    }
    if (r != TX_DROPPED) accepted++;
  }
  return accepted;
}

static tun_t *unwrap_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    napi_throw_error(env, "ERR_INVALID_THIS", "not a Tun handle");
    return NULL;
  }
  return data;
}

/* The handle of a method taking one integer argument in [0, max], and that argument in *out; NULL
 * (an error thrown, with `usage` as its message) when either is missing or wrong. */
static tun_t *unwrap_uint32_arg(napi_env env, napi_callback_info info, uint32_t max, const char *usage, uint32_t *out) {
  size_t argc = 1;
  napi_value argv[1];
  tun_t *t = unwrap_this(env, info, &argc, argv);
  if (t == NULL) return NULL;
  if (argc < 1 || napi_get_value_uint32(env, argv[0], out) != napi_ok || *out > max) {
    throw_type(env, usage);
    return NULL;
  }
  return t;
}

static int get_bytes(napi_env env, napi_value v, const uint8_t **data, size_t *len) {
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) return 0;
  napi_typedarray_type type;
  void *ptr;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, len, &ptr, &ab, &off) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *data = ptr;
  return 1;
}

/* An optional segment size argument: undefined or 0..65535 (0 = plain packet). -1 when invalid. */
static int32_t get_gso(napi_env env, napi_value v) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok) return -1;
  if (type == napi_undefined) return 0;
  int32_t gso;
  if (type != napi_number || napi_get_value_int32(env, v, &gso) != napi_ok || gso < 0 || gso > 65535) return -1;
  return gso;
}

/* write(packet: Uint8Array, gsoSize?: number): 0 sent, 1 queued, 2 dropped */
static napi_value js_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], ret;
  tun_t *t = unwrap_this(env, info, &argc, argv);
  if (t == NULL) return NULL;
  const uint8_t *data;
  size_t len;
  if (argc < 1 || !get_bytes(env, argv[0], &data, &len)) {
    throw_type(env, "write(packet): packet must be a Uint8Array");
    return NULL;
  }
  int32_t gso = argc >= 2 ? get_gso(env, argv[1]) : 0;
  if (gso < 0) {
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "write(packet, gsoSize): gsoSize must be an integer 0..65535");
    return NULL;
  }
  NAPI_CALL(env, napi_create_uint32(env, (uint32_t)send_one(t, data, len, (uint16_t)gso), &ret));
  return ret;
}

/*
 * writeBatch(packets: Uint8Array[], gsoSizes?: Uint16Array): number of packets written or queued
 * (the rest were dropped). gsoSizes[i], when given, is packet i's segment size (0 = plain packet).
 */
static napi_value js_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], ret;
  tun_t *t = unwrap_this(env, info, &argc, argv);
  if (t == NULL) return NULL;
  bool is_array = false;
  if (argc >= 1) napi_is_array(env, argv[0], &is_array);
  if (!is_array) {
    throw_type(env, "writeBatch(packets): packets must be an array of Uint8Array");
    return NULL;
  }
  uint32_t n, accepted = 0;
  NAPI_CALL(env, napi_get_array_length(env, argv[0], &n));
  uint16_t *gso = NULL; /* a copy: the loop below calls into JS, which could detach the caller's buffer */
  if (argc >= 2) {
    napi_valuetype type;
    NAPI_CALL(env, napi_typeof(env, argv[1], &type));
    if (type != napi_undefined) {
      bool is_ta = false;
      napi_typedarray_type ta_type;
      size_t ta_len = 0;
      void *ptr = NULL;
      napi_is_typedarray(env, argv[1], &is_ta);
      if (!is_ta || napi_get_typedarray_info(env, argv[1], &ta_type, &ta_len, &ptr, NULL, NULL) != napi_ok ||
          ta_type != napi_uint16_array || ta_len < n) {
        throw_type(env, "writeBatch(packets, gsoSizes): gsoSizes must be a Uint16Array with one entry per packet");
        return NULL;
      }
      gso = malloc(n * sizeof *gso + 1);
      if (gso == NULL) {
        napi_throw_error(env, "ENOMEM", "writeBatch(): out of memory");
        return NULL;
      }
      memcpy(gso, ptr, n * sizeof *gso);
    }
  }
  /* Through the ring when there is one, nothing waits in the queue and the test hook is off: the
   * packets are gathered (checked ones only) and go out URING_ENTRIES per io_uring_enter. */
  ring_batch *b = t->ring_batch;
  unsigned gathered = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    const uint8_t *data;
    size_t len;
    if (napi_get_element(env, argv[0], i, &el) != napi_ok || !get_bytes(env, el, &data, &len)) {
      if (gathered > 0) send_ring(t, b, gathered); /* the packets before this one go, as without the ring */
      free(gso);
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (!pending) throw_type(env, "writeBatch(packets): every packet must be a Uint8Array");
      return NULL;
    }
    uint16_t size = gso != NULL ? gso[i] : 0;
    int use_ring = t->ring != NULL && n > 1 && t->txq_len == 0 && t->fake_eagain == 0;
    if (!use_ring) {
      if (gathered > 0) accepted += send_ring(t, b, gathered);
      gathered = 0;
      if (send_one(t, data, len, size) != TX_DROPPED) accepted++;
      continue;
    }
    if (!tx_acceptable(t, data, len, size)) continue;
    b->pkt[gathered] = (tx_packet){data, len, size};
    if (++gathered == URING_ENTRIES) {
      accepted += send_ring(t, b, gathered);
      gathered = 0;
    }
  }
  if (gathered > 0) accepted += send_ring(t, b, gathered);
  free(gso);
  NAPI_CALL(env, napi_create_uint32(env, accepted, &ret));
  return ret;
}

/* ------------------------------------------------------------------------------------------------ */
/* reading, ref, close, stats                                                                        */

/* start(callback(batch, count, error)) */
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  tun_t *t = unwrap_this(env, info, &argc, argv);
  if (t == NULL) return NULL;
  napi_valuetype type = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &type);
  if (type != napi_function) {
    throw_type(env, "start(callback): callback must be a function");
    return NULL;
  }
  if (t->closed) {
    napi_throw_error(env, "ERR_TUN_CLOSED", "start(): device is closed");
    return NULL;
  }
  if (t->callback != NULL) napi_delete_reference(env, t->callback);
  NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &t->callback));
  t->reading = 1;
  update_poll(t);
  return NULL;
}

static napi_value js_stop(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap_this(env, info, &argc, NULL);
  if (t == NULL) return NULL;
  t->reading = 0;
  update_poll(t);
  return NULL;
}

/* busyPoll(us): after each batch wait up to us microseconds (0..TUN_BUSY_POLL_MAX_US, 0 = off) for the
 * next packet, polling (see read_busy). */
static napi_value js_busy_poll(napi_env env, napi_callback_info info) {
  uint32_t us = 0;
  tun_t *t = unwrap_uint32_arg(env, info, TUN_BUSY_POLL_MAX_US, "busyPoll(us): us must be an integer from 0 to 1000", &us);
  if (t != NULL) t->busy_poll_us = us;
  return NULL;
}

/* _simulateEagain(n): the next n write attempts fail with EAGAIN (tests only). */
static napi_value js_simulate_eagain(napi_env env, napi_callback_info info) {
  uint32_t n = 0;
  tun_t *t = unwrap_uint32_arg(env, info, UINT32_MAX, "_simulateEagain(n): n must be a number", &n);
  if (t != NULL) t->fake_eagain = n;
  return NULL;
}

/*
 * useIoUring(on: boolean): null when writeBatch now goes through io_uring (on) or no longer does
 * (off), else the errno name why it cannot (ENOSYS: an old kernel or a build without the header;
 * EPERM: seccomp or the io_uring_disabled sysctl; ...), and writes stay plain.
 */
static napi_value js_use_io_uring(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], ret;
  tun_t *t = unwrap_this(env, info, &argc, argv);
  if (t == NULL) return NULL;
  bool on = false;
  if (argc < 1 || napi_get_value_bool(env, argv[0], &on) != napi_ok) {
    throw_type(env, "useIoUring(on): on must be a boolean");
    return NULL;
  }
  int err = 0;
  if (!on || t->closed) {
    uring_close(t->ring);
    t->ring = NULL;
    free(t->ring_batch);
    t->ring_batch = NULL;
    if (t->closed && on) err = EBADF;
  } else if (t->ring == NULL) {
    t->ring_batch = malloc(sizeof *t->ring_batch);
    err = t->ring_batch == NULL ? ENOMEM : -uring_open(&t->ring);
    if (err != 0) {
      free(t->ring_batch);
      t->ring_batch = NULL;
    }
  }
  if (err == 0) {
    napi_get_null(env, &ret);
  } else {
    const char *code = strerrorname_np(err);
    napi_create_string_utf8(env, code != NULL ? code : "EUNKNOWN", NAPI_AUTO_LENGTH, &ret);
  }
  return ret;
}

static napi_value js_ref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap_this(env, info, &argc, NULL);
  if (t == NULL) return NULL;
  if (!t->closed) uv_ref((uv_handle_t *)&t->poll);
  return NULL;
}

static napi_value js_unref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap_this(env, info, &argc, NULL);
  if (t == NULL) return NULL;
  if (!t->closed) uv_unref((uv_handle_t *)&t->poll);
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap_this(env, info, &argc, NULL);
  if (t == NULL) return NULL;
  tun_close(t, env);
  return NULL;
}

static void set_num(napi_env env, napi_value obj, const char *key, double value) {
  napi_value v;
  napi_create_double(env, value, &v);
  napi_set_named_property(env, obj, key, v);
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value o;
  tun_t *t = unwrap_this(env, info, &argc, NULL);
  if (t == NULL) return NULL;
  NAPI_CALL(env, napi_create_object(env, &o));
  set_num(env, o, "rx", t->rx_packets);
  set_num(env, o, "rxBytes", t->rx_bytes);
  set_num(env, o, "rxBatches", t->rx_batches);
  set_num(env, o, "rxErrors", t->rx_errors);
  set_num(env, o, "tx", t->tx_packets);
  set_num(env, o, "txBytes", t->tx_bytes);
  set_num(env, o, "txQueued", t->tx_queued);
  set_num(env, o, "txQueueLength", t->txq_len);
  set_num(env, o, "txDropped", t->tx_dropped);
  set_num(env, o, "txErrors", t->tx_errors);
  set_num(env, o, "eagain", t->eagain);
  set_num(env, o, "txGso", t->tx_gso);
  set_num(env, o, "rxChunksNew", t->chunks_new);
  set_num(env, o, "rxChunksReused", t->chunks_reused);
  set_num(env, o, "uringEnters", t->uring_enters);
  set_num(env, o, "uringPackets", t->uring_packets);
  set_num(env, o, "busyPolls", t->busy_polls);
  set_num(env, o, "busyPollHits", t->busy_poll_hits);
  set_num(env, o, "rxAloneFirst", t->rx_alone_first);
  return o;
}

/* ------------------------------------------------------------------------------------------------ */
/* configure: address/prefix, MTU, up (the ioctls are in ifconfig.c)                                 */

static void set_str(napi_env env, napi_value obj, const char *key, const char *value) {
  napi_value v;
  napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, key, v);
}

/*
 * configure(address: string | null, prefixLength: number, mtu: number (0 = leave), up: boolean,
 *           txqueuelen?: number (0 or absent = leave))
 *   -> { address: 'set'|'skipped'|'unchanged', mtu: ..., up: ..., txqueuelen: ...,
 *        currentMtu?: number, currentTxqueuelen?: number, currentAddress: string|null }
 * 'skipped': refused with EPERM (no CAP_NET_ADMIN, e.g. a user attached to a persistent device made
 * for them with `ip tuntap add mode tun user $USER`) while the device already has an address / is up.
 */
static napi_value js_configure(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result, v;
  tun_t *t = unwrap_this(env, info, &argc, argv);
  if (t == NULL) return NULL;
  if (t->closed) {
    napi_throw_error(env, "ERR_TUN_CLOSED", "configure(): device is closed");
    return NULL;
  }
  char addr_str[64] = {0};
  napi_valuetype type = napi_undefined;
  if (argc > 0) napi_typeof(env, argv[0], &type);
  if (type == napi_string) NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], addr_str, sizeof addr_str, NULL));
  int32_t prefix = 24, mtu = 0;
  bool up = true;
  if (argc > 1) napi_get_value_int32(env, argv[1], &prefix);
  if (argc > 2) napi_get_value_int32(env, argv[2], &mtu);
  if (argc > 3) napi_get_value_bool(env, argv[3], &up);
  int32_t txqueuelen = 0;
  if (argc > 4) {
    napi_valuetype qtype;
    napi_typeof(env, argv[4], &qtype);
    if (qtype != napi_undefined &&
        (qtype != napi_number || napi_get_value_int32(env, argv[4], &txqueuelen) != napi_ok || txqueuelen < 0)) {
      napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "configure(): txqueuelen must be an integer >= 0");
      return NULL;
    }
  }
  struct in_addr in;
  if (type == napi_string && inet_pton(AF_INET, addr_str, &in) != 1) {
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "configure(): address is not a dotted-quad IPv4 address");
    return NULL;
  }
  if (prefix < 0 || prefix > 32) {
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "configure(): prefixLength must be 0..32");
    return NULL;
  }
  ifconfig_result r;
  if (ifconfig_apply(t->name, type == napi_string ? &in : NULL, prefix, mtu, txqueuelen, up, &r) != 0) {
    throw_errno(env, r.err, r.failed_syscall, t->name);
    return NULL;
  }
  NAPI_CALL(env, napi_create_object(env, &result));
  set_str(env, result, "address", ifconfig_step_name(r.address));
  set_str(env, result, "mtu", ifconfig_step_name(r.mtu));
  set_str(env, result, "up", ifconfig_step_name(r.up));
  set_str(env, result, "txqueuelen", ifconfig_step_name(r.txqueuelen));
  if (r.current_mtu >= 0) set_num(env, result, "currentMtu", r.current_mtu);
  if (r.current_txqueuelen >= 0) set_num(env, result, "currentTxqueuelen", r.current_txqueuelen);
  if (r.current_address[0] != 0) set_str(env, result, "currentAddress", r.current_address);
  else {
    napi_get_null(env, &v);
    napi_set_named_property(env, result, "currentAddress", v);
  }
  return result;
}

/* ------------------------------------------------------------------------------------------------ */
/* constructor: new Tun(name?: string, vnetHdr?: boolean, rxOffload?: boolean)                       */
/* vnetHdr: open with IFF_VNET_HDR so that writes may carry TCP super-segments (see tun_write);       */
/* rxOffload (default vnetHdr): and reads too (TUNSETOFFLOAD, below).                                 */

static napi_value js_new(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], self, target;
  NAPI_CALL(env, napi_get_new_target(env, info, &target));
  if (target == NULL) {
    napi_throw_type_error(env, "ERR_CONSTRUCT_CALL_REQUIRED", "Tun must be called with new");
    return NULL;
  }
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  char name[IFNAMSIZ] = {0};
  if (argc >= 1) {
    napi_valuetype type;
    napi_typeof(env, argv[0], &type);
    if (type == napi_string) {
      size_t len;
      NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], NULL, 0, &len));
      if (len >= IFNAMSIZ) {
        napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "Tun(name): interface names are at most 15 bytes");
        return NULL;
      }
      NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len));
    } else if (type != napi_undefined && type != napi_null) {
      throw_type(env, "Tun(name): name must be a string");
      return NULL;
    }
  }

  bool vnet_hdr = false;
  if (argc >= 2) {
    napi_valuetype type;
    napi_typeof(env, argv[1], &type);
    if (type == napi_boolean) napi_get_value_bool(env, argv[1], &vnet_hdr);
    else if (type != napi_undefined) {
      throw_type(env, "Tun(name, vnetHdr): vnetHdr must be a boolean");
      return NULL;
    }
  }
  bool rx_offload = vnet_hdr; /* default: receive offload whenever the header is there */
  if (argc >= 3) {
    napi_valuetype type;
    napi_typeof(env, argv[2], &type);
    if (type == napi_boolean) napi_get_value_bool(env, argv[2], &rx_offload);
    else if (type != napi_undefined) {
      throw_type(env, "Tun(name, vnetHdr, rxOffload): rxOffload must be a boolean");
      return NULL;
    }
  }

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    throw_errno(env, errno, "open", "/dev/net/tun");
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, IFNAMSIZ); /* empty: the kernel picks tun%d */
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "TUNSETIFF", name);
    return NULL;
  }
  if (vnet_hdr) {
    int hdr_size = (int)sizeof(struct virtio_net_hdr); /* the default, but say it */
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_size) < 0) {
      int err = errno;
      close(fd);
      throw_errno(env, err, "TUNSETVNETHDRSZ", name);
      return NULL;
    }
  }
  /*
   * Receive offload: with TUN_F_CSUM the kernel may hand us packets whose TCP/UDP checksum is only
   * the pseudo-header sum (NEEDS_CSUM), with TUN_F_TSO4 whole TCP super-segments of up to 64 KiB
   * (gso_type TCPV4, gso_size = the MSS it would have cut them by); the virtio_net_hdr in front of
   * each packet says which (src/link/virtio-net.ts reads it). Set every time, to 0 when not wanted,
   * since a persistent device keeps what its last user asked for. A kernel that refuses it leaves the
   * device without receive offload, not failed.
   */
  unsigned int offloads = (vnet_hdr && rx_offload) ? (TUN_F_CSUM | TUN_F_TSO4) : 0;
  if (ioctl(fd, TUNSETOFFLOAD, offloads) < 0) rx_offload = false;
  if (!vnet_hdr) rx_offload = false;

  tun_t *t = calloc(1, sizeof *t);
  chunk_pool *pool = calloc(1, sizeof *pool);
  uv_loop_t *loop = NULL;
  if (t == NULL || pool == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok ||
      uv_poll_init(loop, &t->poll, fd) != 0) {
    free(t);
    free(pool);
    close(fd);
    napi_throw_error(env, "ENOMEM", "Tun: out of memory or uv_poll_init failed");
    return NULL;
  }
  t->fd = fd;
  t->vnet_hdr = vnet_hdr;
  t->env = env;
  t->poll.data = t;
  pool->refs = 1;
  t->pool = pool;
  memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
  t->name[IFNAMSIZ - 1] = 0;

  if (napi_wrap(env, self, t, tun_finalize, NULL, NULL) != napi_ok) {
    tun_close(t, NULL);
    t->wrapper_gone = 1; /* freed by the close callback */
    napi_throw_error(env, NULL, "Tun: napi_wrap failed");
    return NULL;
  }
  napi_value v, resource_name;
  NAPI_CALL(env, napi_create_reference(env, self, 1, &t->self));
  NAPI_CALL(env, napi_create_string_utf8(env, "TunDevice", NAPI_AUTO_LENGTH, &resource_name));
  NAPI_CALL(env, napi_async_init(env, self, resource_name, &t->async_ctx));
  NAPI_CALL(env, napi_create_string_utf8(env, t->name, NAPI_AUTO_LENGTH, &v));
  NAPI_CALL(env, napi_set_named_property(env, self, "name", v));
  NAPI_CALL(env, napi_create_int32(env, fd, &v));
  NAPI_CALL(env, napi_set_named_property(env, self, "fd", v));
  NAPI_CALL(env, napi_get_boolean(env, vnet_hdr, &v));
  NAPI_CALL(env, napi_set_named_property(env, self, "vnetHdr", v));
  NAPI_CALL(env, napi_get_boolean(env, rx_offload, &v));
  NAPI_CALL(env, napi_set_named_property(env, self, "rxOffload", v));
  return self;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"configure", NULL, js_configure, NULL, NULL, NULL, napi_default_method, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default_method, NULL},
      {"stop", NULL, js_stop, NULL, NULL, NULL, napi_default_method, NULL},
      {"write", NULL, js_write, NULL, NULL, NULL, napi_default_method, NULL},
      {"writeBatch", NULL, js_write_batch, NULL, NULL, NULL, napi_default_method, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default_method, NULL},
      {"ref", NULL, js_ref, NULL, NULL, NULL, napi_default_method, NULL},
      {"unref", NULL, js_unref, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default_method, NULL},
      {"useIoUring", NULL, js_use_io_uring, NULL, NULL, NULL, napi_default_method, NULL},
      {"busyPoll", NULL, js_busy_poll, NULL, NULL, NULL, napi_default_method, NULL},
      {"_simulateEagain", NULL, js_simulate_eagain, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value cls, v;
  NAPI_CALL(env, napi_define_class(env, "Tun", NAPI_AUTO_LENGTH, js_new, NULL,
                                   sizeof methods / sizeof methods[0], methods, &cls));
  NAPI_CALL(env, napi_set_named_property(env, exports, "Tun", cls));
  NAPI_CALL(env, napi_create_uint32(env, TUN_BATCH, &v));
  NAPI_CALL(env, napi_set_named_property(env, exports, "BATCH", v));
  NAPI_CALL(env, napi_create_uint32(env, TUN_TXQ_MAX, &v));
  NAPI_CALL(env, napi_set_named_property(env, exports, "TX_QUEUE_MAX", v));
  NAPI_CALL(env, napi_create_uint32(env, TUN_VNET_HDR, &v));
  NAPI_CALL(env, napi_set_named_property(env, exports, "VNET_HDR_LEN", v));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
