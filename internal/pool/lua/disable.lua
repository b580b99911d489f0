-- Disable: out of rotation until Enable.
-- KEYS[1] hash; ARGV: reason, key_ttl ms, now ms.
redis.call('HSET', KEYS[1], 'disabled', '1', 'why', ARGV[1], 'last_error', ARGV[1], 'last_error_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
