package auditlog

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPhraseBuilder(t *testing.T) {
	t.Parallel()
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	noon := time.Date(2024, 3, 15, 12, 30, 45, 999, time.FixedZone("CET", 3600))
	noonSharp := noon.Truncate(time.Second)
	for _, tc := range []struct {
		name string
		p    PhraseBuilder
		want string
	}{
		{"empty", Phrase(), ""},
		{"action", Phrase().Action("repo.create"), "action:repo.create"},
		{"category and actor", Phrase().Action("repo").Actor("octocat"), "action:repo actor:octocat"},
		{"repeat is or", Phrase().Actor("octocat").Actor("hubot"), "actor:octocat actor:hubot"},
		{"quoted", Phrase().Country("United States"), `country:"United States"`},
		{"since date", Phrase().CreatedSince(day), "created:2024-01-01..*"},
		{"since time utc, down to its second", Phrase().CreatedSince(noon), "created:2024-03-15T11:30:45Z..*"},
		{"before midnight is through the day before", Phrase().CreatedBefore(day), "created:*..2023-12-31"},
		{"before a second", Phrase().CreatedBefore(noonSharp), "created:*..2024-03-15T11:30:45Z"},
		{"range, end up to its second", Phrase().Created(day, noon), "created:2024-01-01..2024-03-15T11:30:46Z"},
		{"range end at midnight stays exact", Phrase().Created(day, day.AddDate(0, 0, 1)), "created:2024-01-01..2024-01-02T00:00:00Z"},
		{"open start", Phrase().Created(time.Time{}, noonSharp), "created:*..2024-03-15T11:30:45Z"},
		{"open end", Phrase().Created(day, time.Time{}), "created:2024-01-01..*"},
		{"no range", Phrase().Created(time.Time{}, time.Time{}), ""},
		{"one range where first narrowed", Phrase().Action("repo").CreatedSince(day).Actor("a").CreatedBefore(day.AddDate(0, 1, 0)),
			"action:repo created:2024-01-01..2024-01-31 actor:a"},
		{"a negated range", Phrase().Not(Phrase().Created(day, day.AddDate(0, 0, 1))), "-created:2024-01-01..2024-01-02T00:00:00Z"},
		{"not not a range joins the range", Phrase().CreatedBefore(day.AddDate(0, 2, 0)).Not(Phrase().Not(Phrase().CreatedSince(day))),
			"created:2024-01-01..2024-02-29"},
		{"not", Phrase().Action("repo").Not(Phrase().Actor("dependabot[bot]").Action("repo.access")),
			"action:repo -actor:dependabot[bot] -action:repo.access"},
		{"not not", Phrase().Not(Phrase().Not(Phrase().Action("hook"))), "action:hook"},
		{"others", Phrase().User("monalisa").Org("octo-org").Repo("octo-org/hello").Operation("create").IP("10.0.0.1").HashedToken("abc+/="),
			"user:monalisa org:octo-org repo:octo-org/hello operation:create ip:10.0.0.1 hashed_token:abc+/="},
		{"generic qualifier", Phrase().Qualifier("country_code", "DE"), "country_code:DE"},
	} {
		s, err := tc.p.Build()
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, s, tc.name)
		assert.Equal(t, tc.want, tc.p.String(), tc.name)
	}
}

func TestPhraseBuilderIsImmutable(t *testing.T) {
	t.Parallel()
	base := Phrase().Action("repo").Actor("a")
	x := base.Actor("x")
	y := base.Actor("y")
	assert.Equal(t, "action:repo actor:a actor:x", x.String())
	assert.Equal(t, "action:repo actor:a actor:y", y.String())
	assert.Equal(t, "action:repo actor:a", base.String())
}

func TestPhraseBuilderErrors(t *testing.T) {
	t.Parallel()
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		p     PhraseBuilder
		field string
	}{
		{Phrase().Actor(""), "Phrase.actor"},
		{Phrase().Actor(`oc"to`), "Phrase.actor"},
		{Phrase().Action("repo\n"), "Phrase.action"},
		{Phrase().Repo("hello-world"), "Phrase.Repo"},
		{Phrase().Qualifier("Bad Key", "x"), "Phrase"},
		{Phrase().Qualifier("", "x"), "Phrase"},
		{Phrase().Created(day, day.Add(-time.Hour)), "Phrase.Created"},
		{Phrase().CreatedSince(day).CreatedBefore(day), "Phrase.Created"},
		{Phrase().CreatedBefore(day).Actor("a").CreatedSince(day.Add(time.Hour)), "Phrase.Created"},
		{Phrase().Action("ok").Not(Phrase().User("")), "Phrase.user"},
		{Phrase().Actor("").Action("fine"), "Phrase.actor"}, // the first error is kept
	} {
		_, err := tc.p.Build()
		var ie *InputError
		require.ErrorAs(t, err, &ie)
		assert.Equal(t, tc.field, ie.Field)
		assert.Equal(t, err, tc.p.Err())
	}
}

