package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// recorder keeps the bodies of the requests a client sends.
type recorder struct {
	base   http.RoundTripper
	mu     sync.Mutex
	bodies []recorded
}

type recorded struct {
	method, path string
	body         []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.mu.Lock()
	r.bodies = append(r.bodies, recorded{req.Method, req.URL.Path, body})
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

func (r *recorder) last(t *testing.T) recorded {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.bodies)
	return r.bodies[len(r.bodies)-1]
}

// recordedFake starts an auditlogtest server and a client for it whose
// request bodies are recorded.
func recordedFake(t *testing.T, opts ...auditlogtest.Option) (*auditlogtest.Server, *Client, *recorder) {
	t.Helper()
	srv := auditlogtest.NewServer(opts...)
	t.Cleanup(srv.Close)
	rec := &recorder{base: srv.Client().Transport}
	c, err := NewClient(WithBaseURL(srv.URL()), WithToken(srv.Token()), WithHTTPClient(&http.Client{Transport: rec}), WithLogger(testLogger))
	require.NoError(t, err)
	return srv, c, rec
}

// streamingCalls counts the fake's requests charged to audit_log_streaming,
// and among them the stream-key ones.
func streamingCalls(srv *auditlogtest.Server) (total, keys int) {
	for _, r := range srv.Requests() {
		if r.Resource != ResourceAuditLogStreaming {
			continue
		}
		total++
		if strings.HasSuffix(r.Path, "/audit-log/stream-key") {
			keys++
		}
	}
	return total, keys
}

// variants is one plaintext config per schema variant, with the plaintext
// the fake must unseal for each encrypted_* field.
var variants = []struct {
	name    string
	vendor  Vendor
	secrets map[string]string
}{
	{"azure_blob", AzureBlobStorage{Container: "audit", SASURL: NewSecret("https://acme.blob.core.windows.net/audit?sv=2024&sig=SECRETsig")},
		map[string]string{"encrypted_sas_url": "https://acme.blob.core.windows.net/audit?sv=2024&sig=SECRETsig"}},
	{"azure_hubs", AzureEventHubs{Name: "audit-hub", ConnectionString: NewSecret("Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKey=SECRETkey")},
		map[string]string{"encrypted_connstring": "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKey=SECRETkey"}},
	{"s3_oidc", AmazonS3OIDC{Bucket: "acme-audit", Region: "us-east-1", RoleARN: "arn:aws:iam::123456789012:role/github-audit"},
		map[string]string{}},
	{"s3_access_keys", AmazonS3AccessKeys{Bucket: "acme-audit", Region: "eu-west-1", AccessKeyID: NewSecret("AKIASECRETKEYID"), SecretAccessKey: NewSecret("SECRETaccess/key+value")},
		map[string]string{"encrypted_access_key_id": "AKIASECRETKEYID", "encrypted_secret_key": "SECRETaccess/key+value"}},
	{"splunk", Splunk{Domain: "http-inputs-acme.splunkcloud.com", Port: 443, Token: NewSecret("SECRET-splunk-hec-token"), SSLVerify: true},
		map[string]string{"encrypted_token": "SECRET-splunk-hec-token"}},
	{"hec", HTTPSEventCollector{Domain: "collector.acme.example", Port: 8443, Path: "/services/collector", Token: NewSecret("SECRET-hec-token"), SSLVerify: false},
		map[string]string{"encrypted_token": "SECRET-hec-token"}},
	{"gcs", GoogleCloudStorage{Bucket: "acme-audit", JSONCredentials: NewSecret(`{"type":"service_account","private_key":"SECRET-pem"}`)},
		map[string]string{"encrypted_json_credentials": `{"type":"service_account","private_key":"SECRET-pem"}`}},
	{"datadog", Datadog{Site: DatadogUS1FED, Token: NewSecret("SECRET-dd-api-key")},
		map[string]string{"encrypted_token": "SECRET-dd-api-key"}},
}

