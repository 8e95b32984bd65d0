/** `tunstack drill`'s usage line, shared by drill/cli.ts and src/cli.ts (which loads the runner only to run it). */
export const DRILL_USAGE =
  'tunstack drill  FILE.pkt... [--trace] [--ladder] [--pcap FILE] [--tolerance-ms N] [--step] [--profile default|linux]\n' +
  '                [--break-on syn,fin,rst,retransmit,state,line:N]';
