// `ved journal <dir> <domain> <key>`: the recent journal entries of one domain, read-only,
// alongside the running runtime. The reading is lib/journal/reader.ts (Journal.slices); this
// module picks the slice range (--from, --to, --limit), prints, and turns an empty answer
// into its sentence: an unknown domain or range fails (exit 1), an expired or disabled
// journal is an answer (exit 0).
import { InvalidArgumentError } from 'commander'
import { VedError } from '../errors.js'
import type { EffectOutcome, JournalEntry } from '../journal/reader.js'
import { addCommand, oneLine, printReport, withStore, type Cli } from './command.js'
import { EXIT_OK, plural, shown, type CommonOptions } from './io.js'
import { toJsonValue } from './state.js'
import { openRuntimeReadOnly } from './store.js'

/** Slices shown when --limit is not given: a screenful of recent history. */
export const JOURNAL_LIMIT_DEFAULT = 20

/**
 * Characters a value (payload, before, after, reply, result) takes at most in the human
 * output; longer ones end in "…". A state value can be a whole document, and one change must
 * not push the rest of the entry off the screen; --json prints values whole.
 */
export const VALUE_WIDTH = 80

/** The label column of an entry's lines, the same in every block so that blocks line up: the longest label and two spaces. */
const LABEL_WIDTH = 'caused by'.length + 2

interface JournalCommandOptions extends CommonOptions {
  from?: number
  to?: number
  limit: number
}

/** What `ved journal --json` prints. */
export interface JournalReport {
  path: string
  domain: string
  key: string
  /** Slices the domain has applied: the number of its newest slice. */
  slices: number
  /** The slice range read, after --from, --to and --limit. */
  from: number
  to: number
  /** Retained entries in that range, oldest first (values converted as `ved state` does). */
  entries: unknown[]
  /** Why no entry is there: 'expired' (retention dropped them) or 'disabled' (never recorded). */
  reason?: 'expired' | 'disabled'
}

/** The slice range and limit Journal.slices reads, from the domain's newest slice and the options. */
export interface SliceRange {
  from: number
  to: number
  /** Entries at most, counted from `from` (only when --from alone anchors the range). */
  limit?: number
}

const HELP = `
Prints the journal entries of one domain, oldest first: for each slice its number, time,
intent (type, id, what caused it, the request at the root, the sending domain), the
state paths it changed (before -> after), the effects it emitted and how each settled,
the messages it sent, the timers it set, and its reply or error.

Which slices: by default the newest 20. --limit n shows n (0: all in the range).
--to s ends the range at slice s, still showing the newest n up to there.
--from s alone starts at slice s and shows the first n the journal holds from there.
--from with --to shows the newest n between them.

Values longer than ${VALUE_WIDTH} characters are cut (…); --json prints them whole, converted
as ved state converts them (bigint to a decimal string, Map to an object, bytes to
{"type": "Buffer", ...}); a change without "before" (or "after") means the path was
absent. The journal keeps the newest slices of each domain (Runtime.open's journal
option: keepSlices, keepMs, keepBytes); slices it no longer holds are reported as such,
with exit status 0.
`

