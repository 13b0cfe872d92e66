// What every `ved` command shares, so that a command module holds only its own work: the
// commander wiring (arguments, --json, help), the error report and exit status (runCommand),
// opening and closing the store, and printing the report as JSON or as text.
import type { Command } from 'commander'
import type { Store } from '../store.js'
import { VedError } from '../errors.js'
import { EXIT_FAILED, writeJson, type CliIo, type CommonOptions } from './io.js'
import { openReadOnly } from './store.js'

/** The program being built and where its commands write; main() makes one. */
export interface Cli {
  program: Command
  io: CliIo
  /** Records the exit status main() returns (see io.ts); commands never call process.exit. */
  setExitCode(code: number): void
}

/** One command: its name, help, arguments and options, and the body that does its work. */
export interface CommandSpec<Args extends readonly string[], Options extends CommonOptions> {
  name: string
  description: string
  /** Positional arguments in order, as commander spells them: ['<dir>', 'the store directory']. */
  arguments: { readonly [I in keyof Args]: readonly [name: string, description: string] }
  /** What --json prints, for its help line. */
  json: string
  /** Options besides --json. */
  options?: (command: Command) => void
  /** Help text shown after the options (what the output means, what is left out). */
  help?: string
  /** Does the work and resolves with the exit status; throws a VedError to fail with status 1. */
  run(io: CliIo, args: Args, options: Options): Promise<number>
}

/** Adds the command `spec` describes to the program; its failures are reported by runCommand. */
export function addCommand<Args extends readonly string[], Options extends CommonOptions>(cli: Cli, spec: CommandSpec<Args, Options>): void {
  const command = cli.program.command(spec.name).description(spec.description)
  for (const [name, description] of spec.arguments as ReadonlyArray<readonly [string, string]>) command.argument(name, description)
  command.option('--json', spec.json, false)
  spec.options?.(command)
  if (spec.help !== undefined) command.addHelpText('after', spec.help)
  // commander calls the action with the declared arguments, then the options, then the command.
  command.action(async (...received: unknown[]) => {
    const args = received.slice(0, spec.arguments.length) as unknown as Args
    const options = received[spec.arguments.length] as Options
    cli.setExitCode(await runCommand(cli.io, `ved ${spec.name}`, options, () => spec.run(cli.io, args, options)))
  })
}

/**
 * Runs one command's body; turns a thrown error into its one-line report and exit status 1.
 * `label` leads the line ("ved stats"). An error that is not a VedError is a bug in ved: its
 * stack is printed too, so that it can be reported.
 */
export async function runCommand(io: CliIo, label: string, options: CommonOptions, body: () => Promise<number>): Promise<number> {
  try {
    return await body()
  } catch (error) {
    if (error instanceof VedError) {
      io.stderr.write(`${label}: ${oneLine(error.message)}\n`)
      if (options.json) writeJson(io, { error: errorReport(error) })
      return EXIT_FAILED
    }
    const stack = error instanceof Error ? (error.stack ?? error.message) : String(error)
    io.stderr.write(`${label}: internal error (a bug in ved; please report it with this stack):\n${stack}\n`)
    if (options.json) writeJson(io, { error: { code: 'EINTERNAL', message: oneLine(String(error)) } })
    return EXIT_FAILED
  }
}

/** What --json prints for a failure: code and message, and where the damage is (ECORRUPT). */
function errorReport(error: VedError): { code: string; message: string; segment?: number; offset?: number } {
  const report: { code: string; message: string; segment?: number; offset?: number } = { code: error.code, message: error.message }
  if (error.segment !== undefined) report.segment = error.segment
  if (error.offset !== undefined) report.offset = error.offset
  return report
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ')
}

/**
 * Runs `use` on the store in `dir` opened by `open` (read-only unless a command passes
 * openWritable), and closes the store when it is done, also when it throws. `use` stops its
 * own progress bar before it returns, so the bar is gone before anything else is printed.
 */
export async function withStore<V, T>(dir: string, use: (store: Store<V>) => T | Promise<T>, open: (dir: string) => Promise<Store<V>> = openReadOnly as (dir: string) => Promise<Store<V>>): Promise<T> {
  const store = await open(dir)
  try {
    return await use(store)
  } finally {
    await store.close()
  }
}

/** Prints a command's report: one JSON object with --json, else its human-readable form. */
export function printReport<R>(io: CliIo, options: CommonOptions, report: R, format: (report: R) => string): void {
  if (options.json) writeJson(io, report)
  else io.stdout.write(format(report))
}
