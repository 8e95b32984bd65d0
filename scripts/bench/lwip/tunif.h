/*
 * tunif.h — an lwIP network interface over a Linux TUN device (layer 3, no Ethernet).
 *
 * The device is opened with IFF_TUN | IFF_NO_PI, so every read(2) returns one whole IP packet and
 * every write(2) sends one. The kernel side of the device gets HOST_ADDR/PREFIX and is brought up
 * here (ioctls), as `tunstack serve` does for its own device; lwIP answers as its own address.
 */
#ifndef TUNIF_H
#define TUNIF_H

#include "lwip/netif.h"

struct tunif_config {
  const char *name;        /* device name, e.g. "lwip0" */
  const char *host_addr;   /* the kernel's side, e.g. "10.78.0.1" */
  int prefix_len;          /* e.g. 24 */
  const char *stack_addr;  /* lwIP's address, e.g. "10.78.0.2" */
  int mtu;                 /* 576..65535 */
};

/* Opens and configures the device and adds the netif (up, default). Returns the non-blocking fd,
 * or -1 with a message on stderr. */
int tunif_open(struct netif *netif, const struct tunif_config *cfg);

/* Reads every packet waiting on the device (at most `budget`) and hands each to lwIP's ip_input.
 * Returns the number of packets read, or -1 on a read error other than EAGAIN. */
int tunif_poll(struct netif *netif, int budget);

/* Called with every received packet before lwIP sees it, when set (main.c: tw-reopen.h). */
extern void (*tunif_rx_hook)(const u8_t *packet, u16_t len);

struct tunif_counters {
  unsigned long rx_packets, tx_packets, rx_dropped, tx_errors;
};
extern struct tunif_counters tunif_counters;

#endif
