-- Cancel: give back a lease granted to a request refused before its first
-- attempt (its rate limits or its balance, read in the same pipeline), as
-- if it had not been granted: no use counted today, last_use as before
-- (unless a later grant moved it), no lease, no probe.
-- KEYS[1] hash, KEYS[2] lease zset of the credential.
-- ARGV: lease_id, last_use the grant set, last_use before it, the grant's
--       day.
local hash, leases = KEYS[1], KEYS[2]
redis.call('ZREM', leases, ARGV[1])
if redis.call('HGET', hash, 'probe') == ARGV[1] then redis.call('HDEL', hash, 'probe') end
local h = redis.call('HMGET', hash, 'last_use', 'day', 'uses')
if h[1] == ARGV[2] then redis.call('HSET', hash, 'last_use', ARGV[3]) end
if h[2] == ARGV[4] and tonumber(h[3] or '0') > 0 then redis.call('HINCRBY', hash, 'uses', -1) end
return 0
