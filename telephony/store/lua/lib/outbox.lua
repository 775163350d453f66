-- Prepended to every script that uses an outbox_ function: a change and its event in one step (the
-- transactional outbox). Twin: telephony/eventlog.py (`event_id`, `snapshot`, `Event.to_json`).
local HIDDEN = {h = true, x = true, n = true, q = true, p = true}  -- eventlog.HIDDEN_FIELDS

-- The record at `vkey` as an event shows it (no hidden field), once `changes` are made.
local function outbox_record(vkey, changes)
  local flat = redis.call('HGETALL', vkey)
  local record = {}
  for i = 1, #flat, 2 do
    if not HIDDEN[flat[i]] then record[flat[i]] = flat[i + 1] end
  end
  for k, v in pairs(changes) do record[k] = v end
  return record
end

local function outbox_append(outbox, record, resource, etype, now)
  local id = 'evt_' .. string.sub(resource, 4) .. '_' .. string.match(etype, '%.(.+)$')
  redis.call('RPUSH', outbox, cjson.encode({id = id, type = etype, at = now, resource = resource,
    service = record.g or '', record = record}))
  redis.call('PEXPIRE', outbox, 259200000)  -- eventlog.RETENTION: without a worker, never more than 3 days' worth
end

-- Append event `etype` of the record at `vkey`, as it is once `changes` are made, to `outbox`.
-- Callers emit before their own writes: when appending fails, none of the change is made.
local function outbox_emit(outbox, vkey, resource, etype, now, changes)
  outbox_append(outbox, outbox_record(vkey, changes), resource, etype, now)
end

-- A resource reached a final status: it will have no expiry event (drain.lua).
local function outbox_settled(expiries, stubs, resource)
  redis.call('ZREM', expiries, resource)
  redis.call('HDEL', stubs, resource)
end
