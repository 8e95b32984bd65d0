/* uring.h — a tick's TUN writes submitted with one system call, through io_uring (no N-API here). */
#ifndef TUNSTACK_URING_H
#define TUNSTACK_URING_H

#include <stddef.h>
#include <sys/uio.h>

typedef struct uring uring;

/* The largest batch uring_writev takes (the ring's size). */
#define URING_ENTRIES 256

/*
 * Set up a ring. Returns 0 and *out, or a negative errno when io_uring cannot be used here: ENOSYS
 * (an old kernel, or built without <linux/io_uring.h>), EPERM (seccomp, or the io_uring_disabled
 * sysctl), ENOMEM. The caller then writes with plain write(2)/writev(2).
 */
int uring_open(uring **out);
void uring_close(uring *r);

/*
 * Write n packets (n <= URING_ENTRIES) to fd, in this order, with one io_uring_enter that also waits
 * for all of them: packet i is the `per_packet` iovecs at iov[i * per_packet]. They are linked
 * (IOSQE_IO_LINK), so the kernel runs them one after the other; after a failed one the rest are not
 * run and report -ECANCELED. results[i] = bytes written or -errno. Returns 0, or -errno when the
 * submission itself failed: nothing was written then, or, if the kernel had taken some entries
 * before failing (never seen), those may have been written too and the ring is not used again.
 */
int uring_writev(uring *r, int fd, const struct iovec *iov, unsigned per_packet, unsigned n, int *results);

#endif
