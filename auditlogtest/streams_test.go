package auditlogtest_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/nacl/box"
)

const streamsPath = "/enterprises/avocado-corp/audit-log/streams"

func newStreamServer(t *testing.T, opts ...auditlogtest.Option) *auditlogtest.Server {
	t.Helper()
	opts = append([]auditlogtest.Option{
		auditlogtest.WithGeneratedEvents(0, 1),
		auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLogStreaming, 1000, time.Hour),
	}, opts...)
	s := auditlogtest.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// seal seals plaintext for the server's current key, fetched over HTTP.
func seal(t *testing.T, s *auditlogtest.Server, plaintext string) (keyID, sealed string) {
	t.Helper()
	resp, body := get(t, s, "/enterprises/avocado-corp/audit-log/stream-key")
	require.Equal(t, 200, resp.StatusCode)
	var k struct {
		KeyID string `json:"key_id"`
		Key   string `json:"key"`
	}
	require.NoError(t, json.Unmarshal(body, &k))
	raw, err := base64.StdEncoding.DecodeString(k.Key)
	require.NoError(t, err)
	require.Len(t, raw, 32)
	var pub [32]byte
	copy(pub[:], raw)
	out, err := box.SealAnonymous(nil, []byte(plaintext), &pub, rand.Reader)
	require.NoError(t, err)
	return k.KeyID, base64.StdEncoding.EncodeToString(out)
}

// validVendor returns a valid body for each variant, sealing secrets for s.
func validBodies(t *testing.T, s *auditlogtest.Server) map[string]map[string]any {
	t.Helper()
	kid, enc := seal(t, s, "s3cr3t")
	return map[string]map[string]any{
		"Azure Blob Storage": {"key_id": kid, "encrypted_sas_url": enc, "container": "audit"},
		"Azure Event Hubs":   {"name": "hub", "encrypted_connstring": enc, "key_id": kid},
		"Amazon S3 oidc":     {"bucket": "b", "region": "us-east-1", "key_id": kid, "authentication_type": "oidc", "arn_role": "arn:aws:iam::1:role/x"},
		"Amazon S3 access_keys": {"bucket": "b", "region": "us-east-1", "key_id": kid, "authentication_type": "access_keys",
			"encrypted_secret_key": enc, "encrypted_access_key_id": enc},
		"Splunk":                {"domain": "http-inputs-acme.splunkcloud.com", "port": 443, "key_id": kid, "encrypted_token": enc, "ssl_verify": true},
		"HTTPS Event Collector": {"domain": "hec.example.com", "port": 8088, "key_id": kid, "encrypted_token": enc, "path": "/services/collector", "ssl_verify": false},
		"Google Cloud Storage":  {"bucket": "gcs", "key_id": kid, "encrypted_json_credentials": enc},
		"Datadog":               {"encrypted_token": enc, "site": "US1-FED", "key_id": kid},
	}
}

func streamType(variant string) string {
	switch variant {
	case "Amazon S3 oidc", "Amazon S3 access_keys":
		return "Amazon S3"
	}
	return variant
}

