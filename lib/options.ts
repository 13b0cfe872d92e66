// Store.open options: validation and explicit defaults.
//
// Invariants:
// - Every option has exactly one default, in DEFAULT_OPTIONS; `resolveOptions` returns a
//   complete, checked object, so store.ts and the addon never see an unchecked value.
// - Unknown keys are an error (EINVAL), with a suggestion for near misses such as
//   `readonly` -> `readOnly` (better-sqlite3 catches the same misspelling).
// - A key whose value is `undefined` counts as absent and takes its default.
import { mkdirSync, statSync, type Stats } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describeValue, VedError } from './errors.js'

/** How values are encoded. */
export type Encoding = 'msgpack' | 'binary' | 'string' | 'json'
/** How getRange gives keys back: as strings (UTF-8 decoded) or as Buffers. */
export type KeyEncoding = 'string' | 'binary'

export interface StoreOptions {
  /** Value encoding. Default 'msgpack' (msgpackr). */
  encoding?: Encoding
  /** Kind of the keys getRange returns. Default 'string'. */
  keyEncoding?: KeyEncoding
  /** fdatasync each group commit. Default true; false is not crash-safe. */
  sync?: boolean
  /** Open without the writer lock; writes fail with EREADONLY. Default false. */
  readOnly?: boolean
  /** Create the store when the directory holds none. Default true (false when readOnly). */
  create?: boolean
  /** Size of each segment file, a multiple of 4096 in [256 KiB, 1 GiB]. Default 64 MiB. */
  segmentSizeBytes?: number
  /** Commits that would grow the store past this fail with ESTORESIZE. Default 1 TiB. */
  maxStoreSizeBytes?: number
  /** Commits between two checkpoints (bounds the recovery scan). Default 1024. */
  checkpointIntervalCommits?: number
  /**
   * Background cleaning keeps file bytes under this multiple of live bytes plus one segment.
   * 0 turns background cleaning off (compact() still cleans). Default 2.
   */
  maxSpaceAmplification?: number
  /**
   * While a commit syncs and the event loop has nothing else to do, keep the JS thread awake
   * (yielding the CPU) for up to 500 us so its promise settles without an epoll wake-up
   * (docs/design.md, "Flusher wake-ups"). Costs CPU on sequential commits; false for a
   * process that should sleep while it waits. Linux only. Default true.
   */
  completionWait?: boolean
  /** Internal: seed of the fault-injection layer of test builds. Default 0 (off). */
  faultSeed?: number
}

export interface ResolvedOptions {
  encoding: Encoding
  keyEncoding: KeyEncoding
  sync: boolean
  readOnly: boolean
  create: boolean
  segmentSizeBytes: number
  maxStoreSizeBytes: number
  checkpointIntervalCommits: number
  maxSpaceAmplification: number
  completionWait: boolean
  faultSeed: number
}

const KIB = 1024
const MIB = 1024 * KIB
const GIB = 1024 * MIB
const TIB = 1024 * GIB

/** Segment sizes are whole pages; 4096 is the largest page size the format allows. */
export const SEGMENT_SIZE_ALIGN_BYTES = 4096
/** Small enough for tests to fill several segments quickly, large enough for a commit record and some pages. */
export const SEGMENT_SIZE_BYTES_MIN = 256 * KIB
/** Keeps a segment mappable in one piece on every platform Node supports. */
export const SEGMENT_SIZE_BYTES_MAX = 1 * GIB
/** The checkpoint interval is stored as a u32 natively; 2^31 - 1 keeps it a positive int32 too. */
export const CHECKPOINT_INTERVAL_COMMITS_MAX = 2 ** 31 - 1
/** Below 1.1 the cleaner would rewrite nearly everything it reads. */
export const SPACE_AMPLIFICATION_MIN = 1.1
export const SPACE_AMPLIFICATION_MAX = 1000
/** The fault seed is a u32 natively. */
export const FAULT_SEED_MAX = 2 ** 32 - 1

