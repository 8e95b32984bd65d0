/*
 * main.c — lwip-httpd: lwIP 2.1 (Debian's liblwip) answering HTTP on a TUN device, the C reference
 * point of the benchmark (scripts/bench-http.sh). One thread: the loop below reads the TUN, runs
 * lwIP's timers and sleeps in poll(2) until the next packet or timer. lwIP's own tcpip thread is
 * not started (no tcpip_init), so no core lock is needed: every lwIP call happens on this thread.
 *
 *   lwip-httpd [--tun lwip0] [--host-addr 10.78.0.1/24] [--addr 10.78.0.2] [--mtu 1500]
 *              [--port 80] [--idle-timeout 5000] [--tw-reopen on|off]
 *
 *   --tw-reopen  on (default): a new SYN reopens a connection lwIP holds in TIME-WAIT (RFC 1122
 *                §4.2.2.13, as Linux does; see tw-reopen.h); off: lwIP 2.1 as it is
 *
 * Prints "lwip-httpd: ready ..." on stdout when it answers; on SIGTERM/SIGINT prints
 * "lwip-httpd: stats ..." and exits 0. Run it inside a network namespace (it creates a device).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/init.h"
#include "lwip/timeouts.h"

#include "httpd.h"
#include "tunif.h"
#include "tw-reopen.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void usage(void) {
  fprintf(stderr, "usage: lwip-httpd [--tun NAME] [--host-addr A.B.C.D/LEN] [--addr A.B.C.D] [--mtu N] [--port N] [--idle-timeout MS] [--tw-reopen on|off]\n");
  exit(2);
}

static long number(const char *flag, const char *s, long min, long max) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || end == s || v < min || v > max) {
    fprintf(stderr, "lwip-httpd: %s must be an integer %ld..%ld, got '%s'\n", flag, min, max, s);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  static char host[64];
  struct tunif_config cfg = {"lwip0", "10.78.0.1", 24, "10.78.0.2", 1500};
  long port = 80, idle_ms = 5000;
  int tw_reopen = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (strcmp(a, "--tun") == 0) {
      if (strlen(v) == 0 || strlen(v) > 15) { fprintf(stderr, "lwip-httpd: --tun: 1..15 characters\n"); return 2; }
      cfg.name = v;
    } else if (strcmp(a, "--host-addr") == 0) {
      const char *slash = strchr(v, '/');
      if (slash == NULL || (size_t)(slash - v) >= sizeof host) { fprintf(stderr, "lwip-httpd: --host-addr wants A.B.C.D/LEN\n"); return 2; }
      memcpy(host, v, (size_t)(slash - v));
      host[slash - v] = '\0';
      cfg.host_addr = host;
      cfg.prefix_len = (int)number("--host-addr prefix", slash + 1, 1, 30);
    } else if (strcmp(a, "--addr") == 0) {
      cfg.stack_addr = v;
    } else if (strcmp(a, "--mtu") == 0) {
      cfg.mtu = (int)number("--mtu", v, 576, 65535);
    } else if (strcmp(a, "--port") == 0) {
      port = number("--port", v, 1, 65535);
    } else if (strcmp(a, "--idle-timeout") == 0) {
      idle_ms = number("--idle-timeout", v, 1000, 3600000);
    } else if (strcmp(a, "--tw-reopen") == 0) {
      if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) { fprintf(stderr, "lwip-httpd: --tw-reopen must be on or off\n"); return 2; }
      tw_reopen = strcmp(v, "on") == 0;
    } else {
      usage();
    }
  }

  lwip_init();
  if (tw_reopen) tunif_rx_hook = tw_reopen_inspect;
  static struct netif netif;
  int fd = tunif_open(&netif, &cfg);
  if (fd < 0) return 1;
  if (httpd_start((unsigned short)port, (unsigned)idle_ms) != ERR_OK) {
    fprintf(stderr, "lwip-httpd: cannot listen on port %ld\n", port);
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  printf("lwip-httpd: ready lwIP %s on http://%s:%ld/ (device %s, host side %s/%d)\n", LWIP_VERSION_STRING,
         cfg.stack_addr, port, cfg.name, cfg.host_addr, cfg.prefix_len);
  fflush(stdout);

  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  while (!stop) {
    u32_t sleep_ms = sys_timeouts_sleeptime();
    int timeout = sleep_ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE || sleep_ms > 1000 ? 1000 : (int)sleep_ms;
    int r = poll(&pfd, 1, timeout);
    if (r < 0 && errno != EINTR) { perror("lwip-httpd: poll"); break; }
    if (r > 0 && (pfd.revents & POLLIN) && tunif_poll(&netif, 64) < 0) { perror("lwip-httpd: read"); break; }
    sys_check_timeouts();
  }
  printf("lwip-httpd: stats rx %lu tx %lu rxDropped %lu txErrors %lu accepted %lu requests %lu closed %lu aborted %lu badRequests %lu twReopened %lu\n",
         tunif_counters.rx_packets, tunif_counters.tx_packets, tunif_counters.rx_dropped, tunif_counters.tx_errors,
         httpd_counters.accepted, httpd_counters.requests, httpd_counters.closed, httpd_counters.aborted,
         httpd_counters.bad_requests, tw_reopened);
  fflush(stdout);
  return 0;
}
