package auditlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOneClientManyGoroutines runs 32 goroutines on ONE Client (meant for
// -race): full Events walks, Pages walks broken off early and Follow tails
// broken off, of the enterprise's log and of an organization's, and whole
// stream lifecycles (create, get, list, update,
// delete) whose sealed secrets the fake opens. Every result is checked
// against the fake's dataset or state. The fake is in memory and the
// tails' polls in a synctest bubble's time; the goroutines run truly in
// parallel all the same.
func TestOneClientManyGoroutines(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const workers = 32
		srv, _ := newFake(t,
			auditlogtest.WithGeneratedEvents(1500, 32),
			auditlogtest.WithRateLimit(ResourceAuditLogStreaming, 1<<30, time.Hour))
		c := memClient(t, srv, nil, WithRateLimits(map[string]RateLimit{
			ResourceAuditLog:          {Requests: 1 << 30, Per: time.Hour},
			ResourceAuditLogStreaming: {Requests: 1 << 30, Per: time.Hour},
		}))
		ent := srv.Enterprise()
		both := scopes(srv)

		idsOf := func(sc scopeCase, include, order string) []stamped {
			var out []stamped
			for _, raw := range sc.events(Include(include), Order(order)) {
				var s stamped
				require.NoError(t, json.Unmarshal(raw, &s))
				out = append(out, s)
			}
			return out
		}
		justIDs := func(ss []stamped) []string {
			out := make([]string, len(ss))
			for i, s := range ss {
				out[i] = s.ID
			}
			return out
		}

		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				sc := both[w/4%2] // the enterprise's log, or the organization's
				ascAll := idsOf(sc, "all", "asc")
				switch w % 4 {
				case 0:
					err = walkAll(ctx, c, sc.scope, w, func(include, order string) []string { return justIDs(idsOf(sc, include, order)) })
				case 1:
					err = walkSome(ctx, c, sc.scope, w, justIDs(idsOf(sc, "all", "desc")))
				case 2:
					err = followSome(ctx, c, sc.scope, w, func(since int64) []string {
						var want []string
						for _, s := range ascAll {
							if s.TS >= since {
								want = append(want, s.ID)
							}
						}
						return want
					}, ascAll)
				case 3:
					err = streamLifecycle(ctx, c, srv, ent, w)
				}
				recordErr(err)
				if err != nil {
					errs <- fmt.Errorf("worker %d: %w", w, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// stamped is an event's ID and @timestamp (epoch ms).
type stamped struct {
	ID string `json:"_document_id"`
	TS int64  `json:"@timestamp"`
}

// walkAll reads every event with one of the page sizes and orders and
// compares with the dataset, in order.
func walkAll(ctx context.Context, c *Client, scope Scope, w int, want func(include, order string) []string) error {
	order := []Order{OrderAsc, OrderDesc}[w/8%2]
	include := []Include{IncludeAll, IncludeWeb, IncludeGit}[w/4%3]
	per := []int{100, 37, 64}[w/4%3]
	var got []string
	for ev, err := range c.Events(ctx, scope, &Query{Order: order, Include: include, PerPage: per}) {
		if err != nil {
			return err
		}
		got = append(got, ev.DocumentID)
	}
	if exp := want(string(include), string(order)); !slices.Equal(got, exp) {
		return fmt.Errorf("walk %s/%s/%d: got %d events, want %d (or a different order)", include, order, per, len(got), len(exp))
	}
	return nil
}

// walkSome reads a few pages and breaks; what it saw is the dataset's prefix.
func walkSome(ctx context.Context, c *Client, scope Scope, w int, desc []string) error {
	stopAfter := 1 + w%5
	var got []string
	pages := 0
	for page, err := range c.Pages(ctx, scope, &Query{Include: IncludeAll, PerPage: 50}) {
		if err != nil {
			return err
		}
		for _, ev := range page.Events {
			got = append(got, ev.DocumentID)
		}
		if pages++; pages == stopAfter {
			break
		}
	}
	if pages != stopAfter || !slices.Equal(got, desc[:len(got)]) || len(got) != 50*stopAfter {
		return fmt.Errorf("pages: %d pages, %d events, not the dataset's first %d", pages, len(got), 50*stopAfter)
	}
	return nil
}

// followSome tails from the timestamp of a recent event and breaks once it
// has every event from there on; each must come once, oldest first.
func followSome(ctx context.Context, c *Client, scope Scope, w int, want func(since int64) []string, asc []stamped) error {
	since := asc[len(asc)-10-w].TS
	exp := want(since)
	f := c.Follow(scope, &Query{Include: IncludeAll}, FollowOptions{
		Since: time.UnixMilli(since), Every: 5 * time.Millisecond, LookBack: time.Minute})
	var got []string
	for ev, err := range f.Events(ctx) {
		if err != nil {
			return err
		}
		got = append(got, ev.DocumentID)
		if len(got) == len(exp) {
			break
		}
	}
	slices.Sort(got)
	exp = slices.Clone(exp)
	slices.Sort(exp)
	if !slices.Equal(got, exp) {
		return fmt.Errorf("follow from %d: got %v, want %v", since, got, exp)
	}
	return nil
}

// streamLifecycle creates, reads, lists, updates and deletes a stream,
// checking what the fake unsealed at each step.
func streamLifecycle(ctx context.Context, c *Client, srv *auditlogtest.Server, ent string, w int) error {
	first, second := fmt.Sprintf("SECRET-conc-%d-a", w), fmt.Sprintf("SECRET-conc-%d-b", w)
	registerSecret(first, second)
	domain := fmt.Sprintf("w%d.splunk.example", w)
	s, err := c.CreateStream(ctx, Enterprise(ent), StreamConfig{Enabled: true, Vendor: Splunk{Domain: domain, Port: 443, Token: NewSecret(first), SSLVerify: true}})
	if err != nil {
		return err
	}
	if got := srv.StreamSecrets(s.ID)["encrypted_token"]; got != first {
		return fmt.Errorf("stream %d: fake unsealed %q", s.ID, got)
	}
	g, err := c.GetStream(ctx, Enterprise(ent), s.ID)
	if err != nil {
		return err
	}
	if g.ID != s.ID || g.StreamType != StreamTypeSplunk || !g.Enabled {
		return fmt.Errorf("get: %+v", g)
	}
	list, err := c.ListStreams(ctx, Enterprise(ent))
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(list, func(x Stream) bool { return x.ID == s.ID }) {
		return fmt.Errorf("list of %d streams lacks %d", len(list), s.ID)
	}
	u, err := c.UpdateStream(ctx, Enterprise(ent), s.ID, StreamConfig{Enabled: false, Vendor: Splunk{Domain: domain, Port: 8088, Token: NewSecret(second)}})
	if err != nil {
		return err
	}
	if u.Enabled || srv.StreamSecrets(s.ID)["encrypted_token"] != second {
		return fmt.Errorf("update: enabled=%v, secret not replaced", u.Enabled)
	}
	if err := c.DeleteStream(ctx, Enterprise(ent), s.ID); err != nil {
		return err
	}
	if _, err := c.GetStream(ctx, Enterprise(ent), s.ID); !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("get after delete: %v", err)
	}
	return nil
}

func TestConcurrencyHelpersCatchMismatches(t *testing.T) {
	t.Parallel()
	// The checks above must be able to fail: a walk compared with the
	// wrong order is reported.
	srv, c := newFake(t, auditlogtest.WithGeneratedEvents(50, 3))
	err := walkAll(context.Background(), c, Enterprise(srv.Enterprise()), 0, func(include, _ string) []string {
		return ids(t, srv.Events(Include(include), OrderDesc))
	})
	assert.Error(t, err)
}