export const DEFAULT_OPTIONS: Readonly<ResolvedOptions> = Object.freeze({
  encoding: 'msgpack',
  keyEncoding: 'string',
  sync: true,
  readOnly: false,
  create: true,
  // 64 MiB: one segment holds a maximum-size value with room to spare, and a store of
  // 1 TiB needs 16K files, which a directory handles fine.
  segmentSizeBytes: 64 * MIB,
  maxStoreSizeBytes: 1 * TIB,
  // 1024 commits: recovery scans at most this many commit records past the checkpoint.
  checkpointIntervalCommits: 1024,
  // 2: the log may hold as much dead data as live before cleaning moves any (LFS-style
  // cleaners are cheap at this utilization; tighter targets cost write amplification).
  maxSpaceAmplification: 2,
  completionWait: true,
  faultSeed: 0,
})

const ENCODINGS: readonly Encoding[] = ['msgpack', 'binary', 'string', 'json']
const KEY_ENCODINGS: readonly KeyEncoding[] = ['string', 'binary']
const OPTION_NAMES = Object.keys(DEFAULT_OPTIONS) as (keyof ResolvedOptions)[]

/** Checks `options` and fills in defaults. Throws VedError('EINVAL') on anything wrong. */
export function resolveOptions(options: unknown): ResolvedOptions {
  if (options === undefined) return { ...DEFAULT_OPTIONS }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new VedError('EINVAL', `options must be an object, got ${describeValue(options)}`)
  }
  const input = options as Record<string, unknown>
  checkOptionNames(input, OPTION_NAMES, 'option')
  const readOnly = booleanOption(input, 'readOnly')
  const create = booleanOption(input, 'create', !readOnly)
  if (readOnly && create) {
    throw new VedError('EINVAL', 'options readOnly and create cannot both be true')
  }
  const segmentSizeBytes = segmentSizeOption(input)
  const maxStoreSizeBytes = integerOption(input, 'maxStoreSizeBytes', segmentSizeBytes, Number.MAX_SAFE_INTEGER)
  return {
    encoding: enumOption(input, 'encoding', ENCODINGS),
    keyEncoding: enumOption(input, 'keyEncoding', KEY_ENCODINGS),
    sync: booleanOption(input, 'sync'),
    readOnly,
    create,
    segmentSizeBytes,
    maxStoreSizeBytes,
    checkpointIntervalCommits: integerOption(input, 'checkpointIntervalCommits', 1, CHECKPOINT_INTERVAL_COMMITS_MAX),
    maxSpaceAmplification: amplificationOption(input),
    completionWait: booleanOption(input, 'completionWait'),
    faultSeed: integerOption(input, 'faultSeed', 0, FAULT_SEED_MAX),
  }
}

/** Checks the store directory argument and makes it absolute. */
export function resolveDirectory(dir: unknown): string {
  let path: string
  if (dir instanceof URL) {
    if (dir.protocol !== 'file:') throw new VedError('EINVAL', `directory URL must use file:, got ${dir.protocol}`)
    path = fileURLToPath(dir)
  } else if (typeof dir === 'string') {
    path = dir
  } else {
    throw new VedError('EINVAL', `directory must be a string or a file: URL, got ${describeValue(dir)}`)
  }
  if (path.length === 0) throw new VedError('EINVAL', 'directory must not be empty')
  if (path.includes('\0')) throw new VedError('EINVAL', 'directory must not contain NUL characters')
  return resolve(path)
}

/**
 * A writer's directory before the engine opens it: a path that is a file (or runs through
 * one) is EINVAL, not the EIO of a failed system call; with `create`, missing parents are
 * made, as the directory itself is. Other failures are left to the engine, which names them.
 */
