-- Move events read from a tag's outbox into the event log and queue their deliveries; then say when
-- the tag next needs the worker; then forget events older than the log's retention. Returns the
-- ids newly logged.
-- Guarantees: each event id enters the log once, however often it is relayed (two workers relaying
-- one outbox, a worker that died before trimming it): a copy already logged changes nothing. Log
-- scores only grow, so `after=<id>` paging never skips an event logged later. Only the head of each
-- (target, resource) queue is due: deliveries of one resource to one target go in order.
-- KEYS: [1] the log (sorted set: id -> score, ~ms), [2] events (hash: id -> JSON), [3] deliveries
-- (hash: "<id>|<target>" -> JSON), [4] due deliveries (sorted set: key -> ms), [5] the last score,
-- [6] tags needing the worker (sorted set: tag -> ms), [7] their hint counts (hash: tag -> n),
-- [8...] one queue (list) per event and target, in ARGV's order.
-- ARGV[1]: JSON {events: [{id, json, targets}], tag, seen: the tag's hint count read before the
-- drain (false: none), next: the tag's next expiry (ms; false: none), retention: ms}.
local cfg = cjson.decode(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local q, added = 8, {}
for _, e in ipairs(cfg.events) do
  if redis.call('HSETNX', KEYS[2], e.id, e.json) == 1 then
    local score = math.max(now, tonumber(redis.call('GET', KEYS[5]) or '0') + 1)
    redis.call('SET', KEYS[5], score)
    redis.call('ZADD', KEYS[1], score, e.id)
    for _, target in ipairs(e.targets) do
      local key = e.id .. '|' .. target
      redis.call('HSET', KEYS[3], key, '{"status":"pending","attempts":0}')
      if redis.call('RPUSH', KEYS[q], key) == 1 then redis.call('ZADD', KEYS[4], now, key) end
      q = q + 1
    end
    table.insert(added, e.id)
  else
    q = q + #e.targets
  end
end
-- A hint written since the drain (a change in this tag meanwhile) keeps the tag's earlier time.
if cfg.tag and redis.call('HGET', KEYS[7], cfg.tag) == cfg.seen then
  if cfg.next then
    redis.call('ZADD', KEYS[6], cfg.next, cfg.tag)
  else
    redis.call('ZREM', KEYS[6], cfg.tag)
    redis.call('HDEL', KEYS[7], cfg.tag)
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - cfg.retention, 'LIMIT', 0, 100)) do
  local text = redis.call('HGET', KEYS[2], id)
  if text then
    for _, target in ipairs(cjson.decode(text).targets or {}) do redis.call('HDEL', KEYS[3], id .. '|' .. target) end
  end
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
end
return added
