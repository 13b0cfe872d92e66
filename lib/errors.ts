// VedError: the one error class of Ved, shared with the native addon.
//
// Invariants:
// - STATUS_NAMES lists the status codes in the order of docs/native-contract.md; index i is
//   native status i. test/errors.test.ts compares it with addon.statusNames() so the two
//   sides cannot drift.
// - Every error Ved raises on purpose is a VedError with a stable `code`; a plain Error means
//   a bug in Ved. Codes the addon cannot raise (it failed to load) are in LIB_ERROR_CODES.
// - The addon receives this class through `init(VedError)` (lib/addon.ts) and throws it
//   directly, so there is no conversion step at the boundary.

/** Status names, index = native status number. Order is the contract; append only. */
export const STATUS_NAMES = [
  'OK',
  'EINVAL',
  'ELOCKED',
  'ENOTSTORE',
  'ECORRUPT',
  'EFORMAT',
  'EKEYSIZE',
  'EVALUESIZE',
  'ETXNSIZE',
  'ESTORESIZE',
  'EREADONLY',
  'ECLOSED',
  'EIO',
  'ENOSPC',
  'ETREELIMIT',
  'EENCODE',
] as const

/**
 * Codes that lib/ raises on its own, never the addon, so they are not native statuses and
 * not in STATUS_NAMES:
 * - ENOBINARY: no native build loads on this machine: no prebuild matches its platform, arch
 *   and libc and there is no local build (install scripts did not run, or no compiler), or the
 *   binary found (or named by VED_ADDON_PATH) fails to load. Raised by `import 'ved'`.
 */
export const LIB_ERROR_CODES = ['ENOBINARY'] as const

/**
 * Codes raised by the domain runtime (lib/runtime/) only. They never cross the native
 * boundary, so they are not statuses and STATUS_NAMES stays the addon's exact table.
 * - EINTENT: an intent type the domain has no handler for.
 * - EEFFECT: ctx.emit of an effect the domain does not declare.
 * - ESCHEMA: a payload or state value a Standard Schema validator rejected.
 * - EVERSION: the store holds a domain written by a newer definition version.
 * - EDETERMINISM: checkDeterminism found two runs of one slice that differ.
 * - EHANDLER: a handler's error remembered across a restart (the original object is gone).
 * - ENODOMAIN: an inspection (`ved state`, `ved journal`) named a domain the store does not
 *   hold: no definition of that name, or no committed slice of that key.
 * - ENOINTENT: an inspection (`ved lineage`) named an intent id the journal holds no entry
 *   of and cannot tie to a domain the store holds (never ran, or an id given to send()
 *   whose entry retention dropped).
 */
export const RUNTIME_ERROR_CODES = ['EINTENT', 'EEFFECT', 'ESCHEMA', 'EVERSION', 'EDETERMINISM', 'EHANDLER', 'ENODOMAIN', 'ENOINTENT'] as const

/** A code that can appear on a VedError: a native status (everything but OK), a lib-only or a runtime code. */
export type VedErrorCode =
  | Exclude<(typeof STATUS_NAMES)[number], 'OK'>
  | (typeof LIB_ERROR_CODES)[number]
  | (typeof RUNTIME_ERROR_CODES)[number]

/** Where a corrupt byte was found (ECORRUPT only). */
export interface VedErrorDetails {
  segment?: number
  offset?: number
}

export class VedError extends Error {
  /** Stable machine-readable code, one of STATUS_NAMES (never 'OK'), LIB_ERROR_CODES or RUNTIME_ERROR_CODES. */
  code: VedErrorCode
  /** ECORRUPT: index of the segment holding the damaged bytes. */
  segment?: number
  /** ECORRUPT: byte offset of the damage inside that segment. */
  offset?: number

  constructor(code: VedErrorCode, message: string, details?: VedErrorDetails | null) {
    // The code leads the message like Node's system errors ("ENOENT: ..."), so a logged
    // stack alone says what happened.
    super(message.startsWith(code) ? message : `${code}: ${message}`)
    this.name = 'VedError'
    this.code = code
    if (details !== undefined && details !== null) {
      if (typeof details.segment === 'number') this.segment = details.segment
      if (typeof details.offset === 'number') this.offset = details.offset
    }
  }
}

/** Builds the VedError for a native status number (used by the durable callback). */
export function errorFromStatus(status: number, message: string): VedError {
  const name = STATUS_NAMES[status]
  if (name === undefined || name === 'OK') {
    return new VedError('EIO', `unknown native status ${status}: ${message}`)
  }
  return new VedError(name, message)
}

/** A short description of a value for error messages. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Uint8Array) return `a ${value.constructor.name}`
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `a string "${value.slice(0, 40)}..."` : `"${value}"`
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof value} ${String(value)}`
    case 'undefined':
      return 'undefined'
    case 'object':
      return 'an object'
    default:
      return `a ${typeof value}`
  }
}
