package redisbudget

import (
	"strconv"

	"github.com/ghaudit/auditlog"
	"github.com/redis/go-redis/v9"
)

// bucketKeys names the Redis keys of one budget: a hash holding its state,
// two sorted sets of the claims in flight (one scored by expiry, one by the
// fleet's order), a sorted set of the claims released without an answer,
// and the lease of the warm start (which process asks GitHub for the
// budget, see seedClaimScript). All start with the same hash tag (prefix
// and resource in braces), so a Redis Cluster keeps them in one slot, as a
// script needs, and spreads the budgets of different prefixes over the
// cluster.
//
// A budget is keyed by its budget key: a resource, or a resource and an
// entity path ("audit_log:orgs/octo-org", see [auditlog.BudgetKey]), since
// GitHub counts each organization's audit log apart from the enterprise's.
// A ':' or '/' inside the braces is plain text to Redis; the SDK's keys hold
// no brace (a scope's path escapes one), and the five keys share their text
// up to the first '}' whatever it is, so they stay in one slot.
func bucketKeys(prefix, key string) []string {
	base := "{" + prefix + ":" + key + "}"
	return []string{base, base + ":claims", base + ":order", base + ":released", base + ":seed"}
}

// The scripts share one prologue: the clock is the Redis server's (TIME),
// claims past their expiry are dropped, the state is loaded, and a window
// whose reset has passed is left behind. Every time and duration is in
// microseconds on that clock; callers send offsets from their own now,
// never absolute times, since each process's clock differs.
//
// Each claim has a place in the fleet's order: the time it is to be sent
// (the server's clock when it was made, plus its wait), made strictly
// increasing. What an answer reports counts the requests sent more than
// auditlog.Reorder before its own, and not those sent after it.
//
// State (hash fields):
//
//	T, tau   pacing: emission interval and burst tolerance of a GCRA (a token
//	         bucket of burst tau/T+1 refilled every T)
//	tat      pacing: theoretical arrival time of the next request
//	limit    the last x-ratelimit-limit reported, 0 for none
//	low      the lowest x-ratelimit-remaining reported in the current window:
//	         GitHub's latest count
//	lowAt    the order of the request whose answer reported it (0: before
//	         every claim)
//	lowLast  the last order given when that answer was taken in
//	reset    end of the current window; low, lowAt, lowLast and reset are
//	         absent when no window is known or it has ended
//	from     the reset of the window that ended, when GitHub has not answered
//	         in the next one yet: the requests sent since are the next
//	         window's; until is when that is given up
//	span     the longest window reported, as first seen
//	seq      the last order given
//	hold     no request before this (Pause)
//	nolimit  1 when a response reported no limit at all (rate limiting off)
//
// The budget left is low less the claims (in flight, or released without
// an answer) sent after low's request, or less than auditlog.Reorder
// before it: those GitHub may not have counted in it.
var prologue = `
if redis.replicate_commands then redis.replicate_commands() end
local state, claims, order, released = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local reorder = ` + reorderMicros + `

local function int(x) return string.format('%.0f', x) end

local gone = redis.call('ZRANGEBYSCORE', claims, '-inf', now)
for i = 1, #gone, 1000 do
  redis.call('ZREM', order, unpack(gone, i, math.min(i + 999, #gone)))
end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', claims, '-inf', now) end

local f = redis.call('HMGET', state, 'T', 'tau', 'tat', 'limit', 'low', 'reset', 'hold', 'nolimit',
  'lowAt', 'lowLast', 'from', 'until', 'span', 'seq')
local T, tau, tat = tonumber(f[1]), tonumber(f[2]), tonumber(f[3])
local limit, low, reset = tonumber(f[4]) or 0, tonumber(f[5]), tonumber(f[6])
local hold, nolimit = tonumber(f[7]) or 0, tonumber(f[8]) or 0
local lowAt, lowLast = tonumber(f[9]) or 0, tonumber(f[10]) or 0
local from, till = tonumber(f[11]), tonumber(f[12])
local span, seq = tonumber(f[13]) or 0, tonumber(f[14]) or 0
if not (low and reset) then low, reset = nil, nil end
if reset and now >= reset then
  -- The window ended. Until GitHub answers in the next one, the requests
  -- sent from its reset on are the next window's.
  if limit > 0 then from, till = reset, reset + math.max(span, 1000) end
  low, reset, lowAt, lowLast = nil, nil, 0, 0
  redis.call('DEL', released)
end
if from and now >= till then from, till = nil, nil end

-- sentAfter counts the claims, in flight or released, sent after x.
local function sentAfter(x)
  return redis.call('ZCOUNT', order, '(' .. int(x), '+inf') + redis.call('ZCOUNT', released, '(' .. int(x), '+inf')
end
-- left is what the window has left for a new request.
local function left() return low - sentAfter(lowAt - reorder) end
-- unsure: a claim in flight that GitHub may have counted in low though it
-- counts as spent, sent at about the same time as low's request, before
-- its answer came: its own answer may give its place back.
local function unsure()
  local hi = math.min(lowAt + reorder - 1, lowLast)
  return redis.call('ZCOUNT', order, '(' .. int(lowAt - reorder), int(hi)) > 0
end
-- drop settles claim id: it leaves both sets. It reports whether the claim
-- was still live (not expired, nor settled already).
local function drop(id)
  redis.call('ZREM', order, id)
  return redis.call('ZREM', claims, id) == 1
end
-- committed counts the claims sent at or after x.
local function committed(x) return sentAfter(x - 1) end
-- poll is how long a caller who cannot be placed yet waits before asking
-- again: a request's share of the window, between 10 ms and a second.
local function poll() return math.min(math.max(math.floor(span / math.max(limit, 1)), 10000), 1000000) end

-- save writes the state back and lets the keys expire ten minutes after
-- the last time they say anything about (tat, reset, hold, a claim).
local function save()
  redis.call('HSET', state, 'T', int(T), 'tau', int(tau), 'tat', int(tat or now),
    'limit', int(limit), 'hold', int(hold), 'nolimit', int(nolimit), 'span', int(span), 'seq', int(seq))
  if reset then
    redis.call('HSET', state, 'low', int(low), 'reset', int(reset), 'lowAt', int(lowAt), 'lowLast', int(lowLast))
  else
    redis.call('HDEL', state, 'low', 'reset', 'lowAt', 'lowLast')
  end
  if from then
    redis.call('HSET', state, 'from', int(from), 'until', int(till))
  else
    redis.call('HDEL', state, 'from', 'until')
  end
  local last = math.max(tat or now, reset or now, till or now, hold, now)
  local top = redis.call('ZRANGE', claims, -1, -1, 'WITHSCORES')
  if top[2] then last = math.max(last, tonumber(top[2])) end
  local ms = math.ceil((last - now) / 1000) + 600000
  for _, k in ipairs({state, claims, order, released}) do redis.call('PEXPIRE', k, ms) end
end

-- defaults paces at the configured rate (emission interval cfgT, burst
-- burst) until a response says otherwise.
local function defaults(cfgT, burst)
  if not T then T, tau = cfgT, (burst - 1) * cfgT end
end
`

