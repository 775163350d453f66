-- Admit one send to a number: check everything, and only when all of it passes, count the send
-- and create (a start) or compare-and-set save (a resend) its verification.
-- Guarantees: a refusal (opted out, blocked prefix, a number or prefix limit, SMS pumping, a stale
-- version) writes nothing at all; an admitted send is counted exactly once, with the record that
-- carries it; windows, expiry and pumping buckets follow this server's clock.
-- Twin: telephony/store/memory.py `admit` (the pumping rule itself: limits.Pumping.tripped).
-- KEYS: [1] opt-out, [2] the prefix's pumping block, [3 .. 2+L] one counter per limit, then the
-- tag's SMS-pumping statistics (when on: a hash, "<prefix name>:s<bucket>" -> sends, ":a" approvals),
-- then the verification (approval, notice) and (a start) the number's newest (an approval: the number's
-- approvals, a sorted set by expiry), its tag's pending expiries (a sorted set of ids by expiry,
-- for the worker's `verification.expired` and `approval.expired` events) and their stubs (a hash).
-- ARGV[1]: JSON {check_opt_out: 1 for an SMS, opted_out_before: 1 when opted out under an older key,
-- limits: [[count, window ms]...], pump: {prefix, min_sends, min_ratio, window, cooloff} (ms; absent
-- when off), mode: 'create' | 'save' | 'none', ttl: ms (create), grace: ms the record outlives its
-- expiry, for its expiry event (create), id (create), index: true for an approval (create), alone:
-- true for a notice (create: the record only, no pointer and no expiry event),
-- version (save)};
-- ARGV[2...]: the record's fields (create: all but `c` and `e`, which are set here; save: the changed ones).
local cfg = cjson.decode(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local vkey = KEYS[3 + #cfg.limits + (cfg.pump and 1 or 0)]
if cfg.mode == 'save' then
  local version = redis.call('HGET', vkey, 'v')
  if not version then return {'missing', 0} end
  if version ~= cfg.version then return {'conflict', 0} end
  if now >= tonumber(redis.call('HGET', vkey, 'e')) then return {'missing', 0} end
end
if cfg.check_opt_out == 1 and (cfg.opted_out_before == 1 or redis.call('EXISTS', KEYS[1]) == 1) then
  return {'opted_out', 0}
end
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return {'pumping', blocked} end
for i, rule in ipairs(cfg.limits) do
  if tonumber(redis.call('GET', KEYS[2 + i]) or '0') >= rule[1] then
    return {'limited', redis.call('PTTL', KEYS[2 + i])}
  end
end
local pump, prefix, bucket, sends, approved
if cfg.pump then
  pump, prefix = KEYS[3 + #cfg.limits], cfg.pump.prefix .. ':'
  local w = cfg.pump.window
  bucket = math.floor(now / w)
  local weight = 1 - (now % w) / w
  local s = redis.call('HMGET', pump, prefix .. 's' .. bucket, prefix .. 's' .. (bucket - 1),
    prefix .. 'a' .. bucket, prefix .. 'a' .. (bucket - 1))
  local function n(x) return tonumber(x or '0') or 0 end
  sends = n(s[1]) + weight * n(s[2])
  approved = n(s[3]) + weight * n(s[4])
  if sends >= cfg.pump.min_sends and approved < sends * cfg.pump.min_ratio then
    return {'pumping', cfg.pump.cooloff}
  end
end
-- Everything passed: count, then write the record.
for i, rule in ipairs(cfg.limits) do
  if redis.call('INCR', KEYS[2 + i]) == 1 then redis.call('PEXPIRE', KEYS[2 + i], rule[2]) end
end
if pump then
  redis.call('HINCRBY', pump, prefix .. 's' .. bucket, 1)
  for _, field in ipairs(redis.call('HKEYS', pump)) do  -- buckets older than the window's two
    local b = tonumber(string.match(field, ':[sa](%d+)$'))
    if b and b < bucket - 1 then redis.call('HDEL', pump, field) end
  end
  redis.call('PEXPIRE', pump, 2 * cfg.pump.window)
  -- This send tips the prefix over: the next ones wait out the cool-off.
  if sends + 1 >= cfg.pump.min_sends and approved < (sends + 1) * cfg.pump.min_ratio then
    redis.call('SET', KEYS[2], '1', 'PX', cfg.pump.cooloff)
  end
end
if cfg.mode == 'create' then
  local expires = now + cfg.ttl
  redis.call('HSET', vkey, 'c', now, 'e', expires, unpack(ARGV, 2))
  redis.call('PEXPIREAT', vkey, expires + cfg.grace)
  if cfg.alone then return {'ok', 0, now, expires} end
  local pointer, expiries, stubs = KEYS[#KEYS - 2], KEYS[#KEYS - 1], KEYS[#KEYS]
  if cfg.index then  -- an approval: its number's set of them, by expiry (an SMS reply looks there)
    redis.call('ZADD', pointer, expires, cfg.id)
    redis.call('ZREMRANGEBYSCORE', pointer, '-inf', now - cfg.grace)
    redis.call('PEXPIREAT', pointer, math.max(expires + cfg.grace, redis.call('PEXPIRETIME', pointer)))
  else
    redis.call('SET', pointer, cfg.id, 'PXAT', expires)
  end
  redis.call('ZADD', expiries, expires, cfg.id)
  -- Its stub lets the worker write the expiry event even after the record has gone (drain.lua).
  redis.call('HSET', stubs, cfg.id, cjson.encode(outbox_record(vkey, {})))
  -- The worker drains both; without one they still go, three days after the newest entry.
  for _, key in ipairs({expiries, stubs}) do redis.call('PEXPIRE', key, expires - now + 259200000) end
  return {'ok', 0, now, expires}
elseif cfg.mode == 'save' then
  redis.call('HSET', vkey, unpack(ARGV, 2))
end
return {'ok', 0}
