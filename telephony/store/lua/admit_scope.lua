-- Admit one send for a client (IP, API key) or a country: every window must pass, then each counts.
-- Guarantees: a refusal writes nothing; two concurrent sends never both take the last place.
-- KEYS: one counter per window of the scope (one slot: the scope is the hash tag).
-- ARGV[1]: JSON [[count, window ms]...], in the order of KEYS.
local limits = cjson.decode(ARGV[1])
for i, rule in ipairs(limits) do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= rule[1] then return {'limited', redis.call('PTTL', KEYS[i])} end
end
for i, rule in ipairs(limits) do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], rule[2]) end
end
return {'ok', 0}
