-- Take or extend the drain lock. KEYS: 1 lock. ARGV: 1 token, 2 ttl ms.
-- Returns 1 when this token holds it now.
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
