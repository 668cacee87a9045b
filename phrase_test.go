package auditlog

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPhraseBuilder(t *testing.T) {
	t.Parallel()
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	noon := time.Date(2024, 3, 15, 12, 30, 45, 999, time.FixedZone("CET", 3600))
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
		{"since date", Phrase().CreatedSince(day), "created:>=2024-01-01"},
		{"since time utc", Phrase().CreatedSince(noon), "created:>=2024-03-15T11:30:45Z"},
		{"before", Phrase().CreatedBefore(day), "created:<2024-01-01"},
		{"range", Phrase().Created(day, noon), "created:2024-01-01..2024-03-15T11:30:45Z"},
		{"range end at midnight stays exact", Phrase().Created(day, day.AddDate(0, 0, 1)), "created:2024-01-01..2024-01-02T00:00:00Z"},
		{"open start", Phrase().Created(time.Time{}, noon), "created:*..2024-03-15T11:30:45Z"},
		{"open end", Phrase().Created(day, time.Time{}), "created:2024-01-01..*"},
		{"no range", Phrase().Created(time.Time{}, time.Time{}), ""},
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