func TestCreateStreamSealsEveryVariant(t *testing.T) {
	t.Parallel()
	for _, tc := range variants {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, c, rec := recordedFake(t)
			st, err := c.CreateStream(context.Background(), Enterprise(srv.Enterprise()), StreamConfig{Enabled: true, Vendor: tc.vendor})
			require.NoError(t, err)
			assert.Positive(t, st.ID)
			assert.Equal(t, tc.vendor.StreamType(), st.StreamType)
			assert.True(t, st.Enabled)
			assert.True(t, st.PausedAt.IsZero())
			assert.False(t, st.CreatedAt.IsZero())

			// The fake opened every sealed value with its private key.
			assert.Equal(t, tc.secrets, srv.StreamSecrets(st.ID))

			sent := rec.last(t)
			assert.Equal(t, http.MethodPost, sent.method)
			for _, plain := range tc.secrets {
				assert.NotContains(t, string(sent.body), plain, "plaintext on the wire")
			}
			checkGolden(t, filepath.Join("testdata", "streams", tc.name+".golden.json"), maskSealed(t, sent.body))
		})
	}
}

// maskSealed replaces every encrypted_* value, which changes with each
// seal, by "<sealed>" and indents the body for a readable golden file.
func maskSealed(t *testing.T, body []byte) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	vs, ok := m["vendor_specific"].(map[string]any)
	require.True(t, ok, "vendor_specific must be an object")
	for k, v := range vs {
		if strings.HasPrefix(k, "encrypted_") {
			s, ok := v.(string)
			require.True(t, ok, "%s must be a string", k)
			require.True(t, isSealedBox(s), "%s must be a base64 sealed box", k)
			vs[k] = "<sealed>"
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(m))
	return out.Bytes()
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run %s -update to create it", t.Name())
	assert.JSONEq(t, string(want), string(got))
	assert.Equal(t, string(want), string(got))
}

func TestCreatingStreamsFetchesTheKeyOnce(t *testing.T) {
	t.Parallel()
	srv, c, _ := recordedFake(t)
	ctx := context.Background()
	for i := range 5 {
		_, err := c.CreateStream(ctx, Enterprise(srv.Enterprise()), StreamConfig{Enabled: i%2 == 0, Vendor: variants[4].vendor})
		require.NoError(t, err)
	}
	total, keys := streamingCalls(srv)
	assert.Equal(t, 6, total, "1 key + 5 creates on audit_log_streaming")
	assert.Equal(t, 1, keys)
	_, remaining, used, _ := srv.Budget(srv.Token(), ResourceAuditLogStreaming)
	assert.Equal(t, 6, used)
	assert.Equal(t, 9, remaining)

	// GitHub rotates the key: the next create is refused once, the client
	// fetches the new key, re-seals and succeeds.
	newID := srv.RotateStreamKey()
	st, err := c.CreateStream(ctx, Enterprise(srv.Enterprise()), StreamConfig{Enabled: true, Vendor: variants[4].vendor})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"encrypted_token": "SECRET-splunk-hec-token"}, srv.StreamSecrets(st.ID))
	total, keys = streamingCalls(srv)
	assert.Equal(t, 2, keys, "exactly one extra key request")
	assert.Equal(t, 9, total, "the refused create, the key, the retried create")

	key, err := c.StreamKey(ctx, Enterprise(srv.Enterprise()))
	require.NoError(t, err)
	assert.Equal(t, newID, key.KeyID)
}

