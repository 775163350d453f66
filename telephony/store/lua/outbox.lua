-- Keep a development outbox entry: newest first, the list capped and kept for a day.
-- KEYS[1]: the outbox. ARGV: the entry (JSON), the last index kept, seconds to keep the list.
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
