/*
 * httpd.c — see httpd.h. One `struct conn` per TCP connection; lwIP calls us back when data
 * arrives (on_recv), when the peer acknowledged data (on_sent: room to queue more), on errors
 * (on_err: the pcb is already gone) and every second (on_poll: the idle timeout).
 *
 * Flow control: received data stays in the connection's pbuf queue until a request consumes it, and
 * only consumed bytes are given back to the window (tcp_recved), so a client that pipelines faster
 * than we answer is held back by TCP itself (RFC 9293 §3.8.6) and the queue never exceeds the
 * receive window.
 */
#include "httpd.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lwip/pbuf.h"
#include "lwip/tcp.h"

struct httpd_counters httpd_counters;

#define MAX_HEADER 8192            /* a longer request head gets 431 (RFC 6585 §5) */
#define MAX_BYTES (1ull << 30)     /* largest /bytes/N, as in src/app/demo-site.ts */
#define PATTERN_MOD 251
#define CHUNK 16384                /* at most this much per tcp_write of pattern bytes */
#define POLL_INTERVAL 2            /* on_poll every 2 coarse ticks of 500 ms */

enum route { R_HELLO, R_BYTES, R_ECHO, R_NOT_FOUND, R_BAD_METHOD };

struct conn {
  struct tcp_pcb *pcb;
  struct pbuf *inq;          /* received bytes not consumed yet (at most one receive window) */
  /* the request being answered */
  enum route route;
  int head_only;             /* HEAD: no body in the response */
  uint64_t upload_left;      /* request body bytes still to read */
  uint64_t upload_total;
  uint64_t bytes_n;          /* /bytes/N */
  enum { READ_HEAD, READ_BODY, SEND } state;
  /* the response being queued: `out` (head and short bodies), then `body_left` pattern bytes */
  char out[512];
  unsigned out_len, out_off;
  uint64_t body_off, body_left;
  int keep_alive;            /* after this response, read the next request */
  int http10;                /* a 1.0 client: keep-alive must be said (RFC 9112 Appendix C.2.2) */
  int peer_fin;              /* the client sent FIN: answer what is complete, then close */
  unsigned idle_ticks;
};

static unsigned idle_limit_ticks;
/* The /bytes pattern: any run of pattern bytes is a slice of this block (no copy: tcp_write without
 * TCP_WRITE_FLAG_COPY keeps a pointer, which is fine for static memory). */
static unsigned char pattern[CHUNK + PATTERN_MOD];
static char head_buf[MAX_HEADER + 1];

static const char HELLO[] = "Hello, world\n"; /* 13 bytes */

/* ---- closing ---- */

static void conn_free(struct conn *c) {
  if (c->inq != NULL) pbuf_free(c->inq);
  free(c);
}

/* Closes the connection; returns ERR_ABRT when it had to be aborted (the callback must then return
 * ERR_ABRT to lwIP), else ERR_OK. The conn is freed either way. */
static err_t conn_close(struct conn *c) {
  struct tcp_pcb *pcb = c->pcb;
  tcp_arg(pcb, NULL);
  tcp_recv(pcb, NULL);
  tcp_sent(pcb, NULL);
  tcp_err(pcb, NULL);
  tcp_poll(pcb, NULL, 0);
  /* Unread data in the window would make tcp_close answer with RST (RFC 9293 §3.6, RFC 2525
   * §2.17): give it back first, so queued responses still go out before our FIN. */
  if (c->inq != NULL) {
    tcp_recved(pcb, c->inq->tot_len);
    pbuf_free(c->inq);
    c->inq = NULL;
  }
  conn_free(c);
  httpd_counters.closed++;
  if (tcp_close(pcb) != ERR_OK) {
    tcp_abort(pcb);
    httpd_counters.aborted++;
    return ERR_ABRT;
  }
  return ERR_OK;
}

/* ---- responses ---- */

static void set_head(struct conn *c, int status, const char *reason, const char *type, uint64_t length) {
  const char *conn_hdr = !c->keep_alive ? "Connection: close\r\n" : c->http10 ? "Connection: keep-alive\r\n" : "";
  int n = snprintf(c->out + c->out_len, sizeof c->out - c->out_len,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %llu\r\n%s\r\n", status, reason,
                   type, (unsigned long long)length, conn_hdr);
  if (n > 0 && (unsigned)n < sizeof c->out - c->out_len) c->out_len += (unsigned)n;
}

