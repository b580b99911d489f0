-- Renew: extend a live lease. An expired lease stays lost.
-- KEYS[1] lease zset; ARGV: lease_id, now ms, ttl ms, key_ttl ms.
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + ttl, ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], math.max(tonumber(ARGV[4]), ttl))
end
return 0
