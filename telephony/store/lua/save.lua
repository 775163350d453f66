-- Compare-and-set a verification: write only if the stored version is still the one the caller read,
-- and with it the event the change makes (a final status), in the same step.
-- Guarantees: of concurrent writers stepping from one version, exactly one writes; an expired
-- record is never brought back (its expiry is not touched); a change and its event are written
-- together or not at all.
-- KEYS[1]: the verification (or approval, notice), [2]: its tag's event outbox, [3] and [4]: its tag's
-- expiries and their stubs (an event here is a final status: no expiry event follows).
-- ARGV[1]: the expected version; ARGV[2]:
-- the event's type ('' for none), ARGV[3]: the verification id; ARGV[4...]: field, value, ...
local h = redis.call('HMGET', KEYS[1], 'v', 'e')
if h[1] == false or h[1] ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) >= tonumber(h[2]) then return 0 end
if ARGV[2] ~= '' then
  local changes = {}
  for i = 4, #ARGV, 2 do changes[ARGV[i]] = ARGV[i + 1] end
  outbox_emit(KEYS[2], KEYS[1], ARGV[3], ARGV[2], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), changes)
  outbox_settled(KEYS[3], KEYS[4], ARGV[3])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
return 1
