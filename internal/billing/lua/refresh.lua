-- Set the durable base of accounts already held (never create one: a
-- first reservation loads it). Only the holder of the drain lock may.
-- KEYS: 1 lock, then account hashes. ARGV: 1 lock token, then one base per account.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 2, #KEYS do
  if redis.call('HEXISTS', KEYS[i], 'b') == 1 then
    redis.call('HSET', KEYS[i], 'b', ARGV[i])
  end
end
return 1
