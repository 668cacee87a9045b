package auditlogtest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type genEvent struct {
	TS     int64           `json:"@timestamp"`
	ID     string          `json:"_document_id"`
	Action string          `json:"action"`
	Actor  string          `json:"actor"`
	Org    json.RawMessage `json:"org"`
}

func generated(t *testing.T, g auditlogtest.Generator) []genEvent {
	t.Helper()
	raws, err := g.Events()
	require.NoError(t, err)
	out := make([]genEvent, len(raws))
	for i, r := range raws {
		require.NoError(t, json.Unmarshal(r, &out[i]))
	}
	return out
}

func TestGeneratorSteering(t *testing.T) {
	t.Parallel()
	until := time.Date(2024, 6, 6, 8, 0, 0, 0, time.UTC)
	since := until.Add(-48 * time.Hour)
	g := auditlogtest.Generator{N: 1000, Seed: 3, Since: since, Until: until,
		Actions: []string{"repo.create", "team.add_member"}, Actors: []string{"alice", "bob", `q"uote`},
		GitPercent: 50, OrgArrayPercent: 100}
	evs := generated(t, g)
	require.Len(t, evs, 1000)
	git, seenActor := 0, map[string]bool{}
	for _, e := range evs {
		assert.GreaterOrEqual(t, e.TS, since.UnixMilli())
		assert.Less(t, e.TS, until.UnixMilli())
		assert.Len(t, e.ID, 22)
		if strings.HasPrefix(e.Action, "git.") {
			git++
			assert.GreaterOrEqual(t, e.TS, until.Add(-7*24*time.Hour).UnixMilli(), "git events in the last 7 days")
		} else {
			assert.Contains(t, g.Actions, e.Action)
		}
		seenActor[e.Actor] = true
		assert.Equal(t, byte('['), e.Org[0], "every org an array")
	}
	assert.InDelta(t, 500, git, 60)
	assert.Equal(t, map[string]bool{"alice": true, "bob": true, `q"uote`: true}, seenActor)

	g.GitPercent, g.OrgArrayPercent = 0, 0
	for _, e := range generated(t, g) {
		assert.False(t, strings.HasPrefix(e.Action, "git."))
		assert.Equal(t, byte('"'), e.Org[0])
	}
	g.GitPercent = 100
	for _, e := range generated(t, g) {
		assert.True(t, strings.HasPrefix(e.Action, "git."))
	}

	// The defaults: NewGenerator is WithGeneratedEvents.
	def := auditlogtest.NewGenerator(500, 1)
	def.Until = until
	raws, err := def.Events()
	require.NoError(t, err)
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(500, 1),
		auditlogtest.WithClock(func() time.Time { return until }))
	assert.ElementsMatch(t, rawIDs(t, raws), rawIDs(t, s.Events(auditlog.IncludeAll, auditlog.OrderAsc)))

	// A server's enterprise fills business.
	s = auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithEnterprise("guac", 42),
		auditlogtest.WithGenerator(auditlogtest.Generator{N: 3, Seed: 1}))
	for _, r := range s.Events(auditlog.IncludeAll, "") {
		var v struct {
			Business   string `json:"business"`
			BusinessID int64  `json:"business_id"`
		}
		require.NoError(t, json.Unmarshal(r, &v))
		assert.Equal(t, "guac", v.Business)
		assert.EqualValues(t, 42, v.BusinessID)
	}
}

func TestGeneratorRefuses(t *testing.T) {
	t.Parallel()
	until := time.Date(2024, 6, 6, 8, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		g    auditlogtest.Generator
		want string
	}{
		{auditlogtest.Generator{N: -1}, "Generator.N is negative"},
		{auditlogtest.Generator{GitPercent: 101}, "GitPercent 101"},
		{auditlogtest.Generator{OrgArrayPercent: -5}, "OrgArrayPercent -5"},
		{auditlogtest.Generator{Since: until, Until: until}, "not at least 1ms before Until"},
		{auditlogtest.Generator{Since: time.Unix(0, 0)}, "before 1973"},
		{auditlogtest.Generator{Actions: []string{"repo.create", ""}}, "empty action"},
		{auditlogtest.Generator{Actors: []string{""}}, "empty login"},
	} {
		_, err := tt.g.Events()
		require.ErrorContains(t, err, tt.want)
		_, err = tt.g.Dataset()
		require.ErrorContains(t, err, tt.want)
		ft := &fakeTB{TB: t}
		assert.Nil(t, auditlogtest.New(ft, auditlogtest.WithGenerator(tt.g)))
		assert.Contains(t, ft.fatal, tt.want)
	}
}

func TestWithDatasetSharesAcrossServers(t *testing.T) {
	t.Parallel()
	ds, err := auditlogtest.NewGenerator(1000, 5).Dataset()
	require.NoError(t, err)
	assert.Equal(t, 1000, ds.Len())
	a := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithDataset(ds))
	b := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithDataset(ds), auditlogtest.WithEnterprise("other", 1))
	want := a.Events(auditlog.IncludeAll, auditlog.OrderAsc)
	require.Len(t, want, 1000)
	assert.Equal(t, want, b.Events(auditlog.IncludeAll, auditlog.OrderAsc))
	require.NoError(t, a.AddEvents(auditlogtest.Event{ID: "new", Time: time.Now()}.JSON()))
	assert.Len(t, a.Events(auditlog.IncludeAll, ""), 1001)
	assert.Len(t, b.Events(auditlog.IncludeAll, ""), 1000)
	assert.Equal(t, 1000, ds.Len())
	require.ErrorContains(t, a.AddEvents(want[10]), "duplicate _document_id", "the dataset's IDs are taken")
}