static void add_text(struct conn *c, const char *text, size_t len) {
  if (c->head_only || len > sizeof c->out - c->out_len) return;
  memcpy(c->out + c->out_len, text, len);
  c->out_len += (unsigned)len;
}

/* The request is complete (its body read): build the response. */
static void start_response(struct conn *c) {
  char text[64];
  switch (c->route) {
  case R_HELLO:
    set_head(c, 200, "OK", "text/plain", sizeof HELLO - 1);
    add_text(c, HELLO, sizeof HELLO - 1);
    break;
  case R_BYTES:
    set_head(c, 200, "OK", "application/octet-stream", c->bytes_n);
    c->body_off = 0;
    c->body_left = c->head_only ? 0 : c->bytes_n;
    break;
  case R_ECHO: {
    int n = snprintf(text, sizeof text, "body length: %llu\n", (unsigned long long)c->upload_total);
    set_head(c, 200, "OK", "text/plain", (uint64_t)n);
    add_text(c, text, (size_t)n);
    break;
  }
  case R_BAD_METHOD:
    set_head(c, 405, "Method Not Allowed", "text/plain", 19);
    add_text(c, "Method Not Allowed\n", 19);
    break;
  default:
    set_head(c, 404, "Not Found", "text/plain", 10);
    add_text(c, "Not Found\n", 10);
    break;
  }
}

/* An error answer that ends the connection (the rest of the stream cannot be trusted). */
static void fail_request(struct conn *c, int status, const char *reason) {
  char text[64];
  int n = snprintf(text, sizeof text, "%s\n", reason);
  httpd_counters.bad_requests++;
  c->keep_alive = 0;
  c->head_only = 0;
  c->state = SEND;
  c->upload_left = 0;
  set_head(c, status, reason, "text/plain", (uint64_t)n);
  add_text(c, text, (size_t)n);
}

/* Queues as much of the response as the send buffer takes. Returns 1 when all of it is queued. */
static int pump(struct conn *c) {
  struct tcp_pcb *pcb = c->pcb;
  if (c->out_off < c->out_len) {
    unsigned len = c->out_len - c->out_off;
    if (len > tcp_sndbuf(pcb)) len = tcp_sndbuf(pcb);
    if (len == 0) return 0;
    u8_t flags = TCP_WRITE_FLAG_COPY | (c->body_left > 0 || len < c->out_len - c->out_off ? TCP_WRITE_FLAG_MORE : 0);
    if (tcp_write(pcb, c->out + c->out_off, (u16_t)len, flags) != ERR_OK) return 0;
    c->out_off += len;
    if (c->out_off < c->out_len) return 0;
  }
  while (c->body_left > 0) {
    uint64_t len = c->body_left;
    if (len > CHUNK) len = CHUNK;
    if (len > tcp_sndbuf(pcb)) len = tcp_sndbuf(pcb);
    if (len == 0) return 0;
    u8_t flags = len < c->body_left ? TCP_WRITE_FLAG_MORE : 0;
    if (tcp_write(pcb, pattern + c->body_off % PATTERN_MOD, (u16_t)len, flags) != ERR_OK) return 0; /* queue full */
    c->body_off += len;
    c->body_left -= len;
  }
  c->out_len = c->out_off = 0;
  return 1;
}

/* ---- requests ---- */

static int token_has(const char *value, const char *token) {
  /* "close", "keep-alive" in a comma-separated Connection value (RFC 9110 §7.6.1) */
  size_t tl = strlen(token);
  for (const char *p = value; *p != '\0';) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    const char *e = p;
    while (*e != '\0' && *e != ',') e++;
    const char *t = e;
    while (t > p && (t[-1] == ' ' || t[-1] == '\t')) t--;
    if ((size_t)(t - p) == tl && strncasecmp(p, token, tl) == 0) return 1;
    p = e;
  }
  return 0;
}

