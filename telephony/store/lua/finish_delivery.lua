-- Write an attempt's outcome: a final one (delivered, failed) frees the next delivery of the same
-- resource to the same target; a retry waits until its next attempt.
-- Guarantees: only the lease holder writes (a worker whose lease ran out writes nothing); the
-- resource's next delivery becomes due only once this one is final.
-- KEYS: [1] due deliveries, [2] deliveries, [3] the delivery's (target, resource) queue.
-- ARGV: [1] the delivery's key, [2] the lease token, [3] its new state (JSON), [4] the next attempt
-- (ms; '' when final).
local text = redis.call('HGET', KEYS[2], ARGV[1])
if not text or cjson.decode(text).token ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[1], tonumber(ARGV[4]), ARGV[1])
  return 1
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('LREM', KEYS[3], 1, ARGV[1])
local nxt = redis.call('LINDEX', KEYS[3], 0)
if nxt then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), nxt)
end
return 1
