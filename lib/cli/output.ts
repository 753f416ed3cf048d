// Shared output helpers for the tfo command: colour only on a TTY, --json for machines,
// one-line failures with a non-zero exit.

const useColour = () => process.stdout.isTTY === true && !process.env.NO_COLOR;

function paint(code: number, s: string): string {
  return useColour() ? `\x1b[${code}m${s}\x1b[0m` : s;
}

export const green = (s: string) => paint(32, s);
export const red = (s: string) => paint(31, s);
export const yellow = (s: string) => paint(33, s);
export const bold = (s: string) => paint(1, s);
export const dim = (s: string) => paint(2, s);

/** Renders rows as an aligned text table. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [bold(line(header)), ...cells.slice(1).map(line)].join('\n');
}

/** A command's failure: printed as one line `tfo <cmd>: <message>`, exit status `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * An integer option from the command line: decimal digits only (no `0x10`,
 * `1e3`, spaces or signs, which Number() would take), within [min, max];
 * else a one-line CliError with exit status 2.
 */
export function integerOption(name: string, text: string, min: number, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new CliError(`--${name} must be an integer from ${min} to ${max}, not '${text}'`, 2);
  return n;
}
