package auditlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// A Seeder is a [Limiter] that can start warm: be told the budget of a
// resource before any response on it has come back, so that a process that
// starts in a window its token has already spent waits for the reset
// instead of being refused. [Budget] is a Seeder, and so is the Redis fleet
// budget.
//
// Before its first request on a resource, a Client whose Limiter is a
// Seeder (unless [WithoutWarmStart] is given) asks the Limiter's State; when
// State knows nothing (ok false), it calls Seed, once per resource over the
// Client's life, shared by the Client's concurrent first callers, and waits
// for it before sending. A Limiter that is not a Seeder starts cold.
type Seeder interface {
	// Seed learns the budget of resource when the limiter knows nothing of
	// it. It may call fetch, at most once, which asks GitHub (GET
	// /rate_limit: one GET, counted against no primary limit, never retried)
	// and returns the budget GitHub reports for resource, its Reset on the
	// local clock and bounded as a response's is, and the local time the
	// answer arrived. fetch fails when the server does not say: no such
	// endpoint (GitHub Enterprise Server with rate limiting off answers
	// 404), no such resource in the answer, an error. Seed records what
	// fetch returns as Observe would, but settles no reservation; on an
	// error it records nothing, and the Client goes on as it would have
	// without a warm start.
	//
	// A limiter shared by several Clients, or by several processes, calls
	// fetch once for all of them where it can: a Client sharing it that
	// arrives while a seed is under way should wait for that seed rather
	// than fetch again. It should not call fetch while a Pause holds
	// resource: a refusal (of GET /rate_limit too: it pauses resource as any
	// refusal does) asked for quiet. ctx bounds the whole of Seed.
	Seed(ctx context.Context, resource string, fetch func(ctx context.Context) (Rate, time.Time, error))
}

// WithoutWarmStart turns the warm start off: the client sends its first
// request on a resource without first asking GET /rate_limit what is left
// of the budget, as a client that cannot reach that endpoint must. See
// [Seeder].
func WithoutWarmStart() Option {
	return func(s *settings) error {
		s.coldStart = true
		return nil
	}
}

// warmStart is a Client's state of the warm start.
type warmStart struct {
	seeder Seeder // nil: cold start (turned off, or the Limiter is no Seeder)
	// tried holds the resources seeded once, or tried: read on every call
	// without a lock or an allocation, copied on the rare write.
	tried  atomic.Pointer[map[string]bool]
	mu     sync.Mutex         // serialises writes to tried
	flight singleflight.Group // one seed per resource at a time
}

func (w *warmStart) done(resource string) bool {
	m := w.tried.Load()
	return m != nil && (*m)[resource]
}

func (w *warmStart) markDone(resource string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	next := map[string]bool{resource: true}
	if m := w.tried.Load(); m != nil {
		for k := range *m {
			next[k] = true
		}
	}
	w.tried.Store(&next)
}

func seederOf(l Limiter, off bool) Seeder {
	if s, ok := l.(Seeder); ok && !off {
		return s
	}
	return nil
}

// maxWarmStart bounds a warm start: the one attempt of GET /rate_limit (a
// small answer, which GitHub gives within its own 10 s limit on a request)
// and a fleet's wait for another process's seed. A server that does not
// answer in time delays a Client's first call by this much, once.
const maxWarmStart = 10 * time.Second

func (c *Client) warmBound() time.Duration { return min(c.attemptTimeout, maxWarmStart) }