func TestConcurrentCreatesShareOneKeyFetch(t *testing.T) {
	t.Parallel()
	srv, c, _ := recordedFake(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = c.CreateStream(context.Background(), Enterprise(srv.Enterprise()), StreamConfig{Enabled: true, Vendor: variants[i].vendor})
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	total, keys := streamingCalls(srv)
	assert.Equal(t, 1, keys)
	assert.Equal(t, 9, total)
}

func TestStreamKeyAlwaysAsksGitHubAndFeedsTheCache(t *testing.T) {
	t.Parallel()
	srv, c, _ := recordedFake(t)
	ctx := context.Background()
	k1, err := c.StreamKey(ctx, Enterprise(srv.Enterprise()))
	require.NoError(t, err)
	wantID, wantKey := srv.StreamKey()
	assert.Equal(t, StreamKey{KeyID: wantID, Key: wantKey}, k1)

	rotated := srv.RotateStreamKey()
	k2, err := c.StreamKey(ctx, Enterprise(srv.Enterprise()))
	require.NoError(t, err)
	assert.Equal(t, rotated, k2.KeyID)

	// The create uses the key StreamKey fetched: no further key request.
	_, err = c.CreateStream(ctx, Enterprise(srv.Enterprise()), StreamConfig{Enabled: true, Vendor: variants[7].vendor})
	require.NoError(t, err)
	total, keys := streamingCalls(srv)
	assert.Equal(t, 2, keys)
	assert.Equal(t, 3, total)
}

func TestStreamLifecycle(t *testing.T) {
	t.Parallel()
	srv, c, _ := recordedFake(t)
	ctx := context.Background()
	ent := srv.Enterprise()
	dd := Datadog{Site: DatadogEU1, Token: NewSecret("SECRET-old")}
	st, err := c.CreateStream(ctx, Enterprise(ent), StreamConfig{Enabled: true, Vendor: dd})
	require.NoError(t, err)

	got, err := c.GetStream(ctx, Enterprise(ent), st.ID)
	require.NoError(t, err)
	assert.Equal(t, st, got)
	assert.Equal(t, "EU1", got.StreamDetails)

	dd.Token = NewSecret("SECRET-new")
	paused, err := c.PauseStream(ctx, Enterprise(ent), st.ID, dd)
	require.NoError(t, err)
	assert.False(t, paused.Enabled)
	assert.False(t, paused.PausedAt.IsZero())
	assert.Equal(t, map[string]string{"encrypted_token": "SECRET-new"}, srv.StreamSecrets(st.ID))

	resumed, err := c.ResumeStream(ctx, Enterprise(ent), st.ID, dd)
	require.NoError(t, err)
	assert.True(t, resumed.Enabled)
	assert.True(t, resumed.PausedAt.IsZero())

	list, err := c.ListStreams(ctx, Enterprise(ent))
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, *resumed, list[0])

	require.NoError(t, c.DeleteStream(ctx, Enterprise(ent), st.ID))
	list, err = c.ListStreams(ctx, Enterprise(ent))
	require.NoError(t, err)
	assert.Empty(t, list)
	assert.NotNil(t, list)

	_, err = c.GetStream(ctx, Enterprise(ent), st.ID)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorIs(t, c.DeleteStream(ctx, Enterprise(ent), st.ID), ErrNotFound)

	reqs := srv.Requests()
	require.NotEmpty(t, reqs)
	assert.Equal(t, "/rate_limit", reqs[0].Path, "the warm start, before the first stream request")
	for _, r := range reqs[1:] {
		assert.Equal(t, ResourceAuditLogStreaming, r.Resource, "%s %s", r.Method, r.Path)
	}
}

