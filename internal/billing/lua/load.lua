-- Create an account with its durable base unless it exists.
-- KEYS: 1 account hash, 2 index set. ARGV: 1 base, 2 id.
redis.call('HSETNX', KEYS[1], 'b', ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return 1
