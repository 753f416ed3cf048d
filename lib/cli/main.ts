#!/usr/bin/env node
// The `tfo` command: dispatches to one module per subcommand.
import { CliError } from './output';
import { cookiesCommand } from './cookies';
import { demo } from './demo';
import { doctorCommand } from './doctor';
import { enableCommand } from './enable';
import { statsCommand } from './stats';
import { probeCommand } from './probe';

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, { run: Command; summary: string }> = {
  demo: { run: demo, summary: 'show TCP Fast Open working on loopback, in one command' },
  doctor: { run: doctorCommand, summary: 'say whether clients and servers will use TFO here, and the fix if not' },
  enable: { run: enableCommand, summary: 'turn TFO on in net.ipv4.tcp_fastopen (client, server or both), optionally persist' },
  stats: { run: statsCommand, summary: "show this namespace's TFO counters, or a service's rollout cohorts (--metrics URL)" },
  cookies: { run: cookiesCommand, summary: "list the TFO cookies this host's clients hold, or flush them (--flush [HOST])" },
  probe: { run: probeCommand, summary: 'does TFO work toward HOST:PORT? first and returning connections, and a verdict' },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `Usage: tfo <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun \`tfo <command> --help\` for a command's options.`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`tfo: unknown command '${name}'\n${usage()}\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    const err = e as Error & { code?: string; exitCode?: number };
    const exitCode = e instanceof CliError ? err.exitCode : err.code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
    process.stderr.write(`tfo ${name}: ${err.message}\n`);
    return exitCode ?? 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`tfo: ${(e as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
