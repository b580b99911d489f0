-- Release: end a lease and apply the attempt's outcome (see Outcome).
-- KEYS[1] hash, KEYS[2] lease zset of the credential.
-- ARGV: lease_id, now ms, kind, cooldown ms, ttfb ns, tokens, spend, err,
--       day, circuit_failures, circuit_pause ms, ewma_weight, key_ttl ms.
local hash, leases = KEYS[1], KEYS[2]
local lease_id = ARGV[1]
local now = tonumber(ARGV[2])
local kind = ARGV[3]
local err = ARGV[8]
local key_ttl = tonumber(ARGV[13])

local function int(x) return string.format('%d', x) end

redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
redis.call('ZREM', leases, lease_id)
local was_probe = redis.call('HGET', hash, 'probe') == lease_id
if was_probe then redis.call('HDEL', hash, 'probe') end

if kind == 'success' then
  local ttfb = tonumber(ARGV[5])
  local day = ARGV[9]
  redis.call('HSET', hash, 'fails', '0', 'open_until', '0')
  if ttfb > 0 then
    local ewma = tonumber(redis.call('HGET', hash, 'ewma') or '0')
    if ewma == 0 then
      ewma = ttfb
    else
      local w = tonumber(ARGV[12])
      ewma = math.floor(ewma * (1 - w) + ttfb * w + 0.5)
    end
    redis.call('HSET', hash, 'ewma', int(ewma))
  end
  local h = redis.call('HMGET', hash, 'day', 'tokens', 'spend')
  local tokens, spend = tonumber(ARGV[6]), tonumber(ARGV[7])
  if h[1] == day then
    tokens, spend = tokens + tonumber(h[2] or '0'), spend + tonumber(h[3] or '0')
    redis.call('HSET', hash, 'tokens', int(tokens), 'spend', int(spend))
  else
    redis.call('HSET', hash, 'day', day, 'uses', '0', 'tokens', int(tokens), 'spend', int(spend))
  end
elseif kind == 'rate_limited' then
  local until_ = now + tonumber(ARGV[4])
  local cur = tonumber(redis.call('HGET', hash, 'cooldown') or '0')
  redis.call('HSET', hash, 'cooldown', int(math.max(cur, until_)), 'last_error', err, 'last_error_at', int(now))
elseif kind == 'failed' then
  local fails = redis.call('HINCRBY', hash, 'fails', 1)
  redis.call('HSET', hash, 'last_error', err, 'last_error_at', int(now))
  local limit = tonumber(ARGV[10])
  if limit > 0 and (fails >= limit or was_probe) then
    redis.call('HSET', hash, 'open_until', int(now + tonumber(ARGV[11])))
  end
elseif kind == 'auth_failed' then
  redis.call('HSET', hash, 'disabled', '1', 'why', err, 'last_error', err, 'last_error_at', int(now))
end
if redis.call('EXISTS', hash) == 1 then redis.call('PEXPIRE', hash, key_ttl) end
return 0
