package auditlogtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/nacl/box"
)

type streamKey struct {
	id   int
	pub  *[32]byte
	priv *[32]byte
}

func (s *Server) rotateKeyLocked() string {
	pub, priv, err := box.GenerateKey(s.keyRand)
	if err != nil {
		panic(err) // the ChaCha8 reader never fails
	}
	s.key = streamKey{id: s.key.id + 1, pub: pub, priv: priv}
	return strconv.Itoa(s.key.id)
}

// RotateStreamKey replaces the stream key pair with a new Curve25519 pair
// (deterministic for the [WithSeed] seed) and returns its key_id ("1", "2",
// ...). The old key_id becomes stale: bodies using it, or secrets sealed for
// the old key, are refused with a 422 whose text names neither the key nor
// a field, since GitHub does not document what it says.
func (s *Server) RotateStreamKey() (keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rotateKeyLocked()
}

// StreamKey returns the current key_id and the std-base64 public key, as
// GET .../audit-log/stream-key returns them.
func (s *Server) StreamKey() (keyID, publicKeyBase64 string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strconv.Itoa(s.key.id), base64.StdEncoding.EncodeToString(s.key.pub[:])
}

// StreamSecrets returns, for a stream, each encrypted_* field name mapped to
// the plaintext the server unsealed on the last create or update of that
// stream; nil for an unknown stream. The map is a copy.
func (s *Server) StreamSecrets(streamID int64) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.secrets[streamID]
	if !ok {
		return nil
	}
	return maps.Clone(m)
}

type stream struct {
	ID            int64   `json:"id"`
	StreamType    string  `json:"stream_type"`
	StreamDetails string  `json:"stream_details"`
	Enabled       bool    `json:"enabled"`
	CreatedAt     string  `json:"created_at"`
	UpdatedAt     string  `json:"updated_at"`
	PausedAt      *string `json:"paused_at"`
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func (s *Server) streamKeyLocked() *response {
	return jsonResponse(http.StatusOK, map[string]string{
		"key_id": strconv.Itoa(s.key.id),
		"key":    base64.StdEncoding.EncodeToString(s.key.pub[:]),
	})
}

func (s *Server) listStreamsLocked() *response {
	ids := slices.Sorted(maps.Keys(s.streams))
	out := make([]*stream, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.streams[id])
	}
	return jsonResponse(http.StatusOK, out)
}

func (s *Server) getStreamLocked(id int64) *response {
	st, ok := s.streams[id]
	if !ok {
		return notFound()
	}
	return jsonResponse(http.StatusOK, st)
}

func (s *Server) deleteStreamLocked(id int64) *response {
	if _, ok := s.streams[id]; !ok {
		return notFound()
	}
	delete(s.streams, id)
	delete(s.secrets, id)
	return newResponse(http.StatusNoContent)
}

func (s *Server) createStreamLocked(body []byte, now time.Time) *response {
	cfg, resp := s.validateStreamBody(body, false)
	if resp != nil {
		return resp
	}
	id := s.nextID
	s.nextID++
	ts := isoTime(now)
	st := &stream{ID: id, StreamType: cfg.streamType, StreamDetails: cfg.details, Enabled: cfg.enabled, CreatedAt: ts, UpdatedAt: ts}
	if !cfg.enabled {
		st.PausedAt = &ts
	}
	s.streams[id] = st
	s.secrets[id] = cfg.secrets
	return jsonResponse(http.StatusOK, st)
}

func (s *Server) updateStreamLocked(body []byte, id int64, now time.Time) *response {
	old, ok := s.streams[id]
	if !ok {
		return notFound()
	}
	cfg, resp := s.validateStreamBody(body, true)
	if resp != nil {
		return resp
	}
	ts := isoTime(now)
	st := &stream{ID: id, StreamType: cfg.streamType, StreamDetails: cfg.details, Enabled: cfg.enabled, CreatedAt: old.CreatedAt, UpdatedAt: ts}
	switch {
	case cfg.enabled:
	case old.Enabled || old.PausedAt == nil:
		st.PausedAt = &ts
	default:
		p := *old.PausedAt
		st.PausedAt = &p
	}
	s.streams[id] = st
	s.secrets[id] = cfg.secrets
	return jsonResponse(http.StatusOK, st)
}

// Stream types, exactly as GitHub spells them.
const (
	streamAzureBlob = "Azure Blob Storage"
	streamAzureHubs = "Azure Event Hubs"
	streamS3        = "Amazon S3"
	streamSplunk    = "Splunk"
	streamHEC       = "HTTPS Event Collector"
	streamGCS       = "Google Cloud Storage"
	streamDatadog   = "Datadog"
)

