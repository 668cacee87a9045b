package auditlogtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"weak"
)

// event is one stored audit-log event. It holds the JSON it is served as
// and only what listing and the commonest qualifiers need; the other
// qualifiers read raw when a search asks for them.
type event struct {
	ts      int64 // @timestamp, epoch milliseconds
	visible int64 // epoch milliseconds from which it is listed; 0: always
	id      string
	action  string // "" when absent or not a string
	actor   string
	raw     string // compact JSON, served byte for byte
	git     bool
	// odd is set when action or actor is present but not a string, so
	// searches on them read raw instead of the two fields above.
	odd bool
	// orgs are the organizations whose audit log lists the event; nil for
	// none. Generated events share them.
	orgs *orgList
}

// orgList is what an event's org (a string, or an array of them) and
// org_id hold.
type orgList struct {
	logins []string
	ids    []int64 // as many as logins when the event gives each one's ID
}

// inOrg reports whether the audit log of the organization login lists e.
func (e *event) inOrg(login string) bool {
	if e.orgs == nil {
		return false
	}
	for _, o := range e.orgs.logins {
		if strings.EqualFold(o, login) {
			return true
		}
	}
	return false
}

// minMillis is 1973-03-03 in epoch milliseconds. A smaller @timestamp is
// refused: it is almost surely epoch seconds, which GitHub never sends.
const minMillis = 100_000_000_000

// parseEvent validates and compacts one event given by a caller.
func parseEvent(raw []byte) (*event, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	ev := &event{raw: buf.String()}
	var ts, created, id string
	var orgs orgList
	if !members(ev.raw, func(k, v string) bool {
		switch k {
		case "@timestamp":
			ts = v
		case "created_at":
			created = v
		case "_document_id":
			id = v
		case "org":
			eachString(v, func(x string) {
				if x != "" {
					orgs.logins = append(orgs.logins, x)
				}
			})
		case "org_id":
			eachScalar(v, func(x string) bool {
				if n, err := strconv.ParseInt(x, 10, 64); err == nil && n > 0 {
					orgs.ids = append(orgs.ids, n)
				}
				return true
			})
		case "action", "actor":
			s, ok := stringOf(v)
			if !ok {
				ev.odd = true
			} else if k == "action" {
				ev.action = s
			} else {
				ev.actor = s
			}
		}
		return true
	}) {
		return nil, errors.New("not a JSON object")
	}
	if !isNumber(ts) {
		return nil, errors.New(`"@timestamp" missing or not a number`)
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, fmt.Errorf(`"@timestamp" %s is not an integer (epoch milliseconds)`, ts)
	}
	if n < minMillis {
		return nil, fmt.Errorf(`"@timestamp" %d is not in epoch milliseconds (seconds? GitHub sends milliseconds, e.g. %d)`, n, n*1000)
	}
	ev.ts = n
	if isNumber(created) {
		if f, err := strconv.ParseFloat(created, 64); err == nil && f < minMillis {
			return nil, fmt.Errorf(`"created_at" %s is not in epoch milliseconds (seconds? GitHub sends milliseconds)`, created)
		}
	}
	if ev.id, _ = stringOf(id); ev.id == "" {
		return nil, errors.New(`"_document_id" missing or not a non-empty string`)
	}
	ev.git = strings.HasPrefix(ev.action, "git.")
	if len(orgs.logins) > 0 {
		ev.orgs = &orgs
	}
	return ev, nil
}

// pos is a position in the ascending (@timestamp, _document_id) order.
type pos struct {
	ts int64
	id string
}

func (e *event) pos() pos { return pos{e.ts, e.id} }

func comparePos(a, b pos) int {
	if a.ts != b.ts {
		if a.ts < b.ts {
			return -1
		}
		return 1
	}
	return strings.Compare(a.id, b.id)
}

func compareEvents(a, b *event) int { return comparePos(a.pos(), b.pos()) }

func compareIDs(a, b *event) int { return strings.Compare(a.id, b.id) }

// A Dataset is an immutable set of audit-log events, validated, sorted and
// indexed once, which any number of servers can share ([WithDataset]): a
// suite that starts many fakes over the same large log pays for it once.
// Build one with [NewDataset] or [Generator.Dataset]. A server's
// [Server.AddEvents] never changes the dataset it started from. It is safe
// for concurrent use.
type Dataset struct {
	evs  []*event // ascending by (@timestamp, _document_id)
	byID []*event // ascending by _document_id
	orgs []Org    // the organizations the events name, by first appearance
}

// NewDataset validates events and builds a dataset from them. Each must be
// a JSON object with an integer "@timestamp" in epoch milliseconds (a value
// that can only be seconds is refused) and a unique non-empty string
// "_document_id"; a numeric "created_at" must be in milliseconds too. The
// bytes are served as given, compacted.
func NewDataset(events ...json.RawMessage) (*Dataset, error) {
	evs := make([]*event, len(events))
	for i, r := range events {
		ev, err := parseEvent(r)
		if err != nil {
			return nil, fmt.Errorf("auditlogtest: event %d: %w", i, err)
		}
		evs[i] = ev
	}
	return buildDataset(evs)
}

// buildDataset sorts evs (taking ownership) and checks that IDs are unique.
func buildDataset(evs []*event) (*Dataset, error) {
	slices.SortFunc(evs, compareEvents)
	byID := slices.Clone(evs)
	slices.SortFunc(byID, compareIDs)
	for i := 1; i < len(byID); i++ {
		if byID[i].id == byID[i-1].id {
			return nil, fmt.Errorf("auditlogtest: duplicate _document_id %q", byID[i].id)
		}
	}
	var known orgSet
	return &Dataset{evs: evs, byID: byID, orgs: known.addFrom(nil, evs...)}, nil
}

// Len returns the number of events in the dataset.
func (d *Dataset) Len() int { return len(d.evs) }

func (d *Dataset) has(id string) bool {
	_, ok := slices.BinarySearchFunc(d.byID, id, func(e *event, id string) int { return strings.Compare(e.id, id) })
	return ok
}

// datasets remembers generated datasets while some server still uses them,
// so that fakes started with the same generator and clock share one.
var datasets struct {
	sync.Mutex
	m map[string]weak.Pointer[Dataset]
}

func cachedDataset(key string, build func() (*Dataset, error)) (*Dataset, error) {
	datasets.Lock()
	if d := datasets.m[key].Value(); d != nil {
		datasets.Unlock()
		return d, nil
	}
	datasets.Unlock()
	d, err := build()
	if err != nil {
		return nil, err
	}
	datasets.Lock()
	defer datasets.Unlock()
	if datasets.m == nil {
		datasets.m = map[string]weak.Pointer[Dataset]{}
	}
	for k, p := range datasets.m {
		if p.Value() == nil {
			delete(datasets.m, k)
		}
	}
	datasets.m[key] = weak.Make(d)
	return d, nil
}
