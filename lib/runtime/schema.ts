// Standard Schema (https://standardschema.dev): the one interface zod, valibot and arktype
// all implement. The spec asks libraries to copy its types rather than depend on a package;
// this is the subset Ved reads (version 1, synchronous validate).
//
// Invariants:
// - A slice cannot await, so a validator that returns a promise is refused (ESCHEMA), never
//   awaited: a slice that waited would no longer be one synchronous step.
// - A validator's output replaces the input (schemas may transform, e.g. apply defaults).
import { VedError } from '../errors.js'

export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1
    readonly vendor: string
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>
    readonly types?: { readonly input: Input; readonly output: Output } | undefined
  }
}

export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined }> }

/** The output type of a schema. */
export type SchemaOutput<T> = T extends StandardSchemaV1<any, infer O> ? O : never

export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false
  const standard = (value as { '~standard'?: { version?: unknown; validate?: unknown } })['~standard']
  return typeof standard === 'object' && standard !== null && standard.version === 1 && typeof standard.validate === 'function'
}

/** Validates `value` synchronously; returns the schema's output or throws ESCHEMA naming `what`. */
export function validateWith<T>(schema: StandardSchemaV1<unknown, T>, value: unknown, what: string): T {
  const result = schema['~standard'].validate(value)
  if (result instanceof Promise) {
    result.then(undefined, () => {})
    throw new VedError('ESCHEMA', `${what}: the validator is asynchronous; slices are synchronous, use a synchronous schema`)
  }
  if (result.issues !== undefined) {
    const issues = result.issues.map((issue) => {
      const path = issue.path?.map((part) => (typeof part === 'object' ? String(part.key) : String(part))).join('.')
      return path ? `${path}: ${issue.message}` : issue.message
    })
    throw new VedError('ESCHEMA', `${what} rejected by its schema: ${issues.join('; ')}`)
  }
  return result.value
}
