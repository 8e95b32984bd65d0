/**
 * The HTML of /live and /ladder (live.ts serves them): self-contained pages, no external assets,
 * with a little script that draws ladder rows and, on /live, listens to /live/events (EventSource).
 * Both pages draw rows with the same function (LADDER_JS), so a connection looks the same on both.
 */
import type { LadderRow } from '../trace/flow-decoder.ts';
import type { LiveConnRow } from './live.ts';

const CSS = `
:root{--ink:#1d232b;--mute:#5b6573;--line:#d9dee5;--bg:#f6f8fa;--l2r:#1f6feb;--r2l:#8250df;--bad:#cf222e;--ok:#1a7f37}
*{box-sizing:border-box} [hidden]{display:none!important}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:var(--ink);background:#fff}
header{padding:.8rem 1.2rem;border-bottom:1px solid var(--line);display:flex;gap:1rem;align-items:baseline;flex-wrap:wrap}
header h1{font-size:1.25rem;margin:0}
header .sub{color:var(--mute);font-size:.9rem}
main{padding:.8rem 1.2rem;max-width:84rem}
h2{font-size:1rem;margin:1.2rem 0 .4rem}
.status{margin-left:auto;font-size:.85rem;color:var(--mute)}
.dot{display:inline-block;width:.6rem;height:.6rem;border-radius:50%;background:#aaa;margin-right:.35rem;vertical-align:baseline}
.dot.on{background:var(--ok)} .dot.off{background:var(--bad)}
code,.mono,td{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.82rem}
table{border-collapse:collapse;width:100%}
th,td{padding:.28rem .5rem;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{font-weight:600;font-size:.78rem;color:var(--mute);background:var(--bg);position:sticky;top:0}
th:nth-child(-n+3),td:nth-child(-n+3){text-align:left}
tbody tr{cursor:pointer} tbody tr:hover{background:#f0f4ff}
tr.chosen{background:#e7efff} tr.chosen td:first-child{box-shadow:inset 3px 0 var(--l2r)}
.tag{display:inline-block;font-size:.7rem;padding:0 .35rem;border-radius:.6rem;background:var(--bg);color:var(--mute);margin-left:.3rem;font-family:system-ui,sans-serif}
.state{font-family:system-ui,sans-serif;font-size:.75rem;padding:.05rem .4rem;border-radius:.3rem;background:var(--bg)}
.state.ESTABLISHED{background:#dafbe1;color:#116329}
.state.TIME-WAIT,.state.CLOSED{color:var(--mute)}
.muted{color:var(--mute)}
.hint{color:var(--mute);font-size:.85rem;margin:.3rem 0}
.ladder{border:1px solid var(--line);border-radius:.4rem;overflow:auto;max-height:32rem;background:#fff}
.ends{display:grid;grid-template-columns:5.5rem 1fr 1fr 22rem;position:sticky;top:0;background:var(--bg);border-bottom:1px solid var(--line);z-index:1}
.ends div{padding:.35rem .5rem;font-family:ui-monospace,monospace;font-size:.8rem;font-weight:600}
.ends .r{text-align:right}
.row{display:grid;grid-template-columns:5.5rem 1fr 22rem;align-items:center;min-height:1.7rem;border-bottom:1px solid #f1f3f5}
.row .t{font-family:ui-monospace,monospace;font-size:.75rem;color:var(--mute);text-align:right;padding-right:.5rem}
.lane{position:relative;height:1.7rem;border-left:2px solid #8c959f;border-right:2px solid #8c959f;margin:0 .2rem}
.arrow{position:absolute;left:.2rem;right:.9rem;top:55%;border-top:2px solid var(--l2r)}
.arrow::after{content:"";position:absolute;right:-.7rem;top:-.42rem;border:.38rem solid transparent;border-left:.7rem solid var(--l2r)}
.rtl .arrow{left:.9rem;right:.2rem;border-top-color:var(--r2l)}
.rtl .arrow::after{right:auto;left:-.7rem;border-left:0;border-right:.7rem solid var(--r2l)}
.label{position:absolute;left:0;right:0;top:0;text-align:center;font-family:ui-monospace,monospace;font-size:.74rem;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;padding:0 1rem}
.rtx .arrow{border-top-color:var(--bad)}
.rtl.rtx .arrow::after{border-right-color:var(--bad)} .ltr.rtx .arrow::after{border-left-color:var(--bad)}
.note{font-size:.75rem;padding-left:.5rem;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.why{display:inline-block;font-size:.7rem;padding:0 .35rem;border-radius:.6rem;background:#eef1f4;color:#3d4752;margin-right:.3rem}
.why.loss{background:#ffebe9;color:var(--bad);font-weight:600}
.why.rtx{background:var(--bad);color:#fff}
.pv{font-family:ui-monospace,monospace;color:#0a3069}
.empty{padding:1rem;color:var(--mute)}
a{color:#0969da}
`;

