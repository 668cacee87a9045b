package auditlog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBadStreamInputNeverReachesGitHub(t *testing.T) {
	t.Parallel()
	const secret = "SECRET-plaintext-value"
	splunk := Splunk{Domain: "splunk.acme.example", Port: 443, Token: secret, SSLVerify: true}
	okSealed := strings.Repeat("A", 64) // base64 of 48 zero bytes: shaped like a sealed box
	type op func(c *Client, ent string) error
	create := func(v Vendor) op {
		return func(c *Client, ent string) error {
			_, err := c.CreateStream(context.Background(), ent, StreamConfig{Enabled: true, Vendor: v})
			return err
		}
	}
	for _, tc := range []struct {
		name  string
		do    op
		field string
	}{
		{"nil vendor", create(nil), "StreamConfig.Vendor"},
		{"nil pointer vendor", create((*Splunk)(nil)), "StreamConfig.Vendor"},
		{"empty enterprise", func(c *Client, _ string) error {
			_, err := c.CreateStream(context.Background(), "", StreamConfig{Vendor: splunk})
			return err
		}, "enterprise"},
		{"enterprise with slash", func(c *Client, _ string) error {
			_, err := c.ListStreams(context.Background(), "acme/../x")
			return err
		}, "enterprise"},
		{"stream id zero", func(c *Client, ent string) error { _, err := c.GetStream(context.Background(), ent, 0); return err }, "id"},
		{"stream id negative on update", func(c *Client, ent string) error {
			_, err := c.UpdateStream(context.Background(), ent, -3, StreamConfig{Vendor: splunk})
			return err
		}, "id"},
		{"stream id zero on delete", func(c *Client, ent string) error { return c.DeleteStream(context.Background(), ent, 0) }, "id"},
		{"pause without vendor", func(c *Client, ent string) error {
			_, err := c.PauseStream(context.Background(), ent, 1, nil)
			return err
		}, "StreamConfig.Vendor"},
		{"azure blob no container", create(AzureBlobStorage{SASURL: "https://a.blob.core.windows.net/c?sig=" + secret}), "AzureBlobStorage.Container"},
		{"azure blob sas not a URL", create(AzureBlobStorage{Container: "c", SASURL: secret}), "AzureBlobStorage.SASURL"},
		{"azure blob sas over http", create(AzureBlobStorage{Container: "c", SASURL: "http://a.blob.core.windows.net/c?sig=" + secret}), "AzureBlobStorage.SASURL"},
		{"azure hubs no name", create(AzureEventHubs{ConnectionString: secret}), "AzureEventHubs.Name"},
		{"azure hubs blank connection string", create(AzureEventHubs{Name: "hub", ConnectionString: "  "}), "AzureEventHubs.ConnectionString"},
		{"s3 oidc no bucket", create(AmazonS3OIDC{Region: "us-east-1", RoleARN: "arn:aws:iam::1:role/r"}), "AmazonS3OIDC.Bucket"},
		{"s3 oidc no region", create(AmazonS3OIDC{Bucket: "b", RoleARN: "arn:aws:iam::1:role/r"}), "AmazonS3OIDC.Region"},
		{"s3 oidc role name not ARN", create(AmazonS3OIDC{Bucket: "b", Region: "us-east-1", RoleARN: "github-audit"}), "AmazonS3OIDC.RoleARN"},
		{"s3 keys no access key id", create(AmazonS3AccessKeys{Bucket: "b", Region: "r", SecretAccessKey: secret}), "AmazonS3AccessKeys.AccessKeyID"},
		{"s3 keys no secret key", create(AmazonS3AccessKeys{Bucket: "b", Region: "r", AccessKeyID: secret}), "AmazonS3AccessKeys.SecretAccessKey"},
		{"s3 keys bucket with newline", create(AmazonS3AccessKeys{Bucket: "b\n", Region: "r", AccessKeyID: secret, SecretAccessKey: secret}), "AmazonS3AccessKeys.Bucket"},
		{"splunk port zero", create(Splunk{Domain: "d.example", Token: secret}), "Splunk.Port"},
		{"splunk port too big", create(Splunk{Domain: "d.example", Port: 65536, Token: secret}), "Splunk.Port"},
		{"splunk negative port", create(Splunk{Domain: "d.example", Port: -1, Token: secret}), "Splunk.Port"},
		{"splunk no token", create(Splunk{Domain: "d.example", Port: 443}), "Splunk.Token"},
		{"splunk domain is a URL", create(Splunk{Domain: "https://d.example/services", Port: 443, Token: secret}), "Splunk.Domain"},
		{"splunk no domain", create(Splunk{Port: 443, Token: secret}), "Splunk.Domain"},
		{"hec no path", create(HTTPSEventCollector{Domain: "d.example", Port: 443, Token: secret}), "HTTPSEventCollector.Path"},
		{"hec port too big", create(HTTPSEventCollector{Domain: "d.example", Port: 70000, Path: "/c", Token: secret}), "HTTPSEventCollector.Port"},
		{"gcs no bucket", create(GoogleCloudStorage{JSONCredentials: `{"k":"` + secret + `"}`}), "GoogleCloudStorage.Bucket"},
		{"gcs credentials not JSON", create(GoogleCloudStorage{Bucket: "b", JSONCredentials: secret}), "GoogleCloudStorage.JSONCredentials"},
		{"datadog no site", create(Datadog{Token: secret}), "Datadog.Site"},
		{"datadog unknown site", create(Datadog{Site: "us", Token: secret}), "Datadog.Site"},
		{"datadog no token", create(Datadog{Site: DatadogUS5}), "Datadog.Token"},
		{"sealed without key id", create(Sealed{Vendor: Datadog{Site: DatadogUS, Token: okSealed}}), "Sealed.KeyID"},
		{"sealed without vendor", create(Sealed{KeyID: "1"}), "Sealed.Vendor"},
		{"sealed inside sealed", create(Sealed{KeyID: "1", Vendor: Sealed{KeyID: "1", Vendor: Datadog{Site: DatadogUS, Token: okSealed}}}), "Sealed.Vendor"},
		{"sealed holding plaintext", create(Sealed{KeyID: "1", Vendor: Datadog{Site: DatadogUS, Token: secret}}), "Datadog.Token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, c, _ := recordedFake(t)
			err := tc.do(c, srv.Enterprise())
			require.Error(t, err)
			var ie *InputError
			require.True(t, errors.As(err, &ie), "want *InputError, got %T: %v", err, err)
			assert.Equal(t, tc.field, ie.Field)
			assert.ErrorIs(t, err, ErrInvalidInput)
			assert.NotContains(t, err.Error(), secret)
			assert.Empty(t, srv.Requests(), "refused input must not reach the network")
		})
	}
}

