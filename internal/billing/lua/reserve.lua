-- Hold an amount from a user's wallet and a key's quota, both or neither,
-- and journal it. Amounts are micro-USD; Lua numbers are doubles, exact up
-- to 2^53 micro-USD (9 billion USD), and every number written back goes
-- through string.format('%.0f') so that Redis never sees "1e+15".
-- KEYS: 1 user hash, 2 key hash, 3 journal list, 4 this node's open hash
-- ARGV: 1 amount, 2 quota (-1 none), 3 has key (1/0), 4 charge id,
--       5 journal line, 6 open value ("user key amount"), 7 minus amount
-- Returns {1} on success, {0, available} when the wallet is short,
-- {-2, room} when the quota is short, {-1} when an account is not loaded.
local ub = redis.call('HGET', KEYS[1], 'b')
if not ub then return {-1} end
local avail = tonumber(ub) + tonumber(redis.call('HGET', KEYS[1], 'p') or '0')
local haskey = ARGV[3] == '1'
local spent = 0
if haskey then
  local kb = redis.call('HGET', KEYS[2], 'b')
  if not kb then return {-1} end
  spent = tonumber(kb) + tonumber(redis.call('HGET', KEYS[2], 'p') or '0')
end
local amount = tonumber(ARGV[1])
local quota = tonumber(ARGV[2])
if avail < amount then return {0, string.format('%.0f', avail)} end
if haskey and quota >= 0 and quota - spent < amount then
  return {-2, string.format('%.0f', quota - spent)}
end
if amount > 0 then
  redis.call('HINCRBY', KEYS[1], 'p', ARGV[7])
  if haskey then redis.call('HINCRBY', KEYS[2], 'p', ARGV[1]) end
end
redis.call('RPUSH', KEYS[3], ARGV[5])
redis.call('HSET', KEYS[4], ARGV[4], ARGV[6])
return {1}