func TestValidationErrorsInBothShapes(t *testing.T) {
	t.Parallel()
	srv, c, _ := recordedFake(t)
	ctx := context.Background()
	ent := srv.Enterprise()
	_, pub := srv.StreamKey()
	ct, err := Seal(pub, []byte("SECRET-token"))
	require.NoError(t, err)
	stale := Sealed{KeyID: "999", Vendor: Splunk{Domain: "splunk.acme.example", Port: 443, Token: NewSecret(ct), SSLVerify: true}}

	// POST: {"message":"Validation Failed","errors":[{...}]}
	_, err = c.CreateStream(ctx, Enterprise(ent), StreamConfig{Enabled: true, Vendor: stale})
	var ae *APIError
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.ErrorIs(t, err, ErrValidation)
	assert.Equal(t, "Validation Failed", ae.Message)
	require.NotEmpty(t, ae.Errors)
	assert.Equal(t, "custom", ae.Errors[0].Code)

	// PUT: bare {"errors":["..."]}
	good := Sealed{KeyID: "1", Vendor: stale.Vendor}
	st, err := c.CreateStream(ctx, Enterprise(ent), StreamConfig{Enabled: true, Vendor: good})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"encrypted_token": "SECRET-token"}, srv.StreamSecrets(st.ID))
	_, err = c.UpdateStream(ctx, Enterprise(ent), st.ID, StreamConfig{Enabled: false, Vendor: stale})
	ae = nil
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.ErrorIs(t, err, ErrValidation)
	assert.Empty(t, ae.Message)
	require.NotEmpty(t, ae.Errors)
	assert.NotEmpty(t, ae.Errors[0].Message)

	// A Sealed vendor is never re-sealed: no key request at all.
	total, keys := streamingCalls(srv)
	assert.Equal(t, 0, keys)
	assert.Equal(t, 3, total)
}

func TestStreamDecoding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want Stream
		err  string
	}{
		{"spec example", `{"id":1,"stream_type":"Splunk","stream_details":"US","enabled":true,"created_at":"2024-06-06T08:00:00Z","updated_at":"2024-06-06T08:00:00Z","paused_at":null}`,
			Stream{ID: 1, StreamType: "Splunk", StreamDetails: "US", Enabled: true,
				CreatedAt: time.Date(2024, 6, 6, 8, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2024, 6, 6, 8, 0, 0, 0, time.UTC)}, ""},
		{"paused, fractional seconds and offset", `{"id":2,"stream_type":"Datadog","stream_details":"EU1","enabled":false,"created_at":"2024-06-06T08:00:00.123Z","updated_at":"2024-06-07T10:00:00+02:00","paused_at":"2024-06-07T10:00:00+02:00"}`,
			Stream{ID: 2, StreamType: "Datadog", StreamDetails: "EU1",
				CreatedAt: time.Date(2024, 6, 6, 8, 0, 0, 123e6, time.UTC),
				UpdatedAt: time.Date(2024, 6, 7, 8, 0, 0, 0, time.UTC), PausedAt: time.Date(2024, 6, 7, 8, 0, 0, 0, time.UTC)}, ""},
		{"paused_at absent, compact type, object details", `{"id":3,"stream_type":"AzureBlobStorage","stream_details":{"container":"x"},"enabled":true,"created_at":"2024-06-06T08:00:00Z","updated_at":"2024-06-06T08:00:00Z"}`,
			Stream{ID: 3, StreamType: "AzureBlobStorage", StreamDetails: `{"container":"x"}`, Enabled: true,
				CreatedAt: time.Date(2024, 6, 6, 8, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2024, 6, 6, 8, 0, 0, 0, time.UTC)}, ""},
		{"odd timestamps are left zero", `{"id":4,"stream_type":"Splunk","enabled":true,"created_at":"1717660800000","updated_at":1717660800000,"paused_at":{"t":1}}`,
			Stream{ID: 4, StreamType: "Splunk", Enabled: true}, ""},
		{"odd types are left zero", `{"id":5,"stream_type":7,"stream_details":null,"enabled":"yes","created_at":"2024-06-06T08:00:00Z"}`,
			Stream{ID: 5, CreatedAt: time.Date(2024, 6, 6, 8, 0, 0, 0, time.UTC)}, ""},
		{"an id that is not an integer fails", `{"id":"x"}`, Stream{}, "id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got Stream
			err := json.Unmarshal([]byte(tc.in), &got)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.True(t, tc.want.CreatedAt.Equal(got.CreatedAt))
			assert.True(t, tc.want.UpdatedAt.Equal(got.UpdatedAt))
			assert.True(t, tc.want.PausedAt.Equal(got.PausedAt))
			tc.want.CreatedAt, tc.want.UpdatedAt, tc.want.PausedAt = got.CreatedAt, got.UpdatedAt, got.PausedAt
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestListStreamsIsLenientAndBounded: one odd stream does not fail the
// list; a list longer than maxStreams is refused before the rest of it is
// decoded (what follows the cap here is not even JSON).
func TestListStreamsIsLenientAndBounded(t *testing.T) {
	t.Parallel()
	flood := func(n int, tail string) string {
		return "[" + strings.Repeat(`{"id":1,"stream_type":"Splunk"},`, n-1) + `{"id":1}` + tail
	}
	for _, tc := range []struct {
		name, body string
		want       int
		err        string
	}{
		{"odd timestamp kept", `[{"id":1,"stream_type":"Splunk","stream_details":"d","enabled":true,"created_at":"yesterday","updated_at":"2024-06-06T08:00:00Z"},` +
			`{"id":2,"stream_type":"Datadog","created_at":"2024-06-06T08:00:00Z"}]`, 2, ""},
		{"null is no streams", `null`, 0, ""},
		{"exactly the cap", flood(maxStreams, "]"), maxStreams, ""},
		{"past the cap, garbage after", flood(maxStreams+1, `,{{{{ not json`), 0, "more than 100 streams"},
		{"not an array", `{"id":1}`, 0, "want a JSON array"},
		{"data after the array", `[] []`, 0, "data after the array"},
		{"truncated", `[{"id":1}`, 0, "decoding streams"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mt := mockGitHub(t)
			mt.RegisterResponder(http.MethodGet, mockStreamsURL, httpmock.NewStringResponder(200, tc.body))
			list, err := c.ListStreams(context.Background(), "acme")
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, list)
			require.Len(t, list, tc.want)
			if tc.name == "odd timestamp kept" {
				assert.True(t, list[0].CreatedAt.IsZero())
				assert.Equal(t, time.Date(2024, 6, 6, 8, 0, 0, 0, time.UTC), list[0].UpdatedAt.UTC())
				assert.Equal(t, StreamTypeDatadog, list[1].StreamType)
			}
		})
	}
}

