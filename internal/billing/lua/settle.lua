-- Give a hold back and charge the cost, capped so that neither the wallet
-- nor the key's quota ends more than the overdraft below zero; journal it.
-- A hold no longer in the open hash was released by a reaper (its node was
-- thought dead): then only the charge moves.
-- KEYS: 1 user hash, 2 key hash, 3 journal list, 4 the open hash holding it
-- ARGV: 1 charge id, 2 cost, 3 overdraft, 4 quota (-1 none), 5 has key,
--       6 user id, 7 key id, 8 amount held
-- Returns the charge, as a string.
local released = 0
if redis.call('HDEL', KEYS[4], ARGV[1]) == 1 then released = tonumber(ARGV[8]) end
local avail = tonumber(redis.call('HGET', KEYS[1], 'b') or '0') + tonumber(redis.call('HGET', KEYS[1], 'p') or '0') + released
local limit = avail + tonumber(ARGV[3])
local haskey = ARGV[5] == '1'
local quota = tonumber(ARGV[4])
if haskey and quota >= 0 then
  local spent = tonumber(redis.call('HGET', KEYS[2], 'b') or '0') + tonumber(redis.call('HGET', KEYS[2], 'p') or '0') - released
  local room = quota - spent + tonumber(ARGV[3])
  if room < limit then limit = room end
end
local charged = tonumber(ARGV[2])
if limit < charged then charged = limit end
if charged < 0 then charged = 0 end
local c = string.format('%.0f', charged)
local r = string.format('%.0f', released)
-- Never format a negated zero: Redis refuses "-0" as an integer, and a
-- script that fails half-way keeps its first writes.
local d = released - charged
if d ~= 0 then
  redis.call('HINCRBY', KEYS[1], 'p', string.format('%.0f', d))
  if haskey then redis.call('HINCRBY', KEYS[2], 'p', string.format('%.0f', -d)) end
end
redis.call('RPUSH', KEYS[3], 'S ' .. ARGV[1] .. ' ' .. ARGV[6] .. ' ' .. ARGV[7] .. ' ' .. r .. ' ' .. c)
return c
