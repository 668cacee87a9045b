package auditlog

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func loadQuirks(t *testing.T) (string, []json.RawMessage) {
	t.Helper()
	b, err := os.ReadFile("testdata/page_quirks.json")
	require.NoError(t, err)
	var raws []json.RawMessage // encoding/json keeps each element's bytes exactly
	require.NoError(t, json.Unmarshal(b, &raws))
	return string(b), raws
}

func TestDecodeEventsQuirks(t *testing.T) {
	t.Parallel()
	body, raws := loadQuirks(t)
	events, err := decodeEvents(body)
	require.NoError(t, err)
	require.Len(t, events, len(raws))

	ms := func(n int64) time.Time { return time.UnixMilli(n).UTC() }
	e0 := events[0]
	assert.Equal(t, ms(1606929874512), e0.Timestamp)
	assert.Equal(t, ms(1606929874523), e0.CreatedAt)
	assert.Equal(t, "xJJFlFOhQ6b-5vaAFy9Rjw", e0.DocumentID)
	assert.Equal(t, "team.add_member", e0.Action)
	assert.Equal(t, "octocat", e0.Actor)
	assert.Equal(t, int64(583231), e0.ActorID)
	assert.Equal(t, Location{CountryCode: "US", CountryName: "United States"}, e0.ActorLocation)
	assert.Equal(t, "monalisa", e0.User)
	assert.Equal(t, int64(1001), e0.UserID)
	assert.Equal(t, []string{"octo-org"}, e0.Org)
	assert.Equal(t, []int64{9919}, e0.OrgID)
	assert.Equal(t, "avocado-corp", e0.Business)
	assert.Equal(t, int64(1234), e0.BusinessID)
	assert.Equal(t, "modify", e0.OperationType)
	assert.Equal(t, "QvnINS1LlFOn6pGVPdpIPoM7/vkwZKMgD1gNqwkjXeg=", e0.HashedToken)
	assert.Equal(t, int64(424242), e0.TokenID)
	assert.Equal(t, "Personal access token (classic)", e0.ProgrammaticAccessType)

	// Arrays where the schema says scalars: every value kept, none joined.
	e1 := events[1]
	assert.Equal(t, []string{"octo-org", "octo-labs"}, e1.Org)
	assert.Equal(t, []int64{9919, 9920}, e1.OrgID)
	assert.Equal(t, ms(1606929874512), e1.Timestamp, "same millisecond as the first entry")

	// A bool permission and a string org_id do not fail the page.
	e2 := events[2]
	perm, ok := e2.Get("permission")
	require.True(t, ok)
	assert.Equal(t, "false", string(perm))
	assert.Equal(t, []int64{9919}, e2.OrgID, "numeric string org_id")
	assert.Equal(t, Location{CountryCode: "DE"}, e2.ActorLocation)

	// Drifted types leave the typed field zero; the raw JSON keeps them.
	e3 := events[3]
	assert.Zero(t, e3.ActorID, "actor_id that is not a number")
	assert.Equal(t, ms(1606930000005), e3.CreatedAt, "created_at in e-notation")
	assert.Equal(t, []string{"octo-org/hello-world", "octo-org/fork"}, e3.Repo)
	assert.Equal(t, "octo-org/hello-world", e3.Repository)
	assert.Empty(t, e3.Business, "business sent as a number")
	assert.Zero(t, e3.ActorLocation, "actor_location sent as a string")
	biz, _ := e3.Get("business")
	assert.Equal(t, "42", string(biz))

	e4 := events[4]
	assert.Nil(t, e4.OrgID, "null org_id")
	assert.Equal(t, []string{"octo-org/hello-world"}, e4.Repo)
	cfg, ok := e4.Get("config")
	require.True(t, ok)
	assert.JSONEq(t, `{"url":"https://example.com/hook","content_type":"json","insecure_ssl":"0"}`, string(cfg))
	_, ok = e4.Get("no_such_field")
	assert.False(t, ok)

	// Byte-exact raw JSON, whitespace included, through Raw, MarshalJSON and AppendRaw.
	for i, ev := range events {
		assert.Equal(t, string(raws[i]), string(ev.Raw()), "entry %d", i)
		m, err := ev.MarshalJSON()
		require.NoError(t, err)
		assert.Equal(t, string(raws[i]), string(m), "entry %d", i)
		assert.Equal(t, "x"+string(raws[i]), string(ev.AppendRaw([]byte("x"))))
	}
}

