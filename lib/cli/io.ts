// What a command writes to, and how it reports a failure.
//
// Exit status of every command (documented in `ved --help` and the README):
//   0  success
//   1  the command ran and failed: the one-line message on stderr starts with the VedError
//      code (ELOCKED, ENOTSTORE, ECORRUPT, ENOBINARY, ...); with --json, stdout also gets
//      {"error": {"code", "message"}} (ECORRUPT adds "segment" and "offset"; a bug in ved, not
//      a VedError, has code "EINTERNAL" there)
//   2  usage error: unknown command or option, missing argument (commander's message)
import { VedError } from '../errors.js'

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

/** The streams a command writes to; process.stdout and process.stderr outside tests. */
export interface CliIo {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

/** Options every command takes. */
export interface CommonOptions {
  json: boolean
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

export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ')
}

/** "1.5 MiB": binary units, one decimal above bytes. */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`
}
