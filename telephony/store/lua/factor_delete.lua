-- Forget a TOTP factor, and write `factor.deleted` in the same step.
-- Guarantees: of concurrent deletes one deletes and writes the event; the factor leaves its
-- identity's index with it. Twin: MemoryStore.factor_delete.
-- KEYS[1]: the factor, [2]: its identity's index, [3]: its tag's event outbox. ARGV[1]: its id.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local t = redis.call('TIME')
outbox_emit(KEYS[3], KEYS[1], ARGV[1], 'factor.deleted', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), {})
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
