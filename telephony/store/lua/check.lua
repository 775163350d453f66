-- Check a candidate code and consume one check, atomically.
-- Guarantees: of concurrent right codes exactly one approves; a wrong code spends one of the
-- verification's checks and counts against its number (a new code does not reset that count);
-- expiry is judged by this server's clock; the comparison takes the same time whatever matches.
-- Twin: telephony/lifecycle.py `apply_check` (the memory store); the store contract tests hold both.
-- KEYS[1]: the verification. ARGV[1]: JSON {fl: wrong codes allowed per number (0: unlimited),
-- fw: their window (ms), pw: SMS-pumping window (ms, 0: off)};
-- ARGV[2...]: the candidate's MACs. The number's keys share the verification's tag: they are
-- named from its record (`n`, `q`) as store/keys.py names them.
local cfg = cjson.decode(ARGV[1])
local h = redis.call('HMGET', KEYS[1], 's', 'k', 'h', 'n', 'q', 'e')
if not h[1] then return {'missing'} end
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
local tag = string.match(KEYS[1], '{(.-)}')
local fails = 'otp:{' .. tag .. '}:f:' .. h[4]
local outcome
if h[1] == 'max_attempts_reached' then
  outcome = 'max_attempts'
elseif h[1] ~= 'pending' then
  outcome = 'not_pending'
elseif cfg.fl > 0 and tonumber(redis.call('GET', fails) or '0') >= cfg.fl then
  outcome = 'locked'
elseif matched == 1 then
  outcome = 'approved'
  redis.call('HSET', KEYS[1], 's', 'approved')
  redis.call('DEL', fails)
  if cfg.pw > 0 then
    local pump = 'otp:{' .. tag .. '}:p:' .. h[5]
    redis.call('HINCRBY', pump, 'a' .. math.floor(now / cfg.pw), 1)
    redis.call('PEXPIRE', pump, 2 * cfg.pw)
  end
  redis.call('HINCRBY', KEYS[1], 'v', 1)
else
  outcome = 'wrong'
  local left = math.max(0, tonumber(h[2]) - 1)
  redis.call('HSET', KEYS[1], 'k', left)
  if left == 0 then redis.call('HSET', KEYS[1], 's', 'max_attempts_reached') end
  if cfg.fl > 0 and redis.call('INCR', fails) == 1 then redis.call('PEXPIRE', fails, cfg.fw) end
  redis.call('HINCRBY', KEYS[1], 'v', 1)
end
return {outcome, redis.call('HGETALL', KEYS[1])}
