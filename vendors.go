package auditlog

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
)

// StreamType is a stream's destination as GitHub names it in stream_type.
type StreamType string

// Stream types, exactly as GitHub spells them.
const (
	StreamTypeAzureBlobStorage    StreamType = "Azure Blob Storage"
	StreamTypeAzureEventHubs      StreamType = "Azure Event Hubs"
	StreamTypeAmazonS3            StreamType = "Amazon S3"
	StreamTypeSplunk              StreamType = "Splunk"
	StreamTypeHTTPSEventCollector StreamType = "HTTPS Event Collector"
	StreamTypeGoogleCloudStorage  StreamType = "Google Cloud Storage"
	StreamTypeDatadog             StreamType = "Datadog"
)

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

// Vendor is the destination of a stream: one of the vendor types below, or
// one of them wrapped in [Sealed]. A vendor type is a plain struct whose
// fields are tagged with GitHub's names; its credentials are [Secret]s,
// which the client seals with the enterprise's stream key before sending.
// Every field is required, every int is a port (1 to 65535), and a check
// tag names a further check (see fieldChecks).
type Vendor interface {
	StreamType() StreamType // the stream_type GitHub knows the vendor by
	isVendor()
}

// AzureBlobStorage streams to an Azure Blob Storage container.
type AzureBlobStorage struct {
	Container string `json:"container"`                           // name of the target container
	SASURL    Secret `json:"encrypted_sas_url" check:"https-url"` // the container's shared access signature URL
}

// AzureEventHubs streams to an Azure Event Hubs instance.
type AzureEventHubs struct {
	Name             string `json:"name"`                 // name of the Event Hubs instance
	ConnectionString Secret `json:"encrypted_connstring"` // the instance's connection string
}

// AmazonS3OIDC streams to an Amazon S3 bucket, authenticating by OpenID
// Connect as an IAM role. It has no secret.
type AmazonS3OIDC struct {
	Bucket  string `json:"bucket"`
	Region  string `json:"region"`
	RoleARN string `json:"arn_role" check:"arn"` // ARN of the IAM role GitHub assumes, "arn:..."
}

// AmazonS3AccessKeys streams to an Amazon S3 bucket, authenticating with an
// access key pair.
type AmazonS3AccessKeys struct {
	Bucket          string `json:"bucket"`
	Region          string `json:"region"`
	AccessKeyID     Secret `json:"encrypted_access_key_id"`
	SecretAccessKey Secret `json:"encrypted_secret_key"`
}

// Splunk streams to a Splunk HTTP Event Collector. For Splunk Cloud the
// domain is "http-inputs-<host>.splunkcloud.com" and the port 443.
type Splunk struct {
	Domain    string `json:"domain" check:"host"` // host name, without scheme or path
	Port      int    `json:"port"`
	Token     Secret `json:"encrypted_token"` // the HEC token
	SSLVerify bool   `json:"ssl_verify"`      // verify the server's TLS certificate
}

// HTTPSEventCollector streams to a generic HTTPS event collector.
type HTTPSEventCollector struct {
	Domain    string `json:"domain" check:"host"` // host name, without scheme or path
	Port      int    `json:"port"`
	Path      string `json:"path"` // path of the collector endpoint
	Token     Secret `json:"encrypted_token"`
	SSLVerify bool   `json:"ssl_verify"` // verify the server's TLS certificate
}

// GoogleCloudStorage streams to a Google Cloud Storage bucket.
type GoogleCloudStorage struct {
	Bucket          string `json:"bucket"`
	JSONCredentials Secret `json:"encrypted_json_credentials" check:"json-object"` // the service account's JSON key file
}

// Datadog streams to Datadog.
type Datadog struct {
	Site  DatadogSite `json:"site"`
	Token Secret      `json:"encrypted_token"` // a Datadog API key
}

// Sealed is the escape hatch for secrets sealed elsewhere (by [Seal] or a
// libsodium sealed box made with the key of KeyID): its Vendor's Secrets
// hold standard-base64 ciphertexts, sent as they are with KeyID. The client
// then fetches no key and, if GitHub refuses the request, cannot re-seal.
type Sealed struct {
	KeyID  string // key_id of the [StreamKey] the secrets were sealed with
	Vendor Vendor // any vendor type other than Sealed, with sealed secrets
}

