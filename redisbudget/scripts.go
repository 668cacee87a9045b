package redisbudget

import "github.com/redis/go-redis/v9"

// bucketKeys names the Redis keys of one budget: a hash holding its state,
// a sorted set holding the claims in flight, and the lease of the warm
// start (which process asks GitHub for the budget, see seedClaimScript).
// All start with the same hash tag (prefix and resource in braces), so a
// Redis Cluster keeps them in one slot, as a script needs, and spreads the
// budgets of different prefixes over the cluster.
//
// A budget is keyed by resource. GitHub also counts the audit-log budget
// per entity path (each organization's audit log apart from the
// enterprise's); keying by (resource, path) is a change to this function
// only.
func bucketKeys(prefix, resource string) []string {
	base := "{" + prefix + ":" + resource + "}"
	return []string{base, base + ":claims", base + ":seed"}
}

// The scripts share one prologue: the clock is the Redis server's (TIME),
// claims past their expiry are dropped, and the state is loaded. Every time
// and duration is in microseconds on that clock; callers send offsets from
// their own now, never absolute times, since each process's clock differs.
//
// State (hash fields):
//
//	T, tau   pacing: emission interval and burst tolerance of a GCRA (a token
//	         bucket of burst tau/T+1 refilled every T)
//	tat      pacing: theoretical arrival time of the next request
//	limit    the last x-ratelimit-limit reported, 0 for none
//	rem      the lowest x-ratelimit-remaining reported in the current window,
//	         less the releases since (requests that may have been counted)
//	reset    end of the current window; rem and reset are absent when no
//	         window is known or it has ended
//	hold     no request before this (Pause)
//	nolimit  1 when a response reported no limit at all (rate limiting off)
//
// The budget left is rem less the claims in flight across the fleet: a
// request in flight may or may not be counted in the lowest report, so it
// is counted as spent until it settles.
const prologue = `
if redis.replicate_commands then redis.replicate_commands() end
local state, claims = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', claims, '-inf', now)
local f = redis.call('HMGET', state, 'T', 'tau', 'tat', 'limit', 'rem', 'reset', 'hold', 'nolimit')
local T, tau, tat = tonumber(f[1]), tonumber(f[2]), tonumber(f[3])
local limit, rem, reset = tonumber(f[4]) or 0, tonumber(f[5]), tonumber(f[6])
local hold, nolimit = tonumber(f[7]) or 0, tonumber(f[8]) or 0
if not (rem and reset and now < reset) then rem, reset = nil, nil end

local function int(x) return string.format('%.0f', x) end

-- save writes the state back and lets both keys expire ten minutes after
-- the last time they say anything about (tat, reset, hold, a claim).
local function save()
  redis.call('HSET', state, 'T', int(T), 'tau', int(tau), 'tat', int(tat or now),
    'limit', int(limit), 'hold', int(hold), 'nolimit', int(nolimit))
  if reset then
    redis.call('HSET', state, 'rem', int(rem), 'reset', int(reset))
  else
    redis.call('HDEL', state, 'rem', 'reset')
  end
  local last = math.max(tat or now, reset or now, hold, now)
  local top = redis.call('ZRANGE', claims, -1, -1, 'WITHSCORES')
  if top[2] then last = math.max(last, tonumber(top[2])) end
  local ms = math.ceil((last - now) / 1000) + 600000
  redis.call('PEXPIRE', state, ms)
  redis.call('PEXPIRE', claims, ms)
end

-- defaults paces at the configured rate (emission interval cfgT, burst
-- burst) until a response says otherwise.
local function defaults(cfgT, burst)
  if not T then T, tau = cfgT, (burst - 1) * cfgT end
end
`

// reserveScript claims one request. ARGV: claim ID, maxWait, claim TTL,
// configured emission interval, effective configured burst, whether the limit was
// configured (1) or is a default (0), then this process's hints for a state
// that was lost or never saw them: last limit, last remaining (-1 for
// none), offset to its reset, offset to its hold (0 for none).
//
// It returns {1, wait} for a claim, or {0, wait, limit, left (-1 when no
// window is known), offset to reset} when the wait would exceed maxWait (no
// claim is made).
var reserveScript = redis.NewScript(prologue + `
local id, maxWait, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local cfgT, effBurst, configured = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local hLimit, hRem, hReset, hHold = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
defaults(cfgT, effBurst)
if hHold > 0 then hold = math.max(hold, now + hHold) end
if not reset and hRem >= 0 and hReset > 0 then
  rem, reset = hRem, now + hReset
  if hLimit > 0 then limit = hLimit end
end

local wait, left = math.max(hold - now, 0), -1
local paced = nolimit == 0 or configured == 1
if paced then
  if reset then
    left = rem - redis.call('ZCARD', claims)
    if left <= 0 then wait = math.max(wait, reset - now) end
  end
  wait = math.max(wait, math.max(tat or now, now) - tau - now)
end
if wait > maxWait then
  save()
  return {0, math.ceil(wait), limit, math.max(left, reset and 0 or -1), reset and (reset - now) or 0}
end
if paced then tat = math.max(tat or now, now) + T end
redis.call('ZADD', claims, int(now + wait + ttl), id)
save()
return {1, math.ceil(wait)}
`)