// warmUp seeds the limiter for resource before the client's first request
// on it, once, and makes every concurrent first caller wait for it. A
// caller whose context ends stops waiting (the seed goes on for the others);
// a seed that fails only means a cold start.
func (c *Client) warmUp(ctx context.Context, cl *call) error {
	w, resource := c.warm, cl.resource
	if w.seeder == nil {
		return nil
	}
	if w.done(resource) {
		return nil
	}
	ch := w.flight.DoChan(resource, func() (any, error) {
		if w.done(resource) {
			return nil, nil // a flight that ended just before this one began
		}
		defer w.markDone(resource)
		if _, known := c.limiter.State(resource, time.Now()); known {
			return nil, nil
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.warmBound())
		defer cancel()
		w.seeder.Seed(sctx, resource, func(fctx context.Context) (Rate, time.Time, error) {
			return c.fetchRate(fctx, resource, cl.secrets)
		})
		return nil, nil
	})
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetchRate asks GitHub for the budget kept under key resource: GET
// /rate_limit, through the pipeline (auth, version, scrubbing, the attempt
// timeout) but charged to no budget, sent once. A refusal of it holds resource as any refusal does.
// secrets are those of the call that asked for the warm start, scrubbed from
// the answer as that call's own answers are.
func (c *Client) fetchRate(ctx context.Context, resource string, secrets []string) (Rate, time.Time, error) {
	cold := func(err error) (Rate, time.Time, error) {
		c.logger.LogAttrs(ctx, slog.LevelDebug, "auditlog: warm start: GitHub did not say; starting cold",
			slog.String("resource", resource), slog.String("why", warmFailure(err)))
		return unknownRate, time.Time{}, err
	}
	resp, err := c.do(ctx, &call{method: http.MethodGet, path: "rate_limit", resource: resource, free: true, secrets: secrets})
	if err != nil {
		return cold(err)
	}
	// GitHub's answer has one entry per resource, not per entity path: the
	// budget of each scope's key is seeded from its resource's entry
	// (resources.audit_log). Where GitHub keeps several windows of it, the
	// entry is one of them, and the fake reports the one with least left;
	// that is conservative, and the scope's first answer corrects it.
	r, err := parseRateLimit(resp.body, KeyResource(resource))
	if err != nil {
		return cold(err)
	}
	r.Reset = c.localReset(ctx, resource, r.Reset, resp)
	c.logger.LogAttrs(ctx, slog.LevelDebug, "auditlog: warm start",
		slog.String("resource", resource), slog.Int("limit", r.Limit), slog.Int("remaining", r.Remaining),
		slog.Time("reset", r.Reset))
	c.rateReported(resource, r)
	return r, resp.received, nil
}

// warmFailure says why a warm start failed, without quoting the server: an
// answer to GET /rate_limit is scrubbed of the token and of the secrets of
// the call that asked for it, but a server may echo a secret of another
// call, which this request never carried.
func warmFailure(err error) string {
	var rl *RateLimitError
	var ae *APIError
	var ne *NetworkError
	switch {
	case errors.As(err, &rl):
		return fmt.Sprintf("refused (%d), holding the resource until %s", rl.StatusCode, rl.RetryAt().Format(time.RFC3339))
	case errors.As(err, &ae):
		return fmt.Sprintf("answered %d", ae.StatusCode)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "out of time"
	case errors.As(err, &ne):
		return "network error"
	case errors.Is(err, errNotReported):
		return "the resource is not in the answer"
	case errors.Is(err, errBadRateLimit):
		return "the answer is not GitHub's JSON"
	}
	return "failed"
}

// errNotReported is a GET /rate_limit answer that does not give resource's
// budget.
var errNotReported = errors.New("GET /rate_limit does not report the resource")

// errBadRateLimit is a GET /rate_limit answer that is not the JSON GitHub
// documents.
var errBadRateLimit = errors.New("GET /rate_limit: the answer is not the JSON object GitHub documents")

// parseRateLimit reads resource's budget in a GET /rate_limit body:
// {"resources": {"audit_log": {"limit", "remaining", "reset", "used",
// "resource"}, ...}}. Reset is on GitHub's clock (zero when absent). Nothing
// of the body is quoted in an error.
func parseRateLimit(body, resource string) (Rate, error) {
	var doc struct {
		Resources map[string]json.RawMessage `json:"resources"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		return unknownRate, errBadRateLimit
	}
	raw, ok := doc.Resources[resource]
	if !ok {
		return unknownRate, fmt.Errorf("%w (%s)", errNotReported, resource)
	}
	var e struct {
		Limit, Remaining, Used *int
		Reset                  *int64
	}
	if err := json.Unmarshal(raw, &e); err != nil || e.Limit == nil || e.Remaining == nil ||
		*e.Limit < 0 || *e.Remaining < 0 {
		return unknownRate, fmt.Errorf("%w: no valid limit and remaining for %s", errBadRateLimit, resource)
	}
	r := Rate{Limit: *e.Limit, Remaining: *e.Remaining, Used: -1, Resource: resource}
	if e.Used != nil && *e.Used >= 0 {
		r.Used = *e.Used
	}
	if e.Reset != nil && *e.Reset > 0 && *e.Reset < 1<<40 {
		r.Reset = time.Unix(*e.Reset, 0)
	}
	return r, nil
}

// Seed implements [Seeder]: when nothing is known of resource and no Pause
// holds it, it calls fetch and takes in its answer as Observe takes in the
// answer to a request sent when the fetch began, without settling a
// reservation. Clients sharing the Budget that seed at once share
// one fetch.
func (b *Budget) Seed(ctx context.Context, resource string, fetch func(context.Context) (Rate, time.Time, error)) {
	_, _, _ = b.seeds.Do(resource, func() (any, error) {
		if !b.wantsSeed(resource, time.Now()) {
			return nil, nil
		}
		// GitHub's answer counts the requests sent before it was asked,
		// as a response does.
		asked := nanos(time.Now())
		r, at, err := fetch(ctx)
		if err != nil || !r.Known() {
			return nil, nil
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		bk := b.bucketLocked(resource)
		bk.roll(at)
		b.learnLocked(resource, bk, at, r, asked)
		return nil, nil
	})
}

// wantsSeed reports whether resource is worth a GET /rate_limit at now:
// nothing is known of it, and no refusal holds it (GitHub asked for quiet).
func (b *Budget) wantsSeed(resource string, now time.Time) bool {
	if _, known := b.State(resource, now); known {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.res[resource]
	return bk == nil || !bk.hold.After(now)
}
