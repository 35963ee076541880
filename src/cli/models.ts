import { extname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { InvalidOptionsError } from '../core/errors.js'
import { Model } from '../orm/model.js'
import type { ModelClass } from '../orm/types.js'

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts', '.tsx'])

/**
 * The models a module exports, and the schema version it names (`export
 * const schemaVersion = 2`), if it does. Node 20 cannot load TypeScript: a
 * `.ts` file is loaded through tsx when it is installed.
 */
export async function loadModels(file: string): Promise<{ models: ModelClass[]; schemaVersion: number | undefined }> {
  const url = pathToFileURL(resolve(file)).href
  const mod = (TYPESCRIPT.has(extname(file)) ? await importTypeScript(file, url) : await import(url)) as Record<string, unknown>
  const models = Object.values(mod).filter((v): v is ModelClass => typeof v === 'function' && (v as { prototype?: unknown }).prototype instanceof Model)
  if (models.length === 0) throw new InvalidOptionsError('--models', `${file} exports no models`)
  const { schemaVersion } = mod
  if (schemaVersion !== undefined && (typeof schemaVersion !== 'number' || !Number.isInteger(schemaVersion) || schemaVersion < 1)) {
    throw new InvalidOptionsError('--models', `${file} exports schemaVersion ${JSON.stringify(schemaVersion)}: it must be a positive integer`)
  }
  return { models, schemaVersion }
}

async function importTypeScript(file: string, url: string): Promise<unknown> {
  let tsx: { register(): unknown }
  try {
    tsx = (await import('tsx/esm/api' as string)) as typeof tsx
  } catch {
    throw new InvalidOptionsError('--models', `${file} is TypeScript, which Node cannot load by itself: install tsx beside Tidepool (npm install --save-dev tsx) and it is loaded through it, or pass the module built to JavaScript`)
  }
  // for the whole process, not a namespace of its own: the models must extend the Model this process already loaded
  tsx.register()
  try {
    return await import(url)
  } catch (e) {
    // tsx loads a .ts file as CommonJS outside a "type": "module" package, and CommonJS cannot import Tidepool's ES modules in a cycle
    if ((e as { code?: string }).code === 'ERR_REQUIRE_CYCLE_MODULE') {
      throw new InvalidOptionsError('--models', `${file} loads as CommonJS (its package.json does not say "type": "module"), which cannot import Tidepool: name it .mts, or set "type": "module"`)
    }
    throw e
  }
}
