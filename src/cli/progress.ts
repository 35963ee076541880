import cliProgress from 'cli-progress'

/** One step of long work: `done` of `total` in a phase (parts downloaded, documents received, index entries built). */
export interface Step {
  phase: string
  done: number
  total: number
  /** What this phase counts, where it is not what the others count. */
  unit?: string
}

/**
 * Shows long work on stderr: a bar per phase on a terminal (cli-progress),
 * and plain lines elsewhere (a log, CI, a pipe): one when a phase starts,
 * one when it ends, and at most one a second between. `unit` names what is
 * counted.
 */
export function progress(unit: string, stream: NodeJS.WriteStream = process.stderr): { step(s: Step): void; stop(): void } {
  if (stream.isTTY) {
    const bars = new cliProgress.MultiBar({ stream, format: ' {phase} [{bar}] {value}/{total} {unit}', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic)
    const byPhase = new Map<string, cliProgress.SingleBar>()
    return {
      step({ phase, done, total, unit: own }) {
        const payload = { phase, unit: own ?? unit }
        const bar = byPhase.get(phase)
        if (!bar) return void byPhase.set(phase, bars.create(total, done, payload))
        bar.setTotal(total)
        bar.update(done, payload)
      },
      stop: () => bars.stop(),
    }
  }
  let phase: string | undefined
  let lastAt = 0
  return {
    step(s) {
      const now = Date.now()
      const changed = s.phase !== phase
      if (!changed && s.done < s.total && now - lastAt < 1000) return
      phase = s.phase
      lastAt = now
      stream.write(`${s.phase} ${s.done}/${s.total} ${s.unit ?? unit}\n`)
    },
    stop: () => undefined,
  }
}