// reorderMicros is auditlog.Reorder for the scripts.
var reorderMicros = strconv.FormatInt(auditlog.Reorder.Microseconds(), 10)

// reserveScript claims one request. ARGV: claim ID, maxWait, claim TTL,
// configured emission interval, effective configured burst, whether the
// limit was configured (1) or is a default (0), then this process's hints
// for a state that was lost or never saw them: last limit, last remaining
// (-1 for none), offset to its reset, offset to its hold (0 for none).
//
// It returns {1, wait, order} for a claim; {2, wait} when it cannot place
// the request yet (nothing claimed: ask again after wait); or {0, wait,
// limit, left (-1 when no window is known), offset to reset} when the wait
// would exceed maxWait (nothing claimed).
var reserveScript = redis.NewScript(prologue + `
local id, maxWait, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local cfgT, effBurst, configured = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local hLimit, hRem, hReset, hHold = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
defaults(cfgT, effBurst)
if hHold > 0 then hold = math.max(hold, now + hHold) end
if not reset and not from and hRem >= 0 and hReset > 0 then
  low, reset, lowAt, lowLast = hRem, now + hReset, 0, seq
  if hLimit > 0 then limit = hLimit end
end

local function refuse(w)
  save()
  local l = -1
  if reset then l = math.max(left(), 0) end
  return {0, math.ceil(w), limit, l, reset and (reset - now) or 0}
end
local function again(w)
  if w > maxWait then return refuse(w) end
  save()
  return {2, math.ceil(w)}
end

local wait = math.max(hold - now, 0)
local paced = nolimit == 0 or configured == 1
if paced then
  if reset then
    if left() <= 0 then
      if unsure() then return again(math.max(wait, poll())) end
      -- This window is spent; the next one is spoken for.
      if limit > 0 and committed(reset) >= limit then return again(math.max(wait, reset - now)) end
      wait = math.max(wait, reset - now)
    end
  elseif from and committed(from) >= limit then
    -- The next window is spoken for, and when it ends is not known until
    -- GitHub answers in it.
    return again(math.max(wait, poll()))
  end
  wait = math.max(wait, math.max(tat or now, now) - tau - now)
end
if wait > maxWait then return refuse(wait) end
if paced then tat = math.max(tat or now, now) + T end
wait = math.ceil(wait)
seq = math.max(now + wait, seq + 1)
redis.call('ZADD', claims, int(now + wait + ttl), id)
redis.call('ZADD', order, int(seq), id)
save()
return {1, wait, seq}
`)

