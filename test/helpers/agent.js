'use strict'
// A line-delimited JSON RPC client for small "agent" processes that the WAN
// tests run inside a namespace (`wan.spawn(side, node, ['-e', source])`):
// each request `{ id, op, args }` on stdin gets `{ id, ok, value | error }`
// on stdout, where error is `{ message, code }` (see serveAgent below).

function startAgent(wan, side, source) {
  const child = wan.spawn(side, process.execPath, ['-e', source])
  const pending = new Map()
  let n = 0
  let buf = ''
  let stderr = ''
  let exited = null
  const closed = new Promise((resolve) =>
    child.on('close', (code, signal) => {
      exited = `${side} agent exited (${signal || code})${stderr ? ': ' + stderr.trim() : ''}`
      for (const p of pending.values()) p.reject(new Error(exited))
      pending.clear()
      resolve()
    }),
  )
  child.stdout.setEncoding('utf8').on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const m = JSON.parse(buf.slice(0, i))
      buf = buf.slice(i + 1)
      const p = pending.get(m.id)
      pending.delete(m.id)
      if (m.ok) p.resolve(m.value)
      else p.reject(Object.assign(new Error(`${side} agent: ${m.error.message}`), { code: m.error.code }))
    }
  })
  child.stderr.setEncoding('utf8').on('data', (d) => {
    stderr = (stderr + d).slice(-4000)
  })
  child.stdin.on('error', () => {})
  return {
    call(op, args = {}, timeoutMs = 40000) {
      if (exited) return Promise.reject(new Error(exited))
      const id = ++n
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`${side} agent: ${op} timed out`))
        }, timeoutMs)
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer)
            resolve(v)
          },
          reject: (e) => {
            clearTimeout(timer)
            reject(e)
          },
        })
        child.stdin.write(JSON.stringify({ id, op, args }) + '\n')
      })
    },
    eval(code) {
      return this.call('eval', { code })
    },
    /** Ends stdin (the agent closes its servers and exits); waits for the exit, SIGKILL after 5 s. */
    async stop() {
      child.stdin.end()
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await closed
      clearTimeout(timer)
    },
  }
}

/**
 * The agent side: answers each request line on stdin with `ops[op](args)`,
 * then calls `onEnd` when stdin closes. Agents require this file by absolute
 * path (they run as `node -e` inside a namespace).
 */
function serveAgent(ops, onEnd) {
  let buf = ''
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buf.slice(0, i))
      buf = buf.slice(i + 1)
      Promise.resolve()
        .then(() => ops[msg.op](msg.args || {}))
        .then(
          (value) => process.stdout.write(JSON.stringify({ id: msg.id, ok: true, value }) + '\n'),
          (e) => process.stdout.write(JSON.stringify({ id: msg.id, ok: false, error: { message: e.message, code: e.code } }) + '\n'),
        )
    }
  })
  process.stdin.on('end', onEnd)
}

module.exports = { startAgent, serveAgent }