export function prepareDirectory(path: string, options: ResolvedOptions): void {
  if (options.readOnly) return
  const notDirectory = (): VedError => new VedError('EINVAL', `${path} is not a directory, or one of its parents is a file`)
  let stat: Stats | undefined
  try {
    stat = statSync(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') throw notDirectory()
  }
  if (stat !== undefined) {
    if (!stat.isDirectory()) throw notDirectory()
    return
  }
  if (!options.create) return
  try {
    mkdirSync(path, { recursive: true })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOTDIR' || code === 'EEXIST') throw notDirectory()
  }
}

function segmentSizeOption(input: Record<string, unknown>): number {
  const size = integerOption(input, 'segmentSizeBytes', SEGMENT_SIZE_BYTES_MIN, SEGMENT_SIZE_BYTES_MAX)
  if (size % SEGMENT_SIZE_ALIGN_BYTES !== 0) {
    throw new VedError('EINVAL', `option segmentSizeBytes must be a multiple of ${SEGMENT_SIZE_ALIGN_BYTES}, got ${size}`)
  }
  return size
}

function amplificationOption(input: Record<string, unknown>): number {
  const value = input['maxSpaceAmplification']
  if (value === undefined) return DEFAULT_OPTIONS.maxSpaceAmplification
  if (typeof value !== 'number' || !(value === 0 || (value >= SPACE_AMPLIFICATION_MIN && value <= SPACE_AMPLIFICATION_MAX))) {
    throw new VedError(
      'EINVAL',
      `option maxSpaceAmplification must be 0 (no background cleaning) or in [${SPACE_AMPLIFICATION_MIN}, ${SPACE_AMPLIFICATION_MAX}], got ${describeValue(value)}`,
    )
  }
  return value
}

function booleanOption(input: Record<string, unknown>, name: 'sync' | 'readOnly' | 'create' | 'completionWait', fallback?: boolean): boolean {
  const value = input[name]
  if (value === undefined) return fallback ?? (DEFAULT_OPTIONS[name] as boolean)
  if (typeof value !== 'boolean') {
    throw new VedError('EINVAL', `option ${name} must be a boolean, got ${describeValue(value)}`)
  }
  return value
}

function enumOption<T extends string>(input: Record<string, unknown>, name: 'encoding' | 'keyEncoding', allowed: readonly T[]): T {
  const value = input[name]
  if (value === undefined) return DEFAULT_OPTIONS[name] as T
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    const list = allowed.map((a) => `'${a}'`).join(', ')
    throw new VedError('EINVAL', `option ${name} must be one of ${list}, got ${describeValue(value)}`)
  }
  return value as T
}

function integerOption(
  input: Record<string, unknown>,
  name: 'segmentSizeBytes' | 'maxStoreSizeBytes' | 'checkpointIntervalCommits' | 'faultSeed',
  min: number,
  max: number,
): number {
  const value = input[name]
  if (value === undefined) return DEFAULT_OPTIONS[name]
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new VedError('EINVAL', `option ${name} must be an integer, got ${describeValue(value)}`)
  }
  if (value < min || value > max) {
    throw new VedError('EINVAL', `option ${name} must be in [${min}, ${max}], got ${value}`)
  }
  return value
}

/**
 * EINVAL for a name in `input` that is not in `known`: a misspelled option would otherwise be
 * ignored and its default used in silence. `what` names the options in the message ('option',
 * 'send option'); a near miss gets a suggestion.
 */
export function checkOptionNames(input: object, known: readonly string[], what: string): void {
  for (const name of Object.keys(input)) {
    if (known.includes(name)) continue
    const suggestion = suggestOption(name, known)
    const hint = suggestion === null ? `known ${what}s: ${known.join(', ')}` : `did you mean "${suggestion}"?`
    throw new VedError('EINVAL', `unknown ${what} "${name}"; ${hint}`)
  }
}

/** The known option closest to a misspelled one: same letters ignoring case, or at most 2 edits away. */
function suggestOption(name: string, known: readonly string[]): string | null {
  const lower = name.toLowerCase()
  let best: string | null = null
  let bestDistance = 3
  for (const option of known) {
    if (option.toLowerCase() === lower) return option
    const distance = editDistance(lower, option.toLowerCase())
    if (distance < bestDistance) {
      best = option
      bestDistance = distance
    }
  }
  return best
}

/** Levenshtein distance; option names are short, so the quadratic table is fine. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution)
    }
    previous = current
  }
  return previous[b.length] ?? 0
}
