/**
 * A small XML well-formedness check for the SVG tests (no dependency): one root element, every tag
 * closed in order, attributes quoted and not repeated, entities known, nothing but whitespace outside
 * the root. Returns the element names in document order, or throws saying where it broke.
 */
export function checkWellFormed(xml: string): string[] {
  let i = 0;
  const names: string[] = [];
  const stack: string[] = [];
  let rootSeen = false;
  const fail = (why: string): never => {
    throw new Error(`not well formed at ${i}: ${why} near ${JSON.stringify(xml.slice(i, i + 40))}`);
  };
  const checkText = (t: string): void => {
    if (t.includes('<')) fail('"<" in text');
    for (const m of t.matchAll(/&([^;\s]*);?/g)) {
      if (!/^(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+)$/.test(m[1]!) || !m[0].endsWith(';')) fail(`bad entity ${m[0]}`);
    }
  };
  if (xml.startsWith('<?xml')) {
    const end = xml.indexOf('?>');
    if (end < 0) fail('unclosed XML declaration');
    i = end + 2;
  }
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const textEnd = lt < 0 ? xml.length : lt;
    const t = xml.slice(i, textEnd);
    if (stack.length === 0 && t.trim() !== '') fail('text outside the root element');
    checkText(t);
    if (lt < 0) break;
    i = lt;
    if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i);
      if (end < 0) fail('unclosed comment');
      i = end + 3;
      continue;
    }
    const gt = xml.indexOf('>', i);
    if (gt < 0) fail('unclosed tag');
    const tag = xml.slice(i + 1, gt);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      if (stack.pop() !== name) fail(`</${name}> does not close the open element`);
    } else {
      const selfClosing = tag.endsWith('/');
      const body = selfClosing ? tag.slice(0, -1) : tag;
      const m = /^([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*$/.exec(body);
      if (!m) fail(`bad start tag <${tag.slice(0, 30)}>`);
      const attrs = [...m![2]!.matchAll(/([A-Za-z_][\w:.-]*)\s*=\s*("[^"]*"|'[^']*')/g)];
      const seen = new Set<string>();
      for (const a of attrs) {
        if (seen.has(a[1]!)) fail(`attribute ${a[1]} twice`);
        seen.add(a[1]!);
        checkText(a[2]!.slice(1, -1));
      }
      if (stack.length === 0) {
        if (rootSeen) fail('a second root element');
        rootSeen = true;
      }
      names.push(m![1]!);
      if (!selfClosing) stack.push(m![1]!);
    }
    i = gt + 1;
  }
  if (stack.length > 0) fail(`<${stack[stack.length - 1]}> never closed`);
  if (!rootSeen) fail('no root element');
  return names;
}
