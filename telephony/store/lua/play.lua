-- Count one playing of a call's code and read the verification, in one round trip.
-- Guarantees: each answer request is counted once, so replays past the allowance hear nothing.
-- KEYS[1]: the verification.
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local plays = redis.call('HINCRBY', KEYS[1], 'p', 1)
return {plays, redis.call('HGETALL', KEYS[1])}
