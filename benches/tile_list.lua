-- wrk script shared by benches/load.sh and benches/compare.sh: requests the
-- tiles of the list in $TILE_LIST in order, round and round, and prints one
-- RESULT line of JSON (requests, bytes, errors, p50/p99/max latency).
--   TILE_LIST  file of tile paths, one per line (/tiles/{layer}/z/x/y.mvt)
--   PREFIX     if set, each path becomes PREFIX .. "z/x/y" .. SUFFIX (another
--              server's URL scheme for the same tiles)
--   TUDI_KEY   if set, sent as a Bearer key
--   ENCODING   "identity" to accept no compression (default: gzip)
local paths = {}
local prefix, suffix = os.getenv("PREFIX"), os.getenv("SUFFIX") or ""
for line in io.lines(os.getenv("TILE_LIST")) do
  if prefix then
    local z, x, y = line:match("/(%d+)/(%d+)/(%d+)%.mvt$")
    if z then paths[#paths + 1] = prefix .. z .. "/" .. x .. "/" .. y .. suffix end
  elseif #line > 0 then
    paths[#paths + 1] = line
  end
end
if os.getenv("TUDI_KEY") then wrk.headers["Authorization"] = "Bearer " .. os.getenv("TUDI_KEY") end
if os.getenv("ENCODING") ~= "identity" then wrk.headers["Accept-Encoding"] = "gzip" end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n - 1) % #paths + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"errors":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
