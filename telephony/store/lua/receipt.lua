-- Record a delivery receipt or call status on its attempt, in one round trip.
-- Twin: telephony/lifecycle.py `quick_receipt`. Guarantees: a status only moves to a higher rank,
-- duplicates and receipts for another message change nothing, and a failure of a pending
-- verification writes nothing and answers 'escalate' (the full rules run in Python).
-- KEYS[1]: the verification. ARGV: index (0-based), provider, channel, provider id, status ('' when
-- unknown), raw word, ranks (JSON), failure statuses (JSON). Attempt fields as in models.to_record:
-- a<i> = "send_no|channel|provider|status|at_ms", i<i> provider id, r<i> raw word.
local i = ARGV[1]
local rec = redis.call('HMGET', KEYS[1], 'a' .. i, 'i' .. i, 'r' .. i, 's')
if not rec[4] then return {'missing'} end
if not rec[1] then return {'ignored', redis.call('HGETALL', KEYS[1])} end
local parts = {}
for part in string.gmatch(rec[1], '[^|]+') do parts[#parts + 1] = part end
if parts[3] ~= ARGV[2] or parts[2] ~= ARGV[3] then return {'ignored', redis.call('HGETALL', KEYS[1])} end
if rec[2] and rec[2] ~= ARGV[4] then return {'ignored', redis.call('HGETALL', KEYS[1])} end
local failed = {}
for _, word in ipairs(cjson.decode(ARGV[8])) do failed[word] = true end
if rec[4] == 'pending' and failed[ARGV[5]] then return {'escalate', redis.call('HGETALL', KEYS[1])} end
local ranks = cjson.decode(ARGV[7])
local changed = false
if ARGV[5] == '' then
  if rec[3] ~= ARGV[6] then redis.call('HSET', KEYS[1], 'r' .. i, ARGV[6]); changed = true end
elseif ranks[ARGV[5]] > ranks[parts[4]] then
  parts[4] = ARGV[5]
  redis.call('HSET', KEYS[1], 'a' .. i, table.concat(parts, '|'), 'r' .. i, ARGV[6])
  changed = true
end
if not rec[2] then redis.call('HSET', KEYS[1], 'i' .. i, ARGV[4]); changed = true end
if not changed then return {'ignored', redis.call('HGETALL', KEYS[1])} end
redis.call('HINCRBY', KEYS[1], 'v', 1)
return {'updated', redis.call('HGETALL', KEYS[1])}