type propKind int

const (
	propString propKind = iota
	propSecret          // std-base64 sealed box
	propKeyID
	propPort
	propBool
	propEnum
)

type prop struct {
	name string
	kind propKind
	enum []string
}

// variants lists, per stream type (and S3 authentication_type), the
// vendor_specific properties; all are required (api-facts A5).
var variants = map[string][]prop{
	streamAzureBlob: {{name: "key_id", kind: propKeyID}, {name: "encrypted_sas_url", kind: propSecret}, {name: "container"}},
	streamAzureHubs: {{name: "name"}, {name: "encrypted_connstring", kind: propSecret}, {name: "key_id", kind: propKeyID}},
	streamS3 + "/oidc": {{name: "bucket"}, {name: "region"}, {name: "key_id", kind: propKeyID},
		{name: "authentication_type", kind: propEnum, enum: []string{"oidc"}}, {name: "arn_role"}},
	streamS3 + "/access_keys": {{name: "bucket"}, {name: "region"}, {name: "key_id", kind: propKeyID},
		{name: "authentication_type", kind: propEnum, enum: []string{"access_keys"}},
		{name: "encrypted_secret_key", kind: propSecret}, {name: "encrypted_access_key_id", kind: propSecret}},
	streamSplunk: {{name: "domain"}, {name: "port", kind: propPort}, {name: "key_id", kind: propKeyID},
		{name: "encrypted_token", kind: propSecret}, {name: "ssl_verify", kind: propBool}},
	streamHEC: {{name: "domain"}, {name: "port", kind: propPort}, {name: "key_id", kind: propKeyID},
		{name: "encrypted_token", kind: propSecret}, {name: "path"}, {name: "ssl_verify", kind: propBool}},
	streamGCS: {{name: "bucket"}, {name: "key_id", kind: propKeyID}, {name: "encrypted_json_credentials", kind: propSecret}},
	streamDatadog: {{name: "encrypted_token", kind: propSecret},
		{name: "site", kind: propEnum, enum: []string{"US", "US3", "US5", "EU1", "US1-FED", "AP1"}}, {name: "key_id", kind: propKeyID}},
}

var streamTypes = []string{streamAzureBlob, streamAzureHubs, streamS3, streamSplunk, streamHEC, streamGCS, streamDatadog}

// detailsField is the vendor_specific property shown as stream_details.
var detailsField = map[string]string{
	streamAzureBlob: "container", streamAzureHubs: "name", streamS3: "bucket", streamSplunk: "domain",
	streamHEC: "domain", streamGCS: "bucket", streamDatadog: "site",
}

type streamBody struct {
	enabled    bool
	streamType string
	details    string
	secrets    map[string]string
}

type fieldProblem struct {
	field, code, message string
}

// unverifiable is the problem reported for a key_id that is not the current
// key's and for a secret that does not open with it. GitHub does not
// document its wording, so the fake's names neither a field nor the key:
// a client must not depend on the text of a 422 to detect a rotation.
var unverifiable = fieldProblem{code: "custom", message: "The audit log stream configuration could not be validated"}

// validateStreamBody checks a POST or PUT body. On failure it returns the
// response: 400 for malformed JSON, 422 in the POST (validation-error) or
// PUT (bare {"errors":[...]}) shape.
func (s *Server) validateStreamBody(body []byte, put bool) (streamBody, *response) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&top); err != nil || top == nil || dec.More() {
		return streamBody{}, errorResponse(http.StatusBadRequest, "Problems parsing JSON", docsCreate)
	}
	var probs []fieldProblem
	missing := func(f string) {
		probs = append(probs, fieldProblem{f, "missing_field", f + " is missing"})
	}
	invalid := func(f, msg string) {
		probs = append(probs, fieldProblem{f, "invalid", f + " " + msg})
	}
	out := streamBody{secrets: map[string]string{}}

	if raw, ok := top["enabled"]; !ok {
		missing("enabled")
	} else if err := json.Unmarshal(raw, &out.enabled); err != nil || isNull(raw) {
		invalid("enabled", "must be a boolean")
	}
	typeOK := false
	if raw, ok := top["stream_type"]; !ok {
		missing("stream_type")
	} else if err := json.Unmarshal(raw, &out.streamType); err != nil || isNull(raw) {
		invalid("stream_type", "must be a string")
	} else if !slices.Contains(streamTypes, out.streamType) {
		invalid("stream_type", fmt.Sprintf("%q is not one of %s", out.streamType, strings.Join(quoteAll(streamTypes), ", ")))
	} else {
		typeOK = true
	}
	var vs map[string]json.RawMessage
	if raw, ok := top["vendor_specific"]; !ok {
		missing("vendor_specific")
	} else if err := json.Unmarshal(raw, &vs); err != nil || vs == nil {
		invalid("vendor_specific", "must be an object")
	} else if typeOK {
		probs = append(probs, s.validateVendor(out.streamType, vs, &out)...)
	}

	if len(probs) == 0 {
		return out, nil
	}
	if put {
		msgs := make([]string, len(probs))
		for i, p := range probs {
			msgs[i] = p.message
		}
		return streamBody{}, jsonResponse(422, map[string][]string{"errors": msgs})
	}
	errs := make([]apiFieldError, len(probs))
	for i, p := range probs {
		errs[i] = apiFieldError{Resource: "AuditLogStream", Field: p.field, Code: p.code, Message: p.message}
	}
	return streamBody{}, jsonResponse(422, apiError{Message: "Validation Failed", Errors: errs, DocumentationURL: docsCreate})
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