// StreamType returns the wrapped vendor's stream type.
func (s Sealed) StreamType() StreamType {
	if s.Vendor == nil {
		return ""
	}
	return s.Vendor.StreamType()
}

// StreamType returns "Azure Blob Storage".
func (AzureBlobStorage) StreamType() StreamType { return StreamTypeAzureBlobStorage }

// StreamType returns "Azure Event Hubs".
func (AzureEventHubs) StreamType() StreamType { return StreamTypeAzureEventHubs }

// StreamType returns "Amazon S3".
func (AmazonS3OIDC) StreamType() StreamType { return StreamTypeAmazonS3 }

// StreamType returns "Amazon S3".
func (AmazonS3AccessKeys) StreamType() StreamType { return StreamTypeAmazonS3 }

// StreamType returns "Splunk".
func (Splunk) StreamType() StreamType { return StreamTypeSplunk }

// StreamType returns "HTTPS Event Collector".
func (HTTPSEventCollector) StreamType() StreamType { return StreamTypeHTTPSEventCollector }

// StreamType returns "Google Cloud Storage".
func (GoogleCloudStorage) StreamType() StreamType { return StreamTypeGoogleCloudStorage }

// StreamType returns "Datadog".
func (Datadog) StreamType() StreamType { return StreamTypeDatadog }

func (Sealed) isVendor()              {}
func (AzureBlobStorage) isVendor()    {}
func (AzureEventHubs) isVendor()      {}
func (AmazonS3OIDC) isVendor()        {}
func (AmazonS3AccessKeys) isVendor()  {}
func (Splunk) isVendor()              {}
func (HTTPSEventCollector) isVendor() {}
func (GoogleCloudStorage) isVendor()  {}
func (Datadog) isVendor()             {}

// vendorTypes are the plain vendor types with the authentication_type that
// tells the S3 variants apart.
var vendorTypes = []struct {
	v    Vendor
	auth string
}{{AzureBlobStorage{}, ""}, {AzureEventHubs{}, ""}, {AmazonS3OIDC{}, "oidc"}, {AmazonS3AccessKeys{}, "access_keys"},
	{Splunk{}, ""}, {HTTPSEventCollector{}, ""}, {GoogleCloudStorage{}, ""}, {Datadog{}, ""}}

// unwrap returns the plain vendor inside v (dereferenced, out of [Sealed])
// and, for Sealed, its key ID ("" otherwise); it refuses a missing vendor.
func unwrap(v Vendor) (plain Vendor, keyID string, err error) {
	deref := func(v Vendor) Vendor {
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				return nil
			}
			v, _ = rv.Elem().Interface().(Vendor)
		}
		return v
	}
	if s, ok := deref(v).(Sealed); ok {
		if strings.TrimSpace(s.KeyID) == "" || hasControl(s.KeyID) {
			return nil, "", &InputError{Field: "Sealed.KeyID", Reason: "is required: the key_id of the stream key the secrets were sealed with"}
		}
		if _, again := deref(s.Vendor).(Sealed); again || deref(s.Vendor) == nil {
			return nil, "", &InputError{Field: "Sealed.Vendor", Reason: "is required, and cannot be another Sealed"}
		}
		return deref(s.Vendor), s.KeyID, nil
	}
	if v = deref(v); v == nil {
		return nil, "", &InputError{Field: "StreamConfig.Vendor", Reason: "is required (e.g. auditlog.Splunk{...})"}
	}
	return v, "", nil
}

// fields calls fn for each field of a plain vendor: "Type.Field", GitHub's
// name, the check tag and the value, stopping at the first error.
func fields(v Vendor, fn func(name, wire, check string, value any) error) error {
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		if err := fn(rv.Type().Name()+"."+f.Name, f.Tag.Get("json"), f.Tag.Get("check"), rv.Field(i).Interface()); err != nil {
			return err
		}
	}
	return nil
}

