package auditlogtest_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var docIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

func TestEventBuilder(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 6, 6, 8, 0, 0, 123_456_789, time.UTC)
	tests := []struct {
		name string
		ev   auditlogtest.Event
		want string // the JSON without _document_id
	}{
		{"minimal", auditlogtest.Event{Time: t0},
			`{"@timestamp":1717660800123,"created_at":1717660800123}`},
		{"one org", auditlogtest.Event{Time: t0, Created: t0.Add(2 * time.Second), Action: "repo.create", Actor: "octocat",
			Org: []string{"avocado-org"}, OrgID: []int64{62012}},
			`{"@timestamp":1717660800123,"action":"repo.create","actor":"octocat","created_at":1717660802123,"org":"avocado-org","org_id":62012}`},
		{"several orgs", auditlogtest.Event{Time: t0, Action: "oauth_authorization.create", Org: []string{"a", "b"}, OrgID: []int64{1, 2}},
			`{"@timestamp":1717660800123,"action":"oauth_authorization.create","created_at":1717660800123,"org":["a","b"],"org_id":[1,2]}`},
		{"fields, core wins", auditlogtest.Event{Time: t0, Action: "hook.create", Fields: map[string]any{
			"action": "ignored", "_document_id": "ignored", "config": map[string]any{"url": "https://x/?a=1&b=<2>"}, "permission": true}},
			`{"@timestamp":1717660800123,"action":"hook.create","config":{"url":"https://x/?a=1&b=<2>"},"created_at":1717660800123,"permission":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := tt.ev.JSON()
			var m map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(raw, &m))
			var id string
			require.NoError(t, json.Unmarshal(m["_document_id"], &id))
			assert.Regexp(t, docIDRE, id)
			assert.Equal(t, string(raw), string(tt.ev.JSON()), "stable")
			assert.Equal(t, tt.want, strings.Replace(string(raw), `"_document_id":"`+id+`",`, "", 1))

			// The SDK reads it as GitHub's.
			var e auditlog.Event
			require.NoError(t, e.UnmarshalJSON(raw))
			assert.Equal(t, t0.Truncate(time.Millisecond), e.Timestamp.UTC())
			assert.Equal(t, id, e.DocumentID)
			assert.Equal(t, tt.ev.Action, e.Action)
			assert.Equal(t, tt.ev.Org, e.Org)
		})
	}
	given := auditlogtest.Event{ID: "doc-1", Time: t0}
	assert.Contains(t, string(given.JSON()), `"_document_id":"doc-1"`)
	a := auditlogtest.Event{Time: t0, Action: "repo.create"}.JSON()
	b := auditlogtest.Event{Time: t0, Action: "repo.destroy"}.JSON()
	assert.NotEqual(t, string(a), string(b))
}

func TestEventBuilderRefuses(t *testing.T) {
	t.Parallel()
	_, err := auditlogtest.Event{Action: "x"}.MarshalJSON()
	require.ErrorContains(t, err, "Event.Time is zero")
	_, err = auditlogtest.Event{Time: time.Unix(1717660800, 0).Add(-54 * 365 * 24 * time.Hour)}.MarshalJSON()
	require.ErrorContains(t, err, "before 1973")
	_, err = auditlogtest.Event{Time: time.Now(), Fields: map[string]any{"f": func() {}}}.MarshalJSON()
	require.ErrorContains(t, err, "Event.Fields")
	require.PanicsWithValue(t, "auditlogtest: Event.Time is zero", func() { auditlogtest.Event{}.JSON() })
}

// TestTimestampsInSecondsRefused: a dataset built with epoch seconds, a
// common mistake, is refused with a message that says so.
func TestTimestampsInSecondsRefused(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		raw, want string
	}{
		{`{"@timestamp":1717660800,"_document_id":"a"}`, `"@timestamp" 1717660800 is not in epoch milliseconds (seconds?`},
		{`{"@timestamp":1717660800000,"created_at":1717660801,"_document_id":"a"}`, `"created_at" 1717660801 is not in epoch milliseconds`},
		{`{"@timestamp":1717660800000.5,"_document_id":"a"}`, `is not an integer`},
		{`{"@timestamp":"1717660800000","_document_id":"a"}`, `"@timestamp" missing or not a number`},
		{`{"@timestamp":1717660800000,"_document_id":""}`, `"_document_id" missing`},
		{`[1]`, `not a JSON object`},
		{`{"@timestamp":`, `invalid JSON`},
	} {
		_, err := auditlogtest.NewDataset(json.RawMessage(tt.raw))
		require.ErrorContains(t, err, tt.want, tt.raw)
		s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithEvents())
		require.ErrorContains(t, s.AddEvents(json.RawMessage(tt.raw)), tt.want)
		require.PanicsWithValue(t, "auditlogtest: event 0: "+strings.SplitN(err.Error(), "event 0: ", 2)[1], func() {
			auditlogtest.NewServer(auditlogtest.WithEvents(json.RawMessage(tt.raw)))
		})
	}
	// Milliseconds, quirks and all, are fine.
	_, err := auditlogtest.NewDataset(json.RawMessage(`{"@timestamp":1717660800000,"created_at":"odd","_document_id":"a","actor":["x"],"action":7}`))
	require.NoError(t, err)
}

func TestNewDatasetRefusesDuplicates(t *testing.T) {
	t.Parallel()
	_, err := auditlogtest.NewDataset(
		json.RawMessage(`{"@timestamp":1717660800000,"_document_id":"a"}`),
		json.RawMessage(`{"@timestamp":1717660900000,"_document_id":"b"}`),
		json.RawMessage(`{"@timestamp":1717661000000,"_document_id":"a"}`))
	require.ErrorContains(t, err, `duplicate _document_id "a"`)
}
