/*
 * tw-reopen.c — see tw-reopen.h. Reads lwIP's list of TIME-WAIT pcbs (tcp_tw_pcbs, declared in
 * lwip/priv/tcp_priv.h and exported by the library) and frees a record with tcp_abort, which for a
 * TIME-WAIT pcb only unlinks and frees it (no RST is sent).
 */
#include "tw-reopen.h"

#include <string.h>

#include "lwip/def.h"
#include "lwip/ip_addr.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

unsigned long tw_reopened;

void tw_reopen_inspect(const u8_t *pkt, u16_t len) {
  if (tcp_tw_pcbs == NULL || len < 20 || (pkt[0] >> 4) != 4 || pkt[9] != 6 /* TCP */) return;
  u16_t ihl = (u16_t)((pkt[0] & 0x0f) * 4);
  if (ihl < 20 || len < ihl + 20) return;
  const u8_t *tcp = pkt + ihl;
  u8_t flags = tcp[13];
  if ((flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) != TCP_SYN) return; /* a bare SYN only */
  u16_t sport = (u16_t)(tcp[0] << 8 | tcp[1]);
  u16_t dport = (u16_t)(tcp[2] << 8 | tcp[3]);
  u32_t seq = (u32_t)tcp[4] << 24 | (u32_t)tcp[5] << 16 | (u32_t)tcp[6] << 8 | tcp[7];
  u32_t src, dst; /* network byte order, as ip4_addr_t keeps them */
  memcpy(&src, pkt + 12, 4);
  memcpy(&dst, pkt + 16, 4);
  for (struct tcp_pcb *pcb = tcp_tw_pcbs; pcb != NULL; pcb = pcb->next) {
    if (pcb->remote_port != sport || pcb->local_port != dport || !IP_IS_V4(&pcb->remote_ip) ||
        ip_2_ip4(&pcb->remote_ip)->addr != src || ip_2_ip4(&pcb->local_ip)->addr != dst) {
      continue;
    }
    if (TCP_SEQ_GT(seq, pcb->rcv_nxt)) { /* a new incarnation, not an old duplicate */
      tcp_abort(pcb);
      tw_reopened++;
    }
    return; /* at most one record per 4-tuple */
  }
}
