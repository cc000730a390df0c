"""The Lua half of the binding: userdata for DICOM objects, ``Global``, ``Association``,
``print``, the chunk runner (conquest-lua-web.md §1.4, §2).

Objects are zero-size userdata made with Lua 5.1's ``newproxy`` sharing one metatable,
so ``type(x)`` is ``"userdata"`` and ``#x`` works as in dgate; a weak table maps each
one to its Python :class:`~dgate.luabind.handles.Handle`. Method names are found by
*substring* of dgate's method list (``strstr``), as the original does.
"""

GLUE = r"""
local P = ...
local objs = setmetatable({}, {__mode = "k"})
local kinds = setmetatable({}, {__mode = "k"})
local proto = newproxy(true)
local mt = getmetatable(proto)
local find, type, tostring, select, unpack = string.find, type, tostring, select, unpack
local OBJECT_METHODS = "Write|Read|Dump|GetVR|SetVR|GetPixel|SetPixel|GetRow|SetRow|GetColumn|SetColumn|" ..
  "GetImage|SetImage|Script|new|newarray|free|AddImage|Copy|Compress|ListItems|Serialize|DeleteFromSequence|Reset"
local method, index, newindex, length = P.method, P.index, P.newindex, P.len

local function unwrap(...)
  local n = select('#', ...)
  if n == 0 then return end
  local a = {...}
  for i = 1, n do
    local v = a[i]
    if v ~= nil then
      local h = objs[v]
      if h ~= nil then a[i] = h end
    end
  end
  return unpack(a, 1, n)
end

local function wrap(h, kind)
  local u = newproxy(proto)
  objs[u] = h
  kinds[u] = kind
  return u
end

local ERR = P.ERR
local function pack(...) return {n = select('#', ...), ...} end

local closures = {}
local function closure(name)
  local c = closures[name]
  if c == nil then
    c = function(self, ...)
      local h = objs[self]
      if name == "free" and h ~= nil then kinds[self] = "f" end
      local r = pack(method(name, h, unwrap(...)))
      if r[1] == ERR then error(r[2], 2) end
      return unpack(r, 1, r.n)
    end
    closures[name] = c
  end
  return c
end

mt.__index = function(u, k)
  local tk = type(k)
  if tk == "number" then k = tostring(k) elseif tk ~= "string" then return nil end
  local kind = kinds[u]
  if kind == "o" then
    if find(OBJECT_METHODS, k, 1, true) then return closure(k) end
    return index(objs[u], k)
  elseif kind == "a" then
    if find("Delete", k, 1, true) then return closure("DeleteFromSequence") end
    if find("Add", k, 1, true) then return closure("AddToSequence") end
    if find("Serialize", k, 1, true) then return closure("Serialize") end
    return index(objs[u], k)
  else
    if find("new|newarray", k, 1, true) then return closure(k) end
    return nil
  end
end

mt.__newindex = function(u, k, v)
  local tk = type(k)
  if tk == "number" then k = tostring(k) elseif tk ~= "string" then return end
  local tv = type(v)
  if tv == "boolean" or tv == "function" or tv == "thread" then
    error("cannot set " .. k .. " to a " .. tv .. " value", 2)
  end
  if tv == "userdata" then v = objs[v] or v end
  newindex(objs[u], k, v, tv == "table")
end

mt.__len = function(u) return length(objs[u]) end

mt.__tostring = function(u)
  local kind = kinds[u]
  if kind == "o" then return "Dicom Data Object" end
  if kind == "a" then return "Dicom sequence with " .. length(objs[u]) .. " entries" end
  return u
end

local function expose(name, f, check)
  if check then
    _G[name] = function(...)
      local r = pack(f(unwrap(...)))
      if r[1] == ERR then error(r[2], 2) end
      return unpack(r, 1, r.n)
    end
  else
    _G[name] = function(...) return f(unwrap(...)) end
  end
end

local function describe(v)
  local t = type(v)
  if t == "string" or t == "number" then return tostring(v) end
  if t == "nil" then return "nil" end
  if t == "boolean" then return v and "true" or "false" end
  local h = objs[v]
  if h ~= nil then return "userdata:" .. P.address(h) end
  local mtv = getmetatable(v)
  if mtv ~= nil and type(mtv) == "table" and rawget(mtv, "__tostring") then
    return t .. ":" .. P.address(v)
  end
  return (string.gsub(tostring(v), ": ", ":", 1))
end

local function joined(...)
  local n = select('#', ...)
  local parts = {}
  for i = 1, n do parts[i] = describe((select(i, ...))) end
  return table.concat(parts, "\t")
end

print = function(...) P.print(joined(...)) end
debuglog = function(...) P.debuglog(joined(...)) end

local Gmt = {__index = function(t, k) return P.global_get(k) end,
             __newindex = function(t, k, v) P.global_set(k, v) end}
Global = setmetatable({}, Gmt)
Association = setmetatable({}, {__index = function(t, k) return P.association(k) end})

local loadstring, pcall, getfenv = loadstring, pcall, getfenv
local compiled, ncompiled = {}, 0      -- chunk text .. "\0" .. chunk name -> function
local function run(chunk, name)
  local key = chunk .. "\0" .. name
  local f = compiled[key]
  if f == nil then
    local err
    f, err = loadstring(chunk, name)
    if f == nil then return 1, err end
    if ncompiled >= 256 then compiled, ncompiled = {}, 0 end
    compiled[key], ncompiled = f, ncompiled + 1
  end
  local ok, result = pcall(f)
  if getfenv(f) ~= _G then compiled[key] = nil end   -- it set its own environment: compile anew next time
  if not ok then return 2, tostring(result) end
  local tr = type(result)
  if tr == "string" or tr == "number" then return 0, tostring(result) end
  return 0, nil
end

-- one run with Data, Command and DicomObject bound (command nil: the factory, as the
-- original's empty Command), the previous Data and Command restored afterwards
local function run_with(chunk, name, data, data_kind, command, factory)
  local saved_data, saved_command = Data, Command
  Data = wrap(data, data_kind)
  if command ~= nil then Command = wrap(command, "o") else Command = factory end
  DicomObject = factory
  local status, result = run(chunk, name)
  Data, Command = saved_data, saved_command
  return status, result
end

local function is_object(v) return objs[v] ~= nil end
local function kind_of(v) return kinds[v] end

return wrap, expose, run_with, unwrap, is_object, kind_of
"""