func (s *Server) validateVendor(streamType string, vs map[string]json.RawMessage, out *streamBody) []fieldProblem {
	var probs []fieldProblem
	name := func(p string) string { return "vendor_specific." + p }
	missing := func(p string) {
		probs = append(probs, fieldProblem{name(p), "missing_field", name(p) + " is missing"})
	}
	invalid := func(p, msg string) {
		probs = append(probs, fieldProblem{name(p), "invalid", name(p) + " " + msg})
	}
	key := streamType
	if streamType == streamS3 {
		var at string
		raw, ok := vs["authentication_type"]
		switch {
		case !ok:
			missing("authentication_type")
			return probs
		case json.Unmarshal(raw, &at) != nil || (at != "oidc" && at != "access_keys"):
			invalid("authentication_type", `must be "oidc" or "access_keys"`)
			return probs
		}
		key = streamS3 + "/" + at
	}
	props := variants[key]
	keyOK := false
	var secrets []prop
	for _, p := range props {
		raw, ok := vs[p.name]
		if !ok {
			missing(p.name)
			continue
		}
		switch p.kind {
		case propString, propSecret, propKeyID, propEnum:
			var v string
			if json.Unmarshal(raw, &v) != nil || isNull(raw) {
				invalid(p.name, "must be a string")
				continue
			}
			if v == "" {
				invalid(p.name, "must not be empty")
				continue
			}
			switch p.kind {
			case propEnum:
				if !slices.Contains(p.enum, v) {
					invalid(p.name, fmt.Sprintf("%q is not one of %s", v, strings.Join(quoteAll(p.enum), ", ")))
					continue
				}
			case propKeyID:
				if v != strconv.Itoa(s.key.id) {
					probs = append(probs, unverifiable)
					continue
				}
				keyOK = true
			case propSecret:
				secrets = append(secrets, p)
			}
			if f := detailsField[streamType]; f == p.name {
				out.details = v
			}
		case propPort:
			// A JSON number only: json.Number would also accept "443" as a string.
			v, err := strconv.Atoi(string(bytes.TrimSpace(raw)))
			if err != nil || v < 1 || v > 65535 {
				invalid(p.name, "must be an integer between 1 and 65535")
			}
		case propBool:
			var b bool
			if json.Unmarshal(raw, &b) != nil || isNull(raw) {
				invalid(p.name, "must be a boolean")
			}
		}
	}
	// Only open the secrets when key_id names the current key; otherwise
	// the key_id problem is the one to report.
	if keyOK {
		for _, p := range secrets {
			var v string
			_ = json.Unmarshal(vs[p.name], &v)
			sealed, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				invalid(p.name, "is not base64 (standard encoding)")
				continue
			}
			plain, ok := box.OpenAnonymous(nil, sealed, s.key.pub, s.key.priv)
			if !ok {
				if !slices.Contains(probs, unverifiable) {
					probs = append(probs, unverifiable)
				}
				continue
			}
			out.secrets[p.name] = string(plain)
		}
	}
	// Strictness: properties the variant does not define are refused.
	var extra []string
	for k := range vs {
		if !slices.ContainsFunc(props, func(p prop) bool { return p.name == k }) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		invalid(k, fmt.Sprintf("is not a property of the %q configuration", streamType))
	}
	return probs
}
