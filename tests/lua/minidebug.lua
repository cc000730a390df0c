-- minidebug.lua: a small debuggee speaking the MobDebug wire protocol, written for
-- dgate's tests (it stands in for ZeroBrane's mobdebug.lua, which is not shipped here).
-- It needs what mobdebug needs from dgate's Lua: require "socket", debug.sethook,
-- debug.getinfo/getlocal, loadstring and setfenv.
--   require('minidebug').start(host, port)  connects to the IDE, pauses before the next line
-- Commands: SETB file line, DELB file line, STEP, RUN, EXEC chunk, EXIT.
-- Replies: "200 OK", "202 Paused <file> <line>", "200 OK <n>" + n bytes, "401 Error in Execution <n>".
local socket = require('socket')

local M = {}
local server
local breakpoints = {}
local stepping, announce = true, false
local here = debug.getinfo(1, "S").source

local function quote(value)
  return string.format("%q", tostring(value))
end

local function evaluate(chunk)
  -- locals of the paused function: evaluate -> loop -> hook -> paused function
  local env = setmetatable({}, {__index = _G})
  local i = 1
  while true do
    local name, value = debug.getlocal(4, i)
    if not name then break end
    if string.sub(name, 1, 1) ~= "(" then env[name] = value end
    i = i + 1
  end
  local f, err = loadstring(chunk)
  if not f then return false, err end
  setfenv(f, env)
  local results = {pcall(f)}
  if not results[1] then return false, tostring(results[2]) end
  local parts = {}
  for n = 2, table.maxn(results) do parts[#parts + 1] = quote(results[n]) end
  return true, "return {" .. table.concat(parts, ",") .. "}"
end

local function loop()
  while true do
    local line, err = server:receive("*l")
    if not line then error("debugger connection " .. tostring(err), 0) end
    local command, rest = string.match(line, "^(%u+)%s*(.-)%s*$")
    if command == "SETB" or command == "DELB" then
      local file, number = string.match(rest, "^(.-)%s+(%d+)$")
      if file then
        breakpoints[file .. ":" .. number] = (command == "SETB") or nil
        server:send("200 OK\n")
      else
        server:send("400 Bad Request\n")
      end
    elseif command == "EXEC" then
      local ok, payload = evaluate(rest)
      if ok then
        server:send("200 OK " .. #payload .. "\n" .. payload)
      else
        server:send("401 Error in Execution " .. #payload .. "\n" .. payload)
      end
    elseif command == "STEP" or command == "RUN" then
      stepping = (command == "STEP")
      server:send("200 OK\n")
      return
    elseif command == "EXIT" then
      server:send("200 OK\n")
      M.done()
      return
    else
      server:send("400 Bad Request\n")
    end
  end
end

local function hook(_, line)
  local source = debug.getinfo(2, "S").source
  if source == here or string.sub(source, 1, 1) ~= "@" then return end
  local file = string.sub(source, 2)
  if stepping or breakpoints[file .. ":" .. line] then
    if announce then server:send("202 Paused " .. file .. " " .. line .. "\n") end
    announce = true
    loop()
  end
end

function M.start(host, port)
  server = assert(socket.connect(host or "localhost", port or 8172))
  server:setoption("tcp-nodelay", true)
  stepping, announce = true, false
  debug.sethook(hook, "l")
  return true
end

function M.done()
  debug.sethook()
  if server then server:close(); server = nil end
end

return M
