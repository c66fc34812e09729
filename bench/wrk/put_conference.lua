-- PUT create: every request creates a new conference with a unique name and no numbers
-- (conference_numbers must be unique across conferences, so none are given).
-- The token comes from -H on the command line; the URL is the account's conferences collection.
local dir = os.getenv("CONFAB_BENCH_DIR") or "bench"
dofile(dir .. "/wrk/report.lua")

local counter = 0
local prefix = ""

-- Each wrk thread has its own Lua state: a per-thread random prefix keeps names unique across
-- threads and across runs against the same data dir.
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
  prefix = string.format("wrk-%08x", math.random(0, 0x7fffffff))
end

-- wrk.format uses the headers it is given instead of wrk.headers (which holds the -H ones).
local headers = nil

function request()
  if not headers then
    headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers["Content-Type"] = "application/json"
  end
  counter = counter + 1
  local body = string.format('{"data":{"name":"%s-%d"}}', prefix, counter)
  return wrk.format("PUT", nil, headers, body)
end
