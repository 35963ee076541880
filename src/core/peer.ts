import { MissingPackageError } from './errors.js'

/**
 * Loads a module that needs optional peer packages (better-sqlite3 for
 * `tidepool/sqlite`, fastify and friends for `tidepool/server`): a browser
 * app's install never pulls them, and a Node app that uses the feature
 * without them gets an error naming the package to install.
 */
export async function loadWithPeers<T>(load: () => Promise<T>, peers: readonly string[], feature: string): Promise<T> {
  try {
    return await load()
  } catch (e) {
    const missing = missingPackage(e, peers)
    if (missing) throw new MissingPackageError(missing, feature, peers, { cause: e })
    throw e
  }
}

function missingPackage(e: unknown, peers: readonly string[]): string | undefined {
  const { code, message } = (e ?? {}) as { code?: string; message?: string }
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return undefined
  return peers.find(p => message?.includes(`'${p}'`) || message?.includes(`"${p}"`))
}