/** Draws one ladder row; used by both pages. `t0`: the time the ladder starts at (ms). */
const LADDER_JS = `
function esc(s){return String(s).replace(/[&<>"']/g,function(c){return '&#'+c.charCodeAt(0)+';'})}
var LOSS={'fast-retransmit':1,'sack-retransmit':1,'rto-retransmit':1,'tlp':1};
function rowLabel(r){
  var s=r.flags+' seq='+r.seq+(r.len>0?':'+((r.seq+r.len)>>>0):'');
  if(r.ack!==undefined)s+=' ack='+r.ack;
  if(r.win!==undefined)s+=' win='+r.win;
  if(r.len>0)s+=' len='+r.len;
  if(r.opts)s+=' <'+r.opts+'>';
  return s;
}
function rowEl(r,t0){
  var d=document.createElement('div');
  d.className='row '+(r.ltr?'ltr':'rtl')+(r.rtx?' rtx':'');
  d.dataset.n=r.n;
  var note='';
  if(r.rtx)note+='<span class="why rtx">retransmission</span>';
  if(r.reason)note+='<span class="why'+(LOSS[r.reason]?' loss':'')+'">'+esc(r.reason)+'</span>';
  if(r.cwnd!==undefined)note+='<span class="muted">cwnd '+r.cwnd+' ssthresh '+esc(r.ssthresh)+'</span> ';
  if(r.preview)note+='<span class="pv">'+esc(r.preview)+'</span>';
  var label=rowLabel(r);
  d.innerHTML='<div class="t">'+((r.t-t0)/1000).toFixed(3)+' s</div>'+
    '<div class="lane"><div class="arrow"></div><div class="label" title="'+esc(label)+'">'+esc(label)+'</div></div>'+
    '<div class="note">'+note+'</div>';
  return d;
}
`;

