import { build } from 'esbuild'
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS })
}

/**
 * Bundles an entry for the browser, as an app's bundler would: `tidepool` is
 * the built package, and any Node built-in it pulled in fails the build.
 * React is its development build (Strict Mode checks only run there).
 */
export async function bundle(entry: string, outfile: string): Promise<void> {
  await build({ entryPoints: [entry], outfile, bundle: true, format: 'esm', platform: 'browser', target: 'chrome120', logLevel: 'error', sourcemap: 'inline', define: { 'process.env.NODE_ENV': '"development"' } })
}
