/*
 * httpd.h — a small HTTP/1.1 server on lwIP's raw TCP API (callbacks, no threads, no sockets),
 * serving the bodies the benchmark asks every server for (see scripts/bench-http.sh):
 *
 *   GET /          13 bytes, "Hello, world\n"
 *   GET /bytes/N   N bytes, byte i = i % 251 (as src/app/demo-site.ts serves them)
 *   ANY /echo      reads the request body, answers "body length: N\n"
 *
 * Keep-alive (RFC 9112 §9.3), pipelining (requests answered in order, §9.3.2), Content-Length
 * bodies (§6.2), Expect: 100-continue (RFC 9110 §10.1.1). No chunked request bodies (501).
 */
#ifndef HTTPD_H
#define HTTPD_H

#include "lwip/err.h"

struct httpd_counters {
  unsigned long accepted, requests, closed, aborted, bad_requests;
};
extern struct httpd_counters httpd_counters;

/* Listens on TCP port `port` of every address. */
err_t httpd_start(unsigned short port, unsigned idle_timeout_ms);

#endif