/** The /live page: the table, the chosen connection's ladder, fed by /live/events. */
export function livePage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>tunstack: live</title>
<style>${CSS}</style></head><body>
<header><h1>tunstack live</h1><span class="sub">every TCP connection of this stack, and the segments of the one you pick, as they happen</span>
<span class="status" id="status"><span class="dot" id="dot"></span><span id="statustext">connecting…</span></span></header>
<main>
<h2>Connections <span class="muted" id="count"></span></h2>
<p class="hint">Click a row to watch its segments below. RTT is the smoothed estimate (RFC 6298); cwnd and ssthresh are in bytes,
ssthresh is "initial" until the first loss. Your own page's feed is marked; its segments are not shown (each update would describe the last).</p>
<div style="overflow:auto;max-height:22rem;border:1px solid var(--line);border-radius:.4rem">
<table id="conns"><thead><tr><th>local</th><th>remote</th><th>state</th><th>RTT ms</th><th>RTO ms</th><th>cwnd</th><th>ssthresh</th>
<th>bytes in</th><th>bytes out</th><th>segs in/out</th><th>retrans</th><th></th></tr></thead><tbody></tbody></table></div>
<h2 id="ltitle">Segments <span class="muted">— pick a connection above</span></h2>
<div class="ladder" id="ladder"><div class="ends" id="ends" hidden><div></div><div id="lname"></div><div class="r" id="rname"></div><div>why it left / payload</div></div>
<div id="rows"><div class="empty" id="empty">No connection chosen yet.</div></div></div>
<p class="hint">The opener is on the left; sequence numbers are relative (0 is the SYN). A segment longer than the MSS is a
TSO super-segment: the kernel cuts it into MSS-sized packets below the TUN device. The tag says why the stack sent it; red marks a retransmission or a loss reaction, with cwnd and ssthresh after it.</p>
<p class="hint" id="lhint"></p>
</main>
<script>
${LADDER_JS}
var MAX_ROWS=400, es=null, chosen=new URLSearchParams(location.search).get('flow')||'', own='', t0=null, last=-1, follow=true;
var rowsEl=document.getElementById('rows'), ladderEl=document.getElementById('ladder');
ladderEl.addEventListener('scroll',function(){follow=ladderEl.scrollTop+ladderEl.clientHeight>=ladderEl.scrollHeight-30});
function status(on,text){document.getElementById('dot').className='dot '+(on?'on':'off');document.getElementById('statustext').textContent=text}
function fmt(v){return v===null||v===undefined?'–':String(v)}
function renderTable(t){
  var tb=document.querySelector('#conns tbody'); var html='';
  t.rows.forEach(function(r){
    var cls=(r.key===chosen?'chosen':'');
    html+='<tr class="'+cls+'" data-key="'+esc(r.key)+'"><td>'+esc(r.local)+'</td><td>'+esc(r.remote)+(r.key===own?'<span class="tag">this page\\'s feed</span>':'')+
      '</td><td><span class="state '+esc(r.state)+'">'+esc(r.state)+'</span></td><td>'+fmt(r.srttMs)+'</td><td>'+fmt(r.rtoMs)+'</td><td>'+r.cwnd+'</td><td>'+esc(r.ssthresh)+
      '</td><td>'+r.bytesIn+'</td><td>'+r.bytesOut+'</td><td>'+r.segmentsIn+' / '+r.segmentsOut+'</td><td>'+(r.retransmits>0?'<b style="color:var(--bad)">'+r.retransmits+'</b>':'0')+
      '</td><td><a href="/ladder?flow='+encodeURIComponent(r.key)+'" title="this connection as a ladder page">ladder</a></td></tr>';
  });
  tb.innerHTML=html||'<tr><td colspan="12" class="muted">no connections</td></tr>';
  document.getElementById('count').textContent='('+t.total+(t.total>t.rows.length?', first '+t.rows.length+' shown':'')+')';
}
function addRows(rows){
  var e=document.getElementById('empty'); if(e)e.remove();
  rows.forEach(function(r){ if(r.n<=last)return; last=r.n; if(t0===null)t0=r.t; rowsEl.appendChild(rowEl(r,t0)); });
  while(rowsEl.children.length>MAX_ROWS)rowsEl.removeChild(rowsEl.firstChild);
  if(follow)ladderEl.scrollTop=ladderEl.scrollHeight;
}
function connect(){
  if(es)es.close();
  es=new EventSource('/live/events'+(chosen?'?flow='+encodeURIComponent(chosen)+(last>=0?'&since='+last:''):''));
  es.addEventListener('open',function(){status(true,'live')});
  es.addEventListener('error',function(){status(false,'reconnecting…')});
  es.addEventListener('hello',function(m){var h=JSON.parse(m.data); own=h.own;
    if(h.left){document.getElementById('ends').hidden=false;document.getElementById('lname').textContent=h.left;document.getElementById('rname').textContent=h.right;
      document.getElementById('ltitle').innerHTML='Segments of <code>'+esc(h.left)+'</code> ⇄ <code>'+esc(h.right)+'</code> <a href="/ladder?flow='+encodeURIComponent(chosen)+'" style="font-size:.8rem;font-weight:normal">open as a ladder page</a>';}});
  es.addEventListener('conns',function(m){renderTable(JSON.parse(m.data));status(true,'live, updated '+new Date().toLocaleTimeString())});
  es.addEventListener('segs',function(m){addRows(JSON.parse(m.data))});
  es.addEventListener('skipped',function(m){document.getElementById('lhint').textContent=JSON.parse(m.data).n+' segments were skipped: the page could not keep up.'});
  es.addEventListener('self',function(){var e=document.getElementById('empty'); if(e)e.textContent='This is the connection that carries this page\\'s live feed: its segments are not shown here (each update would describe the last one). Open it as a ladder page instead.'});
}
document.querySelector('#conns tbody').addEventListener('click',function(ev){
  if(ev.target.closest('a'))return;
  var tr=ev.target.closest('tr'); if(!tr||!tr.dataset.key||tr.dataset.key===chosen)return;
  chosen=tr.dataset.key; last=-1; t0=null; rowsEl.innerHTML='<div class="empty" id="empty">Waiting for segments of this connection…</div>';
  document.getElementById('lhint').textContent='';
  document.querySelectorAll('#conns tr.chosen').forEach(function(x){x.classList.remove('chosen')}); tr.classList.add('chosen');
  history.replaceState(null,'','/live?flow='+encodeURIComponent(chosen));
  connect();
});
connect();
</script>
</body></html>
`;
}

export interface LadderPageData {
  flow: string;
  /** The flow is the visitor's own connection (the one this page came on). */
  own: boolean;
  left: string;
  right: string;
  rows: LadderRow[];
  conn: LiveConnRow | null;
  last: number;
}

/** JSON inside a <script>: no "</script>" or "<!--" can end it early. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The /ladder page: one connection's segments still in the ring, drawn as a ladder. */
export function ladderPage(d: LadderPageData): string {
  const c = d.conn;
  const summary = c
    ? `<span class="state ${escapeHtml(c.state)}">${escapeHtml(c.state)}</span> RTT ${c.srttMs ?? '–'} ms · cwnd ${c.cwnd} · ssthresh ${escapeHtml(c.ssthresh)} · ` +
      `${c.bytesIn} bytes in, ${c.bytesOut} out · ${c.retransmits} retransmits`
    : '<span class="muted">no longer in the connection table (closed)</span>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>tunstack: ladder of ${escapeHtml(d.left)} ⇄ ${escapeHtml(d.right)}</title>
<style>${CSS}</style></head><body>
<header><h1>${d.own ? 'Your connection' : 'A connection'}, segment by segment</h1>
<span class="sub"><code>${escapeHtml(d.left)}</code> ⇄ <code>${escapeHtml(d.right)}</code></span></header>
<main>
<p>${summary}</p>
<p class="hint">${
    d.own
      ? 'This is the TCP connection your browser used to ask for this page: its handshake and your request, up to the moment the page was drawn (the response that carries the page left just after). Reload: with keep-alive the same connection carries the next request, and the ladder grows by this response and the next request.'
      : 'The segments of this connection the stack still remembers (the last few thousand packets of all connections).'
  } The opener is on the left. Sequence numbers are relative (0 is the SYN). Coloured tags say why the stack sent a segment.
  <a href="/live?flow=${encodeURIComponent(d.flow)}">Watch it live</a> · <a href="/live">all connections</a> · <a href="/">your connection's numbers</a></p>
<div class="ladder" style="max-height:none"><div class="ends"><div></div><div>${escapeHtml(d.left)}</div><div class="r">${escapeHtml(d.right)}</div><div>why it left / payload</div></div>
<div id="rows"></div></div>
</main>
<script>
${LADDER_JS}
var rows=${scriptJson(d.rows)}, el=document.getElementById('rows');
if(rows.length===0)el.innerHTML='<div class="empty">No segments of this connection are left in the stack\\'s memory.</div>';
rows.forEach(function(r){el.appendChild(rowEl(r,rows[0].t))});
</script>
</body></html>
`;
}
