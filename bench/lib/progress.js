'use strict'
// The progress line on stderr: one line rewritten in place on a TTY; plain
// lines otherwise (when the stage changes, and at most every 5 s within one).

class Progress {
  constructor(stream = process.stderr) {
    this.stream = stream
    this.tty = !!stream.isTTY && process.env.TERM !== 'dumb'
    this.t0 = Date.now()
    this.current = ''
    this.stage = null
    this.lastPlain = 0
  }

  elapsed() {
    const s = Math.round((Date.now() - this.t0) / 1000)
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
  }

  /** stage: what is running (e.g. "rtt 50 ms, tcp"); detail: where it is (e.g. "12/60"). */
  update(stage, detail = '') {
    const line = `[${this.elapsed()}] ${stage}${detail ? ' ' + detail : ''}`
    if (this.tty) {
      const width = (this.stream.columns || 100) - 1
      this.current = line.length > width ? line.slice(0, width) : line
      this.stream.write(`\r\x1b[2K${this.current}`)
      return
    }
    const now = Date.now()
    if (stage !== this.stage || now - this.lastPlain >= 5000) {
      this.stream.write(line + '\n')
      this.lastPlain = now
    }
    this.stage = stage
  }

  /** A message that stays (warnings, notes), without breaking the progress line. */
  note(text) {
    if (this.tty) {
      this.stream.write(`\r\x1b[2K${text}\n`)
      if (this.current) this.stream.write(this.current)
    } else {
      this.stream.write(text + '\n')
    }
  }

  done() {
    if (this.tty && this.current) this.stream.write('\r\x1b[2K')
    this.current = ''
  }
}

module.exports = { Progress }
