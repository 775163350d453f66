-- Claim due deliveries for one worker: each is leased (its due time moved past the lease) so no
-- other worker attempts it until the lease ends; a worker that dies holding one frees it then.
-- Guarantees: one attempt per delivery at a time across any number of workers.
-- KEYS: [1] due deliveries, [2] deliveries, [3] events. ARGV: now ms, lease ms, how many, token.
local now = tonumber(ARGV[1])
local out = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))) do
  local event = redis.call('HGET', KEYS[3], string.match(key, '^[^|]*'))
  local text = redis.call('HGET', KEYS[2], key)
  if event and text then
    local state = cjson.decode(text)
    state.token = ARGV[4]
    redis.call('HSET', KEYS[2], key, cjson.encode(state))
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), key)
    table.insert(out, {key, text, event})
  else
    redis.call('ZREM', KEYS[1], key)  -- its event left the log
  end
end
return out
