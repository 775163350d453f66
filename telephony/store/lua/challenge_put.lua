-- Keep a /v2 challenge (JSON) until `keep until`, listed under its factor, in one step.
-- Guarantees: a listed challenge is kept at least as long as its entry; entries past their time
-- leave the list as new ones come. Twin: MemoryStore.challenge_put.
-- KEYS[1]: the challenge, [2]: its factor's challenge index (one slot: the factor's tag).
-- ARGV[1]: its SID, [2]: its JSON, [3]: when it is forgotten (ms).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) - now then redis.call('PEXPIREAT', KEYS[2], ARGV[3]) end
return 1