// observeScript settles a claim (ARGV[1], "" for none) with what a response
// reported. ARGV: claim ID, known (1 when the response carried rate
// headers), limit, remaining, offset to reset (0 when absent), configured
// window, configured emission interval, configured burst (0: the reported
// limit), effective configured burst, largest conversion error tolerated
// between two reports of one window.
var observeScript = redis.NewScript(prologue + observeBody)

const observeBody = `
local id, known, L, R, off = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local per, cfgT, cfgBurst, effBurst, tol = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
defaults(cfgT, effBurst)
if id ~= '' then redis.call('ZREM', claims, id) end
if known == 0 then
  -- A response without rate headers: the server enforces no limit, unless
  -- a window it reported is still running.
  if not reset then nolimit = 1 end
  save()
  return {1}
end
nolimit = 0
if off <= 0 then
  -- No window to go by: a limit reported still re-paces, over the
  -- configured window.
  if L > 0 and L ~= limit then
    limit = L
    T = per / L
    tau = (math.min(effBurst, L) - 1) * T
  end
  save()
  return {1}
end
local r = now + off
if reset and r < reset - tol then
  save()
  return {1} -- a late answer from a window that has ended
end
if L > 0 then limit = L end
if reset and r <= reset + tol then
  -- The same window (reset times converted by different processes differ
  -- by their conversion error): only a lower count is news.
  rem = math.min(rem, R)
  reset = math.max(reset, r)
else
  -- A new window: what GitHub says is left, paced over what it says is
  -- left of the window.
  rem, reset = R, r
  local lim = math.max(limit, 1)
  if cfgBurst == 0 then
    T = off / lim
    tau = (lim - 1) * T
    tat = now
  else
    local nT = off / (math.max(R - redis.call('ZCARD', claims), 0) + 1)
    if tat and tat > now then tat = now + (tat - now) * nT / T end
    T = nT
    tau = (math.min(cfgBurst, lim) - 1) * T
  end
end
save()
return {1}
`

// releaseScript settles a claim (ARGV[1]) that got no budget information.
// The request may have been counted by GitHub, so a live claim is taken off
// the window's remaining; a claim that already expired is not, since every
// report made since then would count it. ARGV[2], ARGV[3]: configured
// emission interval and effective burst.
var releaseScript = redis.NewScript(prologue + `
defaults(tonumber(ARGV[2]), tonumber(ARGV[3]))
local n = redis.call('ZREM', claims, ARGV[1])
if n == 1 and reset then rem = rem - 1 end
save()
return {1}
`)

// pauseScript holds every request until ARGV[1] from now. ARGV[2],
// ARGV[3]: configured emission interval and effective burst.
var pauseScript = redis.NewScript(prologue + `
defaults(tonumber(ARGV[2]), tonumber(ARGV[3]))
local off = tonumber(ARGV[1])
if off > 0 then hold = math.max(hold, now + off) end
save()
return {1}
`)

// stateScript returns {known, limit, left, offset to reset, offset to
// hold, claims in flight, nolimit}; known is 0 when no window is running.
var stateScript = redis.NewScript(prologue + `
local n = redis.call('ZCARD', claims)
if not reset then return {0, limit, -1, 0, math.max(hold - now, 0), n, nolimit} end
return {1, limit, math.max(rem - n, 0), reset - now, math.max(hold - now, 0), n, nolimit}
`)

// The warm start: before its first request on a resource, a process that
// knows nothing of the budget asks GitHub (GET /rate_limit). One process per
// window does: the first to find the fleet knowing nothing takes a lease
// (KEYS[3]), fetches, and records the answer (seedScript), which every
// process then finds in the state; the others wait for it.

// seedClaimScript decides what a process about to start does. ARGV: the
// process's ID, the lease's length (µs), whether the limit was configured.
// It returns {1} when the fleet knows the budget (a window is running, or
// the server reported no limit), {2} when the caller took the lease and
// should fetch, {3} when it should not fetch (a Pause holds the resource,
// or a seed this window found nothing to learn), {4, ms} while another
// process holds the lease, for ms more at most.
var seedClaimScript = redis.NewScript(prologue + `
local lease, id, ttl, configured = KEYS[3], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if reset or (nolimit == 1 and configured == 0) then return {1} end
if hold > now then return {3} end
local v = redis.call('GET', lease)
if not v then
  redis.call('SET', lease, id, 'PX', math.max(1, math.ceil(ttl / 1000)))
  return {2}
end
if v == 'done' then return {3} end
return {4, redis.call('PTTL', lease)}
`)

// seedScript records what GitHub reported to the process that held the
// lease, as a response reports it but settling no claim, and drops the
// lease. ARGV as observeScript's, with no claim ID.
var seedScript = redis.NewScript(prologue + "redis.call('DEL', KEYS[3])\n" + observeBody)

// seedDoneScript ends a warm start that taught the fleet nothing (GitHub
// did not say, or gave no window): no process fetches again until ARGV[1]
// (ms) has passed, a window's length.
var seedDoneScript = redis.NewScript(`
redis.call('SET', KEYS[3], 'done', 'PX', math.max(1, tonumber(ARGV[1])))
return {1}
`)
