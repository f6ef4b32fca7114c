-- wrk script: Streamable HTTP tools/call load with checked replies.
--
-- Env: MCP_SESSION_ID (Mcp-Session-Id; empty for none), MCP_TOOL (default "echo"),
--      MCP_PROTOCOL_VERSION (default 2025-06-18), MCP_API_KEY (sent as Authorization: Bearer).
-- Every request has its own id and message "m<id>". A 2xx reply counts as ok only if its body
-- (JSON or SSE-framed) carries a result whose text is "Echo: m<id>" for the id in that body.
-- done() prints one line "MCPCHECK {json}" with the counts.

local session = os.getenv("MCP_SESSION_ID") or ""
local tool = os.getenv("MCP_TOOL") or "echo"
local proto = os.getenv("MCP_PROTOCOL_VERSION") or "2025-06-18"
local api_key = os.getenv("MCP_API_KEY") or ""
-- MCP_MODERN=1: the 2026-07-28 revision: no session, the envelope in _meta, mirrored headers.
local modern = (os.getenv("MCP_MODERN") or "") == "1"
if modern then proto = "2026-07-28" end
local envelope = ',"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",' ..
  '"io.modelcontextprotocol/clientCapabilities":{},' ..
  '"io.modelcontextprotocol/clientInfo":{"name":"wrk","version":"1"}}'

local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  n = 0
  ok = 0
  bad_status = 0
  bad_body = 0
  first_bad = ""
  headers = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = proto,
  }
  if session ~= "" then headers["Mcp-Session-Id"] = session end
  if modern then
    headers["Mcp-Method"] = "tools/call"
    headers["Mcp-Name"] = tool
  end
  if api_key ~= "" then headers["Authorization"] = "Bearer " .. api_key end
  base = tid * 100000000
end

function request()
  n = n + 1
  local id = base + n
  local body = '{"jsonrpc":"2.0","id":' .. id .. ',"method":"tools/call","params":{"name":"' ..
    tool .. '","arguments":{"message":"m' .. id .. '"}' .. (modern and envelope or "") .. '}}'
  return wrk.format("POST", nil, headers, body)
end

function response(status, hdrs, body)
  if status < 200 or status > 299 then
    bad_status = bad_status + 1
    if first_bad == "" then first_bad = status .. " " .. string.sub(body or "", 1, 160) end
    return
  end
  local id = string.match(body, '"id":(%d+)')
  -- The echo, plain or (behind the security gate's fence) on its own line inside the fence.
  if id ~= nil and (string.find(body, '"text":"Echo: m' .. id .. '"', 1, true) or
                    string.find(body, '>>>\\nEcho: m' .. id .. '\\n<<<end mcpgw-untrusted', 1, true)) then
    ok = ok + 1
  else
    bad_body = bad_body + 1
    if first_bad == "" then first_bad = string.sub(body or "", 1, 160) end
  end
end

function done(summary, latency, requests)
  local t_ok, t_status, t_body, bad = 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    t_ok = t_ok + thread:get("ok")
    t_status = t_status + thread:get("bad_status")
    t_body = t_body + thread:get("bad_body")
    if bad == "" then bad = thread:get("first_bad") end
  end
  bad = string.gsub(bad, '[%c"\\]', " ")
  io.write(string.format('MCPCHECK {"ok":%d,"bad_status":%d,"bad_body":%d,"first_bad":"%s"}\n',
    t_ok, t_status, t_body, bad))
end
