-- wrk script: POST a small OpenAI chat request.
-- Env: MODEL (gpt-5-mini), API_KEY (sk-dummy), STREAM=1 for SSE,
--      EXTRA_HEADERS="Name: value|Name2: value2" for gateway-specific headers.
local model = os.getenv("MODEL") or "gpt-5-mini"
local stream = os.getenv("STREAM") == "1"
local body = '{"model":"' .. model .. '","messages":[{"role":"user","content":"Say hello in one short sentence."}]'
if stream then
  body = body .. ',"stream":true,"stream_options":{"include_usage":true}'
end
-- BODY_EXTRA: extra JSON members for gateways that need them (flexgrpc: start_within).
local extra = os.getenv("BODY_EXTRA")
if extra and extra ~= "" then
  body = body .. "," .. extra
end
body = body .. '}'

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("API_KEY") or "sk-dummy")
local extra = os.getenv("EXTRA_HEADERS")
if extra and extra ~= "" then
  for h in string.gmatch(extra, "[^|]+") do
    local k, v = h:match("^%s*([^:]+):%s*(.-)%s*$")
    if k then wrk.headers[k] = v end
  end
end

-- Machine-readable summary (latency values are microseconds).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d mean_us=%.1f max_us=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
