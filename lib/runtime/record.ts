// SliceRecord: what one slice did, handed to RuntimeOptions.onSlice (the journal stores its own form, lib/journal/entry.ts).
// The runtime builds it only when someone listens (RuntimeOptions.onSlice), after the
// slice's commit is durable, so a record never describes a slice that could still vanish.
import type { IntentInfo } from './domain.js'

export interface SliceRecord {
  readonly domain: string
  readonly key: string
  /** The domain's slice number (1 for its first slice). */
  readonly slice: number
  readonly intent: IntentInfo
  /** ctx.now of the slice. */
  readonly now: number
  /** Changed fields (`field`) and map entries (`field\0entry`), with the values before and after (undefined = absent). */
  readonly changes: ReadonlyArray<{ readonly key: string; readonly before: unknown; readonly after: unknown }>
  readonly effects: ReadonlyArray<{ readonly id: string; readonly effect: string; readonly attempt: number }>
  readonly messages: ReadonlyArray<{ readonly id: string; readonly domain: string; readonly key: string; readonly type: string }>
  readonly timers: ReadonlyArray<{ readonly id: string; readonly type: string; readonly due: number }>
  readonly cancelled: readonly string[]
  /** The handler's reply (undefined when it returned nothing or threw). */
  readonly reply: unknown
  /** The handler's error, when it threw (the state did not change). */
  readonly error: { readonly name: string; readonly message: string; readonly code?: string } | null
  /** A migration ran before the handler: [from, to] versions. */
  readonly migrated: readonly [number, number] | null
}

/** The persistable form of an error (name, message, code). */
export function errorInfo(error: unknown): { name: string; message: string; code?: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return typeof code === 'string' ? { name: error.name, message: error.message, code } : { name: error.name, message: error.message }
  }
  return { name: 'Error', message: String(error) }
}