/* Parses the request head in head_buf (NUL-terminated, without the final empty line). */
static void parse_head(struct conn *c, char *head) {
  char *line_end = strstr(head, "\r\n");
  if (line_end != NULL) *line_end = '\0';
  /* request-line = method SP request-target SP HTTP-version (RFC 9112 §3) */
  char *method = head;
  char *sp1 = strchr(method, ' ');
  char *target = sp1 ? sp1 + 1 : NULL;
  char *sp2 = target ? strchr(target, ' ') : NULL;
  char *version = sp2 ? sp2 + 1 : NULL;
  if (sp1 == NULL || sp2 == NULL || strncmp(version, "HTTP/1.", 7) != 0 ||
      (version[7] != '0' && version[7] != '1') || version[8] != '\0') {
    fail_request(c, 400, "Bad Request");
    return;
  }
  *sp1 = *sp2 = '\0';
  int http11 = version[7] == '1';
  c->http10 = !http11;
  int conn_close = 0, conn_keep = 0, expect_continue = 0, have_length = 0;
  uint64_t length = 0;

  for (char *line = line_end ? line_end + 2 : NULL; line != NULL && *line != '\0';) {
    char *next = strstr(line, "\r\n");
    if (next != NULL) { *next = '\0'; next += 2; }
    char *colon = strchr(line, ':');
    if (colon == NULL) { fail_request(c, 400, "Bad Request"); return; }
    *colon = '\0';
    char *value = colon + 1;
    while (*value == ' ' || *value == '\t') value++;
    if (strcasecmp(line, "content-length") == 0) {
      /* digits only (RFC 9110 §8.6); a second, different value is an error (RFC 9112 §6.3) */
      uint64_t v = 0;
      char *d = value;
      if (*d < '0' || *d > '9') { fail_request(c, 400, "Bad Request"); return; }
      for (; *d >= '0' && *d <= '9'; d++) {
        if (v > (UINT64_MAX - 9) / 10) { fail_request(c, 400, "Bad Request"); return; }
        v = v * 10 + (uint64_t)(*d - '0');
      }
      while (*d == ' ' || *d == '\t') d++;
      if (*d != '\0' || (have_length && v != length)) { fail_request(c, 400, "Bad Request"); return; }
      length = v;
      have_length = 1;
    } else if (strcasecmp(line, "transfer-encoding") == 0) {
      fail_request(c, 501, "Not Implemented"); /* RFC 9112 §6.1 */
      return;
    } else if (strcasecmp(line, "connection") == 0) {
      if (token_has(value, "close")) conn_close = 1;
      if (token_has(value, "keep-alive")) conn_keep = 1;
    } else if (strcasecmp(line, "expect") == 0) {
      if (strcasecmp(value, "100-continue") == 0) expect_continue = 1;
    }
    line = next;
  }

  /* RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive". */
  c->keep_alive = http11 ? !conn_close : (conn_keep && !conn_close);
  if (c->peer_fin) c->keep_alive = 0;
  int is_get = strcmp(method, "GET") == 0, is_head = strcmp(method, "HEAD") == 0;
  c->head_only = is_head;
  char *q = strchr(target, '?');
  if (q != NULL) *q = '\0';
  if (strcmp(target, "/echo") == 0) {
    c->route = R_ECHO;
  } else if (strcmp(target, "/") == 0) {
    c->route = is_get || is_head ? R_HELLO : R_BAD_METHOD;
  } else if (strncmp(target, "/bytes/", 7) == 0) {
    const char *d = target + 7;
    uint64_t n = 0;
    int ok = *d != '\0' && strlen(d) <= 10;
    for (; ok && *d != '\0'; d++) {
      if (*d < '0' || *d > '9') ok = 0;
      else n = n * 10 + (uint64_t)(*d - '0');
    }
    if (!ok || n > MAX_BYTES) { fail_request(c, 400, "Bad Request"); return; }
    c->route = is_get || is_head ? R_BYTES : R_BAD_METHOD;
    c->bytes_n = n;
  } else {
    c->route = R_NOT_FOUND;
  }
  c->upload_left = c->upload_total = length;
  c->state = READ_BODY;
  httpd_counters.requests++;
  if (expect_continue && http11 && length > 0) {
    static const char CONTINUE[] = "HTTP/1.1 100 Continue\r\n\r\n";
    memcpy(c->out + c->out_len, CONTINUE, sizeof CONTINUE - 1);
    c->out_len += sizeof CONTINUE - 1;
  }
}

/* Consumes `n` bytes at the front of the receive queue and opens the window by as much. */
static void consume(struct conn *c, u16_t n) {
  c->inq = pbuf_free_header(c->inq, n);
  tcp_recved(c->pcb, n);
}

/* Does everything the queued input and the send buffer allow. Returns ERR_ABRT if the connection
 * had to be aborted (the conn is gone then, as it is after a close). */
