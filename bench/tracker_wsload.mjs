// WebSocket announce load for bench/tracker.py: CONNS sockets, each sending announces (no
// offers) for random whitelisted info-hashes, one at a time, for SECONDS; prints
// "announces N failures F seconds S". Usage: node tracker_wsload.mjs URL CONNS SECONDS HASHES_HEX_FILE
import fs from 'node:fs'
import WebSocket from 'ws'

const [url, conns, seconds, hashFile] = process.argv.slice(2)
const hashes = fs.readFileSync(hashFile, 'ascii').split('\n').filter(Boolean)
  .map(h => Buffer.from(h, 'hex').toString('latin1'))
let count = 0
let failures = 0
let running = true
const sockets = []
const randomId = () => '-BN0001-' + Math.random().toString(36).slice(2, 14).padEnd(12, '0')

function announce (ws, peerId) {
  ws.send(JSON.stringify({
    action: 'announce', info_hash: hashes[Math.floor(Math.random() * hashes.length)], peer_id: peerId,
    numwant: 0, uploaded: 0, downloaded: 0, left: 1000, event: 'started', offers: []
  }))
}

let opened = 0
const start = () => {
  const t0 = process.hrtime.bigint()
  setTimeout(() => {
    running = false
    const s = Number(process.hrtime.bigint() - t0) / 1e9
    console.log(`announces ${count} failures ${failures} seconds ${s.toFixed(2)}`)
    for (const [ws] of sockets) ws.terminate()
    process.exit(0)
  }, Number(seconds) * 1000)
  for (const [ws, peerId] of sockets) announce(ws, peerId)
}
for (let i = 0; i < Number(conns); i++) {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  const peerId = randomId()
  sockets.push([ws, peerId])
  ws.on('open', () => { if (++opened === Number(conns)) start() })
  ws.on('message', data => {
    const msg = JSON.parse(data)
    if (msg['failure reason']) failures++
    else count++
    if (running) announce(ws, peerId)
  })
  ws.on('error', e => { console.error('socket error: ' + e.message); process.exit(1) })
}
