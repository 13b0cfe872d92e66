// Runtime.open's `journal` option: retention per domain, validated with explicit defaults.
import { VedError } from '../errors.js'

export interface JournalOptions {
  /** Slices kept per domain (the newest). Default 1,000. */
  keepSlices?: number
  /** Entries older than this many ms are dropped. Default 7 days. */
  keepMs?: number
  /** Encoded bytes kept per domain (entries and their index keys). Default 1 MiB. */
  keepBytes?: number
}

export interface JournalRetention {
  readonly keepSlices: number
  readonly keepMs: number
  readonly keepBytes: number
}

export const JOURNAL_DEFAULTS: JournalRetention = Object.freeze({
  keepSlices: 1000,
  keepMs: 7 * 24 * 60 * 60 * 1000,
  keepBytes: 1024 * 1024,
})

/** null: the journal is off. */
export function resolveJournal(value: unknown): JournalRetention | null {
  if (value === false) return null
  if (value === undefined || value === true) return JOURNAL_DEFAULTS
  if (typeof value !== 'object' || value === null) throw new VedError('EINVAL', 'Runtime.open: journal must be false or { keepSlices, keepMs, keepBytes }')
  const options = value as Record<string, unknown>
  for (const name of Object.keys(options)) {
    if (!(name in JOURNAL_DEFAULTS)) throw new VedError('EINVAL', `Runtime.open: journal has no option ${name} (keepSlices, keepMs, keepBytes)`)
  }
  return {
    keepSlices: positive(options.keepSlices, 'keepSlices', JOURNAL_DEFAULTS.keepSlices),
    keepMs: positive(options.keepMs, 'keepMs', JOURNAL_DEFAULTS.keepMs),
    keepBytes: positive(options.keepBytes, 'keepBytes', JOURNAL_DEFAULTS.keepBytes),
  }
}

function positive(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || (value as number) < 1) throw new VedError('EINVAL', `Runtime.open: journal.${name} must be an integer >= 1`)
  return value as number
}
