// What a command writes to, its exit statuses, and the formatting its reports share.
//
// Exit status of every command (documented in `ved --help` and the README):
//   0  success
//   1  the command ran and failed: the one-line message on stderr starts with the VedError
//      code (ELOCKED, ENOTSTORE, ECORRUPT, ENOBINARY, ...); with --json, stdout also gets
//      {"error": {"code", "message"}} (ECORRUPT adds "segment" and "offset"; a bug in ved, not
//      a VedError, has code "EINTERNAL" there)
//   2  usage error: unknown command or option, missing argument (commander's message)
// command.ts turns a failure into that report (runCommand).
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

export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
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

/** "1 segment", "3 segments": a count and its noun, for the human-readable reports. */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`
}

/** Rows of a human-readable report, one per line: the label column padded to the widest label. */
export function formatRows(rows: ReadonlyArray<readonly [label: string, value: string]>): string {
  const width = Math.max(...rows.map(([label]) => label.length)) + 2
  return rows.map(([label, value]) => `${label.padEnd(width)}${value}\n`).join('')
}

/**
 * A name, key or id as a report shows it: as it is when it prints as one visible word, else
 * quoted as a JSON string, so that a space, a control character or an empty key is seen.
 */
export function shown(text: string): string {
  return /^[^\s\p{C}"]+$/u.test(text) ? text : JSON.stringify(text)
}
