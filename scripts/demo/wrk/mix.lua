-- wrk script for the demo gateway: each request presents a random demo key
-- (Authorization: Bearer sk-demo-<n>); a share of them are billable
-- POST /chat/completions, the rest GET /models.
--
--   wrk -t2 -c32 -d30s -s scripts/demo/wrk/mix.lua http://127.0.0.1:8088 -- [name=value ...]
--     chat=0.2      share of POST /chat/completions (models.lua: 0)
--     keys=100000   keys are sk-demo-<first> .. sk-demo-<first+keys-1>
--     first=1
--     seed=N        fixed random seed (default: time based)
--
-- done() prints one line "WRK_JSON {...}": request and error counts, rps,
-- latency percentiles (us), counts by HTTP status (gathered from every
-- thread with setup()/thread:get()) and a per-second timeline.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

local function option(args, name, default)
   for i = 1, #args do
      local k, v = string.match(args[i], "^([%w_]+)=(.*)$")
      if k == name then return v end
   end
   return default
end

function init(args)
   chat_share = tonumber(option(args, "chat", DEFAULT_CHAT or "0.2"))
   nkeys = tonumber(option(args, "keys", "100000"))
   first_key = tonumber(option(args, "first", "1"))
   local seed = tonumber(option(args, "seed", "0"))
   if seed == 0 then seed = os.time() end
   math.randomseed(seed * 7919 + (id or 0) * 104729)
   -- the first values after seeding are poorly mixed in LuaJIT
   for _ = 1, 10 do math.random() end
   -- Read by done() through thread:get, which copies flat tables only
   -- (wrk 4.1 mis-copies nested ones), hence three tables.
   codes = {}      -- status -> count
   sec_n = {}      -- epoch second -> responses
   sec_bad = {}    -- epoch second -> non-2xx responses
   chat_body = '{"model":"demo-small","messages":[{"role":"user","content":"Say something about databases."}],"max_tokens":16}'
end

function request()
   local n = first_key + math.random(0, nkeys - 1)
   local headers = { ["Authorization"] = "Bearer sk-demo-" .. n }
   if chat_share > 0 and math.random() < chat_share then
      headers["Content-Type"] = "application/json"
      return wrk.format("POST", "/chat/completions", headers, chat_body)
   end
   return wrk.format("GET", "/models", headers, nil)
end

function response(status, headers, body)
   codes[status] = (codes[status] or 0) + 1
   local s = os.time()
   sec_n[s] = (sec_n[s] or 0) + 1
   if status < 200 or status > 299 then sec_bad[s] = (sec_bad[s] or 0) + 1 end
end

function done(summary, latency, requests)
   local codes_all, tl = {}, {}
   for _, t in ipairs(threads) do
      for k, v in pairs(t:get("codes") or {}) do
         codes_all[k] = (codes_all[k] or 0) + v
      end
      local bad = t:get("sec_bad") or {}
      for s, n in pairs(t:get("sec_n") or {}) do
         local acc = tl[s]
         if acc == nil then
            acc = { 0, 0 }
            tl[s] = acc
         end
         acc[1] = acc[1] + n
         acc[2] = acc[2] + (bad[s] or 0)
      end
   end
   local parts, non2xx = {}, 0
   for k, v in pairs(codes_all) do
      table.insert(parts, string.format('"%d":%d', k, v))
      if k < 200 or k > 299 then non2xx = non2xx + v end
   end
   table.sort(parts)
   local secs = {}
   for s in pairs(tl) do table.insert(secs, s) end
   table.sort(secs)
   local tparts = {}
   for _, s in ipairs(secs) do
      table.insert(tparts, string.format('{"t":%d,"n":%d,"non2xx":%d}', s, tl[s][1], tl[s][2]))
   end
   local e = summary.errors
   local secs_run = summary.duration / 1e6
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"rps":%.1f,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
      '"status":{%s},"non2xx":%d,"timeline":[%s]}\n',
      summary.requests, summary.duration, summary.requests / secs_run, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
      table.concat(parts, ","), non2xx, table.concat(tparts, ",")))
end