// TestSecretsNeverPrinted checks every way a config reaches a log or a
// message: fmt verbs, slog's text and JSON handlers, encoding/json.
func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	for _, tc := range variants {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := StreamConfig{Enabled: true, Vendor: tc.vendor}
			ptr := &cfg
			var out []string
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
				out = append(out, fmt.Sprintf(verb, tc.vendor), fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, ptr))
			}
			out = append(out, fmt.Sprint(tc.vendor), fmt.Sprintln(cfg), fmt.Sprintf("%v", Sealed{KeyID: "1", Vendor: tc.vendor}))
			if s, ok := tc.vendor.(fmt.Stringer); ok {
				out = append(out, s.String())
			}
			if s, ok := tc.vendor.(fmt.GoStringer); ok {
				out = append(out, s.GoString())
			}
			var logs bytes.Buffer
			for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
				l := slog.New(h)
				l.Info("creating", "vendor", tc.vendor, "cfg", cfg, "ptr", ptr)
				l.Info("creating", slog.Any("any", any(cfg)), slog.Group("g", "v", tc.vendor))
			}
			out = append(out, logs.String())
			js, err := json.Marshal(cfg)
			require.NoError(t, err)
			out = append(out, string(js))

			all := strings.Join(out, "\n")
			for _, plain := range tc.secrets {
				assert.NotContains(t, all, plain)
			}
			if len(tc.secrets) > 0 {
				assert.Contains(t, all, redacted)
			}
			// What is not secret is still shown, so the output stays useful.
			assert.Contains(t, fmt.Sprintf("%+v", tc.vendor), tc.vendor.spec().name+"{")
		})
	}
}

