/**
 * Just enough of Source Map revision 3 for the debugger test: decode `mappings` (Base64 VLQ,
 * fields: generated column, source index, original line, original column, [name], each relative to
 * the previous segment; `;` starts a generated line, `,` a segment), then map an original line to
 * its first generated position and a generated position back to its original line. This is what an
 * editor does to put a breakpoint set in a .ts file onto the JavaScript V8 runs.
 */
import { fileURLToPath } from 'node:url';

export interface Mapping {
  genLine: number;
  genCol: number;
  source: number;
  line: number;
  col: number;
}

export interface DecodedMap {
  sources: string[];
  mappings: Mapping[];
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** A `data:application/json;base64,...` URL (tsx writes its maps inline) or the JSON itself. */
export function decodeSourceMap(urlOrJson: string): DecodedMap {
  const json = urlOrJson.startsWith('data:') ? Buffer.from(urlOrJson.slice(urlOrJson.indexOf(',') + 1), 'base64').toString('utf8') : urlOrJson;
  const raw = JSON.parse(json) as { sources: string[]; mappings: string };
  const out: Mapping[] = [];
  let source = 0;
  let line = 0;
  let col = 0;
  let genLine = 0;
  for (const lineText of raw.mappings.split(';')) {
    let genCol = 0;
    for (const seg of lineText.split(',')) {
      if (seg === '') continue;
      const f: number[] = [];
      let value = 0;
      let shift = 0;
      for (const ch of seg) {
        const d = B64.indexOf(ch);
        if (d < 0) throw new Error(`bad VLQ digit ${ch}`);
        value += (d & 31) << shift;
        if (d & 32) shift += 5;
        else {
          f.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      genCol += f[0]!;
      if (f.length >= 4) {
        source += f[1]!;
        line += f[2]!;
        col += f[3]!;
        out.push({ genLine, genCol, source, line, col });
      }
    }
    genLine++;
  }
  return { sources: raw.sources, mappings: out };
}

/** The index of `file` (an absolute path) among the map's sources. */
export function sourceIndex(map: DecodedMap, file: string, mapUrl: string): number {
  return map.sources.findIndex((s) => {
    const abs = s.startsWith('file:') ? fileURLToPath(s) : s.startsWith('/') ? s : fileURLToPath(new URL(s, mapUrl));
    return abs === file;
  });
}

/** The first generated position of 0-based original `line` of source `src`. */
export function generatedFor(map: DecodedMap, src: number, line: number): Mapping | undefined {
  let best: Mapping | undefined;
  for (const m of map.mappings) {
    if (m.source !== src || m.line !== line) continue;
    if (best === undefined || m.genLine < best.genLine || (m.genLine === best.genLine && m.genCol < best.genCol)) best = m;
  }
  return best;
}

/** The original position of a generated one (the last mapping at or before it on its line). */
export function originalFor(map: DecodedMap, genLine: number, genCol: number): Mapping | undefined {
  let best: Mapping | undefined;
  for (const m of map.mappings) {
    if (m.genLine !== genLine || m.genCol > genCol) continue;
    if (best === undefined || m.genCol >= best.genCol) best = m;
  }
  return best;
}
