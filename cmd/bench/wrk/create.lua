-- POST /v1/files with a fresh random sha256 per request, so every request
-- records a new upload and presigns a PUT (no deduplication shortcut).
-- BENCH_API_KEY is the bearer key; BENCH_DAPR_TOKEN, when set, is sent as
-- dapr-api-token for calls through the api's sidecar.
local hex = "0123456789abcdef"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_API_KEY") or "")
local token = os.getenv("BENCH_DAPR_TOKEN") or ""
if token ~= "" then
  wrk.headers["dapr-api-token"] = token
end

math.randomseed(os.time())

-- Each thread has its own Lua state: give each its own seed.
function setup(thread)
  thread:set("seed", math.random(1, 2^30))
end

function init(args)
  math.randomseed(seed or os.time())
end

request = function()
  local t = {}
  for i = 1, 64 do
    local r = math.random(1, 16)
    t[i] = hex:sub(r, r)
  end
  local body = '{"name":"api-bench.bin","size":10240,"sha256":"' .. table.concat(t) .. '"}'
  return wrk.format(nil, nil, nil, body)
end

