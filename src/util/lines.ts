/**
 * Text arriving in chunks (a child's stdout, a process's stdin) split into lines: `push` each chunk
 * and `onLine` is called once per complete line, without its "\n" (or "\r\n"). With a `maxLength`,
 * at most that many characters of a line not yet ended are held: for a longer line `onTooLong` is
 * called once and the line, up to its newline, is dropped, so input without newlines cannot grow
 * memory (the relay's --control input, src/app/relay.ts). Without one, lines are unbounded (output
 * of our own processes, read by the bench harness and the e2e tests).
 */
export class LineSplitter {
  private partial = '';
  private overlong = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLength = Infinity,
    private readonly onTooLong: () => void = () => {},
  ) {}

  push(text: string): void {
    let from = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
      const piece = text.slice(from, nl);
      from = nl + 1;
      if (this.overlong || this.partial.length + piece.length > this.maxLength) {
        if (!this.overlong) this.onTooLong();
        this.overlong = false;
        this.partial = '';
        continue;
      }
      const line = this.partial + piece;
      this.partial = '';
      this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    const rest = text.slice(from);
    if (this.overlong) return;
    if (this.partial.length + rest.length > this.maxLength) {
      this.overlong = true;
      this.partial = '';
      this.onTooLong();
    } else this.partial += rest;
  }
}
