-- Claim due fallback timers: read and remove in one step.
-- Guarantees: each due id goes to exactly one worker, however many run.
-- KEYS[1]: the timers (sorted set by due time). ARGV: now (epoch seconds), how many at most.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return ids
