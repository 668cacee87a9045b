package auditlog

import (
	"context"
	"errors"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// firstErr ranges over seq and returns its first error, or nil.
func firstErr[T any](seq iter.Seq2[T, error]) error {
	for _, err := range seq {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestBadInputTable: invalid calls across the whole public API. Each must
// return an *InputError naming the field at fault, without panicking and
// without a single request leaving the client.
func TestBadInputTable(t *testing.T) {
	t.Parallel()
	const secret = "SECRET-badinput-token"
	sec := NewSecret(secret)
	bg := context.Background()
	var nilCtx context.Context
	splunk := Splunk{Domain: "splunk.acme.example", Port: 443, Token: sec}
	newClient := func(opts ...Option) error { _, err := NewClient(opts...); return err }
	build := func(p PhraseBuilder) error { _, err := p.Build(); return err }
	cursor := func(text string) error { var c Cursor; return c.UnmarshalText([]byte(text)) }
	page := func(q *Query) func(c *Client, ent string) error {
		return func(c *Client, ent string) error { _, err := c.AuditLog(bg, Enterprise(ent), q); return err }
	}
	create := func(v Vendor) func(c *Client, ent string) error {
		return func(c *Client, ent string) error {
			_, err := c.CreateStream(bg, Enterprise(ent), StreamConfig{Enabled: true, Vendor: v})
			return err
		}
	}
	follow := func(q *Query, o FollowOptions) func(c *Client, ent string) error {
		return func(c *Client, ent string) error {
			ctx, cancel := context.WithTimeout(bg, 5*time.Second)
			defer cancel()
			return firstErr(c.Follow(Enterprise(ent), q, o).Events(ctx))
		}
	}
	since := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	onScope := func(s Scope) func(c *Client, _ string) error {
		return func(c *Client, _ string) error { _, err := c.AuditLog(bg, s, nil); return err }
	}

	tests := []struct {
		name  string
		do    func(c *Client, ent string) error
		field string
	}{
		// Client options.
		{"empty token", func(*Client, string) error { return newClient(WithToken("")) }, "WithToken"},
		{"token with space", func(*Client, string) error { return newClient(WithToken("ghp_a b")) }, "WithToken"},
		{"token with newline", func(*Client, string) error { return newClient(WithToken(secret + "\n")) }, "WithToken"},
		{"nil token source", func(*Client, string) error { return newClient(WithTokenSource(nil)) }, "WithTokenSource"},
		{"base URL empty", func(*Client, string) error { return newClient(WithBaseURL("")) }, "WithBaseURL"},
		{"base URL ftp", func(*Client, string) error { return newClient(WithBaseURL("ftp://api.example")) }, "WithBaseURL"},
		{"base URL no host", func(*Client, string) error { return newClient(WithBaseURL("https:///x")) }, "WithBaseURL"},
		{"base URL credentials", func(*Client, string) error { return newClient(WithBaseURL("https://u:" + secret + "@api.example")) }, "WithBaseURL"},
		{"base URL query", func(*Client, string) error { return newClient(WithBaseURL("https://api.example/?x=1")) }, "WithBaseURL"},
		{"base URL fragment", func(*Client, string) error { return newClient(WithBaseURL("https://api.example/#f")) }, "WithBaseURL"},
		{"base URL plain http", func(*Client, string) error { return newClient(WithBaseURL("http://api.example")) }, "WithBaseURL"},
		{"GHES with path", func(*Client, string) error { return newClient(WithEnterpriseServer("ghe.example/api")) }, "WithEnterpriseServer"},
		{"GHES bad scheme", func(*Client, string) error { return newClient(WithEnterpriseServer("ssh://ghe.example")) }, "WithEnterpriseServer"},
		{"nil HTTP client", func(*Client, string) error { return newClient(WithHTTPClient(nil)) }, "WithHTTPClient"},
		{"API version unknown", func(*Client, string) error { return newClient(WithAPIVersion("2021-01-01")) }, "WithAPIVersion"},
		{"user agent blank", func(*Client, string) error { return newClient(WithUserAgent("  ")) }, "WithUserAgent"},
		{"user agent newline", func(*Client, string) error { return newClient(WithUserAgent("a\r\nX-Evil: 1")) }, "WithUserAgent"},
		{"nil logger", func(*Client, string) error { return newClient(WithLogger(nil)) }, "WithLogger"},
		{"nil limiter", func(*Client, string) error { return newClient(WithLimiter(nil)) }, "WithLimiter"},
		{"no rate limits", func(*Client, string) error { return newClient(WithRateLimits(nil)) }, "WithRateLimits"},
		{"rate limit zero requests", func(*Client, string) error {
			return newClient(WithRateLimits(map[string]RateLimit{ResourceAuditLog: {Requests: 0, Per: time.Hour}}))
		}, "WithRateLimits"},
		{"rate limit unnamed resource", func(*Client, string) error {
			return newClient(WithRateLimits(map[string]RateLimit{"": {Requests: 1, Per: time.Hour}}))
		}, "WithRateLimits"},
		{"limiter and rate limits", func(*Client, string) error {
			b, err := NewBudget(nil)
			require.NoError(t, err)
			return newClient(WithLimiter(b), WithRateLimits(map[string]RateLimit{ResourceAuditLog: {Requests: 1, Per: time.Hour}}))
		}, "WithRateLimits"},
		{"negative max wait", func(*Client, string) error { return newClient(WithMaxWait(-time.Second)) }, "WithMaxWait"},
		{"zero attempts", func(*Client, string) error { return newClient(WithMaxAttempts(0)) }, "WithMaxAttempts"},
		{"too many attempts", func(*Client, string) error { return newClient(WithMaxAttempts(21)) }, "WithMaxAttempts"},
		{"nil option", func(*Client, string) error { return newClient(WithToken(secret), nil) }, "NewClient"},

		// Queries.
		{"include unknown", page(&Query{Include: "everything"}), "Query.Include"},
		{"order unknown", page(&Query{Order: "up"}), "Query.Order"},
		{"per page negative", page(&Query{PerPage: -1}), "Query.PerPage"},
		{"per page over 100", page(&Query{PerPage: 101}), "Query.PerPage"},
		{"page negative", page(&Query{Page: -2}), "Query.Page"},
		{"after and before", page(&Query{After: "a", Before: "b"}), "Query.After"},
		{"page with cursor", page(&Query{Page: 2, After: "a"}), "Query.Page"},
		{"after with space", page(&Query{After: "a b"}), "Query.After"},
		{"before with control", page(&Query{Before: "a\x00"}), "Query.Before"},
		{"phrase with control", page(&Query{Phrase: "action:repo\x1b[2J"}), "Query.Phrase"},
		{"phrase invalid UTF-8", page(&Query{Phrase: "actor:\xff"}), "Query.Phrase"},
		{"phrase too long", page(&Query{Phrase: strings.Repeat("a", 5000)}), "Query.Phrase"},
		{"bad query through Events", func(c *Client, ent string) error {
			return firstErr(c.Events(bg, Enterprise(ent), &Query{PerPage: 1000}))
		}, "Query.PerPage"},
		{"bad query through Pages", func(c *Client, ent string) error {
			return firstErr(c.Pages(bg, Enterprise(ent), &Query{Order: "DESC"}))
		}, "Query.Order"},

		// Phrases.
		{"phrase empty value", func(*Client, string) error { return build(Phrase().Actor("")) }, "Phrase.actor"},
		{"phrase double quote", func(*Client, string) error { return build(Phrase().Org(`acme" OR "x`)) }, "Phrase.org"},
		{"phrase control char", func(*Client, string) error { return build(Phrase().Country("US\n")) }, "Phrase.country"},
		{"phrase invalid UTF-8", func(*Client, string) error { return build(Phrase().IP("\xff\xfe")) }, "Phrase.ip"},
		{"phrase qualifier uppercase", func(*Client, string) error { return build(Phrase().Qualifier("Action", "x")) }, "Phrase"},
		{"phrase qualifier empty", func(*Client, string) error { return build(Phrase().Qualifier("", "x")) }, "Phrase"},
		{"phrase repo without owner", func(*Client, string) error { return build(Phrase().Repo("web")) }, "Phrase.Repo"},
		{"phrase range reversed", func(*Client, string) error { return build(Phrase().Created(since, since.Add(-time.Hour))) }, "Phrase.Created"},
		{"phrase negated bad value", func(*Client, string) error { return build(Phrase().Action("repo").Not(Phrase().Actor(""))) }, "Phrase.actor"},

		// Cursors.
		{"cursor garbage", func(*Client, string) error { return cursor("garbage") }, "Cursor"},
		{"cursor empty value", func(*Client, string) error { return cursor("after=") }, "Cursor"},
		{"cursor page zero", func(*Client, string) error { return cursor("page=0") }, "Cursor"},
		{"cursor page not a number", func(*Client, string) error { return cursor("page=two") }, "Cursor"},
		{"cursor unknown key", func(*Client, string) error { return cursor("sideways=abc") }, "Cursor"},
		{"cursor bad escape", func(*Client, string) error { return cursor("after=%zz") }, "Cursor"},
		{"cursor with space", func(*Client, string) error { return cursor("before=a%20b") }, "Cursor"},
		{"cursor too long", func(*Client, string) error { return cursor("after=" + strings.Repeat("A", 2000)) }, "Cursor"},

		// Stream configs.
		{"stream nil vendor", create(nil), "StreamConfig.Vendor"},
		{"stream nil pointer vendor", create((*Datadog)(nil)), "StreamConfig.Vendor"},
		{"splunk port zero", create(Splunk{Domain: "d.example", Token: sec}), "Splunk.Port"},
		{"splunk no token", create(Splunk{Domain: "d.example", Port: 443}), "Splunk.Token"},
		{"hec no path", create(HTTPSEventCollector{Domain: "d.example", Port: 443, Token: sec}), "HTTPSEventCollector.Path"},
		{"datadog unknown site", create(Datadog{Site: "mars", Token: sec}), "Datadog.Site"},
		{"s3 keys no secret key", create(AmazonS3AccessKeys{Bucket: "b", Region: "r", AccessKeyID: sec}), "AmazonS3AccessKeys.SecretAccessKey"},
		{"gcs credentials not JSON", create(GoogleCloudStorage{Bucket: "b", JSONCredentials: sec}), "GoogleCloudStorage.JSONCredentials"},
		{"sealed without key id", create(Sealed{Vendor: Datadog{Site: DatadogUS, Token: NewSecret(strings.Repeat("A", 64))}}), "Sealed.KeyID"},
		{"update nil vendor", func(c *Client, ent string) error {
			_, err := c.UpdateStream(bg, Enterprise(ent), 1, StreamConfig{})
			return err
		}, "StreamConfig.Vendor"},

		// Stream IDs.
		{"get stream 0", func(c *Client, ent string) error { _, err := c.GetStream(bg, Enterprise(ent), 0); return err }, "id"},
		{"update stream -1", func(c *Client, ent string) error {
			_, err := c.UpdateStream(bg, Enterprise(ent), -1, StreamConfig{Vendor: splunk})
			return err
		}, "id"},
		{"delete stream 0", func(c *Client, ent string) error { return c.DeleteStream(bg, Enterprise(ent), 0) }, "id"},
		{"pause stream -7", func(c *Client, ent string) error {
			_, err := c.PauseStream(bg, Enterprise(ent), -7, splunk)
			return err
		}, "id"},
		{"resume stream 0", func(c *Client, ent string) error {
			_, err := c.ResumeStream(bg, Enterprise(ent), 0, splunk)
			return err
		}, "id"},

		// Enterprise names.
		{"enterprise empty", func(c *Client, _ string) error { _, err := c.AuditLog(bg, Enterprise(""), nil); return err }, "enterprise"},
		{"enterprise traversal", func(c *Client, _ string) error { _, err := c.ListStreams(bg, ".."); return err }, "enterprise"},
		{"enterprise slash", func(c *Client, _ string) error { _, err := c.StreamKey(bg, "acme/streams"); return err }, "enterprise"},
		{"enterprise query", func(c *Client, _ string) error { return firstErr(c.Pages(bg, Enterprise("acme?x=1"), nil)) }, "enterprise"},
		{"enterprise non-ASCII", func(c *Client, _ string) error { _, err := c.GetStream(bg, "acmé", 1); return err }, "enterprise"},
		{"enterprise too long", func(c *Client, _ string) error { return c.DeleteStream(bg, Enterprise(strings.Repeat("a", 101)), 1) }, "enterprise"},
		{"enterprise on create", func(c *Client, _ string) error {
			_, err := c.CreateStream(bg, "a b", StreamConfig{Vendor: splunk})
			return err
		}, "enterprise"},
		{"enterprise on follow", func(c *Client, _ string) error { return follow(nil, FollowOptions{})(c, "-/-") }, "enterprise"},

		// Scopes: organization logins and IDs, and no scope at all.
		{"organization empty", onScope(Organization("")), "organization"},
		{"organization leading hyphen", onScope(Organization("-octo")), "organization"},
		{"organization trailing hyphen", onScope(Organization("octo-")), "organization"},
		{"organization double hyphen", onScope(Organization("octo--org")), "organization"},
		{"organization underscore", onScope(Organization("octo_org")), "organization"},
		{"organization dot", onScope(Organization("octo.org")), "organization"},
		{"organization slash", onScope(Organization("octo/streams")), "organization"},
		{"organization traversal", onScope(Organization("..")), "organization"},
		{"organization query", onScope(Organization("octo?x=1")), "organization"},
		{"organization space", onScope(Organization("octo org")), "organization"},
		{"organization non-ASCII", onScope(Organization("octö")), "organization"},
		{"organization too long", onScope(Organization(strings.Repeat("a", 40))), "organization"},
		{"organization ID zero", onScope(OrganizationID(0)), "organization"},
		{"organization ID negative", onScope(OrganizationID(-62012)), "organization"},
		{"nil scope", onScope(nil), "scope"},
		{"organization through Events", func(c *Client, _ string) error {
			return firstErr(c.Events(bg, Organization("a_b"), nil))
		}, "organization"},
		{"organization through Pages", func(c *Client, _ string) error {
			return firstErr(c.Pages(bg, Organization("a b"), nil))
		}, "organization"},
		{"organization on follow", func(c *Client, _ string) error {
			return firstErr(c.Follow(Organization("-"), nil, FollowOptions{}).Events(bg))
		}, "organization"},
		{"organization on backfill", func(c *Client, _ string) error {
			return firstErr(c.Backfill(Organization("x--y"), nil, BackfillOptions{Since: since, Until: since.Add(time.Hour)}).Events(bg))
		}, "organization"},
		{"nil scope on backfill", func(c *Client, _ string) error {
			return firstErr(c.Backfill(nil, nil, BackfillOptions{Since: since, Until: since.Add(time.Hour)}).Events(bg))
		}, "scope"},
		{"cursor of another scope", func(c *Client, ent string) error {
			var cur Cursor
			require.NoError(t, cur.UnmarshalText([]byte("after=abc&scope=orgs%2Focto-org")))
			_, err := c.AuditLog(bg, Enterprise(ent), (&Query{}).At(cur))
			return err
		}, "Cursor"},
		{"cursor bad scope", func(*Client, string) error { return cursor("after=abc&scope=orgs%2Focto_org") }, "Cursor"},

		// Follow options.
		{"follow negative every", func(c *Client, ent string) error { return follow(nil, FollowOptions{Every: -time.Second})(c, ent) }, "FollowOptions.Every"},
		{"follow negative look-back", func(c *Client, ent string) error { return follow(nil, FollowOptions{LookBack: -1})(c, ent) }, "FollowOptions.LookBack"},
		{"follow with cursor", func(c *Client, ent string) error { return follow(&Query{After: "abc"}, FollowOptions{})(c, ent) }, "Query.After"},
		{"follow with page", func(c *Client, ent string) error { return follow(&Query{Page: 3}, FollowOptions{})(c, ent) }, "Query.After"},
		{"follow bad include", func(c *Client, ent string) error { return follow(&Query{Include: "nope"}, FollowOptions{})(c, ent) }, "Query.Include"},

		// Nil contexts.
		{"nil ctx AuditLog", func(c *Client, ent string) error { _, err := c.AuditLog(nilCtx, Enterprise(ent), nil); return err }, "ctx"},
		{"nil ctx Events", func(c *Client, ent string) error { return firstErr(c.Events(nilCtx, Enterprise(ent), nil)) }, "ctx"},
		{"nil ctx Follow", func(c *Client, ent string) error {
			return firstErr(c.Follow(Enterprise(ent), nil, FollowOptions{}).Events(nilCtx))
		}, "ctx"},
		{"nil ctx StreamKey", func(c *Client, ent string) error { _, err := c.StreamKey(nilCtx, Enterprise(ent)); return err }, "ctx"},
		{"nil ctx ListStreams", func(c *Client, ent string) error { _, err := c.ListStreams(nilCtx, Enterprise(ent)); return err }, "ctx"},
		{"nil ctx CreateStream", func(c *Client, ent string) error {
			_, err := c.CreateStream(nilCtx, Enterprise(ent), StreamConfig{Vendor: splunk})
			return err
		}, "ctx"},
		{"nil ctx DeleteStream", func(c *Client, ent string) error { return c.DeleteStream(nilCtx, Enterprise(ent), 1) }, "ctx"},
	}
	require.GreaterOrEqual(t, len(tests), 60)

	srv, c, rec := recordedFake(t)
	for _, tc := range tests {
		var err error
		require.NotPanics(t, func() { err = tc.do(c, srv.Enterprise()) }, tc.name)
		recordErr(err)
		var ie *InputError
		if !assert.True(t, errors.As(err, &ie), "%s: want *InputError, got %T: %v", tc.name, err, err) {
			continue
		}
		assert.Equal(t, tc.field, ie.Field, tc.name)
		assert.ErrorIs(t, err, ErrInvalidInput, tc.name)
		assert.NotContains(t, err.Error(), secret, tc.name)
		assert.NotContains(t, err.Error(), "\n", tc.name)
		rec.mu.Lock()
		sent := len(rec.bodies)
		rec.mu.Unlock()
		require.Zero(t, sent, "%s: a request left the client", tc.name)
	}
	assert.Empty(t, srv.Requests(), "the fake saw a request")
}
