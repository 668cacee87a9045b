package auditlogtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"
)

// Event builds one audit-log event in the shape GitHub sends: @timestamp
// and created_at in epoch milliseconds, a 22-character _document_id, org
// and org_id as a scalar or, with several values, an array. Render it with
// [Event.JSON] for [WithEvents], [NewDataset], [Server.AddEvents] and
// [Server.AddEventsAt].
//
//	ev := auditlogtest.Event{Time: t0, Action: "repo.create", Actor: "octocat", Org: []string{"avocado-org"}}
//	srv.AddEvents(ev.JSON())
type Event struct {
	// ID is the _document_id. Empty means one derived from the other
	// fields: 22 characters of URL-safe base64, like GitHub's, stable
	// across runs (two identical events get the same one: give one an ID).
	ID string
	// Time is @timestamp, when the event happened. It must be set.
	Time time.Time
	// Created is created_at, when GitHub recorded it; zero means Time.
	Created time.Time
	Action  string
	Actor   string
	// Org is org: one name is sent as a string, several as an array, as
	// GitHub does for some events (oauth_authorization.create). Empty
	// omits it. OrgID is org_id, the same way.
	Org   []string
	OrgID []int64
	// Fields are any other fields, marshalled with encoding/json (HTML
	// characters unescaped, as GitHub sends them). The fields above win
	// over a key of the same name here.
	Fields map[string]any
}

// MarshalJSON renders the event. It fails when Time is zero or before
// 1973, or when a value in Fields cannot be marshalled.
func (e Event) MarshalJSON() ([]byte, error) {
	if e.Time.IsZero() {
		return nil, errors.New("auditlogtest: Event.Time is zero")
	}
	if e.Time.UnixMilli() < minMillis {
		return nil, fmt.Errorf("auditlogtest: Event.Time %s is before 1973", e.Time.Format(time.RFC3339))
	}
	m := make(map[string]any, len(e.Fields)+7)
	maps.Copy(m, e.Fields)
	delete(m, "_document_id")
	m["@timestamp"] = e.Time.UnixMilli()
	created := e.Created
	if created.IsZero() {
		created = e.Time
	}
	m["created_at"] = created.UnixMilli()
	if e.Action != "" {
		m["action"] = e.Action
	}
	if e.Actor != "" {
		m["actor"] = e.Actor
	}
	setOneOrMany(m, "org", e.Org)
	setOneOrMany(m, "org_id", e.OrgID)
	id := e.ID
	if id == "" {
		body, err := marshalChecked(m)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		id = base64.RawURLEncoding.EncodeToString(sum[:])[:22]
	}
	m["_document_id"] = id
	return marshalChecked(m)
}

// setOneOrMany sets m[key] as GitHub writes org and org_id: one value as
// itself, several as an array, none not at all.
func setOneOrMany[T any](m map[string]any, key string, vs []T) {
	switch len(vs) {
	case 0:
	case 1:
		m[key] = vs[0]
	default:
		m[key] = vs
	}
}

// JSON renders the event as [Event.MarshalJSON] does, and panics where that
// fails (a zero Time, an unmarshalable field): like regexp.MustCompile, it
// is for values written in the test itself.
func (e Event) JSON() json.RawMessage {
	b, err := e.MarshalJSON()
	if err != nil {
		panic(err.Error())
	}
	return b
}

func marshalChecked(v any) ([]byte, error) {
	b, err := encodeJSON(v)
	if err != nil {
		return nil, fmt.Errorf("auditlogtest: Event.Fields: %w", err)
	}
	return b, nil
}
