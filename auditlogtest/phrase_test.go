package auditlogtest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// 2024-01-01T00:00:00Z = 1704067200000
var phraseEvents = []string{
	`{"@timestamp":1704067200000,"_document_id":"a","action":"repo.create","actor":"octocat","user":"hubot","org":"avocado","repo":"avocado/api","operation_type":"create","actor_location":{"country_code":"US"}}`,
	`{"@timestamp":1704103200000,"_document_id":"b","action":"repo.destroy","actor":"monalisa","org":["avocado","guac"],"repo":["avocado/web","guac/web"],"operation_type":"remove","actor_location":{"country_code":"DE"}}`,
	`{"@timestamp":1704153599999,"_document_id":"c","action":"repository_x.create","actor":"octocat","org":"guac","repository":"guac/infra","operation_type":"create","actor_location":{"country_code":"JP"}}`,
	`{"@timestamp":1704153600000,"_document_id":"d","action":"team.add_member","actor":"hubot","user":"octocat","org":"pit","operation_type":"modify","actor_location":{"country_code":"US"}}`,
	`{"@timestamp":1704189600000,"_document_id":"e","action":"hook.create","actor":"Zoë Smith","org":"pit","repo":"pit/docs","operation_type":"create"}`,
	`{"@timestamp":1704240000000,"_document_id":"f","action":"git.push","actor":"octocat","org":"avocado","repo":"avocado/api","operation_type":"modify"}`,
}

func TestPhrase(t *testing.T) {
	t.Parallel()
	var evs []json.RawMessage
	for _, e := range phraseEvents {
		evs = append(evs, json.RawMessage(e))
	}
	s := auditlogtest.NewServer(auditlogtest.WithEvents(evs...), unlimited)
	t.Cleanup(s.Close)
	tests := []struct {
		phrase string
		want   string // ids in asc order; "422" for a validation failure
	}{
		{"", "abcde"},
		{"action:repo.create", "a"},
		{"action:repo", "ab"}, // category: not repository_x
		{"action:repository_x", "c"},
		{"action:git", ""}, // include=web by default
		{"-action:repo", "cde"},
		{"action:repo.create action:hook.create", "ae"}, // OR
		{"action:repo+action:hook.create", "abe"},       // '+' separates too
		{"action:repo actor:monalisa", "b"},             // AND
		{"actor:octocat", "ac"},
		{"actor:octocat -action:repo", "c"},
		{"-actor:octocat -actor:hubot", "be"},
		{`actor:"Zoë Smith"`, "e"},
		{"user:octocat", "d"},
		{"org:guac", "bc"}, // array element
		{"org:avocado", "ab"},
		{"repo:guac/web", "b"},
		{"repo:avocado/api", "a"},
		{"repository:guac/infra", "c"},
		{"operation:create", "ace"},
		{"country_code:US", "ad"},
		{"country_code:us country_code:jp", "acd"},
		{"created:2024-01-01", "abc"},
		{"created:>2024-01-01", "de"},
		{"created:>=2024-01-02", "de"},
		{"created:<2024-01-02", "abc"},
		{"created:<=2024-01-01", "abc"},
		{"created:2024-01-01..2024-01-02", "abcde"},
		{"created:2024-01-02..*", "de"},
		{"created:*..2024-01-01", "abc"},
		{"created:>2024-01-01T10:00:00Z", "cde"}, // b is exactly 10:00Z
		{"created:>=2024-01-01T10:00:00Z", "bcde"},
		{"created:<2024-01-01T10:00:00Z", "a"},
		{"created:>=2024-01-01T12:00:00+02:00", "bcde"}, // 10:00Z
		{"created:2024-01-01T01:00:00+01:00..2024-01-01T10:00:00Z", "ab"},
		{`created:"2024-01-02"`, "de"},
		{"created:>=2024-01-01 created:<2024-01-01T09:00:00Z", "abcde"}, // same qualifier ORs
		{"created:2024-01-01 action:repo -actor:monalisa", "a"},
		{"bogus:1", "422"},
		{"hello", "422"},
		{"action:repo free", "422"},
		{"created:yesterday", "422"},
		{"action:", "422"},
	}
	for _, tt := range tests {
		t.Run(tt.phrase, func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, s, "/enterprises/avocado-corp/audit-log?order=asc&phrase="+url.QueryEscape(tt.phrase))
			if tt.want == "422" {
				require.Equal(t, 422, resp.StatusCode, string(body))
				e := decodeErr(t, body)
				assert.Equal(t, "Validation Failed", e.Message)
				require.Len(t, e.Errors, 1)
				assert.Equal(t, "phrase", e.Errors[0].Field)
				return
			}
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			assert.Equal(t, tt.want, strings.Join(docIDs(t, body), ""))
		})
	}

	t.Run("unknown qualifier is named", func(t *testing.T) {
		t.Parallel()
		_, body := get(t, s, "/enterprises/avocado-corp/audit-log?phrase="+url.QueryEscape("action:repo colour:blue"))
		assert.Contains(t, decodeErr(t, body).Errors[0].Message, "colour")
	})
	t.Run("git with include=all", func(t *testing.T) {
		t.Parallel()
		_, body := get(t, s, "/enterprises/avocado-corp/audit-log?include=all&phrase=action:git")
		assert.Equal(t, []string{"f"}, docIDs(t, body))
		_, body = get(t, s, "/enterprises/avocado-corp/audit-log?include=git&phrase=-repo:avocado/api")
		assert.Empty(t, docIDs(t, body))
	})
}