// BenchmarkListStreamsFlood: a 3 MB list of a million empty objects costs
// what the cap allows, not a million Streams.
func BenchmarkListStreamsFlood(b *testing.B) {
	body := "[" + strings.Repeat(`{},`, 1<<20) + "{}]"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeStreams(body); err == nil {
			b.Fatal("flood accepted")
		}
	}
}

func TestStreamKeyTTLAndForget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	splunk := StreamConfig{Enabled: true, Vendor: variants[4].vendor}

	// TTL 0: every create fetches the key first.
	srv, _, rec := recordedFake(t)
	c, err := NewClient(WithBaseURL(srv.URL()), WithToken(srv.Token()), WithHTTPClient(&http.Client{Transport: rec}),
		WithLogger(testLogger), WithStreamKeyTTL(0))
	require.NoError(t, err)
	for range 2 {
		_, err := c.CreateStream(ctx, Enterprise(srv.Enterprise()), splunk)
		require.NoError(t, err)
	}
	total, keys := streamingCalls(srv)
	assert.Equal(t, 2, keys)
	assert.Equal(t, 4, total)

	// ForgetStreamKey: the next create fetches it again, once.
	srv, c, _ = recordedFake(t)
	_, err = c.CreateStream(ctx, Enterprise(srv.Enterprise()), splunk)
	require.NoError(t, err)
	c.ForgetStreamKey(Enterprise(srv.Enterprise()))
	c.ForgetStreamKey("never-seen")
	for range 2 {
		_, err = c.CreateStream(ctx, Enterprise(srv.Enterprise()), splunk)
		require.NoError(t, err)
	}
	total, keys = streamingCalls(srv)
	assert.Equal(t, 2, keys)
	assert.Equal(t, 5, total)

	_, err = NewClient(WithStreamKeyTTL(-time.Second))
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "WithStreamKeyTTL", ie.Field)
}