func body(t *testing.T, enabled any, streamType any, vendor any) string {
	t.Helper()
	m := map[string]any{}
	if enabled != nil {
		m["enabled"] = enabled
	}
	if streamType != nil {
		m["stream_type"] = streamType
	}
	if vendor != nil {
		m["vendor_specific"] = vendor
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

type streamObj struct {
	ID            int64   `json:"id"`
	StreamType    string  `json:"stream_type"`
	StreamDetails string  `json:"stream_details"`
	Enabled       bool    `json:"enabled"`
	CreatedAt     string  `json:"created_at"`
	UpdatedAt     string  `json:"updated_at"`
	PausedAt      *string `json:"paused_at"`
}

func TestStreamVariantsAccepted(t *testing.T) {
	t.Parallel()
	s := newStreamServer(t)
	for variant, vendor := range validBodies(t, s) {
		t.Run(variant, func(t *testing.T) {
			t.Parallel()
			resp, b := do(t, s, http.MethodPost, streamsPath, body(t, true, streamType(variant), vendor))
			require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
			var st streamObj
			require.NoError(t, json.Unmarshal(b, &st))
			assert.Equal(t, streamType(variant), st.StreamType)
			assert.NotEmpty(t, st.StreamDetails)
			secrets := s.StreamSecrets(st.ID)
			for k := range vendor {
				if len(k) > 10 && k[:10] == "encrypted_" {
					assert.Equal(t, "s3cr3t", secrets[k], k)
				}
			}
		})
	}
}

func TestStreamLifecycle(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newStreamServer(t, auditlogtest.WithClock(clk.Now))
	resp, b := get(t, s, streamsPath)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "[]", string(b))

	kid, enc := seal(t, s, "hec-token-1")
	splunk := map[string]any{"domain": "http-inputs-acme.splunkcloud.com", "port": 443, "key_id": kid, "encrypted_token": enc, "ssl_verify": true}
	resp, b = do(t, s, http.MethodPost, streamsPath, body(t, true, "Splunk", splunk))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	assert.JSONEq(t, `{"id":1,"stream_type":"Splunk","stream_details":"http-inputs-acme.splunkcloud.com","enabled":true,
		"created_at":"2024-06-06T08:00:00Z","updated_at":"2024-06-06T08:00:00Z","paused_at":null}`, string(b))
	assert.Equal(t, map[string]string{"encrypted_token": "hec-token-1"}, s.StreamSecrets(1))

	// PUT: full replace, pausing sets paused_at.
	clk.Advance(time.Hour)
	_, enc2 := seal(t, s, "dd-token")
	dd := map[string]any{"encrypted_token": enc2, "site": "EU1", "key_id": kid}
	resp, b = do(t, s, http.MethodPut, streamsPath+"/1", body(t, false, "Datadog", dd))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	var st streamObj
	require.NoError(t, json.Unmarshal(b, &st))
	assert.Equal(t, "Datadog", st.StreamType)
	assert.Equal(t, "EU1", st.StreamDetails)
	assert.False(t, st.Enabled)
	assert.Equal(t, "2024-06-06T08:00:00Z", st.CreatedAt)
	assert.Equal(t, "2024-06-06T09:00:00Z", st.UpdatedAt)
	require.NotNil(t, st.PausedAt)
	assert.Equal(t, "2024-06-06T09:00:00Z", *st.PausedAt)
	assert.Equal(t, map[string]string{"encrypted_token": "dd-token"}, s.StreamSecrets(1))

	// Second stream; list in id order; get one.
	resp, _ = do(t, s, http.MethodPost, streamsPath, body(t, true, "Splunk", splunk))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, b = get(t, s, streamsPath)
	require.Equal(t, 200, resp.StatusCode)
	var list []streamObj
	require.NoError(t, json.Unmarshal(b, &list))
	require.Len(t, list, 2)
	assert.Equal(t, []int64{1, 2}, []int64{list[0].ID, list[1].ID})
	resp, b = get(t, s, streamsPath+"/2")
	require.Equal(t, 200, resp.StatusCode)
	require.NoError(t, json.Unmarshal(b, &st))
	assert.Nil(t, st.PausedAt)

	// Delete: 204 without body, then 404 everywhere.
	resp, b = do(t, s, http.MethodDelete, streamsPath+"/1", "")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Empty(t, b)
	assert.Nil(t, s.StreamSecrets(1))
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		resp, b = do(t, s, m, streamsPath+"/1", "")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, m)
		assert.Equal(t, "Not Found", decodeErr(t, b).Message)
	}
	resp, _ = do(t, s, http.MethodPut, streamsPath+"/1", body(t, true, "Splunk", splunk))
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestStreamValidation(t *testing.T) {
	t.Parallel()
	s := newStreamServer(t)
	kid, enc := seal(t, s, "x")
	splunk := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{"domain": "d.example.com", "port": 443, "key_id": kid, "encrypted_token": enc, "ssl_verify": true}
		edit(m)
		return m
	}
	tests := []struct {
		name  string
		body  string
		field string
		code  string
	}{
		{"missing enabled", body(t, nil, "Splunk", splunk(func(map[string]any) {})), "enabled", "missing_field"},
		{"enabled not bool", body(t, "yes", "Splunk", splunk(func(map[string]any) {})), "enabled", "invalid"},
		{"missing stream_type", body(t, true, nil, splunk(func(map[string]any) {})), "stream_type", "missing_field"},
		{"stream_type wrong case", body(t, true, "splunk", splunk(func(map[string]any) {})), "stream_type", "invalid"},
		{"compact stream_type", body(t, true, "AzureBlobStorage", map[string]any{}), "stream_type", "invalid"},
		{"missing vendor_specific", body(t, true, "Splunk", nil), "vendor_specific", "missing_field"},
		{"vendor_specific not object", body(t, true, "Splunk", []int{1}), "vendor_specific", "invalid"},
		{"missing port", body(t, true, "Splunk", splunk(func(m map[string]any) { delete(m, "port") })), "vendor_specific.port", "missing_field"},
		{"port as string", body(t, true, "Splunk", splunk(func(m map[string]any) { m["port"] = "443" })), "vendor_specific.port", "invalid"},
		{"port out of range", body(t, true, "Splunk", splunk(func(m map[string]any) { m["port"] = 70000 })), "vendor_specific.port", "invalid"},
		{"port fractional", body(t, true, "Splunk", splunk(func(m map[string]any) { m["port"] = 44.5 })), "vendor_specific.port", "invalid"},
		{"ssl_verify as string", body(t, true, "Splunk", splunk(func(m map[string]any) { m["ssl_verify"] = "true" })), "vendor_specific.ssl_verify", "invalid"},
		{"domain as number", body(t, true, "Splunk", splunk(func(m map[string]any) { m["domain"] = 1 })), "vendor_specific.domain", "invalid"},
		{"extra field", body(t, true, "Splunk", splunk(func(m map[string]any) { m["path"] = "/x" })), "vendor_specific.path", "invalid"},
		{"not base64", body(t, true, "Splunk", splunk(func(m map[string]any) { m["encrypted_token"] = "plain text!" })), "vendor_specific.encrypted_token", "invalid"},
		{"datadog bad site", body(t, true, "Datadog", map[string]any{"encrypted_token": enc, "site": "us", "key_id": kid}), "vendor_specific.site", "invalid"},
		{"s3 missing authentication_type", body(t, true, "Amazon S3", map[string]any{"bucket": "b", "region": "r", "key_id": kid, "arn_role": "a"}), "vendor_specific.authentication_type", "missing_field"},
		{"s3 bad authentication_type", body(t, true, "Amazon S3", map[string]any{"bucket": "b", "region": "r", "key_id": kid, "authentication_type": "sso"}), "vendor_specific.authentication_type", "invalid"},
		{"s3 oidc with secret", body(t, true, "Amazon S3", map[string]any{"bucket": "b", "region": "r", "key_id": kid, "authentication_type": "oidc", "arn_role": "a", "encrypted_secret_key": enc}), "vendor_specific.encrypted_secret_key", "invalid"},
		{"s3 access_keys missing secret", body(t, true, "Amazon S3", map[string]any{"bucket": "b", "region": "r", "key_id": kid, "authentication_type": "access_keys", "encrypted_access_key_id": enc}), "vendor_specific.encrypted_secret_key", "missing_field"},
		{"hec missing path", body(t, true, "HTTPS Event Collector", splunk(func(map[string]any) {})), "vendor_specific.path", "missing_field"},
		{"gcs missing key_id", body(t, true, "Google Cloud Storage", map[string]any{"bucket": "b", "encrypted_json_credentials": enc}), "vendor_specific.key_id", "missing_field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, b := do(t, s, http.MethodPost, streamsPath, tt.body)
			require.Equal(t, 422, resp.StatusCode, string(b))
			e := decodeErr(t, b)
			assert.Equal(t, "Validation Failed", e.Message)
			assert.Equal(t, "https://docs.github.com/rest/enterprise-admin/audit-log#create-an-audit-log-streaming-configuration-for-an-enterprise", e.DocumentationURL)
			require.Len(t, e.Errors, 1, string(b))
			assert.Equal(t, "AuditLogStream", e.Errors[0].Resource)
			assert.Equal(t, tt.field, e.Errors[0].Field)
			assert.Equal(t, tt.code, e.Errors[0].Code)
			assert.Contains(t, e.Errors[0].Message, tt.field)
		})
	}
	t.Run("malformed JSON", func(t *testing.T) {
		t.Parallel()
		for _, b := range []string{`{"enabled":`, `[1,2]`, `{} {}`} {
			resp, rb := do(t, s, http.MethodPost, streamsPath, b)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, b)
			assert.Equal(t, "Problems parsing JSON", decodeErr(t, rb).Message)
		}
	})
}