// The generated dataset agrees with a client-side filter of Events.
func TestPhraseOnGeneratedData(t *testing.T) {
	t.Parallel()
	s := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(400, 11), unlimited)
	t.Cleanup(s.Close)
	type ev struct {
		ID     string `json:"_document_id"`
		Action string `json:"action"`
		Org    any    `json:"org"`
	}
	var all []ev
	for _, r := range s.Events("all", "desc") {
		var e ev
		require.NoError(t, json.Unmarshal(r, &e))
		all = append(all, e)
	}
	var wantOrg, wantHook []string
	arrays := 0
	for _, e := range all {
		switch o := e.Org.(type) {
		case string:
			if o == "pit-labs" {
				wantOrg = append(wantOrg, e.ID)
			}
		case []any:
			arrays++
			if slices.Contains(o, any("pit-labs")) {
				wantOrg = append(wantOrg, e.ID)
			}
		}
		if strings.HasPrefix(e.Action, "hook.") {
			wantHook = append(wantHook, e.ID)
		}
	}
	require.NotZero(t, arrays, "the generated data has array-valued org")
	for phrase, want := range map[string][]string{"org:pit-labs": wantOrg, "action:hook": wantHook} {
		resp, body := get(t, s, "/enterprises/avocado-corp/audit-log?include=all&per_page=100&phrase="+url.QueryEscape(phrase))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		got := docIDs(t, body)
		require.Equal(t, want[:min(len(want), 100)], got, phrase)
	}
}

// TestPhraseReadsFieldsFromTheEventJSON: qualifiers match fields written
// with escapes, with odd types and inside nested objects only where GitHub
// puts them (actor_location), never a same-named field nested elsewhere.
func TestPhraseReadsFieldsFromTheEventJSON(t *testing.T) {
	t.Parallel()
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithEvents(
		json.RawMessage(`{"@timestamp":1704067200000,"_document_id":"a","actor":"oct\u006fcat","user":"a\"b","actor_location":{"country_name":"C\u00f4te d'Ivoire"}}`),
		json.RawMessage(`{"@timestamp":1704067200001,"_document_id":"b","action":7,"actor":["octocat","hubot"],"org_id":[1,2],"data":{"user":"hubot","actor":"x"}}`),
		json.RawMessage(`{ "@timestamp" : 1704067200002 , "_document_id" : "c" , "user" : "hubot" , "actor_location" : { "country_code" : "CI" } }`),
	))
	tests := []struct{ phrase, want string }{
		{"actor:octocat", "ab"},
		{"actor:hubot", "b"},
		{"actor:x", ""},
		{"action:7", "b"},
		{`user:"a"b"`, "a"}, // the escaped quote is read decoded
		{"user:hubot", "c"},
		{`country:"Côte d'Ivoire"`, "a"},
		{"country:ci", "c"},
		{"country_code:ci", "c"},
	}
	for _, tt := range tests {
		resp, body := get(t, s, "/enterprises/avocado-corp/audit-log?order=asc&phrase="+url.QueryEscape(tt.phrase))
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", tt.phrase, body)
		assert.Equal(t, tt.want, strings.Join(docIDs(t, body), ""), tt.phrase)
	}
}
