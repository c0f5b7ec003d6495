// The Redis store's atomic steps, as Lua: each runs whole on the server, so an event is never
// recorded without its dedup key, nor an item's state without its index. Keys are built from the
// prefix inside the scripts (the store targets one Redis, or a cluster with a hash-tagged prefix).

/** KEYS: dedup key ('' for none), which keeps the event's id (as JSON). ARGV: prefix, ttl ms, id, meta JSON, journal JSON. 1 new, 0 a redelivery. */
export const admit = `
if KEYS[1] ~= '' then
  if not redis.call('SET', KEYS[1], cjson.encode(ARGV[3]), 'NX', 'PX', ARGV[2]) then return 0 end
end
local seq = redis.call('INCR', ARGV[1] .. 'seq')
redis.call('HSET', ARGV[1] .. 'events', ARGV[3], ARGV[4])
redis.call('HSET', ARGV[1] .. 'journal', ARGV[3], ARGV[5])
redis.call('ZADD', ARGV[1] .. 'order', seq, ARGV[3])
return 1
`;

/** ARGV: prefix, id, journal JSON. Only for an event still recorded. */
export const update = `
if redis.call('HEXISTS', ARGV[1] .. 'events', ARGV[2]) == 1 then
  redis.call('HSET', ARGV[1] .. 'journal', ARGV[2], ARGV[3])
end
return 1
`;

/** ARGV: prefix, id, the key of an item delivered just now and not marked ('' none). Forgets the event and its delivered items. */
export const finish = `
local p = ARGV[1]
redis.call('HDEL', p .. 'events', ARGV[2])
redis.call('HDEL', p .. 'journal', ARGV[2])
redis.call('ZREM', p .. 'order', ARGV[2])
local set = p .. 'ob:ev:' .. ARGV[2]
for _, key in ipairs(redis.call('SMEMBERS', set)) do
  local state = redis.call('HGET', p .. 'ob:' .. key, 'state')
  if state == 'delivered' or (key == ARGV[3] and state) then
    redis.call('DEL', p .. 'ob:' .. key)
    redis.call('SREM', set, key)
    redis.call('ZREM', p .. 'ob:state:' .. state, key)
  end
end
return 1
`;

/** ARGV: prefix, now, then per item: key, eventId, index, message JSON. An item already recorded is kept. */
export const add = `
local p = ARGV[1]
for i = 3, #ARGV, 4 do
  local key = ARGV[i]
  local item = p .. 'ob:' .. key
  if redis.call('EXISTS', item) == 0 then
    redis.call('HSET', item, 'eventId', ARGV[i + 1], 'index', ARGV[i + 2], 'message', ARGV[i + 3], 'state', 'pending', 'ids', '[]', 'attempts', 0, 'created', ARGV[2], 'updated', ARGV[2])
    redis.call('SADD', p .. 'ob:ev:' .. ARGV[i + 1], key)
    redis.call('ZADD', p .. 'ob:state:pending', ARGV[2], key)
  end
end
return 1
`;

/**
 * One change of an item. ARGV: prefix, key, now, new state ('' keeps it), ids JSON ('' keeps them),
 * error ('' keeps it, '-' clears it), attempts increment, required state ('' any).
 * 1 done, 0 no such item (or not in the required state).
 */
export const change = `
local p = ARGV[1]
local item = p .. 'ob:' .. ARGV[2]
local state = redis.call('HGET', item, 'state')
if not state then return 0 end
if ARGV[8] ~= '' and state ~= ARGV[8] then return 0 end
if ARGV[4] ~= '' and ARGV[4] ~= state then
  local created = redis.call('HGET', item, 'created')
  redis.call('ZREM', p .. 'ob:state:' .. state, ARGV[2])
  redis.call('ZADD', p .. 'ob:state:' .. ARGV[4], created, ARGV[2])
  redis.call('HSET', item, 'state', ARGV[4])
end
if ARGV[5] ~= '' then redis.call('HSET', item, 'ids', ARGV[5]) end
if ARGV[6] == '-' then redis.call('HDEL', item, 'error') elseif ARGV[6] ~= '' then redis.call('HSET', item, 'error', ARGV[6]) end
if ARGV[7] ~= '0' then redis.call('HINCRBY', item, 'attempts', ARGV[7]) end
redis.call('HSET', item, 'updated', ARGV[3])
return 1
`;

/** ARGV: prefix, key. Forgets a dead letter; 0 if there is none with this key. */
export const drop = `
local p = ARGV[1]
local item = p .. 'ob:' .. ARGV[2]
if redis.call('HGET', item, 'state') ~= 'dead' then return 0 end
local event = redis.call('HGET', item, 'eventId')
redis.call('DEL', item)
redis.call('SREM', p .. 'ob:ev:' .. event, ARGV[2])
redis.call('ZREM', p .. 'ob:state:dead', ARGV[2])
return 1
`;

// Leases: KEYS[1] the lease (its value is the owner); acquire's KEYS[2] its fence counter, which only grows.

/** ARGV: owner, ttl ms. {1, fence} granted, {0, ms the holder has left} refused. */
export const leaseAcquire = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('INCR', KEYS[2])}
end
return {0, redis.call('PTTL', KEYS[1])}
`;

/** ARGV: owner, ttl ms. 1 extended, 0 the owner no longer holds it. */
export const leaseRenew = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

/** ARGV: owner. */
export const leaseRelease = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** KEYS[1]: the live instances, scored by when each runs out (server time, ms). ARGV: instance, ttl ms. The count live. */
export const announce = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return redis.call('ZCARD', KEYS[1])
`;

/** KEYS[1]: the fence counter, KEYS[2]: the key to set. ARGV: fence token, value, ttl ms ('' none). 0 refused: granted again since. */
export const fencedSet = `
if tonumber(redis.call('GET', KEYS[1]) or '0') > tonumber(ARGV[1]) then return 0 end
if ARGV[3] == '' then redis.call('SET', KEYS[2], ARGV[2]) else redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
return 1
`;
