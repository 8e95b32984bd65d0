/*
 * tunif.c — see tunif.h. Written for this benchmark; the lwIP library provides the stack, this file
 * only moves packets between the TUN file descriptor and lwIP (input: ip_input; output: the netif's
 * output hook, called by lwIP's IPv4/IPv6 layer with a finished packet).
 */
#define _GNU_SOURCE
#include "tunif.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lwip/ip.h"
#include "lwip/ip4_addr.h"
#include "lwip/pbuf.h"

struct tunif_counters tunif_counters;
void (*tunif_rx_hook)(const u8_t *packet, u16_t len);

static int tun_fd = -1;
/* One packet on its way out: lwIP hands over a pbuf chain, write(2) wants one buffer. */
static unsigned char tx_buf[65536];

static err_t tun_write(struct pbuf *p) {
  const void *data = p->payload;
  if (p->next != NULL) { /* a chain (header pbuf + data pbufs): flatten it */
    /* tot_len is a u16_t, so it always fits tx_buf */
    pbuf_copy_partial(p, tx_buf, p->tot_len, 0);
    data = tx_buf;
  }
  ssize_t n = write(tun_fd, data, p->tot_len);
  if (n != (ssize_t)p->tot_len) {
    /* EAGAIN or a full kernel queue: the packet is lost, TCP will retransmit it. */
    tunif_counters.tx_errors++;
    return ERR_OK;
  }
  tunif_counters.tx_packets++;
  return ERR_OK;
}

static err_t tun_output4(struct netif *netif, struct pbuf *p, const ip4_addr_t *next_hop) {
  (void)netif;
  (void)next_hop; /* point to point: every packet goes to the kernel side */
  return tun_write(p);
}

static err_t tun_output6(struct netif *netif, struct pbuf *p, const ip6_addr_t *next_hop) {
  (void)netif;
  (void)next_hop;
  return tun_write(p);
}

static err_t tun_netif_init(struct netif *netif) {
  netif->name[0] = 't';
  netif->name[1] = 'n';
  netif->output = tun_output4;
  netif->output_ip6 = tun_output6;
  netif->flags = NETIF_FLAG_LINK_UP; /* no broadcast, no ARP: a layer-3 link */
  return ERR_OK;
}

/* The kernel side: address, netmask, MTU, up. The same ioctls `ip addr`/`ip link` use. */
static int configure_host_side(const struct tunif_config *cfg) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) { perror("lwip-httpd: socket"); return -1; }
  struct ifreq ifr;
  struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
  int ok = 0;

  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, cfg->name, IFNAMSIZ - 1);
  sin->sin_family = AF_INET;
  inet_pton(AF_INET, cfg->host_addr, &sin->sin_addr);
  if (ioctl(s, SIOCSIFADDR, &ifr) < 0) { perror("lwip-httpd: SIOCSIFADDR"); ok = -1; }

  sin->sin_addr.s_addr = htonl(cfg->prefix_len == 0 ? 0 : 0xffffffffu << (32 - cfg->prefix_len));
  if (ok == 0 && ioctl(s, SIOCSIFNETMASK, &ifr) < 0) { perror("lwip-httpd: SIOCSIFNETMASK"); ok = -1; }

  ifr.ifr_mtu = cfg->mtu;
  if (ok == 0 && ioctl(s, SIOCSIFMTU, &ifr) < 0) { perror("lwip-httpd: SIOCSIFMTU"); ok = -1; }

  if (ok == 0 && ioctl(s, SIOCGIFFLAGS, &ifr) < 0) { perror("lwip-httpd: SIOCGIFFLAGS"); ok = -1; }
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ok == 0 && ioctl(s, SIOCSIFFLAGS, &ifr) < 0) { perror("lwip-httpd: SIOCSIFFLAGS"); ok = -1; }
  close(s);
  return ok;
}

int tunif_open(struct netif *netif, const struct tunif_config *cfg) {
  ip4_addr_t addr, mask, gw;
  if (!ip4addr_aton(cfg->stack_addr, &addr)) {
    fprintf(stderr, "lwip-httpd: bad stack address %s\n", cfg->stack_addr);
    return -1;
  }
  tun_fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (tun_fd < 0) { perror("lwip-httpd: open /dev/net/tun"); return -1; }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, cfg->name, IFNAMSIZ - 1);
  if (ioctl(tun_fd, TUNSETIFF, &ifr) < 0) { perror("lwip-httpd: TUNSETIFF"); close(tun_fd); return -1; }
  if (configure_host_side(cfg) < 0) { close(tun_fd); return -1; }

  ip4_addr_set_u32(&mask, lwip_htonl(cfg->prefix_len == 0 ? 0 : 0xffffffffu << (32 - cfg->prefix_len)));
  ip4addr_aton(cfg->host_addr, &gw);
  if (netif_add(netif, &addr, &mask, &gw, NULL, tun_netif_init, ip_input) == NULL) {
    fprintf(stderr, "lwip-httpd: netif_add failed\n");
    close(tun_fd);
    return -1;
  }
  netif->mtu = (u16_t)cfg->mtu;
  netif_set_default(netif);
  netif_set_up(netif);
  netif_set_link_up(netif);
  return tun_fd;
}

int tunif_poll(struct netif *netif, int budget) {
  int n = 0;
  while (n < budget) {
    /* Read straight into a pbuf big enough for the MTU, then shrink it to the packet. */
    struct pbuf *p = pbuf_alloc(PBUF_RAW, netif->mtu, PBUF_RAM);
    if (p == NULL) { tunif_counters.rx_dropped++; return n; }
    ssize_t len = read(tun_fd, p->payload, netif->mtu);
    if (len <= 0) {
      pbuf_free(p);
      if (len < 0 && errno != EAGAIN && errno != EINTR) return -1;
      return n;
    }
    pbuf_realloc(p, (u16_t)len);
    n++;
    tunif_counters.rx_packets++;
    if (tunif_rx_hook != NULL) tunif_rx_hook((const u8_t *)p->payload, (u16_t)len);
    if (netif->input(p, netif) != ERR_OK) { /* lwIP did not take it */
      pbuf_free(p);
      tunif_counters.rx_dropped++;
    }
  }
  return n;
}
