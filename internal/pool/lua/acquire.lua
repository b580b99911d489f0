-- Acquire: pick one usable credential and lease it, atomically.
-- The rules are MemoryState's (state_memory.go); one test suite keeps both
-- in step. Times are unix ms, durations ms, EWMA ns; all stay integers.
--
-- KEYS[1]            round-robin counter of the channel
-- KEYS[2i], [2i+1]   hash and lease zset of candidate i (1-based)
-- ARGV[1..11]        now, day, min_interval, ratio, rand, lease_id,
--                    lease_ttl, force (1/0), strategy, next midnight, key_ttl
-- ARGV[12+4(i-1)..]  weight, daily_requests, daily_tokens, daily_spend of i
-- Returns {found (1/0), index (1-based) or 0, retry_at ms or (when found)
-- the last use before this one (for cancel.lua), probe (1/0)};
-- when not found, the last value is 1 if some candidate rests only until a
-- rate limit passes (cooldown or min_interval; Grant.RateLimited).
local now = tonumber(ARGV[1])
local day = ARGV[2]
local min_interval = tonumber(ARGV[3])
local ratio = tonumber(ARGV[4])
local rand = tonumber(ARGV[5])
local lease_id = ARGV[6]
local lease_ttl = tonumber(ARGV[7])
local force = ARGV[8] == '1'
local strategy = ARGV[9]
local midnight = tonumber(ARGV[10])
local key_ttl = tonumber(ARGV[11])
local n = (#KEYS - 1) / 2

local function num(v)
  if v then return tonumber(v) or 0 end
  return 0
end

local function int(x) return string.format('%d', x) end

local function arg(i, k) return tonumber(ARGV[11 + 4 * (i - 1) + k]) end

-- Loads candidate i, with daily counters zeroed if they belong to another day.
local function load(i)
  local h = redis.call('HMGET', KEYS[2 * i], 'disabled', 'cooldown', 'open_until', 'probe',
    'last_use', 'day', 'uses', 'tokens', 'spend', 'ewma')
  local c = { disabled = h[1] == '1', cooldown = num(h[2]), open_until = num(h[3]), probe = h[4],
    last_use = num(h[5]), ewma = num(h[10]), same_day = h[6] == day, uses = 0, tokens = 0, spend = 0 }
  if c.same_day then
    c.uses, c.tokens, c.spend = num(h[7]), num(h[8]), num(h[9])
  end
  return c
end

local function reached(used, limit)
  return limit > 0 and used >= ratio * limit
end

-- Returns usable, retry_at (0 = unknown), probe.
local function usable(i, c)
  if c.disabled then return false, 0, false end
  if c.cooldown > now then return false, c.cooldown, false end
  if c.open_until > now then return false, c.open_until, false end
  local probe = false
  if c.open_until > 0 then
    if c.probe then
      local exp = redis.call('ZSCORE', KEYS[2 * i + 1], c.probe)
      if exp and tonumber(exp) > now then return false, 0, false end
    end
    probe = true
  end
  -- Requests on several goroutines or nodes read their clocks before they
  -- get here, so a later use may already be recorded: without min_interval
  -- that must not refuse anyone.
  if min_interval > 0 and c.last_use + min_interval > now then return false, c.last_use + min_interval, false end
  if reached(c.uses, arg(i, 2)) or reached(c.tokens, arg(i, 3)) or reached(c.spend, arg(i, 4)) then
    return false, midnight, false
  end
  return true, 0, probe
end

local function grant(i, c, probe)
  local hash, leases = KEYS[2 * i], KEYS[2 * i + 1]
  if c.same_day then
    redis.call('HSET', hash, 'last_use', int(math.max(now, c.last_use)), 'uses', int(c.uses + 1))
  else
    redis.call('HSET', hash, 'last_use', int(math.max(now, c.last_use)), 'day', day, 'uses', '1', 'tokens', '0', 'spend', '0')
  end
  if probe then redis.call('HSET', hash, 'probe', lease_id) end
  redis.call('PEXPIRE', hash, key_ttl)
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
  redis.call('ZADD', leases, now + lease_ttl, lease_id)
  redis.call('PEXPIRE', leases, math.max(key_ttl, lease_ttl))
  return { 1, i, c.last_use, probe and 1 or 0 }
end

if n < 1 then return { 0, 0, 0, 0 } end
if force then return grant(1, load(1), false) end

local cands, ok, retry_of, probe_of = {}, {}, {}, {}
for i = 1, n do
  cands[i] = load(i)
  ok[i], retry_of[i], probe_of[i] = usable(i, cands[i])
end

local pick = nil
if strategy == 'weighted' then
  local sum = 0
  for i = 1, n do
    if ok[i] then sum = sum + math.max(arg(i, 1), 1) end
  end
  local target, cum = rand * sum, 0
  for i = 1, n do
    if ok[i] then
      cum = cum + math.max(arg(i, 1), 1)
      pick = i -- the last usable one if rounding leaves target >= sum
      if target < cum then break end
    end
  end
elseif strategy == 'least_used' or strategy == 'least_latency' then
  local best = nil
  for i = 1, n do
    if ok[i] then
      local v = cands[i].uses
      if strategy == 'least_latency' then v = cands[i].ewma end
      if best == nil or v < best then pick, best = i, v end
    end
  end
else -- round_robin, random: walk forward from a start index
  local start
  if strategy == 'random' then
    start = math.min(math.floor(rand * n), n - 1)
  else
    local c = redis.call('INCR', KEYS[1])
    redis.call('PEXPIRE', KEYS[1], key_ttl)
    start = (c - 1) % n
  end
  for k = 0, n - 1 do
    local i = (start + k) % n + 1
    if ok[i] then
      pick = i
      break
    end
  end
end

if pick then return grant(pick, cands[pick], probe_of[pick]) end
local retry = 0
for i = 1, n do
  local r = retry_of[i]
  if r > 0 and (retry == 0 or r < retry) then retry = r end
end
local limited = 0
for i = 1, n do
  local c = cands[i]
  if not c.disabled and (c.cooldown > now or (min_interval > 0 and c.last_use + min_interval > now)) then
    limited = 1
    break
  end
end
return { 0, 0, retry, limited }
