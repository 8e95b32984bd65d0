/*
 * uring.c — io_uring with its raw system calls (no liburing), for one job: hand the kernel a tick's
 * TUN writes in one io_uring_enter instead of one writev(2) each (a TUN fd takes one packet per
 * write; it has no sendmmsg). Plain C; tun.c decides when to use it.
 *
 * The ring is the kernel's: a submission queue of entries (SQEs) we fill and a completion queue
 * (CQEs) it fills, both in memory shared through mmap, with head/tail indices that the producer
 * publishes with a release store and the consumer reads with an acquire load.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "uring.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__) && defined(__has_include)
#if __has_include(<linux/io_uring.h>)
#define HAVE_IO_URING 1
#endif
#endif

#ifdef HAVE_IO_URING
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct uring {
  int fd;
  int broken; /* an enter failed with entries in flight: the ring is not used again (see uring_writev) */
  /* submission ring */
  void *sq_map;
  size_t sq_map_len;
  unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
  struct io_uring_sqe *sqes;
  size_t sqes_len;
  /* completion ring (shares sq_map when the kernel maps both at once) */
  void *cq_map;
  size_t cq_map_len;
  unsigned *cq_head, *cq_tail, *cq_mask;
  struct io_uring_cqe *cqes;
};

static int sys_setup(unsigned entries, struct io_uring_params *p) {
  return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
  return (int)syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, NULL, 0);
}

void uring_close(uring *r) {
  if (r == NULL) return;
  if (r->sqes != NULL && r->sqes != MAP_FAILED) munmap(r->sqes, r->sqes_len);
  if (r->cq_map != NULL && r->cq_map != MAP_FAILED && r->cq_map != r->sq_map) munmap(r->cq_map, r->cq_map_len);
  if (r->sq_map != NULL && r->sq_map != MAP_FAILED) munmap(r->sq_map, r->sq_map_len);
  if (r->fd >= 0) close(r->fd);
  free(r);
}

int uring_open(uring **out) {
  *out = NULL;
  uring *r = calloc(1, sizeof *r);
  if (r == NULL) return -ENOMEM;
  r->fd = -1;
  struct io_uring_params p;
  /* Only this thread submits, and completions are reaped in the same call that waits for them:
   * say so (less locking, task work run at our enter), where the kernel knows these flags (6.1). */
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int fd = sys_setup(URING_ENTRIES, &p);
  if (fd < 0 && errno == EINVAL) {
    memset(&p, 0, sizeof p);
    fd = sys_setup(URING_ENTRIES, &p);
  }
  if (fd < 0) {
    int err = errno;
    free(r);
    return -err;
  }
  r->fd = fd;
  r->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  r->cq_map_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  int single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single && r->cq_map_len > r->sq_map_len) r->sq_map_len = r->cq_map_len;
  r->sq_map = mmap(NULL, r->sq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
  if (r->sq_map == MAP_FAILED) goto fail;
  r->cq_map = single ? r->sq_map
                     : mmap(NULL, r->cq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
  if (r->cq_map == MAP_FAILED) goto fail;
  r->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
  r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
  if (r->sqes == MAP_FAILED) goto fail;
  uint8_t *sq = r->sq_map, *cq = r->cq_map;
  r->sq_head = (unsigned *)(void *)(sq + p.sq_off.head);
  r->sq_tail = (unsigned *)(void *)(sq + p.sq_off.tail);
  r->sq_mask = (unsigned *)(void *)(sq + p.sq_off.ring_mask);
  r->sq_array = (unsigned *)(void *)(sq + p.sq_off.array);
  r->cq_head = (unsigned *)(void *)(cq + p.cq_off.head);
  r->cq_tail = (unsigned *)(void *)(cq + p.cq_off.tail);
  r->cq_mask = (unsigned *)(void *)(cq + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(void *)(cq + p.cq_off.cqes);
  *out = r;
  return 0;
fail: {
  int err = errno;
  uring_close(r);
  return -err;
}
}

int uring_writev(uring *r, int fd, const struct iovec *iov, unsigned per_packet, unsigned n, int *results) {
  if (n == 0) return 0;
  if (n > URING_ENTRIES) return -EINVAL;
  if (r->broken) return -EIO;
  unsigned tail = *r->sq_tail; /* only we write it */
  unsigned mask = *r->sq_mask;
  for (unsigned i = 0; i < n; i++) {
    unsigned idx = (tail + i) & mask;
    struct io_uring_sqe *sqe = &r->sqes[idx];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_WRITEV;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)&iov[(size_t)i * per_packet];
    sqe->len = per_packet;
    sqe->off = (uint64_t)-1; /* a stream: no file position */
    sqe->flags = i + 1 < n ? IOSQE_IO_LINK : 0;
    sqe->user_data = i;
    r->sq_array[idx] = idx;
    results[i] = -ECANCELED;
  }
  __atomic_store_n(r->sq_tail, tail + n, __ATOMIC_RELEASE);
  unsigned submitted = 0, reaped = 0, retries = 0;
  while (reaped < n) {
    int rc = sys_enter(r->fd, n - submitted, n - reaped, IORING_ENTER_GETEVENTS);
    if (rc < 0) {
      int err = errno;
      /* Interrupted, or short of memory for a moment: try again, a bounded number of times. */
      if ((err == EINTR || err == EAGAIN || err == EBUSY) && ++retries < 1000) continue;
      if (submitted == 0) {
        /* Nothing was taken: take the entries back, as if never queued. */
        __atomic_store_n(r->sq_tail, tail, __ATOMIC_RELEASE);
        return -err;
      }
      /* Entries in flight whose completions we cannot wait for: their results stay -ECANCELED for
       * the caller (who sends those packets the plain way) and the ring is never used again, so no
       * late completion is taken for a later batch's. */
      r->broken = 1;
      return -err;
    }
    submitted += (unsigned)rc;
    unsigned head = *r->cq_head;
    unsigned ctail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
    unsigned cmask = *r->cq_mask;
    while (head != ctail) {
      struct io_uring_cqe *cqe = &r->cqes[head & cmask];
      if (cqe->user_data < n) results[cqe->user_data] = cqe->res;
      head++;
      reaped++;
    }
    __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
  }
  return 0;
}

#else /* no <linux/io_uring.h> at build time: always the plain path */

int uring_open(uring **out) {
  *out = NULL;
  return -ENOSYS;
}
void uring_close(uring *r) { (void)r; }
int uring_writev(uring *r, int fd, const struct iovec *iov, unsigned per_packet, unsigned n, int *results) {
  (void)r, (void)fd, (void)iov, (void)per_packet, (void)n, (void)results;
  return -ENOSYS;
}

#endif
