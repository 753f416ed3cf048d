'use strict'
// Child processes of the benchmark: JSON-lines protocol on stdout, control
// lines on stdin, and stopping by pid. Every child started here is a script
// of ours that also exits when its stdin closes, so nothing outlives the run.
const { spawn } = require('node:child_process')

const started = new Set() // children we started ourselves (not through wan.spawn)

/** Attaches a JSON-lines reader to child.stdout; returns { next(pred, ms), messages, stderr() }. */
function jsonChannel(child, { onMessage, name = 'child' } = {}) {
  const messages = []
  const waiters = []
  let buf = ''
  let err = ''
  let exited = null
  const check = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]
      const idx = messages.findIndex((m, j) => j >= w.from && w.pred(m))
      if (idx >= 0) {
        waiters.splice(i, 1)
        clearTimeout(w.timer)
        w.from = idx + 1
        w.resolve(messages[idx])
      } else if (exited) {
        waiters.splice(i, 1)
        clearTimeout(w.timer)
        w.reject(new Error(`${name} exited (${exited}) before answering${err ? ': ' + err.trim().slice(-2000) : ''}`))
      }
    }
  }
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      if (!line.trim()) continue
      let msg
      try {
        msg = JSON.parse(line)
      } catch {
        msg = { text: line }
      }
      messages.push(msg)
      if (onMessage) onMessage(msg)
    }
    check()
  })
  if (child.stderr) {
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (d) => {
      err = (err + d).slice(-8192)
    })
  }
  child.on('close', (code, sig) => {
    exited = sig || `code ${code}`
    check()
  })
  child.on('error', (e) => {
    exited = e.message
    check()
  })
  let cursor = 0
  return {
    messages,
    stderr: () => err,
    exited: () => exited,
    /** Resolves with the first message after the previous next() that matches pred. */
    next(pred, ms = 60000) {
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          from: cursor,
          resolve: (m) => {
            cursor = messages.indexOf(m) + 1
            resolve(m)
          },
          reject,
        }
        w.timer = setTimeout(() => {
          const k = waiters.indexOf(w)
          if (k >= 0) waiters.splice(k, 1)
          reject(new Error(`${name}: no answer within ${ms} ms${err ? ': ' + err.trim().slice(-2000) : ''}`))
        }, ms)
        waiters.push(w)
        check()
      })
    },
  }
}

/** Sends one control line and waits for the reply that has `key`. */
function ask(child, channel, line, key, ms = 30000) {
  const p = channel.next((m) => m && Object.prototype.hasOwnProperty.call(m, key), ms)
  child.stdin.write(line + '\n')
  return p.then((m) => m[key])
}

function alive(child) {
  return child && child.pid && child.exitCode === null && child.signalCode === null
}

/** SIGTERM by pid, SIGKILL after `ms`; resolves when the child is gone. */
function stop(child, ms = 2000) {
  if (!alive(child)) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      try {
        process.kill(child.pid, 'SIGKILL')
      } catch {}
    }, ms)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    try {
      child.stdin && child.stdin.end()
    } catch {}
    try {
      process.kill(child.pid, 'SIGTERM')
    } catch {}
  })
}

/** spawn() that remembers the child so killAllSync() can stop it by pid. */
function spawnTracked(cmd, args, options) {
  const child = spawn(cmd, args, options)
  started.add(child)
  child.on('exit', () => started.delete(child))
  child.on('error', () => started.delete(child))
  if (child.stdin) child.stdin.on('error', () => {})
  return child
}

/** Synchronous last resort (exit/signal): SIGKILL every child we started, by pid. */
function killAllSync() {
  for (const c of started)
    if (alive(c)) {
      try {
        process.kill(c.pid, 'SIGKILL')
      } catch {}
    }
  started.clear()
}

/** Reads the child's stdout/stderr to completion: { code, signal, stdout, stderr }. */
function collect(child, timeoutMs = 0) {
  return new Promise((resolve, reject) => {
    let stdout = ''
    let stderr = ''
    if (child.stdout)
      child.stdout.setEncoding('utf8').on('data', (d) => {
        stdout += d
      })
    if (child.stderr)
      child.stderr.setEncoding('utf8').on('data', (d) => {
        stderr += d
      })
    const timer = timeoutMs
      ? setTimeout(() => {
          try {
            process.kill(child.pid, 'SIGKILL')
          } catch {}
        }, timeoutMs)
      : null
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

module.exports = { jsonChannel, ask, stop, alive, spawnTracked, killAllSync, collect }