export function registerJournal(cli: Cli): void {
  addCommand(cli, {
    name: 'journal',
    description: "print a domain's recent journal entries: intents, changes, effects (read-only: works while a runtime runs)",
    arguments: [
      ['<dir>', 'the store directory'],
      ['<domain>', 'the domain name (as in defineDomain)'],
      ['<key>', 'the domain key (as in runtime.domain(definition, key))'],
    ],
    json: 'print one JSON object (path, domain, key, slices, from, to, entries, reason)',
    options: (command) => {
      command.option('--from <slice>', 'the first slice of the range', parseSlice)
      command.option('--to <slice>', 'the last slice of the range (default: the newest)', parseSlice)
      command.option('--limit <n>', 'show at most n slices, the newest (see below); 0 shows all in the range', parseLimit, JOURNAL_LIMIT_DEFAULT)
    },
    help: HELP,
    async run(io, [dir, domain, key]: [string, string, string], options: JournalCommandOptions) {
      if (options.from !== undefined && options.to !== undefined && options.from > options.to) {
        throw new VedError('EINVAL', `--from ${options.from} is after --to ${options.to}: no slice is in that range`)
      }
      // Imported here, not at the top: the journal and the runtime load the native addon, and
      // `ved --help` or a usage error must work where none loads (see store.ts).
      const { missingDomainError, readDomain } = await import('../runtime/inspect.js')
      const { Journal } = await import('../journal/reader.js')
      const report: JournalReport = await withStore(
        dir,
        (store) => {
          const stored = readDomain(store, domain, key)
          if (stored === undefined) throw missingDomainError(store, domain, key)
          const range = sliceRange(stored.slices, options)
          // The CLI does not know whether the runtime journals. `enabled: false` makes the
          // reader answer 'disabled' only for a domain that has no journal meta at all (no
          // slice of it was ever journaled), and 'expired' for one whose entries retention
          // dropped: the distinction the user needs, read from the store itself.
          const journal = new Journal(store, { enabled: false })
          // "The newest n" counts entries, not slice numbers: slices run with the journal off
          // have none, and must not shorten the answer.
          const newest = range.limit === undefined && options.limit !== 0
          const answer = newest ? journal.recent(domain, key, { from: options.from ?? 1, to: range.to, limit: options.limit }) : journal.slices(domain, key, range)
          const from = !newest ? range.from : answer.entries.length === options.limit ? answer.entries[0]!.slice : (options.from ?? 1)
          // readDomain found the domain and range.from <= its newest slice, so the reader cannot
          // answer 'unknown' here, nor 'unwritten' or 'omitted' (why and stateAt answer those).
          if (answer.reason !== undefined && answer.reason !== 'expired' && answer.reason !== 'disabled') {
            throw new VedError('ENODOMAIN', `the journal answered '${answer.reason}' for ${domainLabel(domain, key)}`)
          }
          return {
            path: store.path,
            domain,
            key,
            slices: stored.slices,
            from,
            to: range.to,
            entries: answer.entries.map(toJsonValue),
            ...(answer.reason === undefined ? {} : { reason: answer.reason }),
          }
        },
        openRuntimeReadOnly,
      )
      // toJsonValue ran on the entries above, for both outputs: the human output formats what
      // --json prints, so the two never disagree about a value.
      printReport(io, options, report, formatJournal)
      return EXIT_OK
    },
  })
}

/**
 * Which slices to read. "Recent" means the newest: without --from, the range ends at --to (or
 * the newest slice) and starts `limit` slices before, so the answer is the newest `limit`
 * slices, printed oldest first. --from alone anchors the range at its start instead, for
 * paging forward through old history: the reader's own limit then takes the first `limit`
 * retained entries from there. Fails with EINVAL when the range starts past the newest slice.
 */
export function sliceRange(newest: number, options: { from?: number | undefined; to?: number | undefined; limit: number }): SliceRange {
  const { from, limit } = options
  if (from !== undefined && from > newest) {
    throw new VedError('EINVAL', `--from ${from} is past the newest slice: the domain has ${plural(newest, 'slice')}`)
  }
  const to = Math.min(options.to ?? newest, newest)
  if (from !== undefined && options.to === undefined) return limit === 0 ? { from, to } : { from, to, limit }
  const first = from ?? 1
  return { from: limit === 0 ? first : Math.max(first, to - limit + 1), to }
}

function parseSlice(text: string): number {
  const slice = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(slice) || slice < 1) throw new InvalidArgumentError('expected a slice number (1 or more).')
  return slice
}

function parseLimit(text: string): number {
  const limit = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(limit)) throw new InvalidArgumentError('expected a whole number (0 shows all).')
  return limit
}

/** The human-readable report: a header line, then one block per entry. */
export function formatJournal(report: JournalReport): string {
  const name = domainLabel(report.domain, report.key)
  if (report.reason === 'disabled') {
    return `${name}: the journal holds nothing of this domain: its ${plural(report.slices, 'slice')} ran with the journal off (Runtime.open's journal: false)\n`
  }
  // The reader never answers empty without a reason; an empty list here is read as expired.
  if (report.reason === 'expired' || report.entries.length === 0) {
    return (
      `${name}: slices ${report.from} to ${report.to} (of ${report.slices}) are no longer in the journal: ` +
      `retention (keepSlices, keepMs, keepBytes) dropped them\n`
    )
  }
  const entries = report.entries as JournalEntry[]
  const first = entries[0]!.slice
  const last = entries[entries.length - 1]!.slice
  const older = first > 1 ? `; older: --to ${first - 1}` : ''
  const newer = last < report.slices ? `; newer: --from ${last + 1}` : ''
  let text = `${name}: ${plural(entries.length, 'entry', 'entries')}, slices ${first} to ${last} of ${report.slices}${older}${newer}\n`
  for (const entry of entries) text += `\n${formatEntry(entry)}`
  return text
}

