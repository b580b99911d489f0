-- Drop posted records from the head of the journal and move their amounts
-- from pending to base: base is set to the durable value read after the
-- post, pending loses what the records had added. Only the holder of the
-- drain lock may ack.
-- KEYS: 1 lock, 2 journal, then user hashes, then key hashes
-- ARGV: 1 lock token, 2 records to trim, 3 number of users,
--       then per user and per key: minus the delta the records added to
--       pending (computed by the caller, as an integer), fresh base
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('LTRIM', KEYS[2], tonumber(ARGV[2]), -1)
for i = 3, #KEYS do
  local a = 4 + (i - 3) * 2
  if redis.call('EXISTS', KEYS[i]) == 1 then
    if ARGV[a] ~= '0' then redis.call('HINCRBY', KEYS[i], 'p', ARGV[a]) end
    redis.call('HSET', KEYS[i], 'b', ARGV[a + 1])
  end
end
return 1
