package auditlog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/gob"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
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
	const plain = "SECRET-plaintext-value"
	secret := NewSecret(plain)
	splunk := Splunk{Domain: "splunk.acme.example", Port: 443, Token: secret, SSLVerify: true}
	okSealed := NewSecret(strings.Repeat("A", 64)) // base64 of 48 zero bytes: shaped like a sealed box
	type op func(c *Client, ent string) error
	create := func(v Vendor) op {
		return func(c *Client, ent string) error {
			_, err := c.CreateStream(context.Background(), Enterprise(ent), StreamConfig{Enabled: true, Vendor: v})
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
		{"stream id zero", func(c *Client, ent string) error {
			_, err := c.GetStream(context.Background(), Enterprise(ent), 0)
			return err
		}, "id"},
		{"stream id negative on update", func(c *Client, ent string) error {
			_, err := c.UpdateStream(context.Background(), Enterprise(ent), -3, StreamConfig{Vendor: splunk})
			return err
		}, "id"},
		{"stream id zero on delete", func(c *Client, ent string) error { return c.DeleteStream(context.Background(), Enterprise(ent), 0) }, "id"},
		{"pause without vendor", func(c *Client, ent string) error {
			_, err := c.PauseStream(context.Background(), Enterprise(ent), 1, nil)
			return err
		}, "StreamConfig.Vendor"},
		{"azure blob no container", create(AzureBlobStorage{SASURL: NewSecret("https://a.blob.core.windows.net/c?sig=" + plain)}), "AzureBlobStorage.Container"},
		{"azure blob sas not a URL", create(AzureBlobStorage{Container: "c", SASURL: secret}), "AzureBlobStorage.SASURL"},
		{"azure blob sas over http", create(AzureBlobStorage{Container: "c", SASURL: NewSecret("http://a.blob.core.windows.net/c?sig=" + plain)}), "AzureBlobStorage.SASURL"},
		{"azure hubs no name", create(AzureEventHubs{ConnectionString: secret}), "AzureEventHubs.Name"},
		{"azure hubs blank connection string", create(AzureEventHubs{Name: "hub", ConnectionString: NewSecret("  ")}), "AzureEventHubs.ConnectionString"},
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
		{"gcs no bucket", create(GoogleCloudStorage{JSONCredentials: NewSecret(`{"k":"` + plain + `"}`)}), "GoogleCloudStorage.Bucket"},
		{"gcs credentials not JSON", create(GoogleCloudStorage{Bucket: "b", JSONCredentials: secret}), "GoogleCloudStorage.JSONCredentials"},
		{"datadog no site", create(Datadog{Token: secret}), "Datadog.Site"},
		{"datadog unknown site", create(Datadog{Site: "us", Token: secret}), "Datadog.Site"},
		{"datadog no token", create(Datadog{Site: DatadogUS5}), "Datadog.Token"},
		{"sealed without key id", create(Sealed{Vendor: Datadog{Site: DatadogUS, Token: okSealed}}), "Sealed.KeyID"},
		{"sealed without vendor", create(Sealed{KeyID: "1"}), "Sealed.Vendor"},
		{"sealed inside sealed", create(Sealed{KeyID: "1", Vendor: Sealed{KeyID: "1", Vendor: Datadog{Site: DatadogUS, Token: okSealed}}}), "Sealed.Vendor"},
		{"sealed holding plaintext", create(Sealed{KeyID: "1", Vendor: Datadog{Site: DatadogUS, Token: secret}}), "Datadog.Token"},
		{"pointer to sealed inside sealed", create(Sealed{KeyID: "1", Vendor: &Sealed{KeyID: "1", Vendor: Datadog{Site: DatadogUS, Token: okSealed}}}), "Sealed.Vendor"},
		{"token is the placeholder", create(Splunk{Domain: "d.example", Port: 443, Token: NewSecret(redacted)}), "Splunk.Token"},
		{"placeholder on update", func(c *Client, ent string) error {
			_, err := c.UpdateStream(context.Background(), Enterprise(ent), 1, StreamConfig{Vendor: AmazonS3AccessKeys{Bucket: "b", Region: "r",
				AccessKeyID: secret, SecretAccessKey: NewSecret(redacted)}})
			return err
		}, "AmazonS3AccessKeys.SecretAccessKey"},
		{"placeholder inside sealed", create(Sealed{KeyID: "1", Vendor: Datadog{Site: DatadogUS, Token: NewSecret(redacted)}}), "Datadog.Token"},
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
			assert.NotContains(t, err.Error(), plain)
			assert.Empty(t, srv.Requests(), "refused input must not reach the network")
		})
	}
}

