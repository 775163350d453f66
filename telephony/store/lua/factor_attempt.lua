-- Judge one code attempt on a TOTP factor and write what it changes, atomically.
-- Guarantees: a step is accepted once and only after every step accepted before it, however many
-- attempts race (a replayed code is refused); after MAX_WRONG wrong codes within the window every
-- attempt is refused until the oldest leaves it; the first accepted code of an unverified factor
-- verifies it and writes `factor.verified` in the same step, before any other write.
-- Twin: telephony/factors.py `judge` (the memory store); the store contract tests hold both.
-- KEYS[1]: the factor, [2]: its tag's event outbox. ARGV[1]: the step the code matched ('' for none),
-- [2]: when it was judged (ms: the step came from the same clock), [3]: '1' when the factor must be
-- verified already (a check), [4]: the factor's id, [5]: MAX_WRONG, [6]: WRONG_WINDOW (ms).
-- Returns {verdict, the record after the change (field, value, ...), retry-after ms, the event written or ''}.
local flat = redis.call('HGETALL', KEYS[1])
if #flat == 0 then return {'missing'} end
local record = {}
for i = 1, #flat, 2 do record[flat[i]] = flat[i + 1] end
if ARGV[3] == '1' and record.s ~= 'verified' then return {'unverified', flat, 0, ''} end
local now, limit, window = tonumber(ARGV[2]), tonumber(ARGV[5]), tonumber(ARGV[6])
local recent = {}
for t in string.gmatch(record.w or '', '%d+') do
  if tonumber(t) > now - window then recent[#recent + 1] = t end
end
if #recent >= limit then
  return {'limited', flat, tonumber(recent[#recent - limit + 1]) + window - now, ''}
end
local verdict, changes, event = nil, nil, ''
if ARGV[1] == '' then
  recent[#recent + 1] = ARGV[2]
  while #recent > limit do table.remove(recent, 1) end
  verdict, changes = 'wrong', {w = table.concat(recent, ',')}
elseif record.l and tonumber(ARGV[1]) <= tonumber(record.l) then
  return {'replayed', flat, 0, ''}
else
  verdict, changes = 'accepted', {l = ARGV[1], w = ''}  -- a right code forgives the wrong ones before it
  if record.s ~= 'verified' then
    changes.s, changes.a, event = 'verified', ARGV[2], 'factor.verified'
    outbox_emit(KEYS[2], KEYS[1], ARGV[4], event, now, changes)
  end
end
local writes, after = {}, {}
for k, v in pairs(changes) do
  table.insert(writes, k)
  table.insert(writes, v)
  record[k] = v
end
redis.call('HSET', KEYS[1], unpack(writes))
for k, v in pairs(record) do
  table.insert(after, k)
  table.insert(after, v)
end
return {verdict, after, 0, event}
