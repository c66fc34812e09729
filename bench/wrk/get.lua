-- GET scenarios: the URL and the X-Auth-Token header come from the command line.
local dir = os.getenv("CONFAB_BENCH_DIR") or "bench"
dofile(dir .. "/wrk/report.lua")