/** One entry: a header line (slice, time, type, id), then one labelled line per fact. */
function formatEntry(entry: JournalEntry): string {
  const { intent } = entry
  const rows: Array<[string, string]> = []
  if (intent.causedBy !== null) rows.push(['caused by', shown(intent.causedBy)])
  if (intent.root !== intent.id) rows.push(['root', shown(intent.root)])
  if (intent.from !== null) rows.push(['from', domainLabel(intent.from.domain, intent.from.key)])
  if (entry.migrated !== null) rows.push(['migrated', `version ${entry.migrated[0]} -> ${entry.migrated[1]}`])
  if (entry.valuesOmitted) {
    rows.push(['values', "not kept: the slice's values were larger than the journal keeps"])
  } else if (intent.payload !== undefined) {
    rows.push(['payload', value(intent.payload)])
  }
  for (const change of entry.changes) {
    rows.push(['change', entry.valuesOmitted ? change.path : `${change.path}: ${value(change.before)} -> ${value(change.after)}`])
  }
  for (const effect of entry.effects) {
    rows.push(['effect', `${shown(effect.name)} attempt ${effect.attempt} (${shown(effect.id)}): ${outcome(effect.outcome)}`])
  }
  for (const message of entry.messages) rows.push(['message', `${shown(message.type)} to ${domainLabel(message.domain, message.key)} (${shown(message.id)})`])
  for (const timer of entry.timers) rows.push(['timer', `${shown(timer.type)} due ${isoTime(timer.due)} (${shown(timer.id)})`])
  for (const cancelled of entry.cancelled) rows.push(['cancelled', shown(cancelled)])
  if (entry.error !== null) rows.push(['error', errorText(entry.error)])
  else if (entry.reply !== undefined) rows.push(['reply', value(entry.reply)])
  let text = `#${entry.slice}  ${isoTime(entry.at)}  ${shown(intent.type)}  (${shown(intent.id)})\n`
  for (const [label, content] of rows) text += `  ${label.padEnd(LABEL_WIDTH)}${content}\n`
  return text
}

function outcome(settled: EffectOutcome): string {
  switch (settled.status) {
    case 'pending':
      return 'pending'
    case 'done':
      return settled.result === undefined ? `done in #${settled.slice}` : `done in #${settled.slice}: ${value(settled.result)}`
    case 'failed':
      return `failed in #${settled.slice}: ${errorText(settled.error)}`
    case 'unknown':
      // EffectOutcome's 'unknown': a later slice re-emitted the id (a retry: its entry shows
      // how that attempt settled), or the effect's index was compacted away.
      return 'outcome not here: retried by a later slice, or no longer in the journal'
  }
}

/** An error as "Name: message" when it has a message (a handler's or an effect's throw), else its value. */
function errorText(error: unknown): string {
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') {
    const { name, message } = error as { name?: unknown; message: string }
    return cut(oneLine(`${typeof name === 'string' ? name : 'Error'}: ${message}`))
  }
  return value(error)
}

/** A value as compact JSON cut to VALUE_WIDTH; `(absent)` for undefined (a path that did not exist). */
function value(converted: unknown): string {
  if (converted === undefined) return '(absent)'
  return cut(JSON.stringify(converted) ?? String(converted))
}

function cut(text: string): string {
  if (text.length <= VALUE_WIDTH) return text
  // By code points, so that a cut never splits a surrogate pair into garbage.
  const points = [...text]
  return points.length <= VALUE_WIDTH ? text : `${points.slice(0, VALUE_WIDTH - 1).join('')}…`
}

function isoTime(ms: number): string {
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? `${ms}` : date.toISOString()
}

/** "inventory/north", with a name or key that is not one visible word quoted. */
export function domainLabel(domain: string, key: string): string {
  return `${shown(domain)}/${shown(key)}`
}
