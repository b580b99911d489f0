-- Enable: back into rotation, with cooldown, failures and circuit cleared.
-- KEYS[1] hash; ARGV: key_ttl ms.
redis.call('HSET', KEYS[1], 'disabled', '0', 'why', '', 'cooldown', '0', 'fails', '0', 'open_until', '0')
redis.call('HDEL', KEYS[1], 'probe')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0
