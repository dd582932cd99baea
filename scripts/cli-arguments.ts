/** `--name value` pairs of a command line, refusing names it does not know. */
export interface CliArguments {
  /** A non-negative integer; `fallback` when absent, else the argument is required. */
  integer: (name: string, fallback?: number) => number;
  text: (name: string) => string | undefined;
}

export function readArguments(
  argv: readonly string[],
  allowed: readonly string[],
  usage: string,
): CliArguments {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    if (!allowed.includes(name))
      throw new Error(`unknown argument ${JSON.stringify(name)}\n${usage}`);
    const value = argv[++i];
    if (value === undefined) throw new Error(`${name} needs a value\n${usage}`);
    values.set(name, value);
  }
  return {
    integer: (name, fallback) => {
      const raw = values.get(name);
      if (raw === undefined) {
        if (fallback !== undefined) return fallback;
        throw new Error(`${name} is required\n${usage}`);
      }
      if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
        throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
      }
      return Number(raw);
    },
    text: (name) => values.get(name),
  };
}

/** A problem the command's user can fix: printed as it is, without a stack. */
export class CliError extends Error {}

/** Runs a command's `main`: a failure goes to stderr under the command's name, exit code 1. */
export function runCommand(name: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    const message =
      error instanceof CliError
        ? error.message
        : error instanceof Error
          ? (error.stack ?? error.message)
          : String(error);
    process.stderr.write(`${name}: ${message}\n`);
    process.exitCode = 1;
  });
}
