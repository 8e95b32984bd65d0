/*
 * tw-reopen.h — reopening a connection from TIME-WAIT on a new SYN, the option RFC 1122
 * §4.2.2.13 gives a TCP and Linux takes, and lwIP 2.1 does not: lwIP answers a SYN that hits one of
 * its TIME-WAIT records with an ACK (RFC 9293 §3.10.7.4) and ignores the client's RST (RFC 1337),
 * for 2 MSL = 120 s. A benchmark client (ab -c20: the server closes first, so every connection leaves
 * a record on the server) soon reuses a local port that lwIP still holds, and that connection
 * hangs until the client gives up. With this check, a SYN for a 4-tuple in TIME-WAIT whose
 * sequence number is past the end of the old connection's (so it is no old duplicate of it, the
 * test Linux applies) removes the record first, and lwIP's listener accepts the SYN as new. lwIP's
 * initial sequence numbers grow with every connection (tcp_next_iss adds the tick count), which is
 * what §4.2.2.13's first condition asks of ours, in practice if not by proof.
 */
#ifndef TW_REOPEN_H
#define TW_REOPEN_H

#include "lwip/arch.h"

/* Looks at one IPv4 packet before lwIP does; a reopening SYN drops the TIME-WAIT record it hits. */
void tw_reopen_inspect(const u8_t *packet, u16_t len);

extern unsigned long tw_reopened;

#endif
