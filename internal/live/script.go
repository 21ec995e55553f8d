package live

import "github.com/redis/go-redis/v9"

// applyScript applies a batch of one experiment's events.
//
// KEYS[1]  the experiment's assignments hash (it routes the call on a cluster;
//
//	every other key shares its hash tag)
//
// ARGV[1]  key base "experiment:<e>:"
// ARGV[2]  dedup marker TTL in seconds
// ARGV[3]  pending conversion TTL in seconds
// then 6 values per event:
//
//	exposure:   "E", id, variant, user, day, ""
//	conversion: "C", id, type,    user, day, value
//
// A conversion of a user without an assignment yet is held in the list
// pending:<user> (the exposure may be on its way through another worker or
// instance); the exposure that assigns the user applies what is held, each
// through its own dedup marker. Returns one status per event: 1 counted,
// 0 duplicate, 3 held.
var applyScript = redis.NewScript(`
local base, ttl, pendingTTL = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local assignments = KEYS[1]
local function convert(id, ctype, user, day, value, variant)
  if not redis.call('SET', base .. 'seen:' .. id, '1', 'NX', 'EX', ttl) then
    return 0
  end
  redis.call('HINCRBY', base .. 'conversions:' .. ctype .. ':' .. day, variant, 1)
  redis.call('HINCRBYFLOAT', base .. 'value:' .. ctype .. ':' .. day, variant, value)
  redis.call('PFADD', base .. 'converters:' .. ctype .. ':' .. variant .. ':' .. day, user)
  redis.call('SADD', base .. 'conversion_types', ctype)
  return 1
end
local out = {}
for i = 4, #ARGV, 6 do
  local kind, id, name, user, day, value = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5]
  if kind == 'E' then
    if redis.call('SET', base .. 'seen:' .. id, '1', 'NX', 'EX', ttl) then
      redis.call('HINCRBY', base .. 'exposures:' .. day, name, 1)
      redis.call('PFADD', base .. 'users:' .. name .. ':' .. day, user)
      redis.call('HSET', assignments, user, name)
      local pk = base .. 'pending:' .. user
      local held = redis.call('LRANGE', pk, 0, -1)
      if #held > 0 then
        for _, p in ipairs(held) do
          local f = {}
          for part in string.gmatch(p, '[^\t]+') do f[#f+1] = part end
          convert(f[1], f[2], user, f[3], f[4], name)
        end
        redis.call('DEL', pk)
      end
      out[#out+1] = 1
    else
      out[#out+1] = 0
    end
  else
    local variant = redis.call('HGET', assignments, user)
    if variant then
      out[#out+1] = convert(id, name, user, day, value, variant)
    else
      local pk = base .. 'pending:' .. user
      redis.call('RPUSH', pk, id .. '\t' .. name .. '\t' .. day .. '\t' .. value)
      redis.call('EXPIRE', pk, pendingTTL)
      out[#out+1] = 3
    end
  end
end
return out
`)
