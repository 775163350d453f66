-- Count one playing of a call's code and read the verification, in one round trip.
-- Guarantees: each answer request is counted once, so replays past the allowance hear nothing; an
-- expired verification (kept a while for its expiry event) is not played.
-- KEYS[1]: the verification.
local expires = redis.call('HGET', KEYS[1], 'e')
if not expires then return {0} end
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) >= tonumber(expires) then return {0} end
local plays = redis.call('HINCRBY', KEYS[1], 'p', 1)
return {plays, redis.call('HGETALL', KEYS[1])}