// validate checks a plain vendor's fields before anything is sent, its
// secrets as ciphertexts when it was inside [Sealed]. Errors name the field
// as "Type.Field" and never quote a secret.
func validate(v Vendor, sealed bool) error {
	return fields(v, func(name, _, tag string, value any) error {
		bad := func(format string, a ...any) error {
			return &InputError{Field: name, Reason: fmt.Sprintf(format, a...)}
		}
		check := fieldChecks[tag]
		switch x := value.(type) {
		case Secret:
			switch s := x.reveal(); {
			case strings.TrimSpace(s) == "":
				return bad("is required")
			case s == redacted:
				return bad(`is "[REDACTED]", the placeholder a secret is printed as, not a secret`)
			case sealed && !isSealedBox(s):
				return bad("must be a sealed box in standard base64 (see Seal) inside Sealed")
			case !sealed && check != nil && check(s) != "":
				return bad("%s (value not shown: it is a secret)", check(s))
			}
		case DatadogSite:
			if !slices.Contains(datadogSites, x) {
				return bad("must be one of US, US3, US5, EU1, US1-FED, AP1, got %s", quoteValue(string(x)))
			}
		case string:
			switch {
			case strings.TrimSpace(x) == "":
				return bad("is required")
			case !validText(x):
				return bad("%s has control characters or invalid UTF-8", quoteValue(x))
			case check != nil && check(x) != "":
				return bad("%s %s", quoteValue(x), check(x))
			}
		case int:
			if x < 1 || x > 65535 {
				return bad("must be between 1 and 65535, got %d", x)
			}
		}
		return nil
	})
}

// fieldChecks are the checks a check tag names: each says why a value is
// wrong, or "". A secret's value is never part of the reason.
var fieldChecks = map[string]func(string) string{
	"host": func(s string) string {
		return cond(strings.Contains(s, "://") || strings.ContainsAny(s, "/ ?#@"), "must be a host name, without scheme, path or spaces")
	},
	"arn": func(s string) string {
		return cond(!strings.HasPrefix(s, "arn:"), `must be an IAM role ARN ("arn:...")`)
	},
	"https-url": func(s string) string {
		u, err := url.Parse(s)
		return cond(err != nil || u.Scheme != "https" || u.Host == "", "must be an https URL")
	},
	"json-object": func(s string) string {
		return cond(json.Unmarshal([]byte(s), new(map[string]json.RawMessage)) != nil, "must be the service account's JSON key file, a JSON object")
	},
}

func cond(bad bool, reason string) string {
	if bad {
		return reason
	}
	return ""
}

// isSealedBox reports whether s looks like a sealed box: standard base64 of
// at least the sealed-box overhead.
func isSealedBox(s string) bool {
	raw, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(raw) >= SealedOverhead
}

// vendorSpecific is the vendor_specific object of a plain vendor: each field
// under GitHub's name, each Secret as secret makes it (sealed, or left to
// marshal redacted), the S3 authentication_type, and key_id unless "".
func vendorSpecific(v Vendor, keyID string, secret func(Secret) (any, error)) (map[string]any, error) {
	vs := map[string]any{}
	if keyID != "" {
		vs["key_id"] = keyID
	}
	for _, t := range vendorTypes {
		if reflect.TypeOf(t.v) == reflect.TypeOf(v) && t.auth != "" {
			vs["authentication_type"] = t.auth
		}
	}
	err := fields(v, func(_, wire, _ string, value any) (err error) {
		vs[wire] = value
		if s, ok := value.(Secret); ok {
			vs[wire], err = secret(s)
		}
		return err
	})
	return vs, err
}

// newVendor returns a pointer to a zero plain vendor of the type that
// stream_type and, for S3, authentication_type name.
func newVendor(st StreamType, auth string) (any, error) {
	for _, t := range vendorTypes {
		if t.v.StreamType() == st && t.auth == auth {
			return reflect.New(reflect.TypeOf(t.v)).Interface(), nil
		}
	}
	return nil, fmt.Errorf("auditlog: no vendor type for stream_type %s and authentication_type %s",
		quoteValue(string(st)), quoteValue(auth))
}
