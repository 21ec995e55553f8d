package live

import "github.com/redis/go-redis/v9"

// applyScript applies a batch of one experiment's events.
//
// KEYS[1]  the experiment's assignments hash (it routes the call on a cluster;
// every other key shares its hash tag)
//
// ARGV[1]  key base "experiment:<e>:"
// ARGV[2]  how long a held conversion waits for its exposure, in ms (0: hold
// nothing, a conversion of an unassigned user is unattributed, code 5)
// ARGV[3]  the assignments hash's life after its last write, in seconds
// ARGV[4]  now, Unix ms
// ARGV[5]  the safety life of a held list, in seconds (SweepHeld normally gets it first)
// ARGV[6]  the life of the conversion_types set after its last write, in seconds
// then 8 values per event:
//
//	exposure:   "E", marker, variant, user, day, "",    markers expire at, counters expire at
//	conversion: "C", marker, type,    user, day, value, markers expire at, counters expire at
//
// (expiry times in Unix seconds). An event is new when its marker is new in
// the day's marker set seen:<day>; only then do the counters change.
//
// A conversion of a user without an assignment yet is held in the list
// pending:<user>, and the user in the sorted set pending_users with its
// deadline (the exposure may be on its way through another worker or
// instance); the exposure that assigns the user applies what is held, each
// through its own marker. Every key the call writes gets its expiry once, at
// the end. If the experiment is archived (key "archived" exists), nothing is
// written. Returns one status per event: 1 counted, 0 duplicate, 3 held,
// 4 archived, 5 unattributed.
var applyScript = redis.NewScript(`
local base, pendingMs, userTTL, now, heldTTL, typesTTL = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local assignments = KEYS[1]
local out = {}
if redis.call('EXISTS', base .. 'archived') == 1 then
  for i = 7, #ARGV, 8 do out[#out+1] = 4 end
  return out
end
-- Counts and HyperLogLog elements are gathered per key and written once at
-- the end (HINCRBY by the total, one variadic PFADD): per event, only the
-- marker, the assignment and the value sum are written on the spot.
local expireAt, incr, hll, types = {}, {}, {}, {}
local function expire(key, at)
  local t = tonumber(at)
  if not expireAt[key] or expireAt[key] < t then expireAt[key] = t end
end
local function count(key, field, cexp)
  local h = incr[key]
  if not h then h = {} incr[key] = h expire(key, cexp) end
  h[field] = (h[field] or 0) + 1
end
local function add(key, user, cexp)
  local l = hll[key]
  if not l then l = {} hll[key] = l expire(key, cexp) end
  l[#l+1] = user
end
local seenKeys = {}
local function seenKey(day, mexp)
  local k = seenKeys[day]
  if not k then k = base .. 'seen:' .. day seenKeys[day] = k end
  expire(k, mexp)
  return k
end
local function convert(marker, ctype, user, day, value, variant, mexp, cexp)
  if redis.call('SADD', seenKey(day, mexp), marker) == 0 then
    return 0
  end
  count(base .. 'conversions:' .. ctype .. ':' .. day, variant, cexp)
  local k2 = base .. 'value:' .. ctype .. ':' .. day
  redis.call('HINCRBYFLOAT', k2, variant, value)
  expire(k2, cexp)
  add(base .. 'converters:' .. ctype .. ':' .. variant .. ':' .. day, user, cexp)
  types[ctype] = true
  return 1
end
-- Held conversions are rare: only when the experiment has any does an
-- exposure look for its user's.
local pendingUsers = base .. 'pending_users'
local anyHeld = redis.call('EXISTS', pendingUsers) == 1
local assigned = false
for i = 7, #ARGV, 8 do
  local kind, marker, name, user, day, value, mexp, cexp = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5], ARGV[i+6], ARGV[i+7]
  if kind == 'E' then
    if redis.call('SADD', seenKey(day, mexp), marker) == 1 then
      count(base .. 'exposures:' .. day, name, cexp)
      add(base .. 'users:' .. name .. ':' .. day, user, cexp)
      redis.call('HSET', assignments, user, name)
      assigned = true
      if anyHeld and redis.call('ZSCORE', pendingUsers, user) then
        local pk = base .. 'pending:' .. user
        for _, p in ipairs(redis.call('LRANGE', pk, 0, -1)) do
          local f = {}
          for part in string.gmatch(p, '[^\t]+') do f[#f+1] = part end
          convert(f[1], f[2], user, f[3], f[4], name, f[5], f[6])
        end
        redis.call('DEL', pk)
        redis.call('ZREM', pendingUsers, user)
      end
      out[#out+1] = 1
    else
      out[#out+1] = 0
    end
  else
    local variant = redis.call('HGET', assignments, user)
    if variant then
      out[#out+1] = convert(marker, name, user, day, value, variant, mexp, cexp)
    elseif pendingMs == 0 then
      out[#out+1] = 5
    else
      local pk = base .. 'pending:' .. user
      redis.call('RPUSH', pk, marker .. '\t' .. name .. '\t' .. day .. '\t' .. value .. '\t' .. mexp .. '\t' .. cexp)
      redis.call('EXPIRE', pk, heldTTL)
      redis.call('ZADD', pendingUsers, 'NX', now + pendingMs, user)
      redis.call('EXPIRE', pendingUsers, heldTTL)
      anyHeld = true
      out[#out+1] = 3
    end
  end
end
for key, fields in pairs(incr) do
  for field, n in pairs(fields) do
    redis.call('HINCRBY', key, field, n)
  end
end
for key, users in pairs(hll) do
  for j = 1, #users, 4000 do
    redis.call('PFADD', key, unpack(users, j, math.min(j + 3999, #users)))
  end
end
local typesKey = base .. 'conversion_types'
local anyType = false
for ctype in pairs(types) do
  redis.call('SADD', typesKey, ctype)
  anyType = true
end
if anyType then
  redis.call('EXPIRE', typesKey, typesTTL)
end
if assigned then
  redis.call('EXPIRE', assignments, userTTL)
end
for key, at in pairs(expireAt) do
  redis.call('EXPIREAT', key, at)
end
return out
`)

// sweepScript counts, and removes, the conversions held past their deadline
// in one experiment: their user's exposure never came, so the live counters
// lost them (the report counts them if the exposure is in ClickHouse).
//
// KEYS[1]  the experiment's pending_users sorted set
// ARGV[1]  key base, ARGV[2] now (Unix ms)
// Returns how many conversions expired; their total is kept in
// lost:held_expired.
var sweepScript = redis.NewScript(`
local base, now = ARGV[1], tonumber(ARGV[2])
local users = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
local n = 0
for _, u in ipairs(users) do
  local pk = base .. 'pending:' .. u
  n = n + redis.call('LLEN', pk)
  redis.call('DEL', pk)
  redis.call('ZREM', KEYS[1], u)
end
if n > 0 then
  redis.call('INCRBY', base .. 'lost:held_expired', n)
end
return n
`)