func TestStreamPutBareErrorsAndStaleKey(t *testing.T) {
	t.Parallel()
	s := newStreamServer(t)
	kid, enc := seal(t, s, "tok")
	splunk := map[string]any{"domain": "d", "port": 443, "key_id": kid, "encrypted_token": enc, "ssl_verify": true}
	resp, b := do(t, s, http.MethodPost, streamsPath, body(t, true, "Splunk", splunk))
	require.Equal(t, 200, resp.StatusCode, string(b))

	// PUT validation failure: bare {"errors":[string]}.
	resp, b = do(t, s, http.MethodPut, streamsPath+"/1", body(t, true, "Splunk", map[string]any{"domain": "d"}))
	require.Equal(t, 422, resp.StatusCode)
	var bare map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &bare))
	assert.Equal(t, []string{"errors"}, keys(bare), string(b))
	var msgs []string
	require.NoError(t, json.Unmarshal(bare["errors"], &msgs))
	assert.Contains(t, fmt.Sprint(msgs), "vendor_specific.port")

	// Rotation makes the old key_id and ciphertexts stale; the refusals
	// name neither the key nor a field (TestStaleKeyRefusalSaysNothingAboutKeys).
	newID := s.RotateStreamKey()
	assert.Equal(t, "2", newID)
	curID, _ := s.StreamKey()
	assert.Equal(t, "2", curID)
	resp, _ = do(t, s, http.MethodPost, streamsPath, body(t, true, "Splunk", splunk))
	require.Equal(t, 422, resp.StatusCode)
	// Right key_id but a ciphertext for the old key.
	splunk["key_id"] = "2"
	resp, _ = do(t, s, http.MethodPut, streamsPath+"/1", body(t, true, "Splunk", splunk))
	require.Equal(t, 422, resp.StatusCode)
	// Resealed: accepted, and the secret is recorded.
	_, splunk["encrypted_token"] = seal(t, s, "tok2")
	resp, b = do(t, s, http.MethodPut, streamsPath+"/1", body(t, true, "Splunk", splunk))
	require.Equal(t, 200, resp.StatusCode, string(b))
	assert.Equal(t, "tok2", s.StreamSecrets(1)["encrypted_token"])
}

