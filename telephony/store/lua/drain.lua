-- Read a tag's event outbox, first writing the expiry events that are due.
-- Guarantees: a verification (an approval) still pending at its expiry gets exactly one
-- `verification.expired` (`approval.expired`, and that status) event, however many workers drain at once (the first one takes it off the set); one that ended
-- before has its final event already and gets none. Reads only: the caller moves what it read into
-- the event log, then trims what it moved (trim_outbox.lua).
-- KEYS: [1] the tag's outbox (a list), [2] its pending expiries (a sorted set: id -> expiry ms),
-- [3] their stubs (a hash: id -> the record as created), [4...] the verifications of ARGV's ids.
-- An id leaves the expiries with its final status (outbox_settled), so one still there when its
-- record has gone (a worker down longer than the grace) expired pending: its stub makes the event.
-- ARGV[1]: how many outbox entries to read at most;
-- ARGV[2...]: the ids the caller found due (a due one is checked again here).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do
  local id, vkey = ARGV[i], KEYS[i + 2]
  local due = redis.call('ZSCORE', KEYS[2], id)
  if due and tonumber(due) <= now then
    local h = redis.call('HMGET', vkey, 's', 'e', 'v')
    if h[1] == 'pending' and tonumber(h[2]) <= now then
      if string.sub(id, 1, 3) == 'ap_' then  -- an approval's status is `expired` from now on
        local changes = {s = 'expired', v = tostring(tonumber(h[3]) + 1)}
        outbox_emit(KEYS[1], vkey, id, 'approval.expired', now, changes)
        redis.call('HSET', vkey, 's', 'expired', 'v', changes.v)
      else
        outbox_emit(KEYS[1], vkey, id, 'verification.expired', now, {})
      end
    elseif not h[1] then
      local stub = redis.call('HGET', KEYS[3], id)
      if stub then
        local record = cjson.decode(stub)
        local approval = string.sub(id, 1, 3) == 'ap_'
        if approval then record.s = 'expired' end
        outbox_append(KEYS[1], record, id, approval and 'approval.expired' or 'verification.expired', now)
      end
    end
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
  end
end
local nxt = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1), nxt[2] or false}