// printVerbs are the fmt verbs a config may meet, %p and bad verbs
// included: under a bad verb fmt prints a value's underlying data without
// calling any of its methods.
var printVerbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%t", "%p", "%T", "%8.3v", "%-30s"}

// holder keeps configs where fmt cannot call their methods: in unexported
// fields, by value, by pointer, in a slice and in a map.
type holder struct {
	cfg    StreamConfig
	vendor Vendor
	ptr    *StreamConfig
	list   []Vendor
	byName map[string]Vendor
	secret Secret
}

// TestSecretsNeverPrinted checks every way a config reaches a log or a
// message: every fmt verb, on the vendor, the config, a pointer, and all of
// them nested in unexported fields; slog's text and JSON handlers;
// encoding/json, encoding/xml and encoding/gob (which refuses a Secret).
func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	for _, tc := range variants {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := StreamConfig{Enabled: true, Vendor: tc.vendor}
			ptr := &cfg
			h := holder{cfg: cfg, vendor: tc.vendor, ptr: ptr, list: []Vendor{tc.vendor}, byName: map[string]Vendor{"v": tc.vendor}}
			for _, s := range tc.secrets {
				h.secret = NewSecret(s)
			}
			values := []any{tc.vendor, cfg, ptr, h, &h, Sealed{KeyID: "1", Vendor: tc.vendor}, h.secret, []any{h}}
			var out []string
			for _, verb := range printVerbs {
				for _, v := range values {
					out = append(out, fmt.Sprintf(verb, v))
				}
			}
			out = append(out, fmt.Sprint(values...), fmt.Sprintln(values...))
			var logs bytes.Buffer
			for _, hd := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
				l := slog.New(hd)
				l.Info("creating", "vendor", tc.vendor, "cfg", cfg, "ptr", ptr, "holder", h, "hptr", &h)
				l.Info("creating", slog.Any("any", any(cfg)), slog.Group("g", "v", tc.vendor))
			}
			out = append(out, logs.String())
			for _, v := range values {
				js, err := json.Marshal(v)
				require.NoError(t, err)
				x, err := xml.Marshal(v)
				if _, isSecret := v.(Secret); !isSecret && !strings.HasPrefix(fmt.Sprintf("%T", v), "[]") {
					require.NoError(t, err, "%T", v)
				}
				out = append(out, string(js), string(x))
			}

			var gb bytes.Buffer
			if err := gob.NewEncoder(&gb).Encode(tc.vendor); len(tc.secrets) > 0 {
				assert.ErrorContains(t, err, "Secret has no exported fields", "gob refuses a Secret")
			}
			out = append(out, gb.String())

			all := strings.Join(out, "\n")
			for _, plain := range tc.secrets {
				assert.NotContains(t, all, plain)
				assert.NotContains(t, all, fmt.Sprintf("%x", plain), "hex of the secret")
			}
			if len(tc.secrets) > 0 {
				assert.Contains(t, all, redacted)
			}
			// What is not secret is still shown, so the output stays useful.
			assert.Contains(t, fmt.Sprintf("%+v", tc.vendor), reflect.ValueOf(tc.vendor).Type().Field(0).Name+":")
		})
	}
}

