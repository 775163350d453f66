-- Check a candidate code and consume one check, atomically.
-- Guarantees: of concurrent right codes exactly one approves; a wrong code spends one of the
-- verification's checks and counts against its number (a new code does not reset that count);
-- expiry is judged by this server's clock; the comparison takes the same time whatever matches;
-- approving or spending the last check writes its event in the same step (lifecycle's
-- `transition_event` is the twin), before any other write, so a failure leaves nothing half-made.
-- Twin: telephony/lifecycle.py `apply_check` (the memory store); the store contract tests hold both.
-- KEYS: [1] the verification, [2] its tag's wrong-code counts (a hash: number name -> "count|until
-- ms"), [3] its tag's SMS-pumping statistics (a hash: "<prefix name>:a<bucket>" -> approvals), [4]
-- its tag's event outbox (a list), [5] and [6] its tag's expiries and their stubs.
-- All three are named from the verification id alone (store/keys.py), so a check is one round trip.
-- ARGV[1]: JSON {fails_allowed: wrong codes allowed per number (0: unlimited), fails_window: their
-- window (ms), pump_window: SMS-pumping bucket length (ms, 0: off), service: the /v2 service SID the
-- verification must belong to ("" the environment's, false: any), purpose: the one it must have
-- (false: any), id: the verification's id};
-- ARGV[2...]: the candidate's MACs.
local cfg = cjson.decode(ARGV[1])
local h = redis.call('HMGET', KEYS[1], 's', 'k', 'h', 'n', 'q', 'e', 'g', 'v', 'u')
if not h[1] then return {'missing'} end
if cfg.service ~= false and (h[7] or '') ~= cfg.service then return {'missing'} end
if cfg.purpose ~= false and (h[9] or 'login') ~= cfg.purpose then
  return {'other_purpose', redis.call('HGETALL', KEYS[1])}  -- never passes; spends nothing
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now >= tonumber(h[6]) then return {'missing'} end
local matched = 0
for i = 2, #ARGV do
  local a, b = h[3], ARGV[i]
  local diff = (#a == #b) and 0 or 1
  for j = 1, math.min(#a, #b) do diff = bit.bor(diff, bit.bxor(a:byte(j), b:byte(j))) end
  if diff == 0 then matched = 1 end
end
-- The number's wrong codes in the current window ("count|until"; an elapsed window counts 0).
local number = h[4]
local fails, fails_until = 0, 0
if number and cfg.fails_allowed > 0 then
  local entry = redis.call('HGET', KEYS[2], number)
  if entry then
    local count, untl = string.match(entry, '(%d+)|(%d+)')
    if tonumber(untl) > now then fails, fails_until = tonumber(count), tonumber(untl) end
  end
end
local outcome
if h[1] == 'max_attempts_reached' then
  outcome = 'max_attempts'
elseif h[1] ~= 'pending' then
  outcome = 'not_pending'
elseif cfg.fails_allowed > 0 and fails >= cfg.fails_allowed then
  outcome = 'locked'
elseif matched == 1 then
  outcome = 'approved'
  local changes = {s = 'approved', v = tostring(tonumber(h[8]) + 1)}
  outbox_emit(KEYS[4], KEYS[1], cfg.id, 'verification.approved', now, changes)
  outbox_settled(KEYS[5], KEYS[6], cfg.id)
  redis.call('HSET', KEYS[1], 's', 'approved')
  if number then redis.call('HDEL', KEYS[2], number) end
  if cfg.pump_window > 0 and h[5] then
    redis.call('HINCRBY', KEYS[3], h[5] .. ':a' .. math.floor(now / cfg.pump_window), 1)
    redis.call('PEXPIRE', KEYS[3], 2 * cfg.pump_window)
  end
  redis.call('HINCRBY', KEYS[1], 'v', 1)
else
  outcome = 'wrong'
  local left = math.max(0, tonumber(h[2]) - 1)
  if left == 0 then
    local changes = {s = 'max_attempts_reached', k = '0', v = tostring(tonumber(h[8]) + 1)}
    outbox_emit(KEYS[4], KEYS[1], cfg.id, 'verification.max_attempts_reached', now, changes)
    outbox_settled(KEYS[5], KEYS[6], cfg.id)
  end
  redis.call('HSET', KEYS[1], 'k', left)
  if left == 0 then redis.call('HSET', KEYS[1], 's', 'max_attempts_reached') end
  if number and cfg.fails_allowed > 0 then
    if fails == 0 then fails_until = now + cfg.fails_window end
    redis.call('HSET', KEYS[2], number, (fails + 1) .. '|' .. fails_until)
    -- The hash outlives its newest window; entries of elapsed windows count 0 until then.
    if redis.call('PTTL', KEYS[2]) < fails_until - now then redis.call('PEXPIREAT', KEYS[2], fails_until) end
  end
  redis.call('HINCRBY', KEYS[1], 'v', 1)
end
return {outcome, redis.call('HGETALL', KEYS[1])}