// TestCreatedIsOneRange: whatever the builder calls, the phrase holds one
// created: qualifier, so GitHub (and the fake, which reads repeated
// qualifiers as alternatives, as GitHub does) selects the window and not
// everything (issue 12.3).
func TestCreatedIsOneRange(t *testing.T) {
	t.Parallel()
	day := func(d int) time.Time { return time.Date(2026, 10, d, 0, 0, 0, 0, time.UTC) }
	var evs []json.RawMessage
	for d := 1; d <= 10; d++ {
		evs = append(evs, rawEvent(fmt.Sprintf("d%02d", d), day(d).Add(6*time.Hour)))
	}
	srv, c := newFake(t, auditlogtest.WithEvents(evs...))
	for _, tc := range []struct {
		name string
		p    PhraseBuilder
		want []string
	}{
		{"since then before", Phrase().CreatedSince(day(3)).CreatedBefore(day(6)), []string{"d05", "d04", "d03"}},
		{"before then since", Phrase().CreatedBefore(day(6)).CreatedSince(day(3)), []string{"d05", "d04", "d03"}},
		{"two sinces narrow", Phrase().CreatedSince(day(2)).CreatedSince(day(8)), []string{"d10", "d09", "d08"}},
		{"range then before", Phrase().Created(day(2), day(9)).CreatedBefore(day(4)), []string{"d03", "d02"}},
	} {
		phrase, err := tc.p.Build()
		require.NoError(t, err, tc.name)
		assert.Equal(t, 1, strings.Count(phrase, "created:"), "%s: %s", tc.name, phrase)
		var got []string
		for ev, err := range c.Events(context.Background(), Enterprise(srv.Enterprise()), &Query{Phrase: phrase}) {
			require.NoError(t, err)
			got = append(got, ev.DocumentID)
		}
		assert.Equal(t, tc.want, got, "%s: %s", tc.name, phrase)
	}
}

// TestActionCategoryWildcard: "repo.*" is the category form GitHub spells
// action:repo; any other wildcard is refused with an error showing it
// (issue 12.3).
func TestActionCategoryWildcard(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, auditlogtest.WithGeneratedEvents(400, 6))
	phrase, err := Phrase().Action("repo.*").Build()
	require.NoError(t, err)
	n := 0
	for ev, err := range c.Events(context.Background(), Enterprise(srv.Enterprise()), &Query{Phrase: phrase, Include: IncludeAll, PerPage: 100}) {
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(ev.Action, "repo."), ev.Action)
		n++
	}
	assert.NotZero(t, n, "action repo.* matched nothing")
	for _, bad := range []string{"repo*", "re*.create", "repo.cr*"} {
		_, err := Phrase().Action(bad).Build()
		var ie *InputError
		require.ErrorAs(t, err, &ie, bad)
		assert.Equal(t, "Phrase.action", ie.Field)
		assert.Contains(t, ie.Reason, "action:re", bad)
	}
}

// TestMergeCreated: the one function Follow, page-number pins and Backfill
// use to add their time bound to a caller's phrase.
func TestMergeCreated(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	floor := span{lo: at("2026-03-10T08:30:00Z")}
	for _, tc := range []struct {
		phrase string
		bound  span
		want   string
		empty  bool
	}{
		{"", span{}, "", false},
		{"action:repo", span{}, "action:repo", false},
		{"action:repo", floor, "action:repo created:2026-03-10T08:30:00Z..*", false},
		{"created:>=2026-03-01 action:repo", floor, "action:repo created:2026-03-10T08:30:00Z..*", false},
		{"created:>=2026-03-11", floor, "created:2026-03-11..*", false},
		{"action:repo created:<2026-04-01", floor, "action:repo created:2026-03-10T08:30:00Z..2026-03-31", false},
		{"created:<=2026-04-01", floor, "created:2026-03-10T08:30:00Z..2026-04-01", false},
		{"created:2026-03-10", floor, "created:2026-03-10T08:30:00Z..2026-03-10", false},
		{"created:2026-03-01..2026-03-20T10:00:00Z", floor, "created:2026-03-10T08:30:00Z..2026-03-20T10:00:00Z", false},
		{"created:*..2026-03-20", floor, "created:2026-03-10T08:30:00Z..2026-03-20", false},
		{"Created:>2026-03-12", floor, "created:2026-03-13..*", false},
		{"created:>=2026-03-10T10:00:00+02:00", floor, "created:2026-03-10T08:30:00Z..*", false},
		{`actor:"a b" created:"2026-03-01..*"`, floor, `actor:"a b" created:2026-03-10T08:30:00Z..*`, false},
		{"action:repo+created:>=2026-03-01", floor, "action:repo created:2026-03-10T08:30:00Z..*", false},
		{"-created:2026-03-10 action:repo", floor, "-created:2026-03-10 action:repo created:2026-03-10T08:30:00Z..*", false},
		{"created:<2026-03-01", floor, "", true},
		{"", span{hi: at("2026-03-10T08:30:01Z"), hiIncl: true}, "created:*..2026-03-10T08:30:01Z", false},
	} {
		got, ok, err := mergeCreated(tc.phrase, tc.bound)
		require.NoError(t, err, tc.phrase)
		assert.Equal(t, !tc.empty, ok, tc.phrase)
		if ok {
			assert.Equal(t, tc.want, got, tc.phrase)
		}
	}
	for _, bad := range []string{
		"created:>=2026-01-01 created:<2026-02-01",
		"created:2026-01-01 action:repo Created:2026-01-02",
		"created:yesterday",
		"created:>=",
		"created:2026-13-01",
	} {
		_, _, err := mergeCreated(bad, floor)
		var ie *InputError
		require.ErrorAs(t, err, &ie, bad)
		assert.Equal(t, "Query.Phrase", ie.Field, bad)
	}
}
