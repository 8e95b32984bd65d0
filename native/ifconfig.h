/* ifconfig.h — configure the kernel side of a network interface by ioctl (no N-API in here). */
#ifndef TUNSTACK_IFCONFIG_H
#define TUNSTACK_IFCONFIG_H

#include <linux/if.h>
#include <netinet/in.h>

typedef enum { STEP_UNCHANGED = 0, STEP_SET, STEP_SKIPPED } ifconfig_step;

typedef struct {
  ifconfig_step address, mtu, up, txqueuelen;
  int current_mtu;                  /* -1 if unknown */
  int current_txqueuelen;           /* -1 if unknown */
  char current_address[16];         /* dotted quad, "" if the device has none */
  const char *failed_syscall;       /* on failure: which ioctl, and errno in err */
  int err;
} ifconfig_result;

/*
 * Give interface `name` the address `addr` (NULL: leave) with `prefix`, the MTU `mtu` (<= 0: leave),
 * the transmit queue length `txqueuelen` (<= 0: leave) and, if `up`, the UP flag. Returns 0, or -1
 * with out->failed_syscall / out->err set. A step refused with EPERM/EACCES is STEP_SKIPPED when the
 * device already has what it would set (an address; the UP flag); an MTU and a queue length are
 * always skipped (the device keeps its own, in current_mtu / current_txqueuelen).
 */
int ifconfig_apply(const char name[IFNAMSIZ], const struct in_addr *addr, int prefix, int mtu, int txqueuelen,
                   int up, ifconfig_result *out);

const char *ifconfig_step_name(ifconfig_step step);

#endif
