/*
 * ifconfig.c — the classic SIOCSIF* ioctls on an AF_INET datagram socket, so that opening a TUN
 * device needs no `ip` program at run time. Plain C; tun.c turns the result into a JS object.
 */
#include "ifconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

const char *ifconfig_step_name(ifconfig_step step) {
  return step == STEP_SET ? "set" : step == STEP_SKIPPED ? "skipped" : "unchanged";
}

static int ifreq_ioctl(int sock, unsigned long req, const char name[IFNAMSIZ], struct ifreq *ifr) {
  memcpy(ifr->ifr_name, name, IFNAMSIZ); /* name is a NUL-terminated char[IFNAMSIZ] */
  return ioctl(sock, req, ifr);
}

static void set_sockaddr(struct sockaddr *sa, uint32_t addr_be) {
  struct sockaddr_in *sin = (struct sockaddr_in *)sa;
  memset(sin, 0, sizeof *sin);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = addr_be;
}

static int denied(int err) { return err == EPERM || err == EACCES; }

static int fail(ifconfig_result *out, const char *syscall, int err) {
  out->failed_syscall = syscall;
  out->err = err;
  return -1;
}

/* Address, then netmask: SIOCSIFADDR alone would give the old classful mask. */
static int apply_address(int sock, const char *name, const struct in_addr *addr, int prefix, ifconfig_result *out) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  set_sockaddr(&ifr.ifr_addr, addr->s_addr);
  if (ifreq_ioctl(sock, SIOCSIFADDR, name, &ifr) != 0) {
    int err = errno;
    memset(&ifr, 0, sizeof ifr);
    if (denied(err) && ifreq_ioctl(sock, SIOCGIFADDR, name, &ifr) == 0) {
      out->address = STEP_SKIPPED; /* no permission, but an administrator gave it an address */
      return 0;
    }
    return fail(out, "SIOCSIFADDR", err);
  }
  memset(&ifr, 0, sizeof ifr);
  set_sockaddr(&ifr.ifr_netmask, prefix == 0 ? 0 : htonl(0xffffffffu << (32 - prefix)));
  if (ifreq_ioctl(sock, SIOCSIFNETMASK, name, &ifr) != 0) return fail(out, "SIOCSIFNETMASK", errno);
  out->address = STEP_SET;
  return 0;
}

static int apply_mtu(int sock, const char *name, int mtu, ifconfig_result *out) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_mtu = mtu;
  if (ifreq_ioctl(sock, SIOCSIFMTU, name, &ifr) == 0) out->mtu = STEP_SET;
  else if (denied(errno)) out->mtu = STEP_SKIPPED;
  else return fail(out, "SIOCSIFMTU", errno);
  return 0;
}

/*
 * The device's transmit queue: for a TUN device, the packets the kernel has sent into it that we
 * have not read yet (the kernel drops beyond it and counts them in the device's TX dropped). The
 * default of 500 is too short for a burst of SYNs arriving while the stack is busy.
 */
static int apply_txqueuelen(int sock, const char *name, int qlen, ifconfig_result *out) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_qlen = qlen;
  if (ifreq_ioctl(sock, SIOCSIFTXQLEN, name, &ifr) == 0) out->txqueuelen = STEP_SET;
  else if (denied(errno)) out->txqueuelen = STEP_SKIPPED;
  else return fail(out, "SIOCSIFTXQLEN", errno);
  return 0;
}

static int apply_up(int sock, const char *name, ifconfig_result *out) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ifreq_ioctl(sock, SIOCGIFFLAGS, name, &ifr) != 0) return fail(out, "SIOCGIFFLAGS", errno);
  short flags = ifr.ifr_flags;
  ifr.ifr_flags = flags | IFF_UP;
  if (ifreq_ioctl(sock, SIOCSIFFLAGS, name, &ifr) == 0) out->up = STEP_SET;
  else if (denied(errno) && (flags & IFF_UP)) out->up = STEP_SKIPPED;
  else return fail(out, "SIOCSIFFLAGS", errno);
  return 0;
}

/* What the device has now (readable without privileges). */
static void read_back(int sock, const char *name, ifconfig_result *out) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ifreq_ioctl(sock, SIOCGIFMTU, name, &ifr) == 0) out->current_mtu = ifr.ifr_mtu;
  memset(&ifr, 0, sizeof ifr);
  if (ifreq_ioctl(sock, SIOCGIFTXQLEN, name, &ifr) == 0) out->current_txqueuelen = ifr.ifr_qlen;
  memset(&ifr, 0, sizeof ifr);
  if (ifreq_ioctl(sock, SIOCGIFADDR, name, &ifr) == 0) {
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr, out->current_address,
              sizeof out->current_address);
  }
}

int ifconfig_apply(const char name[IFNAMSIZ], const struct in_addr *addr, int prefix, int mtu, int txqueuelen,
                   int up, ifconfig_result *out) {
  memset(out, 0, sizeof *out);
  out->current_mtu = -1;
  out->current_txqueuelen = -1;
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return fail(out, "socket", errno);
  int rc = 0;
  if (addr != NULL) rc = apply_address(sock, name, addr, prefix, out);
  if (rc == 0 && mtu > 0) rc = apply_mtu(sock, name, mtu, out);
  if (rc == 0 && txqueuelen > 0) rc = apply_txqueuelen(sock, name, txqueuelen, out);
  if (rc == 0 && up) rc = apply_up(sock, name, out);
  if (rc == 0) read_back(sock, name, out);
  close(sock);
  return rc;
}
