package auditlog

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Stream types, exactly as GitHub spells them in stream_type.
const (
	StreamTypeAzureBlobStorage    = "Azure Blob Storage"
	StreamTypeAzureEventHubs      = "Azure Event Hubs"
	StreamTypeAmazonS3            = "Amazon S3"
	StreamTypeSplunk              = "Splunk"
	StreamTypeHTTPSEventCollector = "HTTPS Event Collector"
	StreamTypeGoogleCloudStorage  = "Google Cloud Storage"
	StreamTypeDatadog             = "Datadog"
)

// Stream is an audit-log stream configuration as GitHub returns it. GitHub
// never returns the vendor settings or secrets.
type Stream struct {
	ID            int64
	StreamType    string // one of the StreamType constants; other values are kept as sent
	StreamDetails string // what GitHub shows of the destination, e.g. a domain or bucket
	Enabled       bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// PausedAt is when the stream was paused; the zero time when it is not
	// (GitHub's paused_at is null or absent). GitHub never sends a year-1
	// timestamp, so zero cannot be confused with a real pause.
	PausedAt time.Time
}

// UnmarshalJSON decodes GitHub's stream object: ISO 8601 timestamps,
// paused_at null or absent, and a stream_details that is not a string kept
// as its JSON text.
func (s *Stream) UnmarshalJSON(b []byte) error {
	var w struct {
		ID            int64           `json:"id"`
		StreamType    string          `json:"stream_type"`
		StreamDetails json.RawMessage `json:"stream_details"`
		Enabled       bool            `json:"enabled"`
		CreatedAt     *string         `json:"created_at"`
		UpdatedAt     *string         `json:"updated_at"`
		PausedAt      *string         `json:"paused_at"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	out := Stream{ID: w.ID, StreamType: w.StreamType, Enabled: w.Enabled}
	if len(w.StreamDetails) > 0 && string(w.StreamDetails) != "null" {
		if json.Unmarshal(w.StreamDetails, &out.StreamDetails) != nil {
			out.StreamDetails = string(w.StreamDetails)
		}
	}
	for _, t := range []struct {
		name string
		in   *string
		out  *time.Time
	}{{"created_at", w.CreatedAt, &out.CreatedAt}, {"updated_at", w.UpdatedAt, &out.UpdatedAt}, {"paused_at", w.PausedAt, &out.PausedAt}} {
		if t.in == nil || *t.in == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339, *t.in)
		if err != nil {
			return fmt.Errorf("stream %d: %s %s is not an ISO 8601 time", w.ID, t.name, quoteValue(*t.in))
		}
		*t.out = v
	}
	*s = out
	return nil
}

// StreamConfig is what [Client.CreateStream] and [Client.UpdateStream] send:
// whether the stream runs and where to. GitHub replaces the whole
// configuration on update, so an update needs every setting and secret
// again.
type StreamConfig struct {
	// Enabled runs the stream; false creates or leaves it paused (GitHub
	// keeps up to 7 days of events for a paused stream).
	Enabled bool
	// Vendor is the destination: [AzureBlobStorage], [AzureEventHubs],
	// [AmazonS3OIDC], [AmazonS3AccessKeys], [Splunk], [HTTPSEventCollector],
	// [GoogleCloudStorage], [Datadog], or any of them wrapped in [Sealed].
	Vendor Vendor
}

// LogValue logs the configuration with its secrets redacted.
func (c StreamConfig) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Bool("enabled", c.Enabled)}
	if c.Vendor != nil {
		attrs = append(attrs, slog.Any("vendor", c.Vendor))
	}
	return slog.GroupValue(attrs...)
}

// Vendor is the destination of a stream. Its implementations are the
// vendor types of this package; each holds plaintext secrets, which the
// client seals with the enterprise's stream key before sending, and which
// never appear in fmt, slog or JSON output of the value.
type Vendor interface {
	// StreamType is the stream_type GitHub knows the vendor by.
	StreamType() string
	spec() vendorSpec
}

// DatadogSite is the Datadog site a stream sends to.
type DatadogSite string

// Datadog sites GitHub accepts.
const (
	DatadogUS     DatadogSite = "US"
	DatadogUS3    DatadogSite = "US3"
	DatadogUS5    DatadogSite = "US5"
	DatadogEU1    DatadogSite = "EU1"
	DatadogUS1FED DatadogSite = "US1-FED"
	DatadogAP1    DatadogSite = "AP1"
)

var datadogSites = []DatadogSite{DatadogUS, DatadogUS3, DatadogUS5, DatadogEU1, DatadogUS1FED, DatadogAP1}

// AzureBlobStorage streams to an Azure Blob Storage container.
type AzureBlobStorage struct {
	Container string // name of the target container
	SASURL    string // secret: the container's shared access signature URL
}

// AzureEventHubs streams to an Azure Event Hubs instance.
type AzureEventHubs struct {
	Name             string // name of the Event Hubs instance
	ConnectionString string // secret: the instance's connection string
}

// AmazonS3OIDC streams to an Amazon S3 bucket, authenticating by OpenID
// Connect as an IAM role. It has no secret.
type AmazonS3OIDC struct {
	Bucket  string
	Region  string
	RoleARN string // ARN of the IAM role GitHub assumes, "arn:..."
}

// AmazonS3AccessKeys streams to an Amazon S3 bucket, authenticating with an
// access key pair.
type AmazonS3AccessKeys struct {
	Bucket          string
	Region          string
	AccessKeyID     string // secret
	SecretAccessKey string // secret
}

// Splunk streams to a Splunk HTTP Event Collector. For Splunk Cloud the
// domain is "http-inputs-<host>.splunkcloud.com" and the port 443.
type Splunk struct {
	Domain    string // host name, without scheme or path
	Port      int    // 1 to 65535
	Token     string // secret: the HEC token
	SSLVerify bool   // verify the server's TLS certificate
}

// HTTPSEventCollector streams to a generic HTTPS event collector.
type HTTPSEventCollector struct {
	Domain    string // host name, without scheme or path
	Port      int    // 1 to 65535
	Path      string // path of the collector endpoint
	Token     string // secret
	SSLVerify bool   // verify the server's TLS certificate
}

// GoogleCloudStorage streams to a Google Cloud Storage bucket.
type GoogleCloudStorage struct {
	Bucket          string
	JSONCredentials string // secret: the service account's JSON key file
}

// Datadog streams to Datadog.
type Datadog struct {
	Site  DatadogSite
	Token string // secret: a Datadog API key
}

// Sealed is the escape hatch for secrets sealed elsewhere (by [Seal] or a
// libsodium sealed box made with the key of KeyID): its Vendor's secret
// fields hold standard-base64 ciphertexts instead of plaintext, sent as
// they are with KeyID. The client then fetches no key and, if GitHub refuses
// the key, cannot re-seal: the error is returned.
type Sealed struct {
	KeyID  string // key_id of the [StreamKey] the secrets were sealed with
	Vendor Vendor // any vendor type other than Sealed, with sealed secrets
}

// StreamType returns the wrapped vendor's stream type.
func (s Sealed) StreamType() string {
	if s.Vendor == nil {
		return ""
	}
	return s.Vendor.StreamType()
}

func (s Sealed) spec() vendorSpec {
	switch s.Vendor.(type) {
	case nil:
		return vendorSpec{name: "Sealed", sealed: true, keyID: s.KeyID, problem: "is required"}
	case Sealed, *Sealed:
		return vendorSpec{name: "Sealed", sealed: true, keyID: s.KeyID, problem: "cannot be another Sealed"}
	}
	sp := s.Vendor.spec()
	sp.sealed, sp.keyID = true, s.KeyID
	return sp
}

// StreamType returns "Azure Blob Storage".
func (AzureBlobStorage) StreamType() string { return StreamTypeAzureBlobStorage }

// StreamType returns "Azure Event Hubs".
func (AzureEventHubs) StreamType() string { return StreamTypeAzureEventHubs }

// StreamType returns "Amazon S3".
func (AmazonS3OIDC) StreamType() string { return StreamTypeAmazonS3 }

// StreamType returns "Amazon S3".
func (AmazonS3AccessKeys) StreamType() string { return StreamTypeAmazonS3 }

// StreamType returns "Splunk".
func (Splunk) StreamType() string { return StreamTypeSplunk }

// StreamType returns "HTTPS Event Collector".
func (HTTPSEventCollector) StreamType() string { return StreamTypeHTTPSEventCollector }

// StreamType returns "Google Cloud Storage".
func (GoogleCloudStorage) StreamType() string { return StreamTypeGoogleCloudStorage }

// StreamType returns "Datadog".
func (Datadog) StreamType() string { return StreamTypeDatadog }

func (v AzureBlobStorage) spec() vendorSpec {
	return vendorSpec{name: "AzureBlobStorage", streamType: v.StreamType(), fields: []vfield{
		{goName: "Container", wire: "container", kind: kText, text: v.Container},
		{goName: "SASURL", wire: "encrypted_sas_url", kind: kSecret, text: v.SASURL, check: checkHTTPSURL},
	}}
}

func (v AzureEventHubs) spec() vendorSpec {
	return vendorSpec{name: "AzureEventHubs", streamType: v.StreamType(), fields: []vfield{
		{goName: "Name", wire: "name", kind: kText, text: v.Name},
		{goName: "ConnectionString", wire: "encrypted_connstring", kind: kSecret, text: v.ConnectionString},
	}}
}

func (v AmazonS3OIDC) spec() vendorSpec {
	return vendorSpec{name: "AmazonS3OIDC", streamType: v.StreamType(), fields: []vfield{
		{goName: "Bucket", wire: "bucket", kind: kText, text: v.Bucket},
		{goName: "Region", wire: "region", kind: kText, text: v.Region},
		{wire: "authentication_type", kind: kConst, text: "oidc"},
		{goName: "RoleARN", wire: "arn_role", kind: kText, text: v.RoleARN, check: checkARN},
	}}
}

func (v AmazonS3AccessKeys) spec() vendorSpec {
	return vendorSpec{name: "AmazonS3AccessKeys", streamType: v.StreamType(), fields: []vfield{
		{goName: "Bucket", wire: "bucket", kind: kText, text: v.Bucket},
		{goName: "Region", wire: "region", kind: kText, text: v.Region},
		{wire: "authentication_type", kind: kConst, text: "access_keys"},
		{goName: "AccessKeyID", wire: "encrypted_access_key_id", kind: kSecret, text: v.AccessKeyID},
		{goName: "SecretAccessKey", wire: "encrypted_secret_key", kind: kSecret, text: v.SecretAccessKey},
	}}
}

func (v Splunk) spec() vendorSpec {
	return vendorSpec{name: "Splunk", streamType: v.StreamType(), fields: []vfield{
		{goName: "Domain", wire: "domain", kind: kText, text: v.Domain, check: checkHost},
		{goName: "Port", wire: "port", kind: kPort, num: v.Port},
		{goName: "Token", wire: "encrypted_token", kind: kSecret, text: v.Token},
		{goName: "SSLVerify", wire: "ssl_verify", kind: kBool, flag: v.SSLVerify},
	}}
}

func (v HTTPSEventCollector) spec() vendorSpec {
	return vendorSpec{name: "HTTPSEventCollector", streamType: v.StreamType(), fields: []vfield{
		{goName: "Domain", wire: "domain", kind: kText, text: v.Domain, check: checkHost},
		{goName: "Port", wire: "port", kind: kPort, num: v.Port},
		{goName: "Path", wire: "path", kind: kText, text: v.Path},
		{goName: "Token", wire: "encrypted_token", kind: kSecret, text: v.Token},
		{goName: "SSLVerify", wire: "ssl_verify", kind: kBool, flag: v.SSLVerify},
	}}
}

func (v GoogleCloudStorage) spec() vendorSpec {
	return vendorSpec{name: "GoogleCloudStorage", streamType: v.StreamType(), fields: []vfield{
		{goName: "Bucket", wire: "bucket", kind: kText, text: v.Bucket},
		{goName: "JSONCredentials", wire: "encrypted_json_credentials", kind: kSecret, text: v.JSONCredentials, check: checkJSONObject},
	}}
}

func (v Datadog) spec() vendorSpec {
	return vendorSpec{name: "Datadog", streamType: v.StreamType(), fields: []vfield{
		{goName: "Site", wire: "site", kind: kSite, text: string(v.Site)},
		{goName: "Token", wire: "encrypted_token", kind: kSecret, text: v.Token},
	}}
}

// Redaction: every vendor type prints, logs and marshals its secrets as
// "[REDACTED]" (an empty secret shows as empty, which helps debugging and
// reveals nothing).

// String returns the settings with secrets redacted.
func (v AzureBlobStorage) String() string { return v.spec().text(false) }

// GoString returns the settings with secrets redacted, for %#v.
func (v AzureBlobStorage) GoString() string { return v.spec().text(true) }

// Format prints the settings with secrets redacted, whatever the verb.
func (v AzureBlobStorage) Format(f fmt.State, verb rune) { v.spec().format(f, verb) }

// LogValue logs the settings with secrets redacted.
func (v AzureBlobStorage) LogValue() slog.Value { return v.spec().logValue() }

// MarshalJSON writes the settings with secrets redacted; it is for logs,
// not for the API (the client builds the request body itself).
func (v AzureBlobStorage) MarshalJSON() ([]byte, error) { return v.spec().redactedJSON() }

// String returns the settings with secrets redacted.
func (v AzureEventHubs) String() string { return v.spec().text(false) }

// GoString returns the settings with secrets redacted, for %#v.
func (v AzureEventHubs) GoString() string { return v.spec().text(true) }

// Format prints the settings with secrets redacted, whatever the verb.
func (v AzureEventHubs) Format(f fmt.State, verb rune) { v.spec().format(f, verb) }

// LogValue logs the settings with secrets redacted.
func (v AzureEventHubs) LogValue() slog.Value { return v.spec().logValue() }

// MarshalJSON writes the settings with secrets redacted, for logs.
func (v AzureEventHubs) MarshalJSON() ([]byte, error) { return v.spec().redactedJSON() }

// String returns the settings (this variant has no secret).
func (v AmazonS3OIDC) String() string { return v.spec().text(false) }

// GoString returns the settings, for %#v.
func (v AmazonS3OIDC) GoString() string { return v.spec().text(true) }

// Format prints the settings.
func (v AmazonS3OIDC) Format(f fmt.State, verb rune) { v.spec().format(f, verb) }

// LogValue logs the settings.
func (v AmazonS3OIDC) LogValue() slog.Value { return v.spec().logValue() }

// MarshalJSON writes the settings, for logs.
func (v AmazonS3OIDC) MarshalJSON() ([]byte, error) { return v.spec().redactedJSON() }

// String returns the settings with secrets redacted.
func (v AmazonS3AccessKeys) String() string { return v.spec().text(false) }

// GoString returns the settings with secrets redacted, for %#v.
func (v AmazonS3AccessKeys) GoString() string { return v.spec().text(true) }

// Format prints the settings with secrets redacted, whatever the verb.
func (v AmazonS3AccessKeys) Format(f fmt.State, verb rune) { v.spec().format(f, verb) }

// LogValue logs the settings with secrets redacted.
func (v AmazonS3AccessKeys) LogValue() slog.Value { return v.spec().logValue() }

// MarshalJSON writes the settings with secrets redacted, for logs.
func (v AmazonS3AccessKeys) MarshalJSON() ([]byte, error) { return v.spec().redactedJSON() }

// String returns the settings with secrets redacted.
func (v Splunk) String() string { return v.spec().text(false) }

// GoString returns the settings with secrets redacted, for %#v.
func (v Splunk) GoString() string { return v.spec().text(true) }

// Format prints the settings with secrets redacted, whatever the verb.
func (v Splunk) Format(f fmt.State, verb rune) { v.spec().format(f, verb) }

// LogValue logs the settings with secrets redacted.
func (v Splunk) LogValue() slog.Value { return v.spec().logValue() }

// MarshalJSON writes the settings with secrets redacted, for logs.
func (v Splunk) MarshalJSON() ([]byte, error) { return v.spec().redactedJSON() }

// String returns the settings with secrets redacted.
func (v HTTPSEventCollector) String() string { return v.spec().text(false) }

// GoString returns the settings with secrets redacted, for %#v.
func (v HTTPSEventCollector) GoString() string { return v.spec().text(true) }

// Format prints the settings with secrets redacted, whatever the verb.
func (v HTTPSEventCollector) Format(f fmt.State, verb rune) { v.spec().format(f, verb) }

// LogValue logs the settings with secrets redacted.
func (v HTTPSEventCollector) LogValue() slog.Value { return v.spec().logValue() }

// MarshalJSON writes the settings with secrets redacted, for logs.
func (v HTTPSEventCollector) MarshalJSON() ([]byte, error) { return v.spec().redactedJSON() }

// String returns the settings with secrets redacted.
func (v GoogleCloudStorage) String() string { return v.spec().text(false) }

// GoString returns the settings with secrets redacted, for %#v.
func (v GoogleCloudStorage) GoString() string { return v.spec().text(true) }

// Format prints the settings with secrets redacted, whatever the verb.
func (v GoogleCloudStorage) Format(f fmt.State, verb rune) { v.spec().format(f, verb) }

// LogValue logs the settings with secrets redacted.
func (v GoogleCloudStorage) LogValue() slog.Value { return v.spec().logValue() }

// MarshalJSON writes the settings with secrets redacted, for logs.
func (v GoogleCloudStorage) MarshalJSON() ([]byte, error) { return v.spec().redactedJSON() }

// String returns the settings with secrets redacted.
func (v Datadog) String() string { return v.spec().text(false) }

// GoString returns the settings with secrets redacted, for %#v.
func (v Datadog) GoString() string { return v.spec().text(true) }

// Format prints the settings with secrets redacted, whatever the verb.
func (v Datadog) Format(f fmt.State, verb rune) { v.spec().format(f, verb) }

// LogValue logs the settings with secrets redacted.
func (v Datadog) LogValue() slog.Value { return v.spec().logValue() }

// MarshalJSON writes the settings with secrets redacted, for logs.
func (v Datadog) MarshalJSON() ([]byte, error) { return v.spec().redactedJSON() }

// fieldKind is how a vendor field is validated and written.
type fieldKind int

const (
	kText   fieldKind = iota // required string
	kSecret                  // required string, sealed on the wire
	kPort                    // integer 1..65535
	kBool                    // boolean
	kSite                    // Datadog site enum
	kConst                   // fixed wire value, not a Go field
)

// vfield is one field of a vendor type with its value and wire name.
type vfield struct {
	goName string
	wire   string
	kind   fieldKind
	text   string
	num    int
	flag   bool
	check  func(string) string // extra check of a string value: the reason it is wrong, or ""
}

// vendorSpec describes a vendor value: its fields in wire order and, for
// [Sealed], the key ID the secrets were sealed with.
type vendorSpec struct {
	name       string // Go type name, prefix of error fields
	streamType string
	fields     []vfield
	sealed     bool
	keyID      string
	problem    string // why a Sealed wrapper is unusable, "" when it is fine
}

const redacted = "[REDACTED]"

func (sp vendorSpec) text(goSyntax bool) string {
	var b strings.Builder
	if goSyntax {
		b.WriteString("auditlog.")
	}
	b.WriteString(sp.name)
	b.WriteByte('{')
	first := true
	for _, f := range sp.fields {
		if f.kind == kConst {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(f.goName)
		b.WriteByte(':')
		switch f.kind {
		case kPort:
			b.WriteString(strconv.Itoa(f.num))
		case kBool:
			b.WriteString(strconv.FormatBool(f.flag))
		case kSecret:
			switch {
			case f.text == "":
				b.WriteString(`""`)
			case goSyntax:
				b.WriteString(strconv.Quote(redacted))
			default:
				b.WriteString(redacted)
			}
		default:
			b.WriteString(strconv.Quote(f.text))
		}
	}
	b.WriteByte('}')
	return b.String()
}

func (sp vendorSpec) format(f fmt.State, verb rune) {
	switch verb {
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, sp.text(true))
			return
		}
		fmt.Fprint(f, sp.text(false))
	case 's':
		fmt.Fprint(f, sp.text(false))
	case 'q':
		fmt.Fprint(f, strconv.Quote(sp.text(false)))
	default:
		// %x, %d and the like would print raw bytes of the fields; refuse
		// them the way fmt reports a bad verb, with the redacted text.
		fmt.Fprintf(f, "%%!%c(%s)", verb, sp.text(false))
	}
}

func (sp vendorSpec) logValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(sp.fields)+1)
	attrs = append(attrs, slog.String("type", sp.name))
	for _, f := range sp.fields {
		switch f.kind {
		case kConst:
		case kPort:
			attrs = append(attrs, slog.Int(f.goName, f.num))
		case kBool:
			attrs = append(attrs, slog.Bool(f.goName, f.flag))
		case kSecret:
			attrs = append(attrs, slog.String(f.goName, redactedValue(f.text)))
		default:
			attrs = append(attrs, slog.String(f.goName, f.text))
		}
	}
	return slog.GroupValue(attrs...)
}

func (sp vendorSpec) redactedJSON() ([]byte, error) {
	m := map[string]any{"type": sp.name}
	for _, f := range sp.fields {
		switch f.kind {
		case kConst:
		case kPort:
			m[f.goName] = f.num
		case kBool:
			m[f.goName] = f.flag
		case kSecret:
			m[f.goName] = redactedValue(f.text)
		default:
			m[f.goName] = f.text
		}
	}
	return json.Marshal(m)
}

func redactedValue(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// validate checks the vendor value before anything is sent. Errors name the
// field as "Type.Field" and never quote a secret.
func (sp vendorSpec) validate() error {
	if sp.sealed {
		if strings.TrimSpace(sp.keyID) == "" || hasControl(sp.keyID) {
			return &InputError{Field: "Sealed.KeyID", Reason: "is required: the key_id of the stream key the secrets were sealed with"}
		}
		if sp.problem != "" {
			return &InputError{Field: "Sealed.Vendor", Reason: sp.problem}
		}
	}
	for _, f := range sp.fields {
		field := sp.name + "." + f.goName
		bad := func(reason string) error { return &InputError{Field: field, Reason: reason} }
		switch f.kind {
		case kText, kSecret, kSite:
			if strings.TrimSpace(f.text) == "" {
				return bad("is required")
			}
			if f.kind == kSecret {
				if sp.sealed {
					if !isSealedBox(f.text) {
						return bad("must be a sealed box in standard base64 (see Seal) inside Sealed")
					}
					continue
				}
				if f.check != nil {
					if reason := f.check(f.text); reason != "" {
						return bad(reason)
					}
				}
				continue
			}
			if !validText(f.text) {
				return bad(fmt.Sprintf("%s has control characters or invalid UTF-8", quoteValue(f.text)))
			}
			if f.kind == kSite && !validSite(DatadogSite(f.text)) {
				return bad(fmt.Sprintf("must be one of US, US3, US5, EU1, US1-FED, AP1, got %s", quoteValue(f.text)))
			}
			if f.check != nil {
				if reason := f.check(f.text); reason != "" {
					return bad(fmt.Sprintf("%s %s", quoteValue(f.text), reason))
				}
			}
		case kPort:
			if f.num < 1 || f.num > 65535 {
				return bad(fmt.Sprintf("must be between 1 and 65535, got %d", f.num))
			}
		}
	}
	return nil
}

func validSite(s DatadogSite) bool {
	for _, v := range datadogSites {
		if s == v {
			return true
		}
	}
	return false
}

// isSealedBox reports whether s looks like a base64 sealed box: standard
// base64 of at least the sealed-box overhead.
func isSealedBox(s string) bool {
	raw, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(raw) >= SealedOverhead
}

// checkHost refuses a URL where a bare host name is wanted.
func checkHost(s string) string {
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/ ?#@") {
		return "must be a host name, without scheme, path or spaces"
	}
	return ""
}

// checkARN refuses a role given by name instead of ARN.
func checkARN(s string) string {
	if !strings.HasPrefix(s, "arn:") {
		return `must be an IAM role ARN ("arn:...")`
	}
	return ""
}

// checkHTTPSURL checks a secret URL without ever echoing it.
func checkHTTPSURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "must be an https URL (value not shown: it is a secret)"
	}
	return ""
}

// checkJSONObject checks a secret JSON document without ever echoing it.
func checkJSONObject(s string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &m) != nil {
		return "must be the service account's JSON key file, a JSON object (value not shown: it is a secret)"
	}
	return ""
}

// streamRequest is the body of POST and PUT .../audit-log/streams.
type streamRequest struct {
	Enabled        bool           `json:"enabled"`
	StreamType     string         `json:"stream_type"`
	VendorSpecific map[string]any `json:"vendor_specific"`
}

// body builds the request body, sealing each secret with key (ignored for
// [Sealed], whose values are sent as they are). It also returns the
// plaintext secrets, to scrub them from any error.
func (sp vendorSpec) body(enabled bool, key parsedKey) (*streamRequest, []string, error) {
	keyID := key.KeyID
	if sp.sealed {
		keyID = sp.keyID
	}
	vs := make(map[string]any, len(sp.fields)+1)
	var secrets []string
	for _, f := range sp.fields {
		switch f.kind {
		case kPort:
			vs[f.wire] = f.num
		case kBool:
			vs[f.wire] = f.flag
		case kSecret:
			if sp.sealed {
				vs[f.wire] = f.text
				continue
			}
			secrets = append(secrets, f.text)
			ct, err := seal(key.pub, []byte(f.text))
			if err != nil {
				return nil, nil, err
			}
			vs[f.wire] = ct
		default:
			vs[f.wire] = f.text
		}
	}
	vs["key_id"] = keyID
	return &streamRequest{Enabled: enabled, StreamType: sp.streamType, VendorSpecific: vs}, secrets, nil
}

// checkConfig validates cfg and returns its vendor's spec.
func checkConfig(cfg StreamConfig) (vendorSpec, error) {
	if cfg.Vendor == nil {
		return vendorSpec{}, &InputError{Field: "StreamConfig.Vendor", Reason: "is required (e.g. auditlog.Splunk{...})"}
	}
	if v := reflect.ValueOf(cfg.Vendor); v.Kind() == reflect.Pointer && v.IsNil() {
		return vendorSpec{}, &InputError{Field: "StreamConfig.Vendor", Reason: fmt.Sprintf("is a nil %T", cfg.Vendor)}
	}
	sp := cfg.Vendor.spec()
	if err := sp.validate(); err != nil {
		return vendorSpec{}, err
	}
	return sp, nil
}

// streamPath validates the enterprise and stream ID and returns the path.
func streamPath(enterprise string, id int64) (string, error) {
	if id <= 0 {
		return "", &InputError{Field: "id", Reason: fmt.Sprintf("must be a positive stream ID, got %d", id)}
	}
	return enterprisePath(enterprise, "audit-log", "streams", strconv.FormatInt(id, 10))
}

// ListStreams lists the enterprise's audit-log stream configurations. The
// call costs one request of the audit_log_streaming budget (15 an hour).
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#list-audit-log-stream-configurations-for-an-enterprise
func (c *Client) ListStreams(ctx context.Context, enterprise string) ([]Stream, error) {
	path, err := enterprisePath(enterprise, "audit-log", "streams")
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &call{method: http.MethodGet, path: path, resource: ResourceAuditLogStreaming})
	if err != nil {
		return nil, err
	}
	var streams []Stream
	if err := json.Unmarshal([]byte(resp.body), &streams); err != nil {
		return nil, fmt.Errorf("auditlog: decoding streams (request %s): %w", resp.requestID, err)
	}
	if streams == nil {
		streams = []Stream{}
	}
	return streams, nil
}

// GetStream fetches one audit-log stream configuration by ID.
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#list-one-audit-log-streaming-configuration-via-a-stream-id
func (c *Client) GetStream(ctx context.Context, enterprise string, id int64) (*Stream, error) {
	path, err := streamPath(enterprise, id)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &call{method: http.MethodGet, path: path, resource: ResourceAuditLogStreaming})
	if err != nil {
		return nil, err
	}
	return decodeStream(resp)
}

// CreateStream creates an audit-log stream. The vendor's plaintext secrets
// are sealed with the enterprise's stream key, fetched once and kept by the
// client ([WithStreamKeyTTL]), so creating N streams costs N+1 requests of the
// audit_log_streaming budget (15 an hour). The configuration is validated
// before anything is sent.
//
// If GitHub refuses the key_id or a sealed value with 422 (the key was
// rotated), the client fetches the key again, re-seals and retries once;
// nothing was created by the refused request, so the retry cannot create a
// duplicate. A [Sealed] vendor is never retried this way.
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#create-an-audit-log-streaming-configuration-for-an-enterprise
func (c *Client) CreateStream(ctx context.Context, enterprise string, cfg StreamConfig) (*Stream, error) {
	path, err := enterprisePath(enterprise, "audit-log", "streams")
	if err != nil {
		return nil, err
	}
	return c.writeStream(ctx, http.MethodPost, path, enterprise, cfg)
}

// UpdateStream replaces the configuration of stream id. GitHub has no
// partial update: cfg must carry every setting and secret, as for
// [Client.CreateStream], and is sealed and retried the same way.
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#update-an-existing-audit-log-stream-configuration
func (c *Client) UpdateStream(ctx context.Context, enterprise string, id int64, cfg StreamConfig) (*Stream, error) {
	path, err := streamPath(enterprise, id)
	if err != nil {
		return nil, err
	}
	return c.writeStream(ctx, http.MethodPut, path, enterprise, cfg)
}

// PauseStream pauses stream id: an [Client.UpdateStream] with Enabled false.
// GitHub replaces the whole configuration and never returns secrets, so the
// vendor settings and plaintext secrets are needed again; GitHub keeps up to
// 7 days of events for a paused stream and sends them on resume.
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#update-an-existing-audit-log-stream-configuration
func (c *Client) PauseStream(ctx context.Context, enterprise string, id int64, vendor Vendor) (*Stream, error) {
	return c.UpdateStream(ctx, enterprise, id, StreamConfig{Enabled: false, Vendor: vendor})
}

// ResumeStream resumes stream id: an [Client.UpdateStream] with Enabled
// true, which needs the full vendor settings as [Client.PauseStream] does.
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#update-an-existing-audit-log-stream-configuration
func (c *Client) ResumeStream(ctx context.Context, enterprise string, id int64, vendor Vendor) (*Stream, error) {
	return c.UpdateStream(ctx, enterprise, id, StreamConfig{Enabled: true, Vendor: vendor})
}

// DeleteStream deletes stream id. A retry that finds the stream gone, after
// a failure that may have reached GitHub (a 502, say), means an earlier
// attempt deleted it: DeleteStream returns nil.
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#delete-an-audit-log-streaming-configuration-for-an-enterprise
func (c *Client) DeleteStream(ctx context.Context, enterprise string, id int64) error {
	path, err := streamPath(enterprise, id)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, &call{method: http.MethodDelete, path: path, resource: ResourceAuditLogStreaming})
	return err
}

// writeStream validates, seals and sends a create or update, refreshing the
// key and retrying once when GitHub refuses the key.
func (c *Client) writeStream(ctx context.Context, method, path, enterprise string, cfg StreamConfig) (*Stream, error) {
	sp, err := checkConfig(cfg)
	if err != nil {
		return nil, err
	}
	if sp.sealed {
		st, _, err := c.sendStream(ctx, method, path, sp, cfg.Enabled, parsedKey{})
		return st, err
	}
	key, err := c.keys.get(ctx, enterprise, keyCached, StreamKey{}, c.fetchStreamKey)
	if err != nil {
		return nil, err
	}
	st, secrets, err := c.sendStream(ctx, method, path, sp, cfg.Enabled, key)
	if err == nil || !keyRefused(err) {
		return st, scrub(err, secrets)
	}
	fresh, kerr := c.keys.get(ctx, enterprise, keyReplace, key.StreamKey, c.fetchStreamKey)
	if kerr != nil {
		return nil, kerr
	}
	if fresh.StreamKey == key.StreamKey {
		// The key did not change: re-sealing with it would be refused
		// again, so spare the budget and report GitHub's refusal.
		return nil, scrub(err, secrets)
	}
	st, secrets, err = c.sendStream(ctx, method, path, sp, cfg.Enabled, fresh)
	return st, scrub(err, secrets)
}

// sendStream makes one create or update request.
func (c *Client) sendStream(ctx context.Context, method, path string, sp vendorSpec, enabled bool, key parsedKey) (*Stream, []string, error) {
	body, secrets, err := sp.body(enabled, key)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.do(ctx, &call{method: method, path: path, body: body, resource: ResourceAuditLogStreaming})
	if err != nil {
		return nil, secrets, err
	}
	if resp.status != http.StatusOK && resp.status != http.StatusCreated {
		return nil, secrets, fmt.Errorf("auditlog: %s %s: unexpected status %d (request %s)", method, "/"+path, resp.status, resp.requestID)
	}
	st, err := decodeStream(resp)
	return st, secrets, err
}

func decodeStream(resp *response) (*Stream, error) {
	var st Stream
	if err := json.Unmarshal([]byte(resp.body), &st); err != nil {
		return nil, fmt.Errorf("auditlog: decoding stream (request %s): %w", resp.requestID, err)
	}
	return &st, nil
}

// keyRefused reports whether err is a 422 that blames the stream key: the
// key_id, an encrypted_* value, or decryption. Other 422s are not retried.
func keyRefused(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnprocessableEntity {
		return false
	}
	mentions := func(s string) bool {
		s = strings.ToLower(s)
		return strings.Contains(s, "key_id") || strings.Contains(s, "encrypted_") ||
			strings.Contains(s, "stream key") || strings.Contains(s, "decrypt")
	}
	if mentions(ae.Message) {
		return true
	}
	for _, fe := range ae.Errors {
		if mentions(fe.Field) || mentions(fe.Message) {
			return true
		}
	}
	return false
}

// scrub removes plaintext secrets from an error GitHub sent, in case a
// server ever echoes a value it refused.
func scrub(err error, secrets []string) error {
	var ae *APIError
	if err == nil || len(secrets) == 0 || !errors.As(err, &ae) {
		return err
	}
	clean := func(s string) string {
		for _, sec := range secrets {
			if sec != "" {
				s = strings.ReplaceAll(s, sec, redacted)
			}
		}
		return s
	}
	ae.Message, ae.Body = clean(ae.Message), clean(ae.Body)
	for i := range ae.Errors {
		ae.Errors[i].Message = clean(ae.Errors[i].Message)
		ae.Errors[i].Field = clean(ae.Errors[i].Field)
	}
	return err
}
