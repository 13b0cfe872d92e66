// Runtime.open's options: validation and explicit defaults (EINVAL for anything else).
import { describeValue, VedError } from '../errors.js'
import { checkOptionNames, type StoreOptions } from '../options.js'
import type { DomainDefinition } from './domain.js'
import type { SendOptions } from './handle.js'
import type { SliceRecord } from './record.js'
import { resolveJournal, type JournalOptions, type JournalRetention } from '../journal/options.js'
import type { JournalStats } from '../journal/writer.js'

/**
 * Slices sealed by one commit at most. Enough to amortise a commit over a burst; small
 * enough that one commit (and the stall it is on the execution thread) stays short, and
 * that a burst becomes several commits: the engine makes them durable together while the
 * next slices run, instead of the whole burst waiting for one sync in lockstep. Measured
 * (256 sends in flight to one domain, dev VM): 16: 33-47k slices/s, 64: 63-67k, 128:
 * 105-128k, 256: 85-93k.
 */
const SLICES_PER_COMMIT_MAX_DEFAULT = 128

export interface RuntimeOptions {
  /** The store directory (created if needed). */
  path: string | URL
  /** Definitions whose domains resume at once. Others register on first runtime.domain(). */
  domains?: readonly DomainDefinition<any, any, any, any>[]
  /** Run every slice twice from the same state and fail it (EDETERMINISM) when the runs differ. Default false. */
  checkDeterminism?: boolean
  /** Effect implementations running at once, at most. Default 16. */
  effectConcurrency?: number
  /** Idle domains kept in memory; beyond this they are dropped and load again on demand. Default 10,000. */
  domainCacheCount?: number
  /** Replies remembered per domain for sends with an id. Default 1,000. */
  replyMemoryCount?: number
  /** Slices sealed by one engine commit at most. Default SLICES_PER_COMMIT_MAX_DEFAULT. */
  slicesPerCommitMax?: number
  /** Engine options (sync, segment size, ...); the runtime sets the encodings itself. */
  store?: Omit<StoreOptions, 'encoding' | 'keyEncoding' | 'readOnly' | 'create'>
  /** Called with each slice's record once the slice is durable. */
  onSlice?: (record: SliceRecord) => void
  /**
   * The causal journal's retention per domain (runtime.journal reads it), or false to record
   * nothing. Default { keepSlices: 1000, keepMs: 7 days, keepBytes: 1 MiB }.
   */
  journal?: JournalOptions | false
}

export interface RuntimeStats {
  domainsCached: number
  domainsReady: number
  commitsHeld: number
  effectsRunning: number
  timersArmed: number
  /** The journal's recording and compaction; null when it is off. */
  journal: JournalStats | null
}

export interface Resolved {
  checkDeterminism: boolean
  effectConcurrency: number
  domainCacheCount: number
  replyMemoryCount: number
  slicesPerCommitMax: number
  onSlice: ((record: SliceRecord) => void) | null
  journal: JournalRetention | null
}

/** Every option Runtime.open reads: any other name is a mistake (EINVAL), not something to ignore. */
const RUNTIME_OPTION_NAMES: readonly (keyof RuntimeOptions)[] = ['path', 'domains', 'checkDeterminism', 'effectConcurrency', 'domainCacheCount', 'replyMemoryCount', 'slicesPerCommitMax', 'store', 'onSlice', 'journal']

export function resolveOptions(options: RuntimeOptions): Resolved {
  if (typeof options !== 'object' || options === null) throw new VedError('EINVAL', 'Runtime.open needs an options object with a path')
  checkOptionNames(options, RUNTIME_OPTION_NAMES, 'Runtime.open option')
  if (typeof options.path !== 'string' && !(options.path instanceof URL)) throw new VedError('EINVAL', 'Runtime.open: path must be a string or a file: URL')
  if (options.domains !== undefined && !Array.isArray(options.domains)) throw new VedError('EINVAL', 'Runtime.open: domains must be an array of definitions')
  if (options.onSlice !== undefined && typeof options.onSlice !== 'function') throw new VedError('EINVAL', 'Runtime.open: onSlice must be a function')
  return {
    checkDeterminism: booleanOption(options.checkDeterminism, 'checkDeterminism', false),
    effectConcurrency: countOption(options.effectConcurrency, 'effectConcurrency', 16, 1),
    domainCacheCount: countOption(options.domainCacheCount, 'domainCacheCount', 10_000, 0),
    replyMemoryCount: countOption(options.replyMemoryCount, 'replyMemoryCount', 1000, 0),
    slicesPerCommitMax: countOption(options.slicesPerCommitMax, 'slicesPerCommitMax', SLICES_PER_COMMIT_MAX_DEFAULT, 1),
    onSlice: options.onSlice ?? null,
    journal: resolveJournal(options.journal),
  }
}

function booleanOption(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw new VedError('EINVAL', `Runtime.open: ${name} must be a boolean`)
  return value
}

function countOption(value: unknown, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || (value as number) < min) throw new VedError('EINVAL', `Runtime.open: ${name} must be an integer >= ${min}`)
  return value as number
}

const SEND_OPTION_NAMES: readonly (keyof SendOptions)[] = ['id']

/** send()'s options checked for names (a misspelled `id` would turn de-duplication off unseen); its id, unchecked. */
export function sendId(options: SendOptions | undefined): unknown {
  if (options === undefined) return undefined
  if (typeof options !== 'object' || options === null) throw new VedError('EINVAL', `send options must be an object, got ${describeValue(options)}`)
  checkOptionNames(options, SEND_OPTION_NAMES, 'send option')
  return options.id
}