// observeScript settles a claim with what its response reported. ARGV:
// claim ID ("" for none), its order (0: before every claim), known (1 when
// the response carried rate headers), limit, remaining, offset to reset (0
// when absent), configured window, configured emission interval,
// configured burst (0: the reported limit), effective configured burst,
// largest conversion error tolerated between two reports of one window.
var observeScript = redis.NewScript(prologue + observeBody)

const observeBody = `
local id, sent = ARGV[1], tonumber(ARGV[2])
local known, L, R, off = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local per, cfgT, cfgBurst, effBurst, tol = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
defaults(cfgT, effBurst)
if id ~= '' then drop(id) end
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
-- The same window when the resets differ by no more than their conversion
-- error (each process converts GitHub's reset to its own clock).
local newWindow = not (reset and r <= reset + tol)
if newWindow or R < low then
  -- GitHub's latest count: a new window's first, or lower than any
  -- reported in this one (a higher count is an older one: answers come
  -- back out of order).
  low, lowAt, lowLast = R, sent, seq
  redis.call('ZREMRANGEBYSCORE', released, '-inf', int(lowAt - reorder))
end
if newWindow then
  -- What GitHub says is left, paced over what it says is left of the
  -- window.
  reset, from, till = r, nil, nil
  span = math.max(span, off)
  local lim = math.max(limit, 1)
  if cfgBurst == 0 then
    T = off / lim
    tau = (lim - 1) * T
    tat = now
  else
    local nT = off / (math.max(left(), 0) + 1)
    if tat and tat > now then tat = now + (tat - now) * nT / T end
    T = nT
    tau = (math.min(cfgBurst, lim) - 1) * T
  end
else
  reset = math.max(reset, r)
end
save()
return {1}
`

// releaseScript settles a claim (ARGV[1], sent at order ARGV[2]) that got
// no budget information. GitHub may have counted the request: a live claim
// stays counted as spent, as a released one, until GitHub's count is taken
// from a request sent after it; a claim that already expired is not, since
// every report made since then would count it. ARGV[3], ARGV[4]: configured
// emission interval and effective burst.
var releaseScript = redis.NewScript(prologue + `
defaults(tonumber(ARGV[3]), tonumber(ARGV[4]))
local id, sent = ARGV[1], tonumber(ARGV[2])
if drop(id) and ((reset and sent > lowAt - reorder) or (from and sent >= from)) then
  redis.call('ZADD', released, int(sent), id)
end
save()
return {1}
`)

// cancelScript settles a claim (ARGV[1]) whose request GitHub did not
// count: it was never sent, or refused. Its place is given back. ARGV[2],
// ARGV[3]: configured emission interval and effective burst.
var cancelScript = redis.NewScript(prologue + `
defaults(tonumber(ARGV[2]), tonumber(ARGV[3]))
drop(ARGV[1])
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
return {1, limit, math.max(left(), 0), reset - now, math.max(hold - now, 0), n, nolimit}
`)

// The warm start: before its first request on a resource, a process that
// knows nothing of the budget asks GitHub (GET /rate_limit). One process per
// window does: the first to find the fleet knowing nothing takes a lease
// (KEYS[5]), fetches, and records the answer (seedScript), which every
// process then finds in the state; the others wait for it.

// seedClaimScript decides what a process about to start does. ARGV: the
// process's ID, the lease's length (µs), whether the limit was configured.
// It returns {1} when the fleet knows the budget (a window is running, or
// the server reported no limit), {2} when the caller took the lease and
// should fetch (with the server's time, the order its answer takes), {3}
// when it should not fetch (a Pause holds the resource,
// or a seed this window found nothing to learn), {4, ms} while another
// process holds the lease, for ms more at most.
var seedClaimScript = redis.NewScript(prologue + `
local lease, id, ttl, configured = KEYS[5], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if reset or (nolimit == 1 and configured == 0) then return {1} end
if hold > now then return {3} end
local v = redis.call('GET', lease)
if not v then
  redis.call('SET', lease, id, 'PX', math.max(1, math.ceil(ttl / 1000)))
  return {2, now}
end
if v == 'done' then return {3} end
return {4, redis.call('PTTL', lease)}
`)

// seedScript records what GitHub reported to the process that held the
// lease, as a response reports it but settling no claim, and drops the
// lease. ARGV as observeScript's, with no claim ID and the order the lease
// gave.
var seedScript = redis.NewScript(prologue + "redis.call('DEL', KEYS[5])\n" + observeBody)

// seedDoneScript ends a warm start that taught the fleet nothing (GitHub
// did not say, or gave no window): no process fetches again until ARGV[1]
// (ms) has passed, a window's length.
var seedDoneScript = redis.NewScript(`
redis.call('SET', KEYS[5], 'done', 'PX', math.max(1, tonumber(ARGV[1])))
return {1}
`)
