-- wrk script for bench/tracker.py: valid announces for the whitelisted info-hashes listed
-- (percent-encoded, one per line) in the file named by the environment's TRACKER_HASHES,
-- with a random peer_id and port each, like a crowd of clients starting.
local hashes = {}
for line in io.lines(os.getenv("TRACKER_HASHES")) do hashes[#hashes + 1] = line end

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed)
end

local function peer_id()
  local t = {}
  for i = 1, 12 do t[i] = string.char(math.random(97, 122)) end
  return "-WK0001-" .. table.concat(t)
end

request = function()
  return wrk.format("GET", "/announce?info_hash=" .. hashes[math.random(1, #hashes)] ..
    "&peer_id=" .. peer_id() .. "&port=" .. math.random(1024, 65000) ..
    "&uploaded=0&downloaded=0&left=1000&compact=1&numwant=50&event=started")
end

done = function(summary, latency, requests)
  io.write(string.format("p99_us %d\n", latency:percentile(99)))
  io.write(string.format("p50_us %d\n", latency:percentile(50)))
end
