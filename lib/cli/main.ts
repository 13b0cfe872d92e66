// The `ved` command line: one commander program, one module per command.
//
// Each command module exports a register function that adds its command to the program
// through addCommand (command.ts: arguments, --json, error report); the command's action sets
// the exit status through cli.setExitCode (see io.ts for the statuses), so main() returns it
// instead of calling process.exit, and a test can run main() in-process.
// Commands: stats, verify, compact (the engine), domains, state (the runtime), journal,
// lineage (the causal journal).
import { createRequire } from 'node:module'
import { Command, CommanderError } from 'commander'
import type { Cli } from './command.js'
import { registerCompact } from './compact.js'
import { registerDomains } from './domains.js'
import { EXIT_OK, EXIT_USAGE, type CliIo } from './io.js'
import { registerJournal } from './journal.js'
import { registerLineage } from './lineage.js'
import { registerState } from './state.js'
import { registerStats } from './stats.js'
import { registerVerify } from './verify.js'

const EXIT_STATUS_HELP = `
Exit status:
  0  success
  1  the command failed; the message on stderr starts with the error code (ELOCKED,
     ENOTSTORE, ECORRUPT, ENOBINARY, ENODOMAIN, ENOINTENT, ...), and with --json stdout gets
     {"error": {code, message}}
  2  usage error (unknown command or option, missing argument)
`

/** Runs `ved` with `argv` (without node and the script); resolves with the exit status. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let exitCode = EXIT_OK
  const program = new Command('ved')
    .description('Inspect and maintain Ved stores')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run ved --help for usage)')
    .addHelpText('after', EXIT_STATUS_HELP)
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .exitOverride()
  const cli: Cli = {
    program,
    io,
    setExitCode: (code) => {
      exitCode = code
    },
  }
  // Commands added after exitOverride and configureOutput inherit both.
  registerStats(cli)
  registerVerify(cli)
  registerCompact(cli)
  registerDomains(cli)
  registerState(cli)
  registerJournal(cli)
  registerLineage(cli)
  try {
    await program.parseAsync(argv, { from: 'user' })
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error
    // --help and --version end here too, with exit code 0; a bare `ved` shows help with 1.
    return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE
  }
  return exitCode
}

function packageVersion(): string {
  const require = createRequire(import.meta.url)
  return (require('../../package.json') as { version: string }).version
}
