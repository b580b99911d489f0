-- Take (or Charge) over several rules, all or nothing.
-- KEYS: one per rule.
-- ARGV[1] mode: 'take' checks every rule before writing any; 'charge'
--         writes without checking.
-- ARGV[2] now (µs since the epoch), ARGV[3] max ahead (µs),
-- ARGV[4] margin (ms) a GCRA key outlives its TAT,
-- then 5 per rule: kind, limit, and
--   'g' (GCRA):  period µs, increment whole µs, increment fraction (1/limit µs)
--   'd' (Daily): cost, ttl ms, unused
-- A GCRA key holds its TAT as "q:f" = q + f/limit µs; a Daily key its count.
-- Returns {0, 0} when done, or {i, wait µs} for the first refusing rule i
-- (wait is 0 for Daily; the caller knows the time to midnight).
-- All numbers stay below 2^53, so Lua's doubles compute them exactly.
local charge = ARGV[1] == 'charge'
local now = tonumber(ARGV[2])
local max_ahead = tonumber(ARGV[3])
local margin = tonumber(ARGV[4])
local max_count = 4503599627370496 -- 2^52, maxCount in memory.go

local function int(x) return string.format('%d', x) end

local vals, ttls = {}, {}
for i = 1, #KEYS do
  local b = 4 + (i - 1) * 5
  local kind, limit = ARGV[b + 1], tonumber(ARGV[b + 2])
  if kind == 'g' then
    local period, iq, ifr = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
    local q, f = now, 0
    local v = redis.call('GET', KEYS[i])
    if v then
      local sq, sf = string.match(v, '^(%d+):(%d+)$')
      sq, sf = tonumber(sq), tonumber(sf)
      -- f >= limit only if the limit shrank: drop the fraction (< 1µs).
      if sq and sq >= now and sf < limit then q, f = sq, sf end
    end
    q, f = q + iq, f + ifr
    if f >= limit then q, f = q + 1, f - limit end
    local ahead = q - now
    if not charge and (ahead > period or (ahead == period and f > 0)) then
      local wait = ahead - period
      if f > 0 then wait = wait + 1 end
      return {i, wait}
    end
    if q < now then
      q, f = now, 0
    elseif q - now > max_ahead then
      q, f = now + max_ahead, 0
    end
    if iq ~= 0 or ifr ~= 0 then
      vals[i] = int(q) .. ':' .. int(f)
      ttls[i] = math.floor((q - now + 999) / 1000) + margin
    end
  else
    local cost, ttl = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
    local n = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
    if not charge and n + cost > limit then return {i, 0} end
    n = n + cost
    if n < 0 then n = 0 elseif n > max_count then n = max_count end
    if cost ~= 0 then
      vals[i] = int(n)
      ttls[i] = ttl
    end
  end
end
for i = 1, #KEYS do
  if vals[i] then redis.call('SET', KEYS[i], vals[i], 'PX', ttls[i]) end
end
return {0, 0}
