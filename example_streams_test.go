package auditlog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"strings"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
)

// newStreamsClient returns a fake GitHub and a client for it; real code
// uses auditlog.NewClient(auditlog.WithToken(os.Getenv("GITHUB_TOKEN"))).
func newStreamsClient() (*auditlogtest.Server, *auditlog.Client) {
	srv := auditlogtest.NewServer()
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()))
	if err != nil {
		log.Fatal(err)
	}
	return srv, c
}

func ExampleClient_CreateStream() {
	srv, c := newStreamsClient()
	defer srv.Close()
	ctx := context.Background()

	// Plaintext in: the client fetches the stream key, seals the token and
	// sends the key_id with it.
	splunk := auditlog.Splunk{
		Domain:    "http-inputs-acme.splunkcloud.com",
		Port:      443,
		Token:     auditlog.NewSecret("hec-token-from-your-vault"),
		SSLVerify: true,
	}
	s, err := c.CreateStream(ctx, auditlog.Enterprise(srv.Enterprise()), auditlog.StreamConfig{Enabled: true, Vendor: splunk})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.ID, s.StreamType, s.StreamDetails, s.Enabled)
	fmt.Println("GitHub unsealed:", srv.StreamSecrets(s.ID)["encrypted_token"])
	fmt.Printf("logged as: %+v\n", splunk)
	// Output:
	// 1 Splunk http-inputs-acme.splunkcloud.com true
	// GitHub unsealed: hec-token-from-your-vault
	// logged as: {Domain:http-inputs-acme.splunkcloud.com Port:443 Token:[REDACTED] SSLVerify:true}
}

func ExampleClient_UpdateStream() {
	srv, c := newStreamsClient()
	defer srv.Close()
	ctx := context.Background()
	ent := srv.Enterprise()

	dd := auditlog.Datadog{Site: auditlog.DatadogEU1, Token: auditlog.NewSecret("old-api-key")}
	s, err := c.CreateStream(ctx, auditlog.Enterprise(ent), auditlog.StreamConfig{Enabled: true, Vendor: dd})
	if err != nil {
		log.Fatal(err)
	}

	// Rotate the token: GitHub replaces the whole configuration, so send
	// every setting again with the new secret.
	dd.Token = auditlog.NewSecret("new-api-key")
	s, err = c.UpdateStream(ctx, auditlog.Enterprise(ent), s.ID, auditlog.StreamConfig{Enabled: true, Vendor: dd})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.StreamType, s.StreamDetails, s.Enabled)
	fmt.Println("GitHub unsealed:", srv.StreamSecrets(s.ID)["encrypted_token"])

	// The stream key was fetched once for both calls (15 requests an hour),
	// after the warm start asked what is left of them (GET /rate_limit,
	// which spends none).
	for _, r := range srv.Requests() {
		fmt.Println(r.Method, strings.TrimPrefix(r.Path, "/enterprises/"+ent), r.Status)
	}
	// Output:
	// Datadog EU1 true
	// GitHub unsealed: new-api-key
	// GET /rate_limit 200
	// GET /audit-log/stream-key 200
	// POST /audit-log/streams 200
	// PUT /audit-log/streams/1 200
}

func ExampleClient_PauseStream() {
	srv, c := newStreamsClient()
	defer srv.Close()
	ctx := context.Background()
	ent := srv.Enterprise()

	// Keep the vendor settings: pausing and resuming replace the whole
	// configuration, secrets included.
	s3 := auditlog.AmazonS3OIDC{Bucket: "acme-audit", Region: "us-east-1", RoleARN: "arn:aws:iam::123456789012:role/github-audit"}
	s, err := c.CreateStream(ctx, auditlog.Enterprise(ent), auditlog.StreamConfig{Enabled: true, Vendor: s3})
	if err != nil {
		log.Fatal(err)
	}

	s, err = c.PauseStream(ctx, auditlog.Enterprise(ent), s.ID, s3)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("enabled:", s.Enabled, "paused:", !s.PausedAt.IsZero())

	s, err = c.ResumeStream(ctx, auditlog.Enterprise(ent), s.ID, s3)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("enabled:", s.Enabled, "paused:", !s.PausedAt.IsZero())
	// Output:
	// enabled: false paused: true
	// enabled: true paused: false
}

func ExampleSecret() {
	dd := auditlog.Datadog{Site: auditlog.DatadogEU1, Token: auditlog.NewSecret("api-key-from-your-vault")}
	fmt.Printf("%v\n%+v\n", dd, dd)

	// Its JSON uses GitHub's names. The placeholder does not load back:
	// sealed and sent, it would silently break the stream.
	js, _ := json.Marshal(dd)
	fmt.Println(string(js))
	var back auditlog.Datadog
	fmt.Println(json.Unmarshal(js, &back))
	// Output:
	// {EU1 [REDACTED]}
	// {Site:EU1 Token:[REDACTED]}
	// {"site":"EU1","encrypted_token":"[REDACTED]"}
	// auditlog: invalid Secret: is "[REDACTED]", the placeholder a secret is printed as, not a secret
}