func TestRedactedFormsAreReadable(t *testing.T) {
	t.Parallel()
	v := Splunk{Domain: "splunk.acme.example", Port: 443, Token: "SECRET", SSLVerify: true}
	assert.Equal(t, `Splunk{Domain:"splunk.acme.example", Port:443, Token:[REDACTED], SSLVerify:true}`, fmt.Sprintf("%v", v))
	assert.Equal(t, `auditlog.Splunk{Domain:"splunk.acme.example", Port:443, Token:"[REDACTED]", SSLVerify:true}`, fmt.Sprintf("%#v", v))
	assert.Equal(t, `{Enabled:true Vendor:Splunk{Domain:"splunk.acme.example", Port:443, Token:[REDACTED], SSLVerify:true}}`,
		fmt.Sprintf("%+v", StreamConfig{Enabled: true, Vendor: v}))
	assert.Equal(t, `Datadog{Site:"US", Token:""}`, Datadog{Site: DatadogUS}.String(), "an empty secret is shown as empty")
	js, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"Splunk","Domain":"splunk.acme.example","Port":443,"Token":"[REDACTED]","SSLVerify":true}`, string(js))
}

// mockGitHub is a client on an httpmock transport (never Activate).
func mockGitHub(t *testing.T) (*Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	c, err := NewClient(WithBaseURL("https://api.example.test"), WithToken(testToken), WithHTTPClient(&http.Client{Transport: mt}))
	require.NoError(t, err)
	return c, mt
}

const (
	mockKeyURL     = "https://api.example.test/enterprises/acme/audit-log/stream-key"
	mockStreamsURL = "https://api.example.test/enterprises/acme/audit-log/streams"
	mockStream     = `{"id":7,"stream_type":"Splunk","stream_details":"d.example","enabled":true,"created_at":"2024-06-06T08:00:00Z","updated_at":"2024-06-06T08:00:00Z","paused_at":null}`
	mockPub        = "tze1MFY9KiKzs6b8FybPDYxJJ2206Ipk3YteQOJUcb8=" // 32 bytes
)

func TestCreateStreamAccepts201(t *testing.T) {
	t.Parallel()
	c, mt := mockGitHub(t)
	mt.RegisterResponder(http.MethodGet, mockKeyURL, httpmock.NewStringResponder(200, `{"key_id":"k1","key":"`+mockPub+`"}`))
	mt.RegisterResponder(http.MethodPost, mockStreamsURL, httpmock.NewStringResponder(201, mockStream))
	st, err := c.CreateStream(context.Background(), "acme", StreamConfig{Enabled: true, Vendor: Splunk{Domain: "d.example", Port: 443, Token: "t"}})
	require.NoError(t, err)
	assert.EqualValues(t, 7, st.ID)
}

func TestKeyRefusalRetriesOnlyWhenItHelps(t *testing.T) {
	t.Parallel()
	const secret = "SECRET-token-echoed"
	vendor := Splunk{Domain: "d.example", Port: 443, Token: secret}
	for _, tc := range []struct {
		name      string
		refusal   string // 422 body of the first POST
		keys      []string
		wantPosts int
		wantKeys  int
		wantErr   bool
	}{
		{"unrelated 422 is not retried", `{"message":"Validation Failed","errors":[{"field":"stream_type","code":"custom","message":"stream limit reached"}]}`,
			[]string{"k1"}, 1, 1, true},
		{"key refused, key unchanged: no second POST", `{"errors":["vendor_specific.key_id is stale"]}`,
			[]string{"k1", "k1"}, 1, 2, true},
		{"key refused, key rotated: one retry", `{"errors":["encrypted_token could not be decrypted"]}`,
			[]string{"k1", "k2"}, 2, 2, false},
		{"echoed secret is scrubbed", `{"message":"bad token ` + secret + `","errors":["encrypted_token ` + secret + `"]}`,
			[]string{"k1", "k1"}, 1, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mt := mockGitHub(t)
			var keyCalls, posts int
			mt.RegisterResponder(http.MethodGet, mockKeyURL, func(*http.Request) (*http.Response, error) {
				id := tc.keys[min(keyCalls, len(tc.keys)-1)]
				keyCalls++
				return httpmock.NewStringResponse(200, `{"key_id":"`+id+`","key":"`+mockPub+`"}`), nil
			})
			mt.RegisterResponder(http.MethodPost, mockStreamsURL, func(*http.Request) (*http.Response, error) {
				posts++
				if posts == 1 {
					return httpmock.NewStringResponse(422, tc.refusal), nil
				}
				return httpmock.NewStringResponse(200, mockStream), nil
			})
			_, err := c.CreateStream(context.Background(), "acme", StreamConfig{Enabled: true, Vendor: vendor})
			assert.Equal(t, tc.wantPosts, posts)
			assert.Equal(t, tc.wantKeys, keyCalls)
			if !tc.wantErr {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrValidation)
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

func TestUnusableStreamKeyFromGitHub(t *testing.T) {
	t.Parallel()
	c, mt := mockGitHub(t)
	mt.RegisterResponder(http.MethodGet, mockKeyURL, httpmock.NewStringResponder(200, `{"key_id":"k9","key":"c2hvcnQ="}`))
	_, err := c.CreateStream(context.Background(), "acme", StreamConfig{Enabled: true, Vendor: Datadog{Site: DatadogUS, Token: "SECRET-x"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"k9"`)
	assert.Contains(t, err.Error(), "5 bytes")
	assert.NotContains(t, err.Error(), "SECRET-x")
	assert.Equal(t, 1, mt.GetTotalCallCount(), "no stream request with an unusable key")
}