func TestEventDecodeAndEscapes(t *testing.T) {
	t.Parallel()
	body, _ := loadQuirks(t)
	events, err := decodeEvents(body)
	require.NoError(t, err)

	var v struct {
		UserAgent string `json:"user_agent"`
	}
	require.NoError(t, events[0].Decode(&v))
	assert.Equal(t, "Mozilla/5.0 \"quoted\" <b>&amp;</b> café 😀", v.UserAgent)

	var d struct {
		Data struct {
			Application struct {
				Name  string `json:"name"`
				Owner struct {
					Login string `json:"login"`
				} `json:"owner"`
			} `json:"application"`
		} `json:"data"`
	}
	require.NoError(t, events[1].Decode(&d))
	assert.Equal(t, "CI → deploy", d.Data.Application.Name)
	assert.Equal(t, "octo-org", d.Data.Application.Owner.Login)

	// Escaped strings in typed fields decode like encoding/json does.
	cases := map[string]string{
		`"plain"`:                  "plain",
		`"a\"b\\c\/d"`:             `a"b\c/d`,
		`"\b\f\n\r\t"`:             "\b\f\n\r\t",
		`"caf\u00e9"`:              "café",
		`"\ud83d\ude00"`:           "😀",
		`"lone \ud83d surrogate"`:  "lone \ufffd surrogate",
		`"\uDE00 reversed \uD83D"`: "\ufffd reversed \ufffd",
	}
	for in, want := range cases {
		var ref string
		require.NoError(t, json.Unmarshal([]byte(in), &ref))
		require.Equal(t, ref, want, "reference for %s", in)
		var ev Event
		require.NoError(t, ev.UnmarshalJSON([]byte(`{"actor":`+in+`}`)), in)
		assert.Equal(t, want, ev.Actor, in)
	}
}

func TestDecodeEventsInvalid(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"a":`, 2000) + "1" + strings.Repeat("}", 2000)
	deepArr := strings.Repeat("[", 2000) + strings.Repeat("]", 2000)
	for _, body := range []string{
		``, `   `, `[`, `{}`, `[1]`, `["x"]`, `[{]`, `[{"a":}]`, `[{"a":1,}]`, `[{"a" 1}]`,
		`[{"a":1}`, `[{"a":1}]]`, `[{"a":1}] x`, `[{"a":"x` + "\x01" + `"}]`, `[{"a":"\u12"}]`,
		`[{"a":"\q"}]`, `[{"a":tru}]`, `[{"a":01}]`, `[{"a":1.}]`, `[{"a":-}]`, `[{"a":1e}]`,
		`[{"a":"unterminated}]`, `[{"a":1} {"b":2}]`, `[{"a":[1,]}]`, `[{"a":` + deep + `}]`,
		`[{"a":` + deepArr + `}]`, `[{"org":[1,}]`, `[{"actor_location":{"country_code":}}]`,
	} {
		_, err := decodeEvents(body)
		var se *SyntaxError
		assert.ErrorAs(t, err, &se, "body %.40q", body)
	}
	for _, body := range []string{`[]`, ` [ ] `, `null`} {
		events, err := decodeEvents(body)
		assert.NoError(t, err, body)
		assert.Empty(t, events, body)
	}
}

func TestEventMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	body, raws := loadQuirks(t)
	events, err := decodeEvents(body)
	require.NoError(t, err)
	// Through encoding/json (which compacts and escapes HTML) the JSON stays
	// equivalent, and decoding it again gives the same typed fields.
	out, err := json.Marshal(events)
	require.NoError(t, err)
	var back []Event
	require.NoError(t, json.Unmarshal(out, &back))
	require.Len(t, back, len(events))
	for i := range events {
		assert.JSONEq(t, string(raws[i]), string(back[i].Raw()))
		want := events[i]
		want.raw, back[i].raw = "", ""
		assert.Equal(t, want, back[i])
	}
	var zero Event
	m, err := json.Marshal(zero)
	require.NoError(t, err)
	assert.Equal(t, "null", string(m))
	assert.Error(t, zero.Decode(&struct{}{}))
	require.NoError(t, json.Unmarshal([]byte("null"), &zero))
	assert.Error(t, zero.UnmarshalJSON([]byte(`{"a":1} trailing`)))
}
