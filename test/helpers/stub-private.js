'use strict'
// Preloaded (`node --require`) by test/internals-stubs.test.js before tfo
// loads: breaks one Node private part, named by TFO_STUB, the way a Node
// upgrade might (gone, or changed behaviour), while Node itself keeps working.
const net = require('node:net')

const stubs = {
  // Gone: net.connect keeps working (net reads its arguments with its own internal function).
  'net._normalizeArgs': () => {
    delete net._normalizeArgs
  },
  // Gone: net writes each chunk with _write (stream.Writable's own fallback).
  'net.Socket.prototype._writev': () => {
    delete net.Socket.prototype._writev
  },
  // Changed: the handshake starts on the next tick instead of synchronously (tls.connect still works).
  'tls.TLSSocket.prototype._start': () => {
    const { TLSSocket } = require('node:tls')
    const start = TLSSocket.prototype._start
    TLSSocket.prototype._start = function startLater() {
      process.nextTick(() => start.call(this))
    }
  },
  // Changed: a TCP handle no longer adopts a descriptor from JavaScript (libuv still makes its own in connect()).
  'TCP handle #open(fd)': () => {
    const { TCP } = process.binding('tcp_wrap')
    TCP.prototype.open = function open() {
      return -22
    }
  },
  // Gone: handles no longer tell their descriptor.
  'TCP handle #fd': () => {
    const { TCP } = process.binding('tcp_wrap')
    Object.defineProperty(TCP.prototype, 'fd', {
      configurable: true,
      get() {
        return undefined
      },
    })
  },
  // Gone: https.Agent's session cache methods.
  'https.Agent#_getSession, #_cacheSession, #_evictSession': () => {
    delete require('node:https').Agent.prototype._getSession
  },
  // Changed: node:net's connect can no longer be replaced (a frozen binding).
  'http2.connect: net.connect / tls.connect read off the module objects': () => {
    Object.defineProperty(net, 'connect', { value: net.connect, writable: false, configurable: false })
  },
}

const stub = stubs[process.env.TFO_STUB]
if (!stub) throw new Error(`unknown TFO_STUB ${process.env.TFO_STUB}`)
stub()