func TestRedactedFormsAreReadable(t *testing.T) {
	t.Parallel()
	v := Splunk{Domain: "splunk.acme.example", Port: 443, Token: NewSecret("SECRET"), SSLVerify: true}
	assert.Equal(t, `{splunk.acme.example 443 [REDACTED] true}`, fmt.Sprintf("%v", v))
	assert.Equal(t, `{Domain:splunk.acme.example Port:443 Token:[REDACTED] SSLVerify:true}`, fmt.Sprintf("%+v", v))
	assert.Equal(t, `auditlog.Splunk{Domain:"splunk.acme.example", Port:443, Token:"[REDACTED]", SSLVerify:true}`, fmt.Sprintf("%#v", v))
	assert.Equal(t, `{Enabled:true Vendor:{Domain:splunk.acme.example Port:443 Token:[REDACTED] SSLVerify:true}}`,
		fmt.Sprintf("%+v", StreamConfig{Enabled: true, Vendor: v}))
	assert.Equal(t, `{Site:US Token:}`, fmt.Sprintf("%+v", Datadog{Site: DatadogUS}), "an empty secret is shown as empty")
	assert.Equal(t, `|[REDACTED]    |"[REDACTED]"|`, fmt.Sprintf("|%-14s|%q|", v.Token, v.Token), "width and flags apply")
	js, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"domain":"splunk.acme.example","port":443,"encrypted_token":"[REDACTED]","ssl_verify":true}`, string(js))
	x, err := xml.Marshal(v)
	require.NoError(t, err)
	assert.Equal(t, `<Splunk><Domain>splunk.acme.example</Domain><Port>443</Port><Token>[REDACTED]</Token><SSLVerify>true</SSLVerify></Splunk>`, string(x))
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: dropTime})).Info("create", "vendor", v)
	assert.Equal(t, "level=INFO msg=create vendor=\"{Domain:splunk.acme.example Port:443 Token:[REDACTED] SSLVerify:true}\"\n", logs.String())
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// TestSecretValues: a Secret compares by value, its zero value is the
// empty secret, and only the sealing step reads it.
func TestSecretValues(t *testing.T) {
	t.Parallel()
	assert.Equal(t, Secret{}, NewSecret(""))
	a1, a2 := NewSecret("a"), NewSecret(strings.Repeat("a", 1))
	assert.True(t, a1 == a2, "equal values compare equal")
	assert.False(t, NewSecret("a") == NewSecret("b"))
	assert.Equal(t, Splunk{Token: NewSecret("a")}, Splunk{Token: NewSecret("a")})
	assert.Equal(t, "a", NewSecret("a").reveal())
	assert.Empty(t, Secret{}.reveal())
	assert.Empty(t, Secret{}.String())
	assert.Equal(t, redacted, NewSecret("a").String())
}

// TestRedactedSecretCannotBeSent: the placeholder a secret prints as never
// becomes the credential. A config marshalled for a log and loaded back
// fails to load; a Secret holding the placeholder is refused before
// anything is sent.
func TestRedactedSecretCannotBeSent(t *testing.T) {
	t.Parallel()
	srv, c, _ := recordedFake(t)
	for _, tc := range variants {
		if len(tc.secrets) == 0 {
			continue
		}
		js, err := json.Marshal(tc.vendor)
		require.NoError(t, err)
		assert.Contains(t, string(js), `"`+redacted+`"`)
		loaded := reflect.New(reflect.TypeOf(tc.vendor))
		err = json.Unmarshal(js, loaded.Interface())
		require.Error(t, err, "%s: a redacted secret loaded back", tc.name)
		assert.ErrorIs(t, err, ErrInvalidInput)

		cfg, err := json.Marshal(StreamConfig{Enabled: true, Vendor: tc.vendor})
		require.NoError(t, err)
		var back StreamConfig
		assert.ErrorIs(t, json.Unmarshal(cfg, &back), ErrInvalidInput, tc.name)
	}
	var s Secret
	require.NoError(t, s.UnmarshalText([]byte("real-value")))
	assert.Equal(t, NewSecret("real-value"), s, "a real value loads")

	_, err := c.CreateStream(context.Background(), Enterprise(srv.Enterprise()), StreamConfig{Enabled: true,
		Vendor: Datadog{Site: DatadogUS, Token: NewSecret(redacted)}})
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "Datadog.Token", ie.Field)
	assert.Empty(t, srv.Requests())
}

// TestStreamConfigJSON: a config's JSON is GitHub's request body with
// secrets redacted, under GitHub's names; a config without secrets, or with
// real ones, reads back as it was.
func TestStreamConfigJSON(t *testing.T) {
	t.Parallel()
	oidc := AmazonS3OIDC{Bucket: "acme-audit", Region: "us-east-1", RoleARN: "arn:aws:iam::1:role/r"}
	for _, tc := range []struct {
		name string
		cfg  StreamConfig
		want string
	}{
		{"s3 oidc", StreamConfig{Enabled: true, Vendor: oidc},
			`{"enabled":true,"stream_type":"Amazon S3","vendor_specific":{"authentication_type":"oidc","arn_role":"arn:aws:iam::1:role/r","bucket":"acme-audit","region":"us-east-1"}}`},
		{"pointer vendor", StreamConfig{Vendor: &oidc},
			`{"enabled":false,"stream_type":"Amazon S3","vendor_specific":{"authentication_type":"oidc","arn_role":"arn:aws:iam::1:role/r","bucket":"acme-audit","region":"us-east-1"}}`},
		{"sealed", StreamConfig{Enabled: true, Vendor: Sealed{KeyID: "7", Vendor: oidc}},
			`{"enabled":true,"stream_type":"Amazon S3","vendor_specific":{"authentication_type":"oidc","arn_role":"arn:aws:iam::1:role/r","bucket":"acme-audit","key_id":"7","region":"us-east-1"}}`},
		{"splunk without a token", StreamConfig{Vendor: Splunk{Domain: "d.example", Port: 8088}},
			`{"enabled":false,"stream_type":"Splunk","vendor_specific":{"domain":"d.example","encrypted_token":"","port":8088,"ssl_verify":false}}`},
		{"no vendor", StreamConfig{Enabled: true}, `{"enabled":true,"stream_type":"","vendor_specific":null}`},
	} {
		js, err := json.Marshal(tc.cfg)
		require.NoError(t, err, tc.name)
		assert.JSONEq(t, tc.want, string(js), tc.name)
		if tc.cfg.Vendor == nil {
			continue
		}
		var back StreamConfig
		require.NoError(t, json.Unmarshal(js, &back), tc.name)
		want := tc.cfg
		if p, ok := want.Vendor.(*AmazonS3OIDC); ok {
			want.Vendor = *p
		}
		assert.Equal(t, want, back, tc.name)
	}

	// Real secrets in a configuration file load as secrets.
	var cfg StreamConfig
	require.NoError(t, json.Unmarshal([]byte(`{"enabled":true,"stream_type":"Amazon S3","vendor_specific":{
		"authentication_type":"access_keys","bucket":"b","region":"r","encrypted_access_key_id":"AKIA-SECRET-id","encrypted_secret_key":"SECRET-key"}}`), &cfg))
	assert.Equal(t, StreamConfig{Enabled: true, Vendor: AmazonS3AccessKeys{Bucket: "b", Region: "r",
		AccessKeyID: NewSecret("AKIA-SECRET-id"), SecretAccessKey: NewSecret("SECRET-key")}}, cfg)

	for _, bad := range []string{
		`{"enabled":true,"stream_type":"FTP","vendor_specific":{}}`,
		`{"enabled":true,"stream_type":"Amazon S3","vendor_specific":{"authentication_type":"sso"}}`,
		`{"enabled":true,"stream_type":"Splunk"}`,
		`{"enabled":true,"stream_type":"Splunk","vendor_specific":{"port":"443"}}`,
	} {
		assert.Error(t, json.Unmarshal([]byte(bad), &cfg), bad)
	}
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
	st, err := c.CreateStream(context.Background(), "acme", StreamConfig{Enabled: true, Vendor: Splunk{Domain: "d.example", Port: 443, Token: NewSecret("t")}})
	require.NoError(t, err)
	assert.EqualValues(t, 7, st.ID)
}

// TestKeyRefusalRetriesOnlyWhenItHelps: GitHub does not document how it
// words the refusal of a stale key, so after any 422 the client asks for
// the key once more, and re-seals and retries only when it has changed.
func TestKeyRefusalRetriesOnlyWhenItHelps(t *testing.T) {
	t.Parallel()
	const secret = "SECRET-token-echoed"
	vendor := Splunk{Domain: "d.example", Port: 443, Token: NewSecret(secret)}
	const wordless = `{"message":"Validation Failed","errors":[{"resource":"AuditLogStream","code":"custom","message":"The configuration could not be validated"}]}`
	for _, tc := range []struct {
		name      string
		update    bool   // PUT instead of POST
		refusal   string // 422 body of the first request
		keys      []string
		wantSends int
		wantKeys  int
		wantErr   []error
	}{
		{"422 that names no key, key rotated: one retry", false, wordless, []string{"k1", "k2"}, 2, 2, nil},
		{"bare 422 on update, key rotated: one retry", true, `{"errors":["Invalid request"]}`, []string{"k1", "k2"}, 2, 2, nil},
		{"422, key unchanged: the 422, no second request", false, `{"message":"Validation Failed","errors":[{"field":"stream_type","code":"custom","message":"stream limit reached"}]}`,
			[]string{"k1", "k1"}, 1, 2, []error{ErrValidation}},
		{"422, key fetch fails: both errors", false, wordless, []string{"k1", "401"}, 1, 2, []error{ErrValidation, ErrUnauthorized}},
		{"echoed secret is scrubbed", false, `{"message":"bad token ` + secret + `","errors":["encrypted_token ` + secret + `",{"field":"f","code":"` + secret + `"}]}`,
			[]string{"k1", "k1"}, 1, 2, []error{ErrValidation}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mt := mockGitHub(t)
			var keyCalls, sends int
			mt.RegisterResponder(http.MethodGet, mockKeyURL, func(*http.Request) (*http.Response, error) {
				id := tc.keys[min(keyCalls, len(tc.keys)-1)]
				keyCalls++
				if id == "401" {
					return httpmock.NewStringResponse(401, `{"message":"Bad credentials"}`), nil
				}
				return httpmock.NewStringResponse(200, `{"key_id":"`+id+`","key":"`+mockPub+`"}`), nil
			})
			respond := func(*http.Request) (*http.Response, error) {
				sends++
				if sends == 1 {
					return httpmock.NewStringResponse(422, tc.refusal), nil
				}
				return httpmock.NewStringResponse(200, mockStream), nil
			}
			mt.RegisterResponder(http.MethodPost, mockStreamsURL, respond)
			mt.RegisterResponder(http.MethodPut, mockStreamsURL+"/7", respond)
			var err error
			if tc.update {
				_, err = c.UpdateStream(context.Background(), "acme", 7, StreamConfig{Enabled: true, Vendor: vendor})
			} else {
				_, err = c.CreateStream(context.Background(), "acme", StreamConfig{Enabled: true, Vendor: vendor})
			}
			assert.Equal(t, tc.wantSends, sends)
			assert.Equal(t, tc.wantKeys, keyCalls)
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tc.wantErr {
				assert.ErrorIs(t, err, want)
			}
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

func TestUnusableStreamKeyFromGitHub(t *testing.T) {
	t.Parallel()
	c, mt := mockGitHub(t)
	mt.RegisterResponder(http.MethodGet, mockKeyURL, httpmock.NewStringResponder(200, `{"key_id":"k9","key":"c2hvcnQ="}`))
	_, err := c.CreateStream(context.Background(), "acme", StreamConfig{Enabled: true, Vendor: Datadog{Site: DatadogUS, Token: NewSecret("SECRET-x")}})
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
	_, err := c.CreateStream(context.Background(), "acme", StreamConfig{Enabled: true, Vendor: Datadog{Site: DatadogUS, Token: NewSecret("SECRET-x")}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "low-order")
	assert.Equal(t, 1, mt.GetTotalCallCount(), "no stream request with a low-order key")
}