static err_t process(struct conn *c) {
  for (;;) {
    switch (c->state) {
    case READ_HEAD: {
      u16_t end = c->inq == NULL ? 0xFFFF : pbuf_memfind(c->inq, "\r\n\r\n", 4, 0);
      if (end == 0xFFFF) {
        if (c->inq != NULL && c->inq->tot_len > MAX_HEADER) {
          fail_request(c, 431, "Request Header Fields Too Large");
          break;
        }
        if (c->peer_fin) return conn_close(c); /* nothing more will come */
        return ERR_OK;                          /* wait for the rest of the head */
      }
      if (end > MAX_HEADER) {
        fail_request(c, 431, "Request Header Fields Too Large");
        break;
      }
      pbuf_copy_partial(c->inq, head_buf, end, 0);
      head_buf[end] = '\0';
      consume(c, (u16_t)(end + 4));
      c->bytes_n = 0;
      parse_head(c, head_buf); /* -> READ_BODY, or SEND with an error answer */
      break;
    }
    case READ_BODY:
      /* the request body is read and dropped; /echo reports its length */
      while (c->upload_left > 0 && c->inq != NULL) {
        u16_t take = c->inq->tot_len;
        if (take > c->upload_left) take = (u16_t)c->upload_left;
        consume(c, take);
        c->upload_left -= take;
      }
      if (c->upload_left > 0) {
        pump(c); /* a 100 Continue may be waiting to go out */
        if (c->peer_fin) return conn_close(c);
        return ERR_OK;
      }
      start_response(c);
      c->state = SEND;
      break;
    case SEND:
      if (!pump(c)) return ERR_OK; /* on_sent calls us again when there is room */
      if (!c->keep_alive) return conn_close(c);
      c->state = READ_HEAD; /* the next request, maybe already queued (pipelining) */
      break;
    }
  }
}

/* ---- lwIP callbacks ---- */

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
  struct conn *c = arg;
  (void)err;
  if (c == NULL) { /* closed by us already */
    if (p != NULL) { tcp_recved(pcb, p->tot_len); pbuf_free(p); }
    return ERR_OK;
  }
  c->idle_ticks = 0;
  if (p == NULL) {
    c->peer_fin = 1; /* RFC 9293 §3.6: the client will send no more */
  } else if (c->inq == NULL) {
    c->inq = p;
  } else {
    pbuf_cat(c->inq, p); /* stays below the receive window (64 KiB), as tot_len must */
  }
  return process(c);
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len) {
  struct conn *c = arg;
  (void)pcb;
  (void)len;
  if (c == NULL) return ERR_OK;
  c->idle_ticks = 0;
  return process(c);
}

static void on_err(void *arg, err_t err) {
  struct conn *c = arg;
  (void)err;
  if (c == NULL) return;
  httpd_counters.aborted++;
  conn_free(c); /* lwIP freed the pcb already */
}

static err_t on_poll(void *arg, struct tcp_pcb *pcb) {
  struct conn *c = arg;
  if (c == NULL) {
    tcp_abort(pcb);
    return ERR_ABRT;
  }
  if (++c->idle_ticks >= idle_limit_ticks) return conn_close(c); /* keep-alive idle timeout */
  return ERR_OK;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err) {
  (void)arg;
  if (err != ERR_OK || pcb == NULL) return ERR_VAL;
  struct conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    tcp_abort(pcb);
    return ERR_ABRT;
  }
  c->pcb = pcb;
  c->state = READ_HEAD;
  httpd_counters.accepted++;
  tcp_nagle_disable(pcb); /* responses go out whole, not held for the ACK of the previous one */
  tcp_arg(pcb, c);
  tcp_recv(pcb, on_recv);
  tcp_sent(pcb, on_sent);
  tcp_err(pcb, on_err);
  tcp_poll(pcb, on_poll, POLL_INTERVAL);
  return ERR_OK;
}

err_t httpd_start(unsigned short port, unsigned idle_timeout_ms) {
  for (unsigned i = 0; i < sizeof pattern; i++) pattern[i] = (unsigned char)(i % PATTERN_MOD);
  idle_limit_ticks = idle_timeout_ms / (POLL_INTERVAL * 500u) /* TCP_SLOW_INTERVAL: 2 x TCP_TMR_INTERVAL */;
  if (idle_limit_ticks == 0) idle_limit_ticks = 1;
  struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
  if (pcb == NULL) return ERR_MEM;
  err_t e = tcp_bind(pcb, IP_ANY_TYPE, port);
  if (e != ERR_OK) {
    tcp_close(pcb);
    return e;
  }
  struct tcp_pcb *listener = tcp_listen_with_backlog(pcb, 255);
  if (listener == NULL) {
    tcp_close(pcb);
    return ERR_MEM;
  }
  tcp_accept(listener, on_accept);
  return ERR_OK;
}