// TestRetriedDeleteThatFindsNothingSucceeded: GitHub deleted the stream but
// the answer was lost (a 502 from the edge); the retry's 404 means done.
// A 404 after a refusal GitHub did not act on, or on the first attempt,
// is still ErrNotFound.
func TestRetriedDeleteThatFindsNothingSucceeded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		first   int // status of the first attempt
		wantErr error
	}{
		{"502 then 404", http.StatusBadGateway, nil},
		{"500 then 404", http.StatusInternalServerError, nil},
		{"404 at once", http.StatusNotFound, ErrNotFound},
		{"rate limited then 404", http.StatusTooManyRequests, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, mt := mockGitHub(t)
				c.backoff.jitter = func(time.Duration) time.Duration { return 0 }
				calls := 0
				mt.RegisterResponder(http.MethodDelete, mockStreamsURL+"/7", func(*http.Request) (*http.Response, error) {
					calls++
					if calls == 1 {
						r := httpmock.NewStringResponse(tc.first, `{"message":"first"}`)
						r.Header.Set("Retry-After", "1")
						return r, nil
					}
					return httpmock.NewStringResponse(404, `{"message":"Not Found"}`), nil
				})
				err := c.DeleteStream(context.Background(), "acme", 7)
				if tc.wantErr == nil {
					require.NoError(t, err)
				} else {
					require.ErrorIs(t, err, tc.wantErr)
				}
				if tc.first == http.StatusNotFound {
					assert.Equal(t, 1, calls)
				} else {
					assert.Equal(t, 2, calls)
				}
			})
		})
	}
}

// TestLowOrderStreamKeyFromGitHub: a key whose boxes open without the
// private key (all zeros, a low-order point) is never used to seal.
func TestLowOrderStreamKeyFromGitHub(t *testing.T) {
	t.Parallel()
	c, mt := mockGitHub(t)
	zero := base64.StdEncoding.EncodeToString(make([]byte, 32))
	mt.RegisterResponder(http.MethodGet, mockKeyURL, httpmock.NewStringResponder(200, `{"key_id":"k0","key":"`+zero+`"}`))
	_, err := c.CreateStream(context.Background(), "acme", StreamConfig{Enabled: true, Vendor: Datadog{Site: DatadogUS, Token: "SECRET-x"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "low-order")
	assert.Equal(t, 1, mt.GetTotalCallCount(), "no stream request with a low-order key")
}