// TestStaleKeyRefusalSaysNothingAboutKeys: GitHub does not document how it
// words the refusal of a stale key, so the fake's 422 gives a client nothing
// to match on: no field, no mention of a key, encryption or decryption.
func TestStaleKeyRefusalSaysNothingAboutKeys(t *testing.T) {
	t.Parallel()
	s := newStreamServer(t)
	kid, enc := seal(t, s, "tok")
	otherPub, _, err := box.GenerateKey(rand.Reader)
	require.NoError(t, err)
	foreign, err := box.SealAnonymous(nil, []byte("tok"), otherPub, rand.Reader)
	require.NoError(t, err)
	dd := func(keyID, sealed string) string {
		return body(t, true, "Datadog", map[string]any{"encrypted_token": sealed, "site": "US", "key_id": keyID})
	}
	resp, b := do(t, s, http.MethodPost, streamsPath, dd(kid, enc))
	require.Equal(t, 200, resp.StatusCode, string(b))
	for _, tc := range []struct{ name, method, path, body string }{
		{"POST stale key_id", http.MethodPost, streamsPath, dd("7", enc)},
		{"PUT stale key_id", http.MethodPut, streamsPath + "/1", dd("7", enc)},
		{"POST sealed for another key", http.MethodPost, streamsPath, dd(kid, base64.StdEncoding.EncodeToString(foreign))},
		{"PUT sealed for another key", http.MethodPut, streamsPath + "/1", dd(kid, base64.StdEncoding.EncodeToString(foreign))},
	} {
		resp, b := do(t, s, tc.method, tc.path, tc.body)
		require.Equal(t, 422, resp.StatusCode, tc.name)
		for _, word := range []string{"key", "encrypt", "decrypt", "seal"} {
			assert.NotContains(t, strings.ToLower(string(b)), word, "%s: %s", tc.name, b)
		}
		if tc.method == http.MethodPost {
			e := decodeErr(t, b)
			assert.Equal(t, "Validation Failed", e.Message, tc.name)
			require.Len(t, e.Errors, 1, tc.name)
			assert.Empty(t, e.Errors[0].Field, tc.name)
		}
	}
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDeterminism(t *testing.T) {
	t.Parallel()
	mk := func(seed int64) *auditlogtest.Server {
		clk := newClock()
		s := auditlogtest.NewServer(auditlogtest.WithClock(clk.Now), auditlogtest.WithSeed(seed), auditlogtest.WithGeneratedEvents(300, seed))
		t.Cleanup(s.Close)
		return s
	}
	a, b, c := mk(9), mk(9), mk(10)
	assert.Equal(t, a.Events("all", "asc"), b.Events("all", "asc"))
	assert.NotEqual(t, a.Events("all", "asc"), c.Events("all", "asc"))
	ka, pa := a.StreamKey()
	kb, pb := b.StreamKey()
	_, pc := c.StreamKey()
	assert.Equal(t, ka, kb)
	assert.Equal(t, pa, pb)
	assert.NotEqual(t, pa, pc)
	assert.Equal(t, a.RotateStreamKey(), b.RotateStreamKey())
	_, pa2 := a.StreamKey()
	_, pb2 := b.StreamKey()
	assert.Equal(t, pa2, pb2)
	assert.NotEqual(t, pa, pa2)
}
