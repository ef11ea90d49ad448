-- wrk script: GET /models only, a random demo key per request.
-- The same options and WRK_JSON summary as mix.lua (chat= defaults to 0 here).
DEFAULT_CHAT = "0"
local dir = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
dofile(dir .. "mix.lua")
